//! Cost of "does this payload decode under the writer schema" for a ~512-byte Protobuf Order.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use prost::Message as _;
use prost_reflect::{DynamicMessage, Value};

use contract::protobuf::ProtobufSchema;

include!("fixtures/protobuf_order.rs");
include!("fixtures/bench_validate.rs");

fn bench(c: &mut Criterion) {
    let schema = ProtobufSchema::parse(ORDER, &[]).expect("schema compiles");
    let body = order_bytes(&schema, 15);
    bench_validate(c, "validate_protobuf", &body, |b| schema.validate(b));
}

criterion_group!(benches, bench);
criterion_main!(benches);
