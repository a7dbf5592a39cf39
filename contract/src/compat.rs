//! Compatibility modes and the checker that applies them to any format.
//!
//! Every format implements one primitive, "can `reader` read data written with `writer`"
//! (Confluent's `isBackwardCompatible`), and the modes are built from it exactly as
//! Confluent's `CompatibilityChecker` does: BACKWARD asks the proposed schema to read the
//! existing one, FORWARD swaps them, FULL asks both; `*_TRANSITIVE` checks every registered
//! version, the others only the latest.

use serde::{Deserialize, Serialize};

use crate::parsed::ParsedSchema;
pub use crate::verdict::Incompatibility;

/// The seven Confluent compatibility levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityMode {
    /// Anything goes.
    None,
    /// The proposed schema reads data written with the latest.
    Backward,
    /// The proposed schema reads data written with every registered version.
    BackwardTransitive,
    /// The latest schema reads data written with the proposed one.
    Forward,
    /// Every registered version reads data written with the proposed one.
    ForwardTransitive,
    /// Backward and forward against the latest.
    Full,
    /// Backward and forward against every registered version.
    FullTransitive,
}

impl CompatibilityMode {
    /// The registry's spelling, e.g. `BACKWARD_TRANSITIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityMode::None => "NONE",
            CompatibilityMode::Backward => "BACKWARD",
            CompatibilityMode::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityMode::Forward => "FORWARD",
            CompatibilityMode::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityMode::Full => "FULL",
            CompatibilityMode::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            CompatibilityMode::BackwardTransitive
                | CompatibilityMode::ForwardTransitive
                | CompatibilityMode::FullTransitive
        )
    }

    fn backward(self) -> bool {
        !matches!(
            self,
            CompatibilityMode::None
                | CompatibilityMode::Forward
                | CompatibilityMode::ForwardTransitive
        )
    }

    fn forward(self) -> bool {
        !matches!(
            self,
            CompatibilityMode::None
                | CompatibilityMode::Backward
                | CompatibilityMode::BackwardTransitive
        )
    }
}

impl std::str::FromStr for CompatibilityMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "NONE" => CompatibilityMode::None,
            "BACKWARD" => CompatibilityMode::Backward,
            "BACKWARD_TRANSITIVE" => CompatibilityMode::BackwardTransitive,
            "FORWARD" => CompatibilityMode::Forward,
            "FORWARD_TRANSITIVE" => CompatibilityMode::ForwardTransitive,
            "FULL" => CompatibilityMode::Full,
            "FULL_TRANSITIVE" => CompatibilityMode::FullTransitive,
            other => return Err(format!("unknown compatibility mode {other:?}")),
        })
    }
}

impl std::fmt::Display for CompatibilityMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// "Can `reader` read data written with `writer`?" for any pair of parsed schemas.
pub fn can_read(reader: &ParsedSchema, writer: &ParsedSchema) -> Vec<Incompatibility> {
    match (reader, writer) {
        (ParsedSchema::Avro(r), ParsedSchema::Avro(w)) => crate::avro::can_read(r, w),
        (ParsedSchema::Protobuf(r), ParsedSchema::Protobuf(w)) => crate::protobuf::can_read(r, w),
        (ParsedSchema::Json(r), ParsedSchema::Json(w)) => crate::json::can_read(r, w),
        (r, w) => vec![Incompatibility {
            path: String::new(),
            message: format!(
                "schema type changed from {} to {}",
                w.schema_type(),
                r.schema_type()
            ),
        }],
    }
}

/// Checks `proposed` against the registered versions `existing` (oldest first) under `mode`.
/// An empty result means compatible.
pub fn check(
    mode: CompatibilityMode,
    existing: &[ParsedSchema],
    proposed: &ParsedSchema,
) -> Vec<Incompatibility> {
    let against: &[ParsedSchema] = if mode.transitive() {
        existing
    } else {
        match existing.last() {
            Some(_) => &existing[existing.len() - 1..],
            None => &[],
        }
    };
    let mut out = Vec::new();
    // Newest first, as Confluent reports them.
    for old in against.iter().rev() {
        if mode.backward() {
            out.extend(can_read(proposed, old));
        }
        if mode.forward() {
            out.extend(can_read(old, proposed));
        }
    }
    out
}

#[cfg(test)]
mod tests;
