//! The Json payload validator on arbitrary payloads under fixed schemas (the first byte picks
//! the schema), behind the Confluent wire frame reader.
#![no_main]

use contract::SchemaType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| schemagate_fuzz::validate_under_fixed(SchemaType::Json, data));
