//! Cost of "does this payload decode under writer schema S" for Avro: one ~512-byte `Order`
//! record (12 fields, 8 line items) behind a Confluent wire frame, written by apache-avro.
//!
//! Run: `cargo bench -p contract --bench validate_avro`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use contract::avro::AvroSchema;
use contract::wire::{SchemaId, WireFrame};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

include!("fixtures/avro_order.rs");

fn bench(c: &mut Criterion) {
    let schema = AvroSchema::parse(AVRO_ORDER, &[]).expect("order schema parses");
    let datum = avro_order_datum();
    let record = WireFrame {
        schema_id: SchemaId(7),
        body: &datum,
    }
    .to_bytes();
    schema.validate(&datum).expect("the datum validates");
    eprintln!("order datum: {} bytes", datum.len());

    let mut group = c.benchmark_group("validate_avro");
    group.throughput(Throughput::Bytes(record.len() as u64));
    group.bench_function("order_record", |b| {
        b.iter(|| {
            let frame = WireFrame::decode(black_box(&record)).expect("framed");
            schema.validate(frame.body)
        })
    });
    group.finish();

    let per_record = cpu_time_per_record(|| {
        let frame = WireFrame::decode(black_box(&record)).expect("framed");
        black_box(schema.validate(frame.body)).expect("valid");
    });
    if let Some(ns) = per_record {
        eprintln!("validate_avro/order_record: {ns:.0} ns of CPU time per record");
    }
}

/// Per-record cost in on-CPU time, measured outside criterion over a few seconds: on a shared
/// machine wall time also counts the time spent waiting for a core.
fn cpu_time_per_record(run: impl Fn()) -> Option<f64> {
    const ROUND: u64 = 100_000;
    let start = process_cpu_ticks()?;
    let wall = Instant::now();
    let mut records = 0u64;
    while wall.elapsed() < Duration::from_secs(4) {
        for _ in 0..ROUND {
            run();
        }
        records += ROUND;
    }
    let ticks = process_cpu_ticks()?.checked_sub(start)?;
    // USER_HZ is 100 on Linux: one tick is 10 ms.
    Some(ticks as f64 * 10_000_000.0 / records as f64)
}

/// utime + stime of this process in clock ticks, from `/proc/self/stat`.
fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

criterion_group!(benches, bench);
criterion_main!(benches);
