//! The verdict types the format modules return and [`crate::compat`] collects: a leaf
//! module, so that `compat` (which calls each format's `can_read`) and the formats (which
//! build these values) import it rather than each other.

use serde::{Deserialize, Serialize};

/// One reason two schemas are incompatible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incompatibility {
    /// Path of the offending field, e.g. `Order.priority` (or `#/properties/x` for JSON).
    pub path: String,
    /// The rule it breaks and why that matters, in one human line.
    pub message: String,
}

impl std::fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
