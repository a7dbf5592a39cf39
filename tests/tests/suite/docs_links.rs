//! Every relative link and `#anchor` in `README.md` and `docs/*.md` resolves: the file exists,
//! and an anchor names a heading of that file (GitHub's slugs). Links inside code blocks and
//! to other sites (`http:`, `https:`, `mailto:`) are not checked.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The lines of `text` outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push(line);
        }
    }
    out
}

/// The anchors of a markdown file's headings (a repeated heading gets `-1`, `-2`, ...).
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let base = slug(title);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// The targets of `[text](target)` links in `line` (inline code spans skipped).
fn links(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    let bytes: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            '`' => in_code = !in_code,
            ']' if !in_code && bytes.get(i + 1) == Some(&'(') => {
                let rest: String = bytes[i + 2..].iter().collect();
                if let Some(end) = rest.find(')') {
                    let target = rest[..end].split_whitespace().next().unwrap_or("");
                    out.push(target.to_owned());
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn every_relative_link_and_anchor_in_the_docs_resolves() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("the tests crate has no parent folder"));
    let mut files = vec![root.join("README.md")];
    let docs = std::fs::read_dir(root.join("docs")).unwrap_or_else(|e| panic!("docs/: {e}"));
    for entry in docs {
        let path = entry.unwrap_or_else(|e| panic!("docs/: {e}")).path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let read =
        |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = read(file);
        for (n, line) in prose(&text).iter().enumerate() {
            for target in links(line) {
                if target.is_empty()
                    || ["http://", "https://", "mailto:"]
                        .iter()
                        .any(|s| target.starts_with(s))
                {
                    continue;
                }
                checked += 1;
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let dest = if path.is_empty() {
                    file.clone()
                } else {
                    file.parent().map(|d| d.join(path)).unwrap_or_default()
                };
                let where_ = format!("{} (prose line {}): {target}", file.display(), n + 1);
                if !dest.exists() {
                    broken.push(format!("{where_}: no such file"));
                    continue;
                }
                if let Some(anchor) = anchor {
                    if dest.extension().is_none_or(|e| e != "md") {
                        broken.push(format!("{where_}: an anchor into a non-markdown file"));
                    } else if !anchors(&read(&dest)).contains(anchor) {
                        broken.push(format!("{where_}: no heading with this anchor"));
                    }
                }
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} links found: is the link reader broken?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug(" `schemagate quarantine` — audit and replay"),
        "schemagate-quarantine--audit-and-replay"
    );
    assert_eq!(
        slug(" Measured times (2026-12-06)"),
        "measured-times-2026-12-06"
    );
    assert_eq!(
        slug(" What is rewritten, and why"),
        "what-is-rewritten-and-why"
    );
}
