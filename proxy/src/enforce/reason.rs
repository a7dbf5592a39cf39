//! Why a record breaks its contract: the reason codes written to quarantine headers and
//! metrics, spelled exactly as ARCHITECTURE.md publishes them.

use std::fmt;

/// The closed set of reasons a record can be quarantined or rejected for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Fewer than the 5 bytes of the wire header.
    TooShort,
    /// The first byte is not the magic byte 0x00.
    NoMagicByte,
    /// The registry definitively does not know the schema id.
    UnknownSchemaId,
    /// The id exists but is not registered under the topic's subject.
    SubjectMismatch,
    /// The payload does not decode under the writer schema.
    DecodeFailed,
    /// A declared reader version cannot read the writer schema.
    ReaderIncompatible,
}

impl Reason {
    /// Every reason, for metrics pre-registration and docs.
    pub const ALL: [Reason; 6] = [
        Reason::TooShort,
        Reason::NoMagicByte,
        Reason::UnknownSchemaId,
        Reason::SubjectMismatch,
        Reason::DecodeFailed,
        Reason::ReaderIncompatible,
    ];

    /// The published spelling, used in `schemagate.reason` and the `reason` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooShort => "too-short",
            Reason::NoMagicByte => "no-magic-byte",
            Reason::UnknownSchemaId => "unknown-schema-id",
            Reason::SubjectMismatch => "subject-mismatch",
            Reason::DecodeFailed => "decode-failed",
            Reason::ReaderIncompatible => "reader-incompatible",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of the record broke the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The record key.
    Key,
    /// The record value.
    Value,
}

impl Part {
    /// `key` or `value`, also the Confluent subject suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Key => "key",
            Part::Value => "value",
        }
    }
}

/// One record's broken contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Key or value.
    pub part: Part,
    /// The reason code.
    pub reason: Reason,
    /// The schema id from the frame, when there was one.
    pub schema_id: Option<u32>,
    /// One human line, with the field path for decode errors.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.part.as_str(), self.reason, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_match_the_published_header_values() {
        let got: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            got,
            [
                "too-short",
                "no-magic-byte",
                "unknown-schema-id",
                "subject-mismatch",
                "decode-failed",
                "reader-incompatible"
            ]
        );
    }
}
