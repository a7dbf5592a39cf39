//! Profiling driver: validates the Orders `loadgen bench` produces (v1 Avro, v1 Protobuf, or
//! the JSON documents of the JSON Schema paths; by default 1,000 distinct ones from seed 1) N
//! times over, with the schema the proxy would use, so an instruction counter gives the
//! per-record cost of the check on the benchmark's own records.
//!
//! `cargo build --release -p loadgen --example bench_orders`, then
//! `valgrind --tool=callgrind target/release/examples/bench_orders avro|protobuf|json N [ORDERS]`
//! for N = 0 and N = 20 (each round checks the ORDERS orders once, 1,000 by default); per
//! record = difference / (ORDERS N).

use contract::{ParsedSchema, SchemaType};
use loadgen::bench::kroxylicious::{order_json, ORDER_JSON_SCHEMA};
use loadgen::order::OrderGenerator;
use loadgen::render::avro::AvroSchemas;
use loadgen::render::protobuf::ProtobufSchemas;
use loadgen::version::SchemaVersion;

fn main() {
    let mut args = std::env::args().skip(1);
    let format = args.next().unwrap_or_else(|| "avro".into());
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let orders: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000);
    let generator = OrderGenerator::new(1);
    let v1 = SchemaVersion::ALL[0];
    let (schema, bodies): (ParsedSchema, Vec<Vec<u8>>) = match format.as_str() {
        "avro" => {
            let schemas = AvroSchemas::load().expect("bundled schemas parse");
            let bodies = (0..orders)
                .map(|i| schemas.encode(&generator.order(i), v1).expect("encodes"))
                .collect();
            let parsed = ParsedSchema::parse(SchemaType::Avro, v1.avsc(), &[]).expect("parses");
            (parsed, bodies)
        }
        "protobuf" => {
            let schemas = ProtobufSchemas::load().expect("bundled schemas parse");
            let bodies = (0..orders)
                .map(|i| {
                    // The message-index list [0] the frame carries, then the message.
                    let mut body = vec![0u8];
                    body.extend(schemas.encode(&generator.order(i), v1));
                    body
                })
                .collect();
            let parsed =
                ParsedSchema::parse(SchemaType::Protobuf, v1.proto(), &[]).expect("parses");
            (parsed, bodies)
        }
        "json" => {
            // The documents of `proxy_validating_json` (and Kroxylicious' validating path).
            let bodies = (0..orders)
                .map(|i| order_json(&generator.order(i)))
                .collect();
            let parsed =
                ParsedSchema::parse(SchemaType::Json, ORDER_JSON_SCHEMA, &[]).expect("parses");
            (parsed, bodies)
        }
        other => panic!("unknown format {other}: avro, protobuf or json"),
    };
    let mut ok = 0usize;
    for _ in 0..rounds {
        for body in &bodies {
            ok += usize::from(schema.validate(std::hint::black_box(body)).is_ok());
        }
    }
    assert_eq!(ok, rounds * bodies.len(), "every order validates");
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    eprintln!(
        "{} orders, {} body bytes on average",
        bodies.len(),
        bytes / bodies.len().max(1)
    );
}
