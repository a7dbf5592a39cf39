//! Cost of "does this payload validate under the writer schema" for a ~512-byte JSON Order.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use contract::json::JsonSchema;

include!("fixtures/json_order.rs");
include!("fixtures/bench_validate.rs");

fn bench(c: &mut Criterion) {
    let schema = JsonSchema::parse(JSON_ORDER, &[]).expect("schema compiles");
    let body = json_order_body(7);
    bench_validate(c, "validate_json", &body, |b| schema.validate(b));
}

criterion_group!(benches, bench);
criterion_main!(benches);
