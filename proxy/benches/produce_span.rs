//! What the `produce` span costs an enforced Produce request (issue 13: "under 2% at 1%
//! sampling"), measured in one process, with the same subscriber stack the binary installs
//! (`serving::telemetry::subscriber`) and the SDK's batch span processor.
//!
//! One request here is the part of the enforcer's work that always runs: parse a 500-record
//! batch of 512-byte Avro values (CRC included), take each value's Confluent frame and
//! validate it against its schema, count the records for the span. The real proxy also copies
//! frames between sockets, resolves ids and writes metrics, so a real request costs more and
//! the span's share of it is smaller: the ratios here are an upper bound.
//!
//! Variants: `off` (no export configured: the spans' call sites are disabled), `sampled_1pct`
//! and `sampled_100pct` (OTLP export configured, `parentbased_traceidratio`). The exporter
//! counts and discards the spans, so OTLP encoding and the network are not in these numbers;
//! at 1% they are spent on one request in a hundred.
//!
//! Besides criterion's timings, the variants run alternated in rounds, each round measuring
//! the process's CPU time (the exporter's thread included) per request, and the median ratio
//! to `off` is printed: that is the number for issue 13.
//!
//! Run: `cargo bench -p proxy --bench produce_span`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use contract::avro::AvroSchema;
use contract::wire::{SchemaId, WireFrame};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use proxy::batch::{encode_batch, BatchHeader, BatchLimits, Compression, Record, RecordBatch};
use proxy::enforce::outcome::Outcome;
use proxy::enforce::trace;
use proxy::ProduceDecision;
use tracing_subscriber::EnvFilter;

/// Records per request: about what librdkafka sent per Produce in the tracing bench run
/// (docs/benchmarks/tracing.json: 1,222 spans for 800,000 records, ~650 per request).
const RECORDS: usize = 500;

const SCHEMA: &str = r#"{"type":"record","name":"Order","fields":[
  {"name":"id","type":"string"},
  {"name":"customer","type":"string"},
  {"name":"amount_cents","type":"long"},
  {"name":"quantity","type":"int"},
  {"name":"note","type":"string"}]}"#;

/// Appends the Avro zig-zag varint of `n`.
fn long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn string(out: &mut Vec<u8>, s: &str) {
    long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

/// A 512-byte framed Avro Order (schema id 7).
fn order(i: usize) -> Vec<u8> {
    let mut body = Vec::new();
    string(&mut body, &format!("order-{i:012}"));
    string(&mut body, "customer-0001");
    long(&mut body, 12_345 + i as i64);
    long(&mut body, 3);
    let head = 5 + body.len() + 2;
    string(&mut body, &"n".repeat(512 - head));
    let framed = WireFrame {
        schema_id: SchemaId(7),
        body: &body,
    }
    .to_bytes();
    assert_eq!(framed.len(), 512);
    framed
}

fn batch(values: &[Vec<u8>]) -> Vec<u8> {
    let records: Vec<Record<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            attributes: 0,
            timestamp_delta: i as i64,
            offset_delta: i as i32,
            key: None,
            value: Some(v),
            header_count: 0,
            headers_raw: &[],
        })
        .collect();
    let header = BatchHeader::plain(1_700_000_000_000);
    encode_batch(&header, Compression::None, &records).expect("encode")
}

/// The request's work: every record's frame and payload checked, then counted for the span.
fn judge(bytes: &[u8], schema: &AvroSchema) -> ProduceDecision {
    let batches = RecordBatch::parse_all(bytes, BatchLimits::default()).expect("batch");
    let mut valid = 0;
    for b in &batches {
        for r in b.records() {
            let value = r.expect("record").value.expect("value");
            let frame = WireFrame::decode(value).expect("framed");
            if schema.validate(frame.body).is_ok() {
                valid += 1;
            }
        }
    }
    assert_eq!(valid, RECORDS);
    trace::count("orders", Outcome::valid, valid);
    ProduceDecision::Forward
}

/// Counts the spans it is given and drops them.
#[derive(Debug, Clone, Default)]
struct Discard(Arc<AtomicU64>);

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Variant {
    Off,
    Sampled(f64),
}

impl Variant {
    fn name(self) -> String {
        match self {
            Variant::Off => "off".into(),
            Variant::Sampled(r) => format!("sampled_{}pct", r * 100.0),
        }
    }
}

/// The subscriber of `variant` as a dispatcher, and the provider to shut down after.
fn dispatch(variant: Variant, spans: &Discard) -> (tracing::Dispatch, Option<SdkTracerProvider>) {
    let provider = match variant {
        Variant::Off => None,
        Variant::Sampled(ratio) => Some(
            SdkTracerProvider::builder()
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                    ratio,
                ))))
                .with_batch_exporter(spans.clone())
                .build(),
        ),
    };
    let subscriber = serving::telemetry::subscriber(
        std::io::sink,
        false,
        EnvFilter::new("info"),
        provider.as_ref(),
    );
    (tracing::Dispatch::new(subscriber), provider)
}

/// Runs `requests` traced requests under `variant`; the process CPU seconds they took, and
/// how many spans reached the exporter.
fn run(variant: Variant, requests: u64, bytes: &[u8], schema: &AvroSchema) -> (f64, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let spans = Discard::default();
    let (dispatch, provider) = dispatch(variant, &spans);
    let start = process_cpu_ticks();
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..requests {
            let d = rt.block_on(trace::traced(async { judge(black_box(bytes), schema) }));
            black_box(d);
        }
    });
    if let Some(p) = provider {
        p.shutdown().expect("flush");
    }
    let cpu = (process_cpu_ticks() - start) as f64 / 100.0;
    (cpu, spans.0.load(Ordering::Relaxed))
}

fn bench(c: &mut Criterion) {
    let schema = AvroSchema::parse(SCHEMA, &[]).expect("schema");
    let values: Vec<Vec<u8>> = (0..RECORDS).map(order).collect();
    let bytes = batch(&values);
    let variants = [Variant::Off, Variant::Sampled(0.01), Variant::Sampled(1.0)];

    let mut group = c.benchmark_group("produce_span");
    group.throughput(Throughput::Elements(RECORDS as u64));
    for variant in variants {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let spans = Discard::default();
        let (dispatch, provider) = dispatch(variant, &spans);
        tracing::dispatcher::with_default(&dispatch, || {
            group.bench_function(variant.name(), |b| {
                b.iter(|| rt.block_on(trace::traced(async { judge(black_box(&bytes), &schema) })))
            });
        });
        if let Some(p) = provider {
            p.shutdown().expect("flush");
        }
    }
    group.finish();

    // Alternated rounds of CPU time per request: the ratios for issue 13.
    const ROUNDS: usize = 7;
    let requests = requests_per_second(&bytes, &schema);
    let mut per_request: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut exported = vec![0u64; variants.len()];
    for round in 0..ROUNDS {
        for i in 0..variants.len() {
            // Start each round with a different variant, so none always runs first.
            let k = (i + round) % variants.len();
            let (cpu, spans) = run(variants[k], requests, &bytes, &schema);
            per_request[k].push(cpu / requests as f64);
            exported[k] += spans;
        }
    }
    let total = (ROUNDS as u64) * requests;
    assert_eq!(exported[0], 0, "spans exported with export off");
    assert_eq!(exported[2], total, "the 100% variant lost spans");
    assert!(
        exported[1] > 0 && exported[1] < total / 10,
        "1% sampling exported {} of {total}",
        exported[1]
    );
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let off = median(&per_request[0]);
    eprintln!(
        "produce_span: {ROUNDS} alternated rounds of {requests} requests x {RECORDS} records, CPU per request (median)"
    );
    for (k, &variant) in variants.iter().enumerate() {
        let m = median(&per_request[k]);
        let ratios: Vec<String> = per_request[k]
            .iter()
            .map(|x| format!("{:.3}", x / off))
            .collect();
        eprintln!(
            "produce_span/{}: {:.1} us per request, {:.3} of off (rounds: {}), spans exported {}",
            variant.name(),
            m * 1e6,
            m / off,
            ratios.join(" "),
            exported[k]
        );
    }
}

/// About one second's worth of requests with tracing off (at least 100).
fn requests_per_second(bytes: &[u8], schema: &AvroSchema) -> u64 {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_millis(300) {
        black_box(judge(bytes, schema));
        n += 1;
    }
    (n * 10 / 3).max(100)
}

/// utime + stime of this process in clock ticks (10 ms), from `/proc/self/stat`.
fn process_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = stat.rsplit_once(')').expect("stat format").1;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next().and_then(|f| f.parse().ok()).expect("utime");
    let stime: u64 = fields.next().and_then(|f| f.parse().ok()).expect("stime");
    utime + stime
}

criterion_group!(benches, bench);
criterion_main!(benches);
