//! The reader implementations of the matrix (experiment 2). `loadgen` is our own decoder, run
//! in process; the others are small programs (`loadgen/readers/`, and `lab-avro` in the Go test clients of
//! `tests/clients/go`, built by `scripts/install`) that consume the topic from
//! Kafka themselves, fetch each record's writer schema from the registry by its id, decode
//! with a given reader schema, and print what they decoded as JSON:
//!
//! ```text
//! PROGRAM --bootstrap B --topic T --registry URL --expect N --job WRITER_ID=READER_SCHEMA ...
//! {"jobs": [{"writer_id": 1, "reader_schema": "...", "records": 50, "decoded": 50,
//!            "errors": {"exact message": 3}}]}
//! ```
//!
//! A reader that cannot run (its runtime not installed) yields an error in its row, never a
//! silent gap.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use serde::Deserialize;

use crate::lab::decode::{DecodeCount, DecodeRow, TopicRow};
use crate::lab::stack::LabStack;
use crate::render::Format;
use crate::version::SchemaVersion;

/// One reader implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReaderImpl {
    /// loadgen's decoder (apache-avro 0.22 with Java's resolution rules; prost-reflect).
    Loadgen,
    /// Python fastavro, through confluent-kafka's `AvroDeserializer` (Avro only).
    PythonFastavro,
    /// Go hamba/avro/v2 (`SchemaCompatibility.Resolve`, then `Unmarshal`), in the Go test
    /// clients' binary (`sgclients lab-avro`; Avro only).
    GoHambaAvro,
    /// Go google.golang.org/protobuf (`dynamicpb`, the `.proto` compiled with
    /// bufbuild/protocompile), `sgclients lab-proto` (Protobuf only).
    GoProtobuf,
    /// Java Avro 1.12 `GenericDatumReader(writer, reader)`, in the Java test clients
    /// (`dev.schemagate.tests.LabAvroReader`; Avro only).
    JavaAvro,
}

impl ReaderImpl {
    /// Whether this implementation reads `format`.
    pub fn reads(self, format: Format) -> bool {
        match self {
            ReaderImpl::Loadgen => true,
            ReaderImpl::PythonFastavro | ReaderImpl::GoHambaAvro | ReaderImpl::JavaAvro => {
                format == Format::Avro
            }
            ReaderImpl::GoProtobuf => format == Format::Protobuf,
        }
    }
}

impl fmt::Display for ReaderImpl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReaderImpl::Loadgen => "loadgen",
            ReaderImpl::PythonFastavro => "python-fastavro",
            ReaderImpl::GoHambaAvro => "go-hamba-avro",
            ReaderImpl::GoProtobuf => "go-protobuf",
            ReaderImpl::JavaAvro => "java-avro",
        })
    }
}

impl FromStr for ReaderImpl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "loadgen" => Ok(ReaderImpl::Loadgen),
            "python-fastavro" => Ok(ReaderImpl::PythonFastavro),
            "go-hamba-avro" => Ok(ReaderImpl::GoHambaAvro),
            "go-protobuf" => Ok(ReaderImpl::GoProtobuf),
            "java-avro" => Ok(ReaderImpl::JavaAvro),
            other => Err(format!(
                "unknown reader {other:?}: expected loadgen, python-fastavro, go-hamba-avro \
                 or go-protobuf"
            )),
        }
    }
}

/// Where the reader programs live (`loadgen/readers`, or `LOADGEN_READERS_DIR`).
fn readers_dir() -> PathBuf {
    std::env::var_os("LOADGEN_READERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("readers"))
}

/// The command that runs `reader`, from the environment `scripts/install` sets.
fn program(reader: ReaderImpl) -> Result<Command, String> {
    match reader {
        ReaderImpl::Loadgen => Err("loadgen reads in process".into()),
        ReaderImpl::PythonFastavro => {
            let python = std::env::var("SCHEMAGATE_PYTHON")
                .map_err(|_| "SCHEMAGATE_PYTHON is not set (eval \"$(scripts/install)\")")?;
            let mut c = Command::new(python);
            c.arg(readers_dir().join("python").join("avro_reader.py"));
            Ok(c)
        }
        ReaderImpl::JavaAvro => {
            let cp = std::env::var("SCHEMAGATE_JAVA_CLASSPATH").map_err(|_| {
                "SCHEMAGATE_JAVA_CLASSPATH is not set (eval \"$(scripts/install)\")"
            })?;
            let java = std::env::var_os("JAVA_HOME")
                .map(|h| PathBuf::from(h).join("bin").join("java"))
                .filter(|j| j.is_file())
                .unwrap_or_else(|| PathBuf::from("java"));
            let mut c = Command::new(java);
            c.args(["-cp", &cp, "dev.schemagate.tests.LabAvroReader"]);
            Ok(c)
        }
        ReaderImpl::GoHambaAvro | ReaderImpl::GoProtobuf => {
            let bin = std::env::var("SCHEMAGATE_GO_CLIENTS")
                .map_err(|_| "SCHEMAGATE_GO_CLIENTS is not set (eval \"$(scripts/install)\")")?;
            let mut c = Command::new(bin);
            c.arg(if reader == ReaderImpl::GoProtobuf {
                "lab-proto"
            } else {
                "lab-avro"
            });
            Ok(c)
        }
    }
}

#[derive(Deserialize)]
struct Output {
    jobs: Vec<Job>,
}

#[derive(Deserialize)]
struct Job {
    records: u64,
    decoded: u64,
    errors: BTreeMap<String, u64>,
}

impl Job {
    /// What the program counted, as the lab counts it.
    fn count(self) -> DecodeCount {
        let j = self;
        let outcomes = std::iter::repeat_n(Ok(()), j.decoded as usize).chain(
            j.errors
                .into_iter()
                .flat_map(|(m, n)| std::iter::repeat_n(Err(m), n as usize)),
        );
        let mut c = DecodeCount::from_outcomes(outcomes);
        // A record the program counted but neither decoded nor explained still counts.
        c.records = c.records.max(j.records);
        c
    }
}

/// One reader program's run on the topic of one (format, class).
#[derive(Debug, Clone, Copy)]
pub struct ReaderRun<'a> {
    /// The program.
    pub reader: ReaderImpl,
    /// The topic's format.
    pub format: Format,
    /// The new version written to it (next to v1).
    pub version: SchemaVersion,
    /// The broker and registry.
    pub lab: &'a LabStack,
    /// The topic.
    pub topic: &'a str,
    /// What was written to it.
    pub row: &'a TopicRow,
    /// Where the reader schemas are written.
    pub scratch: &'a Path,
}

impl ReaderRun<'_> {
    /// Runs the reader on the topic in both directions and as controls.
    pub fn decode_row(self) -> DecodeRow {
        let result = self.run();
        let pick = |i: usize| -> Result<DecodeCount, String> {
            result.as_ref().map_err(Clone::clone).and_then(|r| {
                r.get(i)
                    .cloned()
                    .ok_or_else(|| format!("no job {i} in the output"))
            })
        };
        let control = match (pick(2), pick(3)) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        DecodeRow {
            format: self.format.to_string(),
            version: self.version.to_string(),
            reader: self.reader.to_string(),
            new_reads_old: pick(0),
            old_reads_new: pick(1),
            control,
        }
    }

    /// Jobs, in order: vN on v1, v1 on vN, v1 on v1, vN on vN.
    fn run(self) -> Result<Vec<DecodeCount>, String> {
        let ReaderRun {
            reader,
            format,
            version,
            lab,
            topic,
            row,
            scratch,
        } = self;
        if !reader.reads(format) {
            return Err(format!("{reader} does not read {format}"));
        }
        let v1 = SchemaVersion::V1;
        let id = |v: SchemaVersion| {
            row.ids
                .get(&v.to_string())
                .copied()
                .ok_or_else(|| format!("no id for {v}"))
        };
        let schema = |v: SchemaVersion| schema_file(format, v, scratch);
        let jobs = [(v1, version), (version, v1), (v1, v1), (version, version)];
        let mut cmd = program(reader)?;
        cmd.args(["--bootstrap", &lab.bootstrap, "--topic", topic]);
        cmd.args(["--registry", &lab.registry]);
        cmd.args(["--expect", &row.produced.to_string()]);
        for (writer, reader_version) in jobs {
            let file = schema(reader_version)?;
            cmd.arg("--job")
                .arg(format!("{}={}", id(writer)?, file.display()));
        }
        let out = cmd
            .output()
            .map_err(|e| format!("starting {reader}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{reader} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let parsed: Output = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "{reader} printed no report ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        Ok(parsed.jobs.into_iter().map(Job::count).collect())
    }
}

/// Writes the reader schema of `version` to the scratch directory and returns its path.
fn schema_file(format: Format, version: SchemaVersion, scratch: &Path) -> Result<PathBuf, String> {
    let ext = match format {
        Format::Avro => "avsc",
        Format::Protobuf => "proto",
    };
    std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let path = scratch.join(format!("order-{version}.{ext}"));
    std::fs::write(&path, format.schema_text(version))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
