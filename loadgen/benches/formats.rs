//! Experiment 5's CPU numbers (issue 12): encode, decode and validate per record, Avro against
//! Protobuf, on the same orders. For v1 and for the version whose frames are largest:
//!
//! - `encode-<format>-<version>`: an `Order` to its framed value (loadgen's `Codec::frame`);
//! - `decode-<format>-<version>`: the framed value back to a value of the same version
//!   (`Codec::decode`, apache-avro / prost-reflect);
//! - `validate-<format>-<version>`: what the proxy does per record: the wire frame, then
//!   contract's `ParsedSchema::validate` of the body under the writer schema.
//!
//! Each iteration handles one record, cycling over 64 generated orders. The bench's `main`
//! leaves the machine state (CPUs, load average at start and end) in `formats-machine.json`
//! beside criterion's results, where `loadgen lab formats` reads both. Run:
//!   CRITERION_HOME=$PWD/target/criterion cargo bench -p loadgen --bench formats -- --warm-up-time 1 --measurement-time 3

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

use contract::wire::WireFrame;
use contract::{ParsedSchema, SchemaId, SchemaType};
use criterion::Criterion;
use loadgen::lab::formats::{BENCH_GROUP, BENCH_MACHINE_FILE};
use loadgen::order::{Order, OrderGenerator};
use loadgen::render::{Codec, Format};
use loadgen::version::SchemaVersion;

const ORDERS: u64 = 64;
const SEED: u64 = 5;

fn mean_framed(codec: &Codec, orders: &[Order], v: SchemaVersion) -> f64 {
    let total: usize = orders
        .iter()
        .map(|o| codec.frame(o, v, SchemaId(1)).expect("encodes").len())
        .sum();
    total as f64 / orders.len() as f64
}

fn bench(c: &mut Criterion, orders: &[Order]) {
    let codecs = [Format::Avro, Format::Protobuf].map(|f| Codec::new(f).expect("schemas load"));
    // v1, and the version with the largest frames over both formats.
    let largest = SchemaVersion::ALL
        .into_iter()
        .max_by(|a, b| {
            let size = |v| {
                codecs
                    .iter()
                    .map(|c| mean_framed(c, orders, v))
                    .sum::<f64>()
            };
            size(*a).total_cmp(&size(*b))
        })
        .expect("seven versions");
    let mut group = c.benchmark_group(BENCH_GROUP);
    for codec in &codecs {
        let format = codec.format();
        let versions = if largest == SchemaVersion::V1 {
            vec![largest]
        } else {
            vec![SchemaVersion::V1, largest]
        };
        for v in versions {
            let id = SchemaId(v.number());
            let ids: HashMap<SchemaId, SchemaVersion> = [(id, v)].into_iter().collect();
            let framed: Vec<Vec<u8>> = orders
                .iter()
                .map(|o| codec.frame(o, v, id).expect("encodes"))
                .collect();
            let schema_type = match format {
                Format::Avro => SchemaType::Avro,
                Format::Protobuf => SchemaType::Protobuf,
            };
            let schema =
                ParsedSchema::parse(schema_type, format.schema_text(v), &[]).expect("parses");
            let mut i = 0usize;
            let mut next = move || {
                i = (i + 1) % orders.len();
                i
            };
            group.bench_function(format!("encode-{format}-{v}"), |b| {
                b.iter(|| codec.frame(black_box(&orders[next()]), v, id))
            });
            group.bench_function(format!("decode-{format}-{v}"), |b| {
                b.iter(|| codec.decode(black_box(&framed[next()]), &ids, v).is_ok())
            });
            group.bench_function(format!("validate-{format}-{v}"), |b| {
                b.iter(|| {
                    WireFrame::decode(black_box(&framed[next()]))
                        .map(|f| schema.validate(f.body).is_ok())
                })
            });
        }
    }
    group.finish();
}

/// Criterion's output directory, found as criterion finds it.
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../target"))
        .join("criterion")
}

fn loadavg() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.trim().to_string())
}

fn main() {
    let started = std::time::SystemTime::now();
    let load_start = loadavg();
    let generator = OrderGenerator::new(SEED);
    let orders: Vec<Order> = (0..ORDERS).map(|i| generator.order(i)).collect();
    // No plots: criterion's plotters backend panics on a machine without fonts.
    let mut c = Criterion::default().without_plots().configure_from_args();
    bench(&mut c, &orders);
    c.final_summary();
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let machine = serde_json::json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "loadavg_at_start": load_start,
        "loadavg_at_end": loadavg(),
        "started_unix": secs(started),
        "finished_unix": secs(std::time::SystemTime::now()),
        "args": std::env::args().skip(1).collect::<Vec<_>>(),
        "orders": ORDERS,
        "seed": SEED,
    });
    let home = criterion_home();
    if std::fs::create_dir_all(&home).is_ok() {
        let _ = std::fs::write(
            home.join(BENCH_MACHINE_FILE),
            serde_json::to_string_pretty(&machine).unwrap_or_default(),
        );
    }
}
