//! Cost of the walk every Produce response now gets on its way to the client
//! (`visit_partitions`, which feeds the connection's record of refused partitions; see
//! docs/ENFORCEMENT.md, "A batch removed whole is acknowledged in order"), against copying the
//! same response once (`to_vec`), the least a relay touching the bytes would cost.
//!
//! Run: `cargo bench -p proxy --bench response_walk`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use proxy::enforce::produce_response::{local_response, visit_partitions, LocalPartition};

/// A Produce v9 response with `partitions` successful answers on one topic.
fn response(partitions: i32) -> bytes::Bytes {
    let parts: Vec<LocalPartition> = (0..partitions)
        .map(|index| LocalPartition {
            topic: "orders-placed".to_owned(),
            index,
            error_code: 0,
            error_message: None,
            record_errors: Vec::new(),
        })
        .collect();
    local_response(7, 9, &parts).expect("a response")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("produce_response");
    for partitions in [1, 3, 12] {
        let body = response(partitions);
        group.bench_with_input(BenchmarkId::new("visit", partitions), &body, |b, body| {
            b.iter(|| {
                let mut refused = 0u32;
                visit_partitions(black_box(body), 9, |_, _, code| {
                    refused += u32::from(code != 0);
                })
                .expect("walks");
                refused
            })
        });
        group.bench_with_input(BenchmarkId::new("copy", partitions), &body, |b, body| {
            b.iter(|| black_box(body).to_vec())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
