//! The limits a datum is held to, shared by the validating interpreter (`validate`) and the
//! compiled programs (`program`): a leaf, so that neither imports the other for them.

/// Deepest nesting of records, arrays, maps and unions a datum may have.
pub const MAX_NESTING: usize = 128;

/// Most items one block may claim when the items take no bytes at all (`null`, empty
/// records): such a block is valid Avro, but readers allocate per item.
pub const MAX_ZERO_SIZE_ITEMS: u64 = 1 << 20;
