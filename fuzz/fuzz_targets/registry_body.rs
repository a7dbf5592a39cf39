//! The registry's JSON request bodies (the first byte picks which): a schema registration or
//! lookup taken through to a parsed schema, a compatibility level, a mode.
#![no_main]

use contract::ParsedSchema;
use libfuzzer_sys::fuzz_target;
use registry::http::config::{ConfigRequest, ModeRequest};
use registry::http::parse_json;
use registry::request::SchemaRequest;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            let Ok(req) = parse_json::<SchemaRequest>(body) else {
                return;
            };
            let Ok(submitted) = req.submitted() else {
                return;
            };
            if submitted.schema_type == contract::SchemaType::Protobuf
                && schemagate_fuzz::trips_protox_octal_assertion(&submitted.schema)
            {
                return;
            }
            let _ = ParsedSchema::parse(submitted.schema_type, &submitted.schema, &[]);
        }
        1 => {
            if let Ok(req) = parse_json::<ConfigRequest>(body) {
                let _ = req.level();
            }
        }
        _ => {
            let _ = parse_json::<ModeRequest>(body);
        }
    }
});
