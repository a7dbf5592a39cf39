//! Cost of reading a Produce partition's records the way the enforcer does on every request:
//! parse the v2 batch (CRC included), then walk every record and its headers. This is the
//! bounded reader's hottest use (a varint or two per field, per record).
//!
//! Run: `cargo bench -p proxy --bench record_batch`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use proxy::batch::{encode_batch, BatchHeader, BatchLimits, Compression, Record, RecordBatch};

include!("fixtures/plain_batch.rs");

/// One uncompressed batch of `n` records: a 16-byte key, a `value_len`-byte value and two
/// headers each.
fn batch(n: usize, value_len: usize) -> Vec<u8> {
    let keys: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("key-{i:012}").into_bytes())
        .collect();
    let value: Vec<u8> = (0..value_len).map(|i| (i % 251) as u8).collect();
    let mut headers = Vec::new();
    for (k, v) in [
        (&b"trace"[..], &b"00-4bf92f3577b34da6-01"[..]),
        (b"source", b"web"),
    ] {
        headers.push((k.len() as u8) << 1); // zigzag varint, < 64
        headers.extend_from_slice(k);
        headers.push((v.len() as u8) << 1);
        headers.extend_from_slice(v);
    }
    let records = keys.iter().map(|k| (Some(k.as_slice()), value.as_slice()));
    plain_batch(records, 2, &headers)
}

/// Parses every batch and walks every record and header; returns a checksum of lengths.
fn read_all(bytes: &[u8]) -> usize {
    let batches = RecordBatch::parse_all(bytes, BatchLimits::default()).expect("batch");
    let mut total = 0;
    for b in &batches {
        for r in b.records() {
            let r = r.expect("record");
            total += r.value.map_or(0, <[u8]>::len) + r.key.map_or(0, <[u8]>::len);
            total += r.headers().map(|h| h.key.len()).sum::<usize>();
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_batch");
    for (name, n, value_len) in [("1000x512B", 1000, 512), ("1000x32B", 1000, 32)] {
        let bytes = batch(n, value_len);
        assert!(read_all(&bytes) > n * value_len);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(name, |b| b.iter(|| read_all(black_box(&bytes))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
