//! The seven `Order` schemas: v1 and one version per evolution class, each a single change
//! from v1 so that every class is measured on its own. The texts live in `loadgen/schemas/`.

use std::fmt;
use std::str::FromStr;

/// One schema version of `Order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaVersion {
    /// v1: the base schema.
    V1,
    /// v2: adds optional `coupon_code` (union with null, default null).
    V2,
    /// v3: adds required `region` (no default).
    V3,
    /// v4: removes `customer_email`.
    V4,
    /// v5: renames `channel` to `sales_channel`, keeping `channel` as an alias.
    V5,
    /// v6: retypes `items[].qty` from int to long.
    V6,
    /// v7: retypes `priority` from int to string.
    V7,
}

impl SchemaVersion {
    /// Every version, in order.
    pub const ALL: [SchemaVersion; 7] = [
        SchemaVersion::V1,
        SchemaVersion::V2,
        SchemaVersion::V3,
        SchemaVersion::V4,
        SchemaVersion::V5,
        SchemaVersion::V6,
        SchemaVersion::V7,
    ];

    /// 1-based version number.
    pub fn number(self) -> u32 {
        match self {
            SchemaVersion::V1 => 1,
            SchemaVersion::V2 => 2,
            SchemaVersion::V3 => 3,
            SchemaVersion::V4 => 4,
            SchemaVersion::V5 => 5,
            SchemaVersion::V6 => 6,
            SchemaVersion::V7 => 7,
        }
    }

    /// The change class this version exercises relative to v1.
    pub fn change(self) -> &'static str {
        match self {
            SchemaVersion::V1 => "base",
            SchemaVersion::V2 => "add-optional",
            SchemaVersion::V3 => "add-required",
            SchemaVersion::V4 => "remove-field",
            SchemaVersion::V5 => "rename-alias",
            SchemaVersion::V6 => "int-to-long",
            SchemaVersion::V7 => "int-to-string",
        }
    }

    /// The Avro schema (`.avsc` JSON).
    pub fn avsc(self) -> &'static str {
        match self {
            SchemaVersion::V1 => include_str!("../schemas/order-v1.avsc"),
            SchemaVersion::V2 => include_str!("../schemas/order-v2.avsc"),
            SchemaVersion::V3 => include_str!("../schemas/order-v3.avsc"),
            SchemaVersion::V4 => include_str!("../schemas/order-v4.avsc"),
            SchemaVersion::V5 => include_str!("../schemas/order-v5.avsc"),
            SchemaVersion::V6 => include_str!("../schemas/order-v6.avsc"),
            SchemaVersion::V7 => include_str!("../schemas/order-v7.avsc"),
        }
    }

    /// The Protobuf schema (`.proto` text, proto3).
    pub fn proto(self) -> &'static str {
        match self {
            SchemaVersion::V1 => include_str!("../schemas/order-v1.proto"),
            SchemaVersion::V2 => include_str!("../schemas/order-v2.proto"),
            SchemaVersion::V3 => include_str!("../schemas/order-v3.proto"),
            SchemaVersion::V4 => include_str!("../schemas/order-v4.proto"),
            SchemaVersion::V5 => include_str!("../schemas/order-v5.proto"),
            SchemaVersion::V6 => include_str!("../schemas/order-v6.proto"),
            SchemaVersion::V7 => include_str!("../schemas/order-v7.proto"),
        }
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}

/// A version name that is not `v1`..`v7`.
#[derive(Debug, thiserror::Error)]
#[error("unknown schema version {0:?}: expected v1..v7")]
pub struct UnknownVersion(String);

impl FromStr for SchemaVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = s.trim_start_matches(['v', 'V']);
        SchemaVersion::ALL
            .into_iter()
            .find(|v| v.number().to_string() == n)
            .ok_or_else(|| UnknownVersion(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in SchemaVersion::ALL {
            assert_eq!(v.to_string().parse::<SchemaVersion>().ok(), Some(v));
        }
        assert!("v8".parse::<SchemaVersion>().is_err());
    }
}
