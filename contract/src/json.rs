//! json schemas: parsing, canonical form, payload validation, and reader/writer compatibility.
//! (Skeleton: the implementation lands with issue 3.)

use crate::compat::Incompatibility;
use crate::schema::{DecodeError, ResolvedReference, SchemaError};

/// A parsed json schema.
#[derive(Debug, Clone)]
pub struct JsonSchema {
    text: String,
}

impl JsonSchema {
    /// Parses schema text, resolving references.
    pub fn parse(text: &str, _refs: &[ResolvedReference]) -> Result<Self, SchemaError> {
        Ok(Self {
            text: text.to_string(),
        })
    }

    /// Canonical form.
    pub fn canonical(&self) -> String {
        self.text.clone()
    }

    /// Validates a payload body (after the 5-byte wire header).
    pub fn validate(&self, _body: &[u8]) -> Result<(), DecodeError> {
        Err(DecodeError {
            path: String::new(),
            reason: "not implemented".into(),
        })
    }
}

/// Can `reader` read data written with `writer`? Empty means yes.
pub fn can_read(_reader: &JsonSchema, _writer: &JsonSchema) -> Vec<Incompatibility> {
    vec![Incompatibility {
        path: String::new(),
        message: "not implemented".into(),
    }]
}
