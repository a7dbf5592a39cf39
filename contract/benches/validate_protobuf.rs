//! Cost of "does this payload decode under the writer schema" for a ~512-byte Protobuf Order.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use prost::Message as _;
use prost_reflect::{DynamicMessage, Value};

use contract::protobuf::ProtobufSchema;

include!("fixtures/protobuf_order.rs");

fn bench(c: &mut Criterion) {
    let schema = ProtobufSchema::parse(ORDER, &[]).expect("schema compiles");
    let body = order_bytes(&schema, 15);
    schema.validate(&body).expect("valid payload");
    let mut group = c.benchmark_group("validate_protobuf");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("order_{}_bytes", body.len()), |b| {
        b.iter(|| schema.validate(black_box(&body)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
