//! Profiling driver: validates the bench fixtures N times (default 20000) so an instruction
//! counter (`valgrind --tool=callgrind`) gives a noise-free per-record cost on a shared box.
//!
//! `cargo build --release -p contract --example validate_loop`, then
//! `valgrind --tool=callgrind target/release/examples/validate_loop json|protobuf|avro [N]`;
//! subtract a run with N=0 (setup) and divide by N.

use prost::Message as _;
use prost_reflect::{DynamicMessage, Value};

use contract::avro::AvroSchema;
use contract::json::JsonSchema;
use contract::protobuf::ProtobufSchema;

include!("../benches/fixtures/protobuf_order.rs");
include!("../benches/fixtures/json_order.rs");

mod avro_fixture {
    use std::collections::HashMap;

    use apache_avro::types::Value;
    use apache_avro::writer::datum::GenericDatumWriter;

    include!("../benches/fixtures/avro_order.rs");

    /// The schema text and one datum.
    pub fn order() -> (&'static str, Vec<u8>) {
        (AVRO_ORDER, avro_order_datum())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let format = args.next().unwrap_or_else(|| "json".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let mut ok = 0usize;
    match format.as_str() {
        "json" => {
            let schema = JsonSchema::parse(JSON_ORDER, &[]).expect("schema compiles");
            let body = json_order_body(7);
            for _ in 0..n {
                ok += usize::from(schema.validate(std::hint::black_box(&body)).is_ok());
            }
        }
        "protobuf" => {
            let schema = ProtobufSchema::parse(ORDER, &[]).expect("schema compiles");
            let body = order_bytes(&schema, 15);
            for _ in 0..n {
                ok += usize::from(schema.validate(std::hint::black_box(&body)).is_ok());
            }
        }
        "avro" => {
            let (text, body) = avro_fixture::order();
            let schema = AvroSchema::parse(text, &[]).expect("schema compiles");
            for _ in 0..n {
                ok += usize::from(schema.validate(std::hint::black_box(&body)).is_ok());
            }
        }
        other => panic!("unknown format {other}"),
    }
    assert_eq!(ok, n);
}
