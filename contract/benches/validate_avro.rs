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

const ORDER: &str = include_str!("order.avsc");

fn order_value() -> Value {
    let item = |i: i32| {
        Value::Record(vec![
            ("sku".into(), Value::String(format!("SKU-{i:06}-BLUE-XL"))),
            ("qty".into(), Value::Int(i + 1)),
            ("price_cents".into(), Value::Long(1999 + i64::from(i) * 150)),
        ])
    };
    let attributes: HashMap<String, Value> = [
        ("channel", "web"),
        ("campaign", "winter-sale-2026"),
        ("warehouse", "eu-west-3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
    .collect();
    Value::Record(vec![
        (
            "order_id".into(),
            Value::String("ord-2026-11-22-000000123456".into()),
        ),
        ("account_id".into(), Value::Long(9_876_543_210)),
        ("status".into(), Value::Enum(1, "PAID".into())),
        ("amount_cents".into(), Value::Long(123_456)),
        ("currency".into(), Value::String("EUR".into())),
        ("ts".into(), Value::Long(1_763_769_600_000)),
        ("items".into(), Value::Array((0..8).map(item).collect())),
        (
            "customer_email".into(),
            Value::Union(1, Box::new(Value::String("jane.doe@example.com".into()))),
        ),
        (
            "shipping_address".into(),
            Value::String(
                "Jane Doe, 42 Rue de la République, Appartement 7B, 69002 Lyon, France; \
                 deliver on weekdays between 9:00 and 17:00, ring twice, otherwise leave the parcel with the concierge"
                    .into(),
            ),
        ),
        (
            "coupon".into(),
            Value::Union(1, Box::new(Value::String("WINTER-26-15OFF".into()))),
        ),
        ("gift".into(), Value::Boolean(true)),
        ("attributes".into(), Value::Map(attributes)),
    ])
}

fn bench(c: &mut Criterion) {
    let schema = AvroSchema::parse(ORDER, &[]).expect("order schema parses");
    let theirs = apache_avro::Schema::parse_str(ORDER).expect("apache-avro parses it too");
    let writer = GenericDatumWriter::builder(&theirs)
        .build()
        .expect("writer builds");
    let datum = writer
        .write_value_to_vec(order_value())
        .expect("value encodes");
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
