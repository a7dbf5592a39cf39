//! The Confluent wire frame: magic byte `0x00`, a 4-byte big-endian schema id, then the body.
//! (Skeleton: the implementation lands with issue 3.)

/// A registry schema id (global across subjects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaId(pub u32);

/// A parsed wire frame borrowing the record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireFrame<'a> {
    /// The schema id from bytes 1..5.
    pub schema_id: SchemaId,
    /// Everything after the 5-byte header.
    pub body: &'a [u8],
}

/// Why bytes are not a Confluent wire frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer than 5 bytes.
    #[error("record is {0} bytes, shorter than the 5-byte wire header")]
    TooShort(usize),
    /// First byte is not 0x00.
    #[error("first byte is {0:#04x}, not the magic byte 0x00")]
    NoMagicByte(u8),
}
