//! Confluent framing of encoded bodies, through `contract::wire`.

use contract::wire::{MessageIndexes, WireFrame};
use contract::SchemaId;

pub use contract::wire::HEADER_LEN;

/// Frames an Avro body: magic, id, body.
pub fn frame_avro(id: SchemaId, body: &[u8]) -> Vec<u8> {
    WireFrame {
        schema_id: id,
        body,
    }
    .to_bytes()
}

/// Frames a Protobuf body for the file's first message: magic, id, index list `[0]`, body.
pub fn frame_protobuf(id: SchemaId, body: &[u8]) -> Vec<u8> {
    let mut indexed = Vec::with_capacity(body.len() + 1);
    MessageIndexes::FIRST.encode_into(&mut indexed);
    indexed.extend_from_slice(body);
    frame_avro(id, &indexed)
}

/// Rewrites the schema id of an already framed record in place (ids differ per registry).
pub fn set_schema_id(framed: &mut [u8], id: SchemaId) {
    if let Some(slot) = framed.get_mut(1..HEADER_LEN) {
        slot.copy_from_slice(&id.0.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_frames() {
        assert_eq!(frame_avro(SchemaId(7), &[0xaa]), vec![0, 0, 0, 0, 7, 0xaa]);
        assert_eq!(
            frame_protobuf(SchemaId(258), &[0x08, 0x01]),
            vec![0, 0, 0, 1, 2, 0, 0x08, 0x01]
        );
        let mut f = frame_avro(SchemaId(1), &[1, 2]);
        set_schema_id(&mut f, SchemaId(0x01020304));
        assert_eq!(f, vec![0, 1, 2, 3, 4, 1, 2]);
    }
}
