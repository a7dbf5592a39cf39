//! What the enforcer spends judging one partition of a Produce request, records read and
//! checked, with everything it really uses: a [`Judge`] with a registry client whose cache is
//! warm (an in-memory schemagate registry served on loopback), a quarantine writer, metrics.
//! The batch: 500 Avro `Order`s of about 500 bytes (the `validate_avro` fixture) behind their
//! Confluent frame, all valid, so the partition is forwarded untouched.
//!
//! Beside it, `read_only`: parsing the same batch and reading its records, which is what any
//! check has to do. Their difference is the check, resolution and bookkeeping.
//!
//! Run: `cargo bench -p proxy --bench judge`. For an instruction count that the machine's
//! noise does not move, `JUDGE_LOOP=N` runs N judgements and exits:
//! `cargo bench -p proxy --bench judge --no-run`, then
//! `JUDGE_LOOP=N valgrind --tool=callgrind target/release/deps/judge-<hash>` for N = 0 and
//! N = 200; the difference over 200 × 500 is the cost per record.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use contract::wire::{SchemaId, WireFrame};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use proxy::batch::{encode_batch, BatchHeader, BatchLimits, Compression, Record, RecordBatch};
use proxy::enforce::answer::{PartitionInput, PartitionOutcome};
use proxy::enforce::metrics::EnforceMetrics;
use proxy::enforce::partition::Judge;
use proxy::enforce::quarantine::{QuarantineConfig, QuarantineWriter};
use proxy::enforce::sequence_store::{SequenceConfig, SequenceMetrics, SequenceStore};
use proxy::policy::Policy;
use registry_client::{BindingCheck, RegistryClient, RegistryConfig};

include!("fixtures/plain_batch.rs");
include!("../../contract/benches/fixtures/avro_order.rs");

const RECORDS: usize = 500;
const POLICY: &str =
    "[[topic]]\nmatch = \"orders\"\nvalue = \"required\"\non_invalid = \"quarantine\"\n";

/// An in-memory registry on loopback with the `Order` schema under `orders-value`; its URL
/// and the schema's id.
async fn registry() -> (String, u32) {
    let reg = registry::open(&registry::StoreConfig::Memory)
        .await
        .expect("memory store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(registry::serve(
        listener,
        reg,
        registry::HttpConfig::default(),
        std::future::pending::<()>(),
    ));
    let body = serde_json::json!({ "schema": AVRO_ORDER }).to_string();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/subjects/orders-value/versions"))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .body(body)
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json answer");
    let id = answer["id"].as_u64().expect("an id") as u32;
    (url, id)
}

fn judge(url: &str) -> Judge {
    let mut rc = RegistryConfig::new(url);
    rc.binding_check = BindingCheck::SubjectParam;
    // Nothing listens here; every record is valid, so nothing is written.
    let quarantine = QuarantineWriter::new(QuarantineConfig {
        bootstrap: "127.0.0.1:9".into(),
        partitions: 1,
        replication: -1,
        timeout: Duration::from_secs(1),
        overrides: Vec::new(),
        idle_close: None,
    })
    .expect("quarantine writer");
    let mut metrics = prometheus_client::registry::Registry::default();
    Judge::new(
        RegistryClient::new(rc).expect("client"),
        quarantine,
        BatchLimits::default(),
        EnforceMetrics::register(&mut metrics),
        Arc::new(SequenceStore::new(
            SequenceConfig::default(),
            SequenceMetrics::default(),
        )),
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (url, id) = rt.block_on(registry());
    let judge = rt.block_on(async { judge(&url) });
    let value = WireFrame {
        schema_id: SchemaId(id),
        body: &avro_order_datum(),
    }
    .to_bytes();
    let batch = plain_batch((0..RECORDS).map(|_| (None, &value[..])), 0, &[]);
    let policy = Policy::parse(POLICY, "bench").expect("policy");
    let rule = policy.rule_for("orders").expect("a rule for orders");
    let input = PartitionInput {
        topic: "orders",
        index: 0,
        records: &batch,
        policy: rule,
        client_id: None,
    };
    // The first judgement fills the registry client's cache.
    let first = rt.block_on(judge.check_partition(&input));
    assert_eq!(first, PartitionOutcome::Forward, "every record is valid");

    if let Some(n) = std::env::var("JUDGE_LOOP")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        for _ in 0..n {
            let outcome = rt.block_on(judge.check_partition(black_box(&input)));
            assert_eq!(outcome, PartitionOutcome::Forward);
        }
        std::process::exit(0);
    }

    let mut group = c.benchmark_group("judge");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("avro_orders_500", |b| {
        b.iter(|| rt.block_on(judge.check_partition(black_box(&input))))
    });
    group.bench_function("read_only", |b| {
        b.iter(|| {
            let batches = RecordBatch::parse_all(black_box(&batch), BatchLimits::default())
                .expect("batch parses");
            batches
                .iter()
                .flat_map(|b| b.records())
                .map(|r| r.expect("record").value.map_or(0, <[u8]>::len))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
