//! Checking one record's key and value, in two synchronous steps around one async lookup:
//! [`frame_of`] reads the wire frame (no I/O), the caller resolves the distinct schema ids of
//! the whole batch once, and [`verdict`] decides with those answers. No await per record.

use std::collections::HashMap;
use std::sync::Arc;

use contract::{FrameError, SchemaId, WireFrame};
use registry_client::RegisteredSchema;

use super::reason::{Part, Reason, Violation};
use crate::policy::Requirement;

/// What the wire frame of one key or value says, before any registry lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameCheck<'a> {
    /// Not inspected: the part is off, null, or unframed under `optional`.
    Skip,
    /// A well-formed frame whose id must be resolved.
    Framed(WireFrame<'a>),
    /// Already invalid, no lookup needed.
    Bad(Violation),
}

/// Reads the frame of one part under its requirement.
#[inline]
pub fn frame_of(part: Part, payload: Option<&[u8]>, requirement: Requirement) -> FrameCheck<'_> {
    let Some(bytes) = payload else {
        // A null value is a tombstone and a null key is allowed, as in Confluent.
        return FrameCheck::Skip;
    };
    if requirement == Requirement::Off {
        return FrameCheck::Skip;
    }
    if requirement == Requirement::Optional && bytes.first() != Some(&0) {
        return FrameCheck::Skip;
    }
    // Length first: any payload under 5 bytes is `too-short`, whatever its first byte says.
    let decoded = if bytes.len() < contract::wire::HEADER_LEN {
        Err(FrameError::TooShort(bytes.len()))
    } else {
        WireFrame::decode(bytes)
    };
    match decoded {
        Ok(frame) => FrameCheck::Framed(frame),
        Err(e) => FrameCheck::Bad(Violation {
            part,
            reason: match e {
                FrameError::TooShort(_) => Reason::TooShort,
                FrameError::NoMagicByte(_) => Reason::NoMagicByte,
            },
            schema_id: None,
            detail: e.to_string(),
        }),
    }
}

/// The registry's answer for one (part, schema id) of a batch.
#[derive(Debug, Clone)]
pub enum IdVerdict {
    /// Known, bound to the subject, and readable by every declared reader.
    Valid(Arc<RegisteredSchema>),
    /// The registry definitively does not know the id.
    Unknown,
    /// Known, but not registered under this subject.
    NotBound {
        /// The subject the topic's strategy asked for.
        subject: String,
    },
    /// A declared reader cannot read this writer schema.
    ReaderIncompatible(String),
}

/// Answers for every distinct (part, id) in one batch.
pub type Resolved = HashMap<(Part, SchemaId), IdVerdict>;

/// True when one framed part passes: its id resolved as valid and its body decodes.
///
/// The allocation-free check of the common case; [`verdict`] says why when it fails.
pub fn passes(frame: &WireFrame<'_>, answer: Option<&IdVerdict>) -> bool {
    match answer {
        Some(IdVerdict::Valid(schema)) => schema.parsed.validate(frame.body).is_ok(),
        _ => false,
    }
}

/// The final verdict for one framed part, given the batch's resolved ids.
///
/// Returns None when the payload is valid. A (part, id) missing from `resolved` is a caller
/// bug and is treated as unknown rather than valid, so it can never let a record through.
pub fn verdict(part: Part, frame: &WireFrame<'_>, resolved: &Resolved) -> Option<Violation> {
    let id = frame.schema_id;
    let bad = |reason, detail: String| {
        Some(Violation {
            part,
            reason,
            schema_id: Some(id.0),
            detail,
        })
    };
    match resolved.get(&(part, id)) {
        None | Some(IdVerdict::Unknown) => bad(
            Reason::UnknownSchemaId,
            format!("schema id {} is not in the registry", id.0),
        ),
        Some(IdVerdict::NotBound { subject }) => bad(
            Reason::SubjectMismatch,
            format!(
                "schema id {} is not registered under subject {subject}",
                id.0
            ),
        ),
        Some(IdVerdict::ReaderIncompatible(why)) => bad(Reason::ReaderIncompatible, why.clone()),
        Some(IdVerdict::Valid(schema)) => match schema.parsed.validate(frame.body) {
            Ok(()) => None,
            Err(e) => bad(
                Reason::DecodeFailed,
                format!(
                    "does not decode under schema id {}: {} at {}",
                    id.0, e.reason, e.path
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::{ParsedSchema, SchemaType};

    fn avro(text: &str) -> Arc<RegisteredSchema> {
        Arc::new(RegisteredSchema {
            id: SchemaId(1),
            schema_type: SchemaType::Avro,
            text: text.to_string(),
            references: Vec::new(),
            parsed: ParsedSchema::parse(SchemaType::Avro, text, &[]).unwrap(),
        })
    }

    #[test]
    fn frames_under_each_requirement() {
        assert_eq!(
            frame_of(Part::Value, None, Requirement::Required),
            FrameCheck::Skip
        );
        assert_eq!(
            frame_of(Part::Value, Some(b"xx"), Requirement::Off),
            FrameCheck::Skip
        );
        assert_eq!(
            frame_of(Part::Value, Some(b"{json}"), Requirement::Optional),
            FrameCheck::Skip
        );
        assert_eq!(
            frame_of(Part::Value, Some(b""), Requirement::Optional),
            FrameCheck::Skip
        );
        let FrameCheck::Bad(v) = frame_of(Part::Value, Some(b"\0\0"), Requirement::Optional) else {
            panic!("a magic byte with a short header is invalid even when optional");
        };
        assert_eq!(v.reason, Reason::TooShort);
        let FrameCheck::Bad(v) = frame_of(Part::Key, Some(b"{json}"), Requirement::Required) else {
            panic!("unframed payload under required");
        };
        assert_eq!((v.part, v.reason), (Part::Key, Reason::NoMagicByte));
        let FrameCheck::Bad(v) = frame_of(Part::Value, Some(b"abc"), Requirement::Required) else {
            panic!("3 bytes");
        };
        assert_eq!(v.reason, Reason::TooShort);
        let FrameCheck::Framed(f) = frame_of(
            Part::Value,
            Some(&[0, 0, 0, 0, 7, 2]),
            Requirement::Required,
        ) else {
            panic!("framed");
        };
        assert_eq!((f.schema_id, f.body), (SchemaId(7), &[2u8][..]));
    }

    #[test]
    fn verdicts_from_resolved_ids() {
        let schema = avro(r#"{"type":"record","name":"R","fields":[{"name":"n","type":"int"}]}"#);
        let mut resolved = Resolved::new();
        resolved.insert((Part::Value, SchemaId(1)), IdVerdict::Valid(schema));
        resolved.insert((Part::Value, SchemaId(2)), IdVerdict::Unknown);
        resolved.insert(
            (Part::Value, SchemaId(3)),
            IdVerdict::NotBound {
                subject: "t-value".into(),
            },
        );
        resolved.insert(
            (Part::Value, SchemaId(4)),
            IdVerdict::ReaderIncompatible("R.n: bad".into()),
        );
        let frame = |id, body: &'static [u8]| WireFrame {
            schema_id: SchemaId(id),
            body,
        };

        assert_eq!(verdict(Part::Value, &frame(1, &[0x02]), &resolved), None);
        let reason = |id, body| verdict(Part::Value, &frame(id, body), &resolved).map(|v| v.reason);
        assert_eq!(reason(1, &[]), Some(Reason::DecodeFailed));
        assert_eq!(
            reason(1, &[0x02, 0x00]),
            Some(Reason::DecodeFailed),
            "trailing bytes"
        );
        assert_eq!(reason(2, &[0x02]), Some(Reason::UnknownSchemaId));
        assert_eq!(reason(3, &[0x02]), Some(Reason::SubjectMismatch));
        assert_eq!(reason(4, &[0x02]), Some(Reason::ReaderIncompatible));
        assert_eq!(
            reason(9, &[0x02]),
            Some(Reason::UnknownSchemaId),
            "unresolved never passes"
        );
        let v = verdict(Part::Value, &frame(1, &[]), &resolved).unwrap();
        assert!(
            v.detail.contains("schema id 1") && v.detail.contains("R"),
            "{}",
            v.detail
        );
    }
}
