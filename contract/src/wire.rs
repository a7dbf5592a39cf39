//! The Confluent wire frame: magic byte `0x00`, a 4-byte big-endian schema id, then the body.
//!
//! For Protobuf the body starts with the message-index list: which message of the `.proto`
//! file the payload is (`[0]` is the first top-level message, `[1, 2]` the third nested
//! message of the second one). It is a zigzag varint count followed by that many zigzag varint
//! indexes, and a single `0` byte stands for `[0]`, the common case.
//!
//! Everything here borrows the record's bytes and never panics on short or garbage input.

/// The magic byte that opens every Confluent-framed record.
pub const MAGIC: u8 = 0x00;

/// Length of the frame header: magic byte plus 4-byte schema id.
pub const HEADER_LEN: usize = 5;

/// Most message indexes accepted in one list; real `.proto` nesting is far shallower.
pub const MAX_MESSAGE_INDEXES: usize = 64;

/// Longest zigzag varint for a 32-bit value (Kafka's `ByteUtils.readVarint` reads at most 5).
const MAX_VARINT32_LEN: usize = 5;

/// A registry schema id (global across subjects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaId(pub u32);

impl std::fmt::Display for SchemaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

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

impl FrameError {
    /// The quarantine reason the proxy records for this error (`too-short`, `no-magic-byte`).
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::TooShort(_) => "too-short",
            FrameError::NoMagicByte(_) => "no-magic-byte",
        }
    }
}

impl<'a> WireFrame<'a> {
    /// Splits a record value into schema id and body. A wrong first byte is reported before
    /// a short length, so a 3-byte plain-text value reads as "no magic byte".
    pub fn decode(bytes: &'a [u8]) -> Result<Self, FrameError> {
        match bytes {
            [] => Err(FrameError::TooShort(0)),
            [first, ..] if *first != MAGIC => Err(FrameError::NoMagicByte(*first)),
            [_, a, b, c, d, body @ ..] => Ok(WireFrame {
                schema_id: SchemaId(u32::from_be_bytes([*a, *b, *c, *d])),
                body,
            }),
            short => Err(FrameError::TooShort(short.len())),
        }
    }

    /// Appends the framed record (header then body) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(HEADER_LEN + self.body.len());
        out.push(MAGIC);
        out.extend_from_slice(&self.schema_id.0.to_be_bytes());
        out.extend_from_slice(self.body);
    }

    /// The framed record as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len());
        self.encode_into(&mut out);
        out
    }
}

/// A Protobuf message-index list, held inline (no allocation per record).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MessageIndexes {
    len: usize,
    items: [u32; MAX_MESSAGE_INDEXES],
}

/// Why the message-index list at the start of a Protobuf body is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageIndexError {
    /// The body ended inside the list.
    #[error("body ends inside the protobuf message-index list")]
    Truncated,
    /// A varint ran longer than 5 bytes or past 32 bits.
    #[error("overlong varint in the protobuf message-index list")]
    OverlongVarint,
    /// The count was negative or larger than [`MAX_MESSAGE_INDEXES`].
    #[error("protobuf message-index count {0} is outside 1..={MAX_MESSAGE_INDEXES}")]
    BadCount(i64),
    /// An index was negative.
    #[error("protobuf message index {0} is negative")]
    NegativeIndex(i32),
}

impl MessageIndexes {
    /// The list `[0]`: the first top-level message.
    pub const FIRST: MessageIndexes = MessageIndexes {
        len: 1,
        items: [0; MAX_MESSAGE_INDEXES],
    };

    /// Builds a list from a slice; `None` when it is empty, longer than the cap, or holds an
    /// index above `i32::MAX` (the wire carries signed 32-bit values).
    pub fn new(indexes: &[u32]) -> Option<Self> {
        let too_big = indexes.iter().any(|&i| i > i32::MAX as u32);
        if indexes.is_empty() || indexes.len() > MAX_MESSAGE_INDEXES || too_big {
            return None;
        }
        let mut items = [0; MAX_MESSAGE_INDEXES];
        items.get_mut(..indexes.len())?.copy_from_slice(indexes);
        Some(MessageIndexes {
            len: indexes.len(),
            items,
        })
    }

    /// The indexes, outermost message first.
    pub fn as_slice(&self) -> &[u32] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// Reads the list from the start of a Protobuf body; returns it and the message bytes.
    pub fn decode(body: &[u8]) -> Result<(Self, &[u8]), MessageIndexError> {
        let (count, mut rest) = read_zigzag32(body)?;
        if count == 0 {
            return Ok((MessageIndexes::FIRST, rest));
        }
        let len = usize::try_from(count)
            .ok()
            .filter(|n| *n <= MAX_MESSAGE_INDEXES)
            .ok_or(MessageIndexError::BadCount(i64::from(count)))?;
        let mut items = [0u32; MAX_MESSAGE_INDEXES];
        for slot in items.iter_mut().take(len) {
            let (index, after) = read_zigzag32(rest)?;
            *slot = u32::try_from(index).map_err(|_| MessageIndexError::NegativeIndex(index))?;
            rest = after;
        }
        Ok((MessageIndexes { len, items }, rest))
    }

    /// Appends the list in Confluent's encoding (`[0]` as the single byte `0`).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        if self.as_slice() == [0] {
            out.push(0);
            return;
        }
        // len <= MAX_MESSAGE_INDEXES, so it fits an i32.
        write_zigzag32(self.len as i32, out);
        for &index in self.as_slice() {
            // `new` and `decode` only admit indexes up to i32::MAX.
            write_zigzag32(index as i32, out);
        }
    }
}

impl std::fmt::Debug for MessageIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Reads one zigzag varint of at most 5 bytes whose value fits in 32 bits.
fn read_zigzag32(bytes: &[u8]) -> Result<(i32, &[u8]), MessageIndexError> {
    let mut raw: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if i >= MAX_VARINT32_LEN {
            return Err(MessageIndexError::OverlongVarint);
        }
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let raw = u32::try_from(raw).map_err(|_| MessageIndexError::OverlongVarint)?;
            let value = ((raw >> 1) as i32) ^ -((raw & 1) as i32);
            return Ok((value, bytes.get(i + 1..).unwrap_or(&[])));
        }
    }
    if bytes.len() >= MAX_VARINT32_LEN {
        Err(MessageIndexError::OverlongVarint)
    } else {
        Err(MessageIndexError::Truncated)
    }
}

/// Writes one zigzag varint.
fn write_zigzag32(value: i32, out: &mut Vec<u8>) {
    let mut raw = ((value << 1) ^ (value >> 31)) as u32;
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_frame_decodes() {
        let bytes = [0x00, 0x00, 0x00, 0x01, 0x2c, 0x02, b'h', b'i'];
        let frame = WireFrame::decode(&bytes).unwrap();
        assert_eq!(frame.schema_id, SchemaId(300));
        assert_eq!(frame.body, &[0x02, b'h', b'i']);
        assert_eq!(frame.to_bytes(), bytes);
    }

    #[test]
    fn golden_frame_with_largest_id_and_empty_body() {
        let bytes = [0x00, 0xff, 0xff, 0xff, 0xff];
        let frame = WireFrame::decode(&bytes).unwrap();
        assert_eq!(frame.schema_id, SchemaId(u32::MAX));
        assert!(frame.body.is_empty());
    }

    #[test]
    fn short_and_magicless_frames_are_told_apart() {
        assert_eq!(WireFrame::decode(&[]), Err(FrameError::TooShort(0)));
        assert_eq!(
            WireFrame::decode(&[0, 0, 0, 1]),
            Err(FrameError::TooShort(4))
        );
        assert_eq!(
            WireFrame::decode(b"{\"json\":1}"),
            Err(FrameError::NoMagicByte(b'{'))
        );
        assert_eq!(WireFrame::decode(b"ab"), Err(FrameError::NoMagicByte(b'a')));
        assert_eq!(FrameError::TooShort(1).reason(), "too-short");
        assert_eq!(FrameError::NoMagicByte(7).reason(), "no-magic-byte");
    }

    #[test]
    fn golden_message_indexes() {
        // [0] is the single byte 0.
        let (idx, rest) = MessageIndexes::decode(&[0x00, 0x08, 0x96]).unwrap();
        assert_eq!(idx.as_slice(), &[0]);
        assert_eq!(rest, &[0x08, 0x96]);
        // [1, 2]: count 2 -> zigzag 4, then 1 -> 2, 2 -> 4.
        let (idx, rest) = MessageIndexes::decode(&[0x04, 0x02, 0x04, 0xaa]).unwrap();
        assert_eq!(idx.as_slice(), &[1, 2]);
        assert_eq!(rest, &[0xaa]);
        let mut out = Vec::new();
        idx.encode_into(&mut out);
        assert_eq!(out, [0x04, 0x02, 0x04]);
        // [0] written explicitly as count 1, index 0 is accepted too.
        let (idx, _) = MessageIndexes::decode(&[0x02, 0x00]).unwrap();
        assert_eq!(idx.as_slice(), &[0]);
        // [64]: index 64 -> zigzag 128 -> two bytes.
        let mut out = Vec::new();
        MessageIndexes::new(&[64]).unwrap().encode_into(&mut out);
        assert_eq!(out, [0x02, 0x80, 0x01]);
    }

    #[test]
    fn bad_message_indexes_are_errors() {
        assert_eq!(
            MessageIndexes::decode(&[]),
            Err(MessageIndexError::Truncated)
        );
        assert_eq!(
            MessageIndexes::decode(&[0x04, 0x02]),
            Err(MessageIndexError::Truncated)
        );
        // count -1 (zigzag 1)
        assert_eq!(
            MessageIndexes::decode(&[0x01]),
            Err(MessageIndexError::BadCount(-1))
        );
        // count 65
        assert_eq!(
            MessageIndexes::decode(&[0x82, 0x01]),
            Err(MessageIndexError::BadCount(65))
        );
        // index -1
        assert_eq!(
            MessageIndexes::decode(&[0x02, 0x01]),
            Err(MessageIndexError::NegativeIndex(-1))
        );
        // six-byte varint, and a five-byte one carrying more than 32 bits
        assert_eq!(
            MessageIndexes::decode(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            Err(MessageIndexError::OverlongVarint)
        );
        assert_eq!(
            MessageIndexes::decode(&[0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(MessageIndexError::OverlongVarint)
        );
    }

    proptest! {
        #[test]
        fn frame_round_trips(id in any::<u32>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bytes = WireFrame { schema_id: SchemaId(id), body: &body }.to_bytes();
            let frame = WireFrame::decode(&bytes).unwrap();
            prop_assert_eq!(frame.schema_id, SchemaId(id));
            prop_assert_eq!(frame.body, &body[..]);
        }

        #[test]
        fn message_indexes_round_trip(
            indexes in proptest::collection::vec(0u32..=i32::MAX as u32, 1..=MAX_MESSAGE_INDEXES),
            tail in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let idx = MessageIndexes::new(&indexes).unwrap();
            let mut out = Vec::new();
            idx.encode_into(&mut out);
            out.extend_from_slice(&tail);
            let (back, rest) = MessageIndexes::decode(&out).unwrap();
            prop_assert_eq!(back.as_slice(), &indexes[..]);
            prop_assert_eq!(rest, &tail[..]);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            if let Ok(frame) = WireFrame::decode(&bytes) {
                prop_assert_eq!(frame.body.len() + HEADER_LEN, bytes.len());
                if let Ok((idx, rest)) = MessageIndexes::decode(frame.body) {
                    prop_assert!(!idx.as_slice().is_empty());
                    prop_assert!(rest.len() < frame.body.len());
                }
            }
        }
    }
}
