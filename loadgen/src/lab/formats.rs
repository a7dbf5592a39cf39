//! Experiment 5, Avro against Protobuf: the same orders and the same change set in both formats.
//!
//! - payload size: `records` orders of every version, framed as on a topic (Confluent frame,
//!   Protobuf with its message-index list), produced to one topic per format through Kafka
//!   and read back, each decoded by its own writer version and by v1;
//! - what each format permits: the registry's verdict on every class (v2..v7 after v1) per
//!   mode, live, side by side;
//! - field-number reuse against alias rename ([`reuse`](crate::lab::reuse)): the registry's
//!   verdicts, `schemagate check`, and what a reader actually finds in both directions;
//! - CPU: encode, decode and validate per record come from the criterion bench
//!   `loadgen/benches/formats.rs`, read from its output directory with the command and the
//!   machine state it recorded (a run of the command does not time anything itself).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use contract::SchemaId;
use serde::{Deserialize, Serialize};

use crate::lab::decode::{self, DecodeCount};
use crate::lab::reuse::{self, Pair, PairReport, RawPair};
use crate::lab::verdict::{self, Verdict};
use crate::lab::{topic, LabError, ReportHead};
use crate::order::OrderGenerator;
use crate::registry::RegistryClient;
use crate::render::{wire, Codec, Format};
use crate::version::SchemaVersion;

/// The criterion group the bench writes, and the file its `main` leaves beside it.
pub const BENCH_GROUP: &str = "formats";
/// The machine state the bench records at its start and end.
pub const BENCH_MACHINE_FILE: &str = "formats-machine.json";

/// `loadgen/lab/formats.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    versions: Vec<String>,
    records: u64,
    seed: u64,
    modes: Vec<String>,
    criterion_dir: Option<PathBuf>,
    criterion_command: Option<String>,
    out: Option<PathBuf>,
    pair: Vec<RawPair>,
}

/// The experiment's config, validated.
#[derive(Debug, Clone)]
pub struct FormatsConfig {
    /// Versions measured (v1 first; the others are the change classes).
    pub versions: Vec<SchemaVersion>,
    /// Orders per version per format.
    pub records: u64,
    /// Generator seed.
    pub seed: u64,
    /// Compatibility levels asked.
    pub modes: Vec<String>,
    /// Where criterion wrote the bench's results (none: no CPU section).
    pub criterion_dir: Option<PathBuf>,
    /// The command that produced them.
    pub criterion_command: Option<String>,
    /// Where the JSON goes unless the command line says otherwise.
    pub out: Option<PathBuf>,
    /// The field-number reuse and rename cases.
    pub pairs: Vec<Pair>,
}

impl FormatsConfig {
    /// Reads and validates a config file (the variant schemas are compiled here).
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let (raw, bad) = crate::lab::load_config::<RawConfig>(path)?;
        let versions: Vec<SchemaVersion> = raw
            .versions
            .iter()
            .map(|v| v.parse::<SchemaVersion>().map_err(|e| bad(e.to_string())))
            .collect::<Result<_, _>>()?;
        if versions.first() != Some(&SchemaVersion::V1) {
            return Err(bad(
                "versions must start with v1, the base of every class".into()
            ));
        }
        if raw.records == 0 {
            return Err(bad("records must be at least 1".into()));
        }
        let modes = raw
            .modes
            .iter()
            .map(|m| {
                crate::lab::matrix::MODES
                    .into_iter()
                    .find(|k| k.eq_ignore_ascii_case(m))
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("unknown mode {m:?}")))
            })
            .collect::<Result<_, _>>()?;
        let pairs = raw
            .pair
            .into_iter()
            .map(|p| Pair::load(p).map_err(&bad))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            versions,
            records: raw.records,
            seed: raw.seed,
            modes,
            criterion_dir: raw.criterion_dir,
            criterion_command: raw.criterion_command,
            out: raw.out,
            pairs,
        })
    }
}

/// Sizes of one version's framed values in one format, in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// Format.
    pub format: String,
    /// Version.
    pub version: String,
    /// The class.
    pub change: String,
    /// Mean framed size.
    pub mean: f64,
    /// Mean size of the body without the frame.
    pub mean_body: f64,
    /// Smallest framed size.
    pub min: usize,
    /// Median.
    pub p50: usize,
    /// 95th percentile.
    pub p95: usize,
    /// 99th percentile.
    pub p99: usize,
    /// Largest.
    pub max: usize,
    /// Read back from Kafka and decoded by this version's own reader.
    pub own_reader: DecodeCount,
    /// Decoded by v1's reader (the old consumer on every version).
    pub v1_reader: DecodeCount,
}

/// The registry's verdict on one class in one format under one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Permit {
    /// Format.
    pub format: String,
    /// Version.
    pub version: String,
    /// The class.
    pub change: String,
    /// Mode.
    pub mode: String,
    /// The answer to registering the class after v1 on a fresh subject at the mode.
    pub verdict: Verdict,
}

/// The whole experiment's report (`docs/lab/formats.json`).
#[derive(Debug, Clone, Serialize)]
pub struct FormatsReport {
    /// Experiment (always `formats`), command line, config file, broker.
    #[serde(flatten)]
    pub head: ReportHead,
    /// Registry used.
    pub registry: String,
    /// CPUs and load.
    pub machine: serde_json::Value,
    /// Orders per version per format.
    pub records_per_version: u64,
    /// Generator seed.
    pub seed: u64,
    /// Seconds the run took.
    pub wall_seconds: f64,
    /// The topic per format.
    pub topics: BTreeMap<String, String>,
    /// One per (format, version).
    pub sizes: Vec<Sizes>,
    /// Protobuf's mean framed size over Avro's, per version.
    pub protobuf_over_avro: BTreeMap<String, f64>,
    /// One per (format, class, mode).
    pub permits: Vec<Permit>,
    /// Field-number reuse against alias rename.
    pub pairs: Vec<PairReport>,
    /// Criterion's numbers for encode, decode and validate, or why there are none.
    pub cpu: serde_json::Value,
}

/// Runs the experiment.
pub async fn run(
    config: &FormatsConfig,
    config_path: &Path,
    stack: &crate::lab::stack::StackOptions,
    command: String,
) -> Result<FormatsReport, LabError> {
    let (begin, machine, lab, registry, tag) = crate::lab::begin(stack)?;
    let scratch = stack.log_dir.join(format!("formats-{tag}"));
    let mut report = FormatsReport {
        head: lab.head("formats", command, config_path),
        registry: lab.registry_label(stack),
        machine,
        records_per_version: config.records,
        seed: config.seed,
        wall_seconds: 0.0,
        topics: BTreeMap::new(),
        sizes: vec![],
        protobuf_over_avro: BTreeMap::new(),
        permits: vec![],
        pairs: vec![],
        cpu: serde_json::Value::Null,
    };
    for format in [Format::Avro, Format::Protobuf] {
        let topic_name = format!("lab-formats-{tag}-{format}");
        let sizes = sizes_through_kafka(&lab, &registry, config, format, &topic_name).await?;
        eprintln!(
            "formats: {format}: {} versions on {topic_name}",
            sizes.len()
        );
        report.sizes.extend(sizes);
        report.topics.insert(format.to_string(), topic_name);
    }
    for v in &config.versions {
        let mean = |f: Format| {
            report
                .sizes
                .iter()
                .find(|s| s.format == f.to_string() && s.version == v.to_string())
                .map(|s| s.mean)
        };
        if let (Some(a), Some(p)) = (mean(Format::Avro), mean(Format::Protobuf)) {
            report.protobuf_over_avro.insert(v.to_string(), p / a);
        }
    }
    for &version in config.versions.iter().skip(1) {
        for format in [Format::Avro, Format::Protobuf] {
            for mode in &config.modes {
                let subject = format!(
                    "lab-formats-{tag}-{format}-{version}-{}-value",
                    mode.to_ascii_lowercase()
                );
                let verdict = after_v1(
                    &registry,
                    &subject,
                    format,
                    format.schema_text(version),
                    mode,
                )
                .await?;
                report.permits.push(Permit {
                    format: format.to_string(),
                    version: version.to_string(),
                    change: version.change().to_string(),
                    mode: mode.clone(),
                    verdict,
                });
            }
        }
    }
    let schemagate = crate::lab::stack::schemagate_bin()?;
    for (i, pair) in config.pairs.iter().enumerate() {
        let p = run_pair(
            &lab,
            &registry,
            config,
            pair,
            &format!("lab-formats-{tag}-pair{i}"),
        )
        .await?;
        let check = reuse::check_runs(&schemagate, pair, &config.modes, &scratch)?;
        eprintln!(
            "formats: {}: new reader on old data {} decoded, {} misread; old on new {} decoded, {} misread",
            p.name,
            p.new_reads_old.count.decoded,
            p.new_reads_old.misread,
            p.old_reads_new.count.decoded,
            p.old_reads_new.misread
        );
        report.pairs.push(PairReport { check, ..p });
    }
    report.cpu = criterion_numbers(config);
    report.wall_seconds = begin.elapsed().as_secs_f64();
    Ok(report)
}

/// The registry's verdict on `text` registered after v1 on the fresh `subject` at `mode`.
async fn after_v1(
    registry: &RegistryClient,
    subject: &str,
    format: Format,
    text: &str,
    mode: &str,
) -> Result<Verdict, LabError> {
    verdict::set_mode(registry, subject, mode).await?;
    let base = verdict::register(registry, subject, format, SchemaVersion::V1).await?;
    if !base.accepted {
        return Err(LabError::Setup(format!(
            "v1 was refused on the fresh subject {subject}: {:?}",
            base.message
        )));
    }
    verdict::register_text(registry, subject, format, text).await
}

/// Frames `records` orders of every version, produces them to `topic_name` and reads them back.
async fn sizes_through_kafka(
    lab: &crate::lab::stack::LabStack,
    registry: &RegistryClient,
    config: &FormatsConfig,
    format: Format,
    topic_name: &str,
) -> Result<Vec<Sizes>, LabError> {
    let codec = Codec::new(format)?;
    let registered = verdict::register_ids(
        registry,
        &format!("{topic_name}-value"),
        format,
        &config.versions,
    )
    .await?;
    let ids: HashMap<SchemaId, SchemaVersion> =
        registered.iter().map(|(v, id)| (*id, *v)).collect();
    let generator = OrderGenerator::new(config.seed);
    let mut values = Vec::with_capacity(config.versions.len() * config.records as usize);
    for (v, id) in &registered {
        for i in 0..config.records {
            values.push(codec.frame(&generator.order(i), *v, *id)?);
        }
    }
    let back = topic::round_trip(&lab.bootstrap, topic_name, &values).await?;
    let frame = match format {
        Format::Avro => wire::HEADER_LEN,
        Format::Protobuf => wire::HEADER_LEN + 1,
    };
    Ok(registered
        .iter()
        .zip(values.chunks(config.records as usize))
        .map(|((v, _), chunk)| {
            let mut lens: Vec<usize> = chunk.iter().map(Vec::len).collect();
            lens.sort_unstable();
            let pct = |p: f64| {
                let i = ((lens.len() as f64 * p).ceil() as usize).saturating_sub(1);
                lens.get(i).copied().unwrap_or(0)
            };
            let mean = lens.iter().sum::<usize>() as f64 / lens.len().max(1) as f64;
            Sizes {
                format: format.to_string(),
                version: v.to_string(),
                change: v.change().to_string(),
                mean,
                mean_body: mean - frame as f64,
                min: lens.first().copied().unwrap_or(0),
                p50: pct(0.5),
                p95: pct(0.95),
                p99: pct(0.99),
                max: lens.last().copied().unwrap_or(0),
                own_reader: decode::with_codec(&codec, &back, &ids, *v, *v),
                v1_reader: decode::with_codec(&codec, &back, &ids, *v, SchemaVersion::V1),
            }
        })
        .collect())
}

/// One pair: its verdicts, its records through Kafka, and both directions read.
async fn run_pair(
    lab: &crate::lab::stack::LabStack,
    registry: &RegistryClient,
    config: &FormatsConfig,
    pair: &Pair,
    topic_name: &str,
) -> Result<PairReport, LabError> {
    let mut verdicts = vec![];
    for mode in &config.modes {
        let subject = format!("{topic_name}-{}-value", mode.to_ascii_lowercase());
        let v = after_v1(registry, &subject, pair.format, &pair.new.text, mode).await?;
        verdicts.push((mode.clone(), v));
    }
    let subject = format!("{topic_name}-value");
    verdict::set_mode(registry, &subject, "NONE").await?;
    let mut ids = vec![];
    for side in [&pair.old, &pair.new] {
        let v = verdict::register_text(registry, &subject, pair.format, &side.text).await?;
        ids.push(v.id.map(SchemaId).ok_or_else(|| {
            LabError::Setup(format!(
                "{} refused on {subject}: {:?}",
                side.label, v.message
            ))
        })?);
    }
    let generator = OrderGenerator::new(config.seed);
    let mut values = Vec::with_capacity(2 * config.records as usize);
    for (side, id) in [&pair.old, &pair.new].into_iter().zip(&ids) {
        for i in 0..config.records {
            let body = side.encode(&generator.order(i)).map_err(|e| {
                LabError::Setup(format!(
                    "{}: encoding as {}: {e}",
                    pair.raw.name, side.label
                ))
            })?;
            values.push(match pair.format {
                Format::Avro => wire::frame_avro(*id, &body),
                Format::Protobuf => wire::frame_protobuf(*id, &body),
            });
        }
    }
    let back = topic::round_trip(&lab.bootstrap, topic_name, &values).await?;
    // The bodies as read back, split by the frame's schema id (offset order is write order).
    let bodies_of = |id: SchemaId| -> Vec<&[u8]> {
        back.iter()
            .filter_map(|v| contract::wire::WireFrame::decode(v).ok())
            .filter(|f| f.schema_id == id)
            .map(|f| match pair.format {
                Format::Avro => f.body,
                Format::Protobuf => f.body.get(1..).unwrap_or(&[]),
            })
            .collect()
    };
    let (old_bodies, new_bodies) = (bodies_of(ids[0]), bodies_of(ids[1]));
    let order_of = |i| generator.order(i);
    Ok(PairReport {
        name: pair.raw.name.clone(),
        format: pair.format.to_string(),
        change: pair.raw.change.clone(),
        schema: pair.raw.schema.display().to_string(),
        fields: [pair.raw.old_field.clone(), pair.raw.new_field.clone()],
        verdicts,
        check: vec![],
        topic: topic_name.to_string(),
        produced: back.len() as u64,
        new_reads_old: reuse::read_direction(&pair.new, &pair.old, &old_bodies, order_of),
        old_reads_new: reuse::read_direction(&pair.old, &pair.new, &new_bodies, order_of),
    })
}

/// Criterion's estimates for the bench's benchmarks, with the command and the machine state the
/// bench recorded; `{"found": false, ...}` when the bench has not been run.
fn criterion_numbers(config: &FormatsConfig) -> serde_json::Value {
    let Some(dir) = &config.criterion_dir else {
        return serde_json::json!({"found": false, "why": "no criterion_dir in the config"});
    };
    let group = dir.join(BENCH_GROUP);
    let machine = std::fs::read_to_string(dir.join(BENCH_MACHINE_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let mut benches = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(&group) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let est = std::fs::read_to_string(e.path().join("new").join("estimates.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
            if let Some(est) = est {
                // Criterion prints the slope (its linear-sampling estimate) when it has one.
                let typical = if est["slope"].is_object() {
                    &est["slope"]
                } else {
                    &est["mean"]
                };
                benches.insert(
                    name,
                    serde_json::json!({
                        "typical_ns": typical["point_estimate"],
                        "typical_ci95_ns": [typical["confidence_interval"]["lower_bound"],
                                            typical["confidence_interval"]["upper_bound"]],
                        "mean_ns": est["mean"]["point_estimate"],
                        "mean_ci95_ns": [est["mean"]["confidence_interval"]["lower_bound"],
                                         est["mean"]["confidence_interval"]["upper_bound"]],
                        "median_ns": est["median"]["point_estimate"],
                        "std_dev_ns": est["std_dev"]["point_estimate"],
                    }),
                );
            }
        }
    }
    if benches.is_empty() {
        return serde_json::json!({
            "found": false,
            "why": format!("no criterion results under {}", group.display()),
            "command": config.criterion_command,
        });
    }
    serde_json::json!({
        "found": true,
        "source": group.display().to_string(),
        "command": config.criterion_command,
        "bench_machine": machine,
        "benches": benches,
    })
}
