//! Cost of "does this payload validate under the writer schema" for a ~512-byte JSON Order.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use contract::json::JsonSchema;

include!("fixtures/json_order.rs");

fn bench(c: &mut Criterion) {
    let schema = JsonSchema::parse(JSON_ORDER, &[]).expect("schema compiles");
    let body = json_order_body(7);
    schema.validate(&body).expect("valid payload");
    let mut group = c.benchmark_group("validate_json");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("order_{}_bytes", body.len()), |b| {
        b.iter(|| schema.validate(black_box(&body)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
