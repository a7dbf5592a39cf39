//! Experiment 6: historical replay. Millions of records from several writer versions,
//! interleaved in one partition (compressed as a producer would), are read back from the first
//! offset and decoded with one reader version, the way a new consumer group or a backfill
//! reads a topic's history. Reported: the share decoded, the errors by writer version, the
//! replay's rate against a replay of a single-version topic read the same way, the bytes on
//! disk, and what 500 million records would take at the measured rates.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use contract::SchemaId;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::lab::decode::{DecodeCount, DecodeTally};
use crate::lab::stack::StackOptions;
use crate::lab::{topic, verdict, LabError, ReportHead};
use crate::order::OrderGenerator;
use crate::produce::{self, Limit, ProduceSpec, ProduceStats};
use crate::render::{Codec, Format};
use crate::version::SchemaVersion;

/// How long a replay may go without a record before it gives up.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// The codecs loadgen's librdkafka is built with (no zstd: rdkafka's `zstd` feature is off).
const COMPRESSIONS: [&str; 4] = ["none", "gzip", "snappy", "lz4"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    format: String,
    writers: Vec<String>,
    reader: String,
    records: u64,
    baseline_records: u64,
    block: Option<u64>,
    compression: Option<String>,
    seed: u64,
    extrapolate_to: Option<u64>,
    out: Option<PathBuf>,
}

/// The replay's settings (`loadgen/lab/replay.toml`).
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Format of every record.
    pub format: Format,
    /// The writer versions, taking turns in blocks of `block` records.
    pub writers: Vec<SchemaVersion>,
    /// The version every record is decoded as.
    pub reader: SchemaVersion,
    /// Records on the mixed topic.
    pub records: u64,
    /// Records on the single-version topic (all written as `reader`).
    pub baseline_records: u64,
    /// Consecutive records of one writer before the next takes its turn.
    pub block: u64,
    /// The producer's `compression.type`.
    pub compression: String,
    /// Generator seed.
    pub seed: u64,
    /// The record count the report extrapolates time and disk to.
    pub extrapolate_to: u64,
    /// Default output.
    pub out: Option<PathBuf>,
}

impl ReplayConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let (raw, bad) = crate::lab::load_config::<RawConfig>(path)?;
        let mut writers = vec![];
        for w in &raw.writers {
            let v: SchemaVersion = w.parse().map_err(|e| bad(format!("writers: {e}")))?;
            if writers.contains(&v) {
                return Err(bad(format!("writers: {v} is listed twice")));
            }
            writers.push(v);
        }
        if writers.len() < 3 {
            return Err(bad(
                "writers: at least 3 versions (issue 12, experiment 6)".into()
            ));
        }
        let compression = raw.compression.unwrap_or_else(|| "none".into());
        if !COMPRESSIONS.contains(&compression.as_str()) {
            return Err(bad(format!(
                "compression {compression:?}: one of {}",
                COMPRESSIONS.join(", ")
            )));
        }
        if raw.records == 0 || raw.baseline_records == 0 {
            return Err(bad("records and baseline_records must be at least 1".into()));
        }
        Ok(Self {
            format: raw.format.parse().map_err(&bad)?,
            writers,
            reader: raw
                .reader
                .parse()
                .map_err(|e| bad(format!("reader: {e}")))?,
            records: raw.records,
            baseline_records: raw.baseline_records,
            block: raw.block.unwrap_or(1).max(1),
            compression,
            seed: raw.seed,
            extrapolate_to: raw.extrapolate_to.unwrap_or(500_000_000),
            out: raw.out,
        })
    }

    /// The writer of record `i` of the mixed topic.
    pub fn writer_of(&self, i: u64) -> SchemaVersion {
        let turn = (i / self.block) % self.writers.len() as u64;
        self.writers[turn as usize]
    }
}

/// Writing one topic.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The topic.
    pub topic: String,
    /// Records sent.
    pub records: u64,
    /// Records the broker acknowledged.
    pub acknowledged: u64,
    /// Delivery errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// From the first send to the last acknowledgement.
    pub seconds: f64,
    /// Acknowledged records per second.
    pub records_per_sec: f64,
    /// Bytes of the partition's log segments on the broker's disk (`None` when the broker was
    /// given, so its data directory is not known to the lab).
    pub disk_bytes: Option<u64>,
}

/// Reading one topic back from its first offset and decoding every record.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    /// Records read.
    pub records: u64,
    /// Records decoded as the reader.
    pub decoded: u64,
    /// Framed value bytes read (uncompressed).
    pub value_bytes: u64,
    /// From the assignment to the last record decoded.
    pub seconds: f64,
    /// Records read and decoded per second.
    pub records_per_sec: f64,
    /// Mean time in the decoder per record (the rest is fetching, decompressing and polling).
    pub decode_ns_per_record: f64,
    /// Per writer version (`unknown` for a schema id the lab did not register).
    pub by_writer: BTreeMap<String, DecodeCount>,
}

/// One topic: how it was written and how it replayed.
#[derive(Debug, Clone, Serialize)]
pub struct TopicRun {
    /// Writing it.
    pub written: Written,
    /// Reading it back.
    pub replayed: Replayed,
}

/// What `extrapolate_to` records would take at the measured rates.
#[derive(Debug, Clone, Serialize)]
pub struct Extrapolation {
    /// The record count.
    pub records: u64,
    /// Replaying them at the mixed topic's rate.
    pub replay_hours: f64,
    /// Writing them at the mixed topic's rate (one producer).
    pub write_hours: f64,
    /// On disk at the mixed topic's bytes per record (one replica), if measured.
    pub disk_gib: Option<f64>,
}

/// The replay experiment's report (`docs/lab/replay.json`).
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Experiment (always `replay`), command line, config file, broker.
    #[serde(flatten)]
    pub head: ReportHead,
    /// The machine and its load at the start.
    pub machine: serde_json::Value,
    /// Wall time of the whole experiment.
    pub wall_seconds: f64,
    /// Format.
    pub format: String,
    /// The writer versions, in turn order.
    pub writers: Vec<String>,
    /// The reader version.
    pub reader: String,
    /// Records per writer turn.
    pub block: u64,
    /// `compression.type`.
    pub compression: String,
    /// The registry ids, by version.
    pub ids: BTreeMap<String, u32>,
    /// The topic of interleaved writer versions.
    pub mixed: TopicRun,
    /// The topic written entirely as the reader's version.
    pub single: TopicRun,
    /// Share of the mixed topic's records decoded, in percent.
    pub decoded_percent: f64,
    /// Mixed replay rate over the single-version replay rate.
    pub rate_vs_single: f64,
    /// Mixed decode time per record over the single-version one.
    pub decode_vs_single: f64,
    /// Disk bytes per record of the mixed topic, if measured.
    pub disk_bytes_per_record: Option<f64>,
    /// Time and disk for `extrapolate_to` records.
    pub extrapolation: Extrapolation,
}

/// Runs the experiment.
pub async fn run(
    config: &ReplayConfig,
    config_path: &Path,
    stack: &StackOptions,
    command: String,
) -> Result<ReplayReport, LabError> {
    let (begin, machine, lab, registry, tag) = crate::lab::begin(stack)?;
    let codec = Codec::new(config.format)?;
    let mixed_topic = format!("lab-replay-{tag}-{}-mixed", config.format);
    let single_topic = format!("lab-replay-{tag}-{}-single", config.format);
    let mut versions = config.writers.clone();
    if !versions.contains(&config.reader) {
        versions.push(config.reader);
    }
    let mut ids = HashMap::new();
    for topic_name in [&mixed_topic, &single_topic] {
        let subject = format!("{topic_name}-value");
        for (v, id) in verdict::register_ids(&registry, &subject, config.format, &versions).await? {
            ids.insert(v, id);
        }
    }
    let by_id: HashMap<SchemaId, SchemaVersion> = ids.iter().map(|(v, id)| (*id, *v)).collect();

    let data_dir = stack.bootstrap.is_none().then_some(stack.log_dir.as_path());
    let mut runs = vec![];
    for (topic_name, count, single) in [
        (&mixed_topic, config.records, false),
        (&single_topic, config.baseline_records, true),
    ] {
        topic::create(&lab.bootstrap, topic_name).await?;
        let writer_of = |i: u64| {
            if single {
                config.reader
            } else {
                config.writer_of(i)
            }
        };
        let written = tokio::task::block_in_place(|| {
            write(
                config,
                &codec,
                &ids,
                &lab.bootstrap,
                topic_name,
                count,
                writer_of,
            )
        })?;
        eprintln!(
            "replay: wrote {} records to {topic_name} at {:.0}/s",
            written.acknowledged, written.records_per_sec
        );
        let mut written = written;
        written.disk_bytes = data_dir.and_then(|d| partition_bytes(d, topic_name));
        let replayed = tokio::task::block_in_place(|| {
            replay(
                &lab.bootstrap,
                topic_name,
                count,
                &codec,
                &by_id,
                config.reader,
            )
        })?;
        eprintln!(
            "replay: read {} records of {topic_name} at {:.0}/s, {} decoded",
            replayed.records, replayed.records_per_sec, replayed.decoded
        );
        runs.push(TopicRun { written, replayed });
    }
    let single = runs.pop().expect("two runs");
    let mixed = runs.pop().expect("two runs");
    let m = &mixed.replayed;
    let disk_bytes_per_record = mixed
        .written
        .disk_bytes
        .map(|b| b as f64 / mixed.written.acknowledged.max(1) as f64);
    let n = config.extrapolate_to as f64;
    let extrapolation = Extrapolation {
        records: config.extrapolate_to,
        replay_hours: n / m.records_per_sec.max(1e-9) / 3600.0,
        write_hours: n / mixed.written.records_per_sec.max(1e-9) / 3600.0,
        disk_gib: disk_bytes_per_record.map(|b| b * n / (1u64 << 30) as f64),
    };
    Ok(ReplayReport {
        head: lab.head("replay", command, config_path),
        machine,
        wall_seconds: begin.elapsed().as_secs_f64(),
        format: config.format.to_string(),
        writers: config.writers.iter().map(|v| v.to_string()).collect(),
        reader: config.reader.to_string(),
        block: config.block,
        compression: config.compression.clone(),
        ids: ids.iter().map(|(v, id)| (v.to_string(), id.0)).collect(),
        decoded_percent: 100.0 * m.decoded as f64 / m.records.max(1) as f64,
        rate_vs_single: m.records_per_sec / single.replayed.records_per_sec.max(1e-9),
        decode_vs_single: m.decode_ns_per_record / single.replayed.decode_ns_per_record.max(1e-9),
        disk_bytes_per_record,
        extrapolation,
        mixed,
        single,
    })
}

/// Produces `count` orders to `topic`, record `i` framed as `writer_of(i)`; every record must
/// be acknowledged.
fn write(
    config: &ReplayConfig,
    codec: &Codec,
    ids: &HashMap<SchemaVersion, SchemaId>,
    bootstrap: &str,
    topic_name: &str,
    count: u64,
    writer_of: impl Fn(u64) -> SchemaVersion,
) -> Result<Written, LabError> {
    let spec = ProduceSpec {
        bootstrap: bootstrap.to_string(),
        topic: topic_name.to_string(),
        rate: None,
        limit: Limit::Count(count),
        config: vec![
            ("compression.type".into(), config.compression.clone()),
            ("linger.ms".into(), "20".into()),
            ("batch.size".into(), "900000".into()),
        ],
    };
    let orders = OrderGenerator::new(config.seed);
    let stats = ProduceStats::new(Instant::now());
    let mut failure = None;
    let took = produce::produce(&spec, stats.clone(), |i| {
        let v = writer_of(i);
        let framed = match ids.get(&v) {
            Some(&id) => codec
                .frame(&orders.order(i), v, id)
                .map_err(|e| e.to_string()),
            None => Err(format!("{v} has no registry id")),
        };
        std::borrow::Cow::Owned(framed.unwrap_or_else(|e| {
            failure.get_or_insert(e);
            vec![]
        }))
    })?;
    if let Some(e) = failure {
        return Err(LabError::Setup(format!(
            "encoding a record for {topic_name}: {e}"
        )));
    }
    let acknowledged = stats.delivered.load(std::sync::atomic::Ordering::Relaxed);
    if acknowledged != count {
        return Err(LabError::Setup(format!(
            "{acknowledged} of {count} records to {topic_name} acknowledged: {:?}",
            stats.errors()
        )));
    }
    Ok(Written {
        topic: topic_name.to_string(),
        records: count,
        acknowledged,
        errors: stats.errors(),
        seconds: took.as_secs_f64(),
        records_per_sec: acknowledged as f64 / took.as_secs_f64().max(1e-9),
        disk_bytes: None,
    })
}

/// Reads partition 0 of `topic` from its first offset to record `count` and decodes each value
/// as `reader`.
fn replay(
    bootstrap: &str,
    topic_name: &str,
    count: u64,
    codec: &Codec,
    by_id: &HashMap<SchemaId, SchemaVersion>,
    reader: SchemaVersion,
) -> Result<Replayed, LabError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("loadgen-lab-replay-{topic_name}"))
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic_name, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let start = Instant::now();
    let mut last_record = Instant::now();
    let mut tallies: BTreeMap<String, DecodeTally> = BTreeMap::new();
    let (mut records, mut value_bytes, mut decode_time) = (0u64, 0u64, Duration::ZERO);
    while records < count {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            if last_record.elapsed() > IDLE_LIMIT {
                return Err(LabError::Setup(format!(
                    "replay of {topic_name}: no record for {IDLE_LIMIT:?} after {records} of {count}"
                )));
            }
            continue;
        };
        let message = message?;
        last_record = Instant::now();
        let value = message.payload().unwrap_or(&[]);
        let t = Instant::now();
        let outcome = codec.decode(value, by_id, reader);
        decode_time += t.elapsed();
        let (writer, result) = match outcome {
            Ok(w) => (Some(w), Ok(())),
            Err((w, e)) => (w, Err(e.to_string())),
        };
        let key = writer.map_or_else(|| "unknown".to_string(), |w| w.to_string());
        tallies.entry(key).or_default().add(result);
        records += 1;
        value_bytes += value.len() as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    let by_writer: BTreeMap<String, DecodeCount> =
        tallies.into_iter().map(|(k, t)| (k, t.finish())).collect();
    Ok(Replayed {
        records,
        decoded: by_writer.values().map(|c| c.decoded).sum(),
        value_bytes,
        seconds,
        records_per_sec: records as f64 / seconds.max(1e-9),
        decode_ns_per_record: decode_time.as_nanos() as f64 / records.max(1) as f64,
        by_writer,
    })
}

/// The bytes of the `.log` segments of partition 0 of `topic` under `dir` (the data directory
/// of the broker the lab started), or `None` if no such partition directory is found.
fn partition_bytes(dir: &Path, topic_name: &str) -> Option<u64> {
    let wanted = format!("{topic_name}-0");
    let mut pending = vec![dir.to_path_buf()];
    let mut visits_left = 10_000; // the walk is bounded
    while let Some(d) = pending.pop() {
        visits_left -= 1;
        if visits_left == 0 {
            return None;
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name().to_string_lossy() == wanted {
                return Some(segment_bytes(&path));
            }
            pending.push(path);
        }
    }
    None
}

/// Sum of the sizes of the `.log` files in `dir`.
fn segment_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<ReplayConfig, LabError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("replay.toml");
        std::fs::write(&path, text).expect("write");
        ReplayConfig::load(&path)
    }

    const BASE: &str = "format = \"avro\"\nreader = \"v6\"\nrecords = 10\n\
                        baseline_records = 5\nseed = 1\n";

    #[test]
    fn writers_take_turns_in_blocks() {
        let c = config(&format!(
            "{BASE}writers = [\"v1\", \"v2\", \"v4\"]\nblock = 2\n"
        ))
        .expect("valid");
        let turns: Vec<String> = (0..8).map(|i| c.writer_of(i).to_string()).collect();
        assert_eq!(turns, ["v1", "v1", "v2", "v2", "v4", "v4", "v1", "v1"]);
        assert_eq!(c.compression, "none");
        assert_eq!(c.extrapolate_to, 500_000_000);
    }

    #[test]
    fn fewer_than_three_writers_or_a_repeated_one_is_refused() {
        let two = config(&format!("{BASE}writers = [\"v1\", \"v2\"]\n")).unwrap_err();
        assert!(two.to_string().contains("at least 3"), "{two}");
        let twice = config(&format!("{BASE}writers = [\"v1\", \"v2\", \"v1\"]\n")).unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
        let codec = config(&format!(
            "{BASE}writers = [\"v1\", \"v2\", \"v4\"]\ncompression = \"brotli\"\n"
        ))
        .unwrap_err();
        assert!(codec.to_string().contains("brotli"), "{codec}");
    }

    #[test]
    fn the_partition_directory_is_found_and_only_its_segments_count() {
        let dir = tempfile::tempdir().expect("temp dir");
        let part = dir.path().join("node-1").join("data").join("t-0");
        std::fs::create_dir_all(&part).expect("mkdir");
        std::fs::write(part.join("00000000000000000000.log"), [0u8; 100]).expect("write");
        std::fs::write(part.join("00000000000000000000.index"), [0u8; 40]).expect("write");
        std::fs::create_dir_all(dir.path().join("node-1").join("data").join("t-1")).expect("mkdir");
        assert_eq!(partition_bytes(dir.path(), "t"), Some(100));
        assert_eq!(partition_bytes(dir.path(), "other"), None);
    }
}
