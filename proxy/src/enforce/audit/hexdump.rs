//! An annotated hexdump of a record's first bytes: which bytes are the magic byte, the schema
//! id, the Protobuf message indexes, and the payload, so a person can see at a glance why a
//! record was refused.
//!
//! ```text
//! 0000  00                                                |.|                 magic byte
//! 0001  00 00 00 07                                       |....|              schema id 7
//! 0005  54 06 61 62 63                                    |T.abc|             payload (5 bytes)
//! ```

use contract::wire::MessageIndexes;
use contract::wire::{HEADER_LEN, MAGIC};
use contract::WireFrame;

/// Bytes per line.
const LINE: usize = 16;

/// A labelled run of bytes: `start..end` of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// What these bytes are.
    pub label: String,
}

/// Splits `bytes` into labelled fields. With `protobuf`, the bytes after the schema id start
/// with the message-index list.
pub fn fields(bytes: &[u8], protobuf: bool) -> Vec<Field> {
    let field = |start, end, label: String| Field { start, end, label };
    if bytes.is_empty() {
        return Vec::new();
    }
    if bytes.len() < HEADER_LEN {
        let label = format!(
            "too short for the {HEADER_LEN}-byte wire header ({} bytes)",
            bytes.len()
        );
        return vec![field(0, bytes.len(), label)];
    }
    let frame = match WireFrame::decode(bytes) {
        Ok(frame) => frame,
        Err(e) => return vec![field(0, bytes.len(), format!("not a Confluent frame: {e}"))],
    };
    let mut out = vec![
        field(0, 1, format!("magic byte {MAGIC:#04x}")),
        field(1, HEADER_LEN, format!("schema id {}", frame.schema_id)),
    ];
    let mut at = HEADER_LEN;
    if protobuf {
        match MessageIndexes::decode(frame.body) {
            // A field is never zero bytes wide: an empty body has no index bytes to label.
            Ok((indexes, message)) if frame.body.len() > message.len() => {
                let len = frame.body.len() - message.len();
                out.push(field(
                    at,
                    at + len,
                    format!("message indexes {:?}", indexes.as_slice()),
                ));
                at += len;
            }
            Ok(_) => {}
            Err(e) => {
                if at < bytes.len() {
                    out.push(field(at, bytes.len(), format!("payload ({e})")));
                }
                return out;
            }
        }
    }
    if at < bytes.len() {
        let len = bytes.len() - at;
        out.push(field(at, bytes.len(), format!("payload ({len} bytes)")));
    }
    out
}

/// Renders at most `limit` bytes of `bytes` as labelled hexdump lines.
pub fn render(bytes: &[u8], limit: usize, protobuf: bool) -> String {
    let shown = bytes.get(..limit.min(bytes.len())).unwrap_or(bytes);
    let mut out = String::new();
    for f in fields(bytes, protobuf) {
        let Some(run) = shown.get(f.start..f.end.min(shown.len())) else {
            break;
        };
        for (i, chunk) in run.chunks(LINE).enumerate() {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = chunk
                .iter()
                .map(|&b| match b {
                    0x20..=0x7e => b as char,
                    _ => '.',
                })
                .collect();
            let label = if i == 0 { f.label.as_str() } else { "" };
            let line = format!(
                "{:04x}  {:<47}  {:<18}  {label}",
                f.start + i * LINE,
                hex.join(" "),
                format!("|{ascii}|"),
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    if bytes.len() > shown.len() {
        out.push_str(&format!(
            "      ... {} more bytes not shown\n",
            bytes.len() - shown.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_frame_golden() {
        let value = [0, 0, 0, 0, 7, 0x54, 0x06, b'a', b'b', b'c'];
        let golden = "\
0000  00                                               |.|                 magic byte 0x00
0001  00 00 00 07                                      |....|              schema id 7
0005  54 06 61 62 63                                   |T.abc|             payload (5 bytes)
";
        assert_eq!(render(&value, 64, false), golden);
    }

    #[test]
    fn protobuf_indexes_and_a_long_payload_cut_at_the_limit() {
        let mut value = vec![0, 0, 0, 1, 0, 0x04, 0x02, 0x04];
        value.extend((0u8..40).map(|i| b'A' + i % 26));
        let golden = "\
0000  00                                               |.|                 magic byte 0x00
0001  00 00 01 00                                      |....|              schema id 256
0005  04 02 04                                         |...|               message indexes [1, 2]
0008  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|  payload (40 bytes)
0018  51 52 53 54 55 56 57 58                          |QRSTUVWX|
      ... 16 more bytes not shown
";
        assert_eq!(render(&value, 32, true), golden);
        let same_bytes_as_avro = render(&value, 32, false);
        assert!(
            same_bytes_as_avro.contains("0005  04 02 04 41"),
            "{same_bytes_as_avro}"
        );
    }

    #[test]
    fn a_protobuf_frame_with_an_empty_body_has_no_zero_width_field() {
        // Found by the property test below: the header alone, read as Protobuf.
        let fs = fields(&[0, 0, 0, 0, 0], true);
        assert_eq!(fs.len(), 2, "{fs:?}");
        assert!(fs.iter().all(|f| f.end > f.start), "{fs:?}");
    }

    #[test]
    fn unframed_short_and_empty_values() {
        assert_eq!(
            render(b"{\"id\":1}", 64, false),
            "0000  7b 22 69 64 22 3a 31 7d                          |{\"id\":1}|          not a Confluent frame: first byte is 0x7b, not the magic byte 0x00\n"
        );
        assert_eq!(
            render(&[0, 0, 1], 64, false),
            "0000  00 00 01                                         |...|               too short for the 5-byte wire header (3 bytes)\n"
        );
        assert_eq!(render(&[], 64, false), "");
        let bad_indexes = fields(&[0, 0, 0, 0, 1, 0xff], true);
        assert_eq!(bad_indexes.len(), 3);
        assert!(
            bad_indexes[2].label.contains("message-index"),
            "{bad_indexes:?}"
        );
    }

    #[test]
    fn a_limit_inside_the_header_still_names_the_fields() {
        let golden = "\
0000  00                                               |.|                 magic byte 0x00
0001  00 00                                            |..|                schema id 7
      ... 7 more bytes not shown
";
        assert_eq!(
            render(&[0, 0, 0, 0, 7, 0x54, 0x06, b'a', b'b', b'c'], 3, false),
            golden
        );
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic_and_fields_tile_the_value(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            limit in 0usize..100,
            protobuf in proptest::bool::ANY,
        ) {
            let fs = fields(&bytes, protobuf);
            let mut at = 0;
            for f in &fs {
                proptest::prop_assert_eq!(f.start, at);
                proptest::prop_assert!(f.end > f.start);
                at = f.end;
            }
            proptest::prop_assert_eq!(at, bytes.len());
            let text = render(&bytes, limit, protobuf);
            let shown = limit.min(bytes.len());
            let dumped: usize = text
                .lines()
                .filter(|l| !l.starts_with(' '))
                .map(|l| l.get(6..53).unwrap_or("").split_whitespace().count())
                .sum();
            proptest::prop_assert_eq!(dumped, shown);
        }
    }
}
