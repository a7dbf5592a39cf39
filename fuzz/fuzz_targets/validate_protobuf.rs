//! The Protobuf payload validator on arbitrary payloads under fixed schemas (the first byte picks
//! the schema), behind the Confluent wire frame reader.
#![no_main]

use contract::wire::MessageIndexes;
use contract::{SchemaType, WireFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let schemas = schemagate_fuzz::fixed_schemas(SchemaType::Protobuf);
    let schema = &schemas[usize::from(selector) % schemas.len()];
    let _ = schema.validate(payload);
    if let Ok(frame) = WireFrame::decode(payload) {
        let _ = schema.validate(frame.body);
        let _ = MessageIndexes::decode(frame.body);
    }
});
