//! Experiment 1, the change class × compatibility mode matrix. For every change class (v2–v7,
//! each one change from v1) in each format, and every mode:
//!
//! - the registry's verdict: a fresh subject set to the mode, v1 registered, then vN
//!   (accepted with its id, or rejected with the registry's status and message);
//! - a live decode through Kafka, in both directions: `records` orders written as v1 and the
//!   same orders written as vN go to one topic (frames carry real registry ids), are read
//!   back and decoded by a vN reader (new reader on old data) and a v1 reader (old reader on
//!   new data), with the count decoded and every distinct error;
//! - whether the two agree: a mode promises directions (BACKWARD: the new reader reads old
//!   data; FORWARD: the old reader reads new data; FULL: both; NONE: nothing). An accepted
//!   change whose promised direction lost a record, or a rejected change whose promised
//!   directions all still decode some records, is a disagreement.
//!
//! The live decode does not depend on the mode, so it runs once per (format, class) and every
//! mode's cell is judged against it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use contract::SchemaId;
use serde::{Deserialize, Serialize};

use crate::lab::decode::{self, DecodeCount, DecodeRow, TopicRow};
use crate::lab::readers::{self, ReaderImpl};
use crate::lab::stack::{LabStack, StackOptions};
use crate::lab::verdict::{self, Verdict};
use crate::lab::ReportHead;
use crate::lab::{topic, LabError};
use crate::order::OrderGenerator;
use crate::registry::RegistryClient;
use crate::render::{Codec, Format};
use crate::version::SchemaVersion;

/// Every compatibility level Confluent defines.
pub const MODES: [&str; 7] = [
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
];

/// `loadgen/lab/matrix.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    formats: Vec<String>,
    versions: Vec<String>,
    modes: Vec<String>,
    records: u64,
    #[serde(default = "one")]
    seed: u64,
    #[serde(default = "own_reader")]
    readers: Vec<String>,
    out: Option<PathBuf>,
}

fn one() -> u64 {
    1
}

fn own_reader() -> Vec<String> {
    vec!["loadgen".into()]
}

/// The matrix's config, validated.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    /// Formats.
    pub formats: Vec<Format>,
    /// Change classes (v2..v7), each compared with v1.
    pub versions: Vec<SchemaVersion>,
    /// Compatibility levels.
    pub modes: Vec<&'static str>,
    /// Records per writer version per topic.
    pub records: u64,
    /// Generator seed.
    pub seed: u64,
    /// Reader implementations (`loadgen` is always run).
    pub readers: Vec<ReaderImpl>,
    /// Where the JSON goes unless the command line says otherwise.
    pub out: Option<PathBuf>,
}

impl MatrixConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let (raw, bad) = crate::lab::load_config::<RawConfig>(path)?;
        let formats = raw
            .formats
            .iter()
            .map(|f| f.parse::<Format>().map_err(&bad))
            .collect::<Result<_, _>>()?;
        let versions: Vec<SchemaVersion> = raw
            .versions
            .iter()
            .map(|v| v.parse::<SchemaVersion>().map_err(|e| bad(e.to_string())))
            .collect::<Result<_, _>>()?;
        if versions.contains(&SchemaVersion::V1) {
            return Err(bad(
                "v1 is the base every class is compared with; list v2..v7".into(),
            ));
        }
        let modes = raw
            .modes
            .iter()
            .map(|m| {
                MODES
                    .into_iter()
                    .find(|k| k.eq_ignore_ascii_case(m))
                    .ok_or_else(|| bad(format!("unknown mode {m:?}; expected one of {MODES:?}")))
            })
            .collect::<Result<_, _>>()?;
        let readers = raw
            .readers
            .iter()
            .map(|r| r.parse::<ReaderImpl>().map_err(&bad))
            .collect::<Result<Vec<_>, _>>()?;
        if raw.records == 0 {
            return Err(bad("records must be at least 1".into()));
        }
        Ok(Self {
            formats,
            versions,
            modes,
            records: raw.records,
            seed: raw.seed,
            readers,
            out: raw.out,
        })
    }
}

/// The directions a mode promises will decode.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Promise {
    /// The new reader reads data written with the old schema.
    pub new_reads_old: bool,
    /// The old reader reads data written with the new schema.
    pub old_reads_new: bool,
}

/// What `mode` promises once a change is accepted under it.
pub fn promise(mode: &str) -> Promise {
    let backward = mode.starts_with("BACKWARD") || mode.starts_with("FULL");
    let forward = mode.starts_with("FORWARD") || mode.starts_with("FULL");
    Promise {
        new_reads_old: backward,
        old_reads_new: forward,
    }
}

/// One cell: a class under a mode, in one format.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// Format.
    pub format: String,
    /// The class's version.
    pub version: String,
    /// The change class.
    pub change: String,
    /// Compatibility level.
    pub mode: String,
    /// Subject the verdict was asked on.
    pub subject: String,
    /// The registry's answer to registering vN after v1.
    pub verdict: Verdict,
    /// What the mode promises when it accepts.
    pub promise: Promise,
    /// Whether the verdict and loadgen's live decode agree.
    pub agrees: bool,
    /// Why not, in numbers.
    pub disagreement: Option<String>,
}

/// The whole experiment's report (`docs/lab/matrix.json`).
#[derive(Debug, Clone, Serialize)]
pub struct MatrixReport {
    /// Experiment (always `matrix`), command line, config file, broker.
    #[serde(flatten)]
    pub head: ReportHead,
    /// Registry used.
    pub registry: String,
    /// CPUs and load.
    pub machine: serde_json::Value,
    /// Records per writer version per topic.
    pub records_per_version: u64,
    /// Generator seed.
    pub seed: u64,
    /// Seconds the run took.
    pub wall_seconds: f64,
    /// One per (format, class).
    pub topics: Vec<TopicRow>,
    /// One per (format, class, reader implementation).
    pub decodes: Vec<DecodeRow>,
    /// One per (format, class, mode).
    pub cells: Vec<Cell>,
}

/// Runs the matrix.
pub async fn run(
    config: &MatrixConfig,
    config_path: &Path,
    stack: &StackOptions,
    command: String,
) -> Result<MatrixReport, LabError> {
    let (begin, machine, lab, registry, tag) = crate::lab::begin(stack)?;
    let scratch = stack.log_dir.join(format!("matrix-{tag}"));
    let mut report = MatrixReport {
        head: lab.head("matrix", command, config_path),
        registry: lab.registry_label(stack),
        machine,
        records_per_version: config.records,
        seed: config.seed,
        wall_seconds: 0.0,
        topics: vec![],
        decodes: vec![],
        cells: vec![],
    };
    for &format in &config.formats {
        let codec = Codec::new(format)?;
        for &version in &config.versions {
            let topic_name = format!("lab-matrix-{tag}-{format}-{version}");
            let (row, values, ids) =
                write_topic(&lab, &registry, &codec, config, &topic_name, version).await?;
            eprintln!(
                "matrix: {format} {version}: {} records on {topic_name}",
                row.produced
            );
            let own = own_decode(&codec, &values, &ids, version);
            for reader in &config.readers {
                if *reader == ReaderImpl::Loadgen || !reader.reads(format) {
                    continue;
                }
                let job = readers::ReaderRun {
                    reader: *reader,
                    format,
                    version,
                    lab: &lab,
                    topic: &topic_name,
                    row: &row,
                    scratch: &scratch,
                };
                let other = tokio::task::block_in_place(|| job.decode_row());
                report.decodes.push(other);
            }
            for &mode in &config.modes {
                let cell = judge(&registry, &tag, format, version, mode, &own).await?;
                report.cells.push(cell);
            }
            report.decodes.push(own);
            report.topics.push(row);
        }
    }
    report.wall_seconds = begin.elapsed().as_secs_f64();
    Ok(report)
}

/// Registers v1 and vN (NONE), produces the v1 then the vN records and reads them back.
async fn write_topic(
    lab: &LabStack,
    registry: &RegistryClient,
    codec: &Codec,
    config: &MatrixConfig,
    topic_name: &str,
    version: SchemaVersion,
) -> Result<(TopicRow, Vec<Vec<u8>>, HashMap<SchemaId, SchemaVersion>), LabError> {
    let subject = format!("{topic_name}-value");
    let registered = verdict::register_ids(
        registry,
        &subject,
        codec.format(),
        &[SchemaVersion::V1, version],
    )
    .await?;
    let ids: HashMap<SchemaId, SchemaVersion> =
        registered.iter().map(|(v, id)| (*id, *v)).collect();
    let id_of = |v: SchemaVersion| {
        registered
            .iter()
            .find(|(w, _)| *w == v)
            .map(|(_, id)| *id)
            .ok_or_else(|| LabError::Setup(format!("{v} was not registered under {subject}")))
    };
    let (id1, idn) = (id_of(SchemaVersion::V1)?, id_of(version)?);
    let generator = OrderGenerator::new(config.seed);
    let mut values = Vec::with_capacity(2 * config.records as usize);
    for (v, id) in [(SchemaVersion::V1, id1), (version, idn)] {
        for i in 0..config.records {
            values.push(codec.frame(&generator.order(i), v, id)?);
        }
    }
    let back = topic::round_trip(&lab.bootstrap, topic_name, &values).await?;
    let produced = back.len() as u64;
    let row = TopicRow {
        format: codec.format().to_string(),
        version: version.to_string(),
        topic: topic_name.to_string(),
        ids: [
            (SchemaVersion::V1.to_string(), id1.0),
            (version.to_string(), idn.0),
        ]
        .into_iter()
        .collect(),
        produced,
    };
    Ok((row, back, ids))
}

/// loadgen's own decoder on the records read back.
fn own_decode(
    codec: &Codec,
    values: &[Vec<u8>],
    ids: &HashMap<SchemaId, SchemaVersion>,
    version: SchemaVersion,
) -> DecodeRow {
    let v1 = SchemaVersion::V1;
    let count = |writer, reader| decode::with_codec(codec, values, ids, writer, reader);
    DecodeRow {
        format: codec.format().to_string(),
        version: version.to_string(),
        reader: ReaderImpl::Loadgen.to_string(),
        new_reads_old: Ok(count(v1, version)),
        old_reads_new: Ok(count(version, v1)),
        control: Ok((count(v1, v1), count(version, version))),
    }
}

/// Asks the registry for its verdict under `mode` and compares it with the live decode.
async fn judge(
    registry: &RegistryClient,
    tag: &str,
    format: Format,
    version: SchemaVersion,
    mode: &'static str,
    own: &DecodeRow,
) -> Result<Cell, LabError> {
    let subject = format!(
        "lab-matrix-{tag}-{format}-{version}-{}-value",
        mode.to_ascii_lowercase()
    );
    verdict::set_mode(registry, &subject, mode).await?;
    let base = verdict::register(registry, &subject, format, SchemaVersion::V1).await?;
    if !base.accepted {
        return Err(LabError::Setup(format!(
            "v1 was refused on the fresh subject {subject}: {:?}",
            base.message
        )));
    }
    let verdict = verdict::register(registry, &subject, format, version).await?;
    let promise = promise(mode);
    let disagreement = disagreement(mode, &verdict, promise, own, version);
    Ok(Cell {
        format: format.to_string(),
        version: version.to_string(),
        change: version.change().to_string(),
        mode: mode.to_string(),
        subject,
        agrees: disagreement.is_none(),
        verdict,
        promise,
        disagreement,
    })
}

/// Why the verdict and the decode disagree, or `None` when they agree. NONE promises nothing,
/// so it never disagrees.
fn disagreement(
    mode: &str,
    verdict: &Verdict,
    promise: Promise,
    own: &DecodeRow,
    version: SchemaVersion,
) -> Option<String> {
    let (Ok(new), Ok(old)) = (&own.new_reads_old, &own.old_reads_new) else {
        return Some("the live decode did not run".into());
    };
    let promised: Vec<(String, &DecodeCount)> = [
        (
            promise.new_reads_old,
            format!("{version} reader on v1 data"),
            new,
        ),
        (
            promise.old_reads_new,
            format!("v1 reader on {version} data"),
            old,
        ),
    ]
    .into_iter()
    .filter(|(p, _, _)| *p)
    .map(|(_, what, c)| (what, c))
    .collect();
    if promised.is_empty() {
        return None;
    }
    let show = |(what, c): &(String, &DecodeCount)| format!("{what}: {}/{}", c.decoded, c.records);
    if verdict.accepted {
        let broken: Vec<String> = promised
            .iter()
            .filter(|(_, c)| !c.all())
            .map(show)
            .collect();
        return (!broken.is_empty()).then(|| {
            format!(
                "accepted under {mode}, but a promised direction lost records ({})",
                broken.join("; ")
            )
        });
    }
    // Rejected: the registry predicts that a promised direction breaks. It is contradicted
    // when every promised direction still decodes records.
    promised.iter().all(|(_, c)| !c.none()).then(|| {
        let all = promised.iter().all(|(_, c)| c.all());
        format!(
            "rejected under {mode}, but {} ({})",
            if all {
                "every record decoded in the promised directions"
            } else {
                "records still decode in every promised direction"
            },
            promised.iter().map(show).collect::<Vec<_>>().join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(records: u64, decoded: u64) -> DecodeCount {
        DecodeCount {
            records,
            decoded,
            errors: vec![],
        }
    }

    fn row(new: DecodeCount, old: DecodeCount) -> DecodeRow {
        DecodeRow {
            format: "avro".into(),
            version: "v2".into(),
            reader: "loadgen".into(),
            new_reads_old: Ok(new),
            old_reads_new: Ok(old),
            control: Err("not needed".into()),
        }
    }

    fn verdict(accepted: bool) -> Verdict {
        Verdict {
            accepted,
            id: accepted.then_some(2),
            status: (!accepted).then_some(409),
            message: None,
        }
    }

    #[test]
    fn modes_promise_their_directions() {
        assert!(!promise("NONE").new_reads_old && !promise("NONE").old_reads_new);
        assert!(promise("BACKWARD_TRANSITIVE").new_reads_old);
        assert!(!promise("BACKWARD").old_reads_new);
        assert!(promise("FORWARD").old_reads_new && !promise("FORWARD").new_reads_old);
        assert!(promise("FULL_TRANSITIVE").new_reads_old && promise("FULL").old_reads_new);
    }

    #[test]
    fn disagreements_are_found_both_ways() {
        let v = SchemaVersion::V7;
        let ok = row(count(10, 10), count(10, 0));
        // Accepted under BACKWARD and the new reader read everything: agreement.
        assert!(disagreement("BACKWARD", &verdict(true), promise("BACKWARD"), &ok, v).is_none());
        // Accepted under FULL but the old reader read nothing: disagreement.
        let d = disagreement("FULL", &verdict(true), promise("FULL"), &ok, v).unwrap();
        assert!(d.contains("v1 reader on v7 data: 0/10"), "{d}");
        // Rejected under FORWARD and the old reader read nothing: agreement.
        assert!(disagreement("FORWARD", &verdict(false), promise("FORWARD"), &ok, v).is_none());
        // Rejected under BACKWARD although a tenth still decodes: disagreement.
        let partial = row(count(10, 1), count(10, 1));
        let d = disagreement(
            "BACKWARD",
            &verdict(false),
            promise("BACKWARD"),
            &partial,
            v,
        );
        assert!(d.unwrap().contains("still decode"));
        // NONE promises nothing.
        assert!(disagreement("NONE", &verdict(true), promise("NONE"), &partial, v).is_none());
    }
}
