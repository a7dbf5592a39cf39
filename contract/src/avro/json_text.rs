//! Schema text to JSON, accepting what Java Avro's parser accepts beyond strict JSON.

use serde_json::Value;

/// Schema text to JSON. Java Avro's parser allows `//` and `/* */` comments, so a text that
/// fails as plain JSON is retried with its comments blanked out.
pub(crate) fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).or_else(|e| {
        let stripped = strip_comments(text).ok_or_else(|| format!("not valid JSON: {e}"))?;
        serde_json::from_str(&stripped).map_err(|_| format!("not valid JSON: {e}"))
    })
}

/// The text with comments outside strings replaced by spaces; `None` when it has none or a
/// block comment is not closed.
fn strip_comments(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_string, mut escaped, mut found) = (false, false, false);
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                found = true;
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                out.push('\n');
            }
            ('/', Some('*')) => {
                found = true;
                chars.next();
                let mut prev = ' ';
                let mut closed = false;
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    prev = c;
                }
                if !closed {
                    return None;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    found.then_some(out)
}
