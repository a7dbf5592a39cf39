//! Experiment 7, defense in depth. One breaking change (by default Avro v3, a required field
//! with no default) meets three lines of defense in turn:
//!
//! 1. `schemagate check` (the CI gate), offline against v1 and online against the registry:
//!    it must fail (exit 1) and name the field;
//! 2. the registry, its subject at the mode: registering the change must be refused with 409;
//! 3. an enforcing `schemagate proxy` (`on_invalid = "quarantine"`) in front of the broker, for
//!    a producer that writes the change anyway: under v1's id (auto-register off, the
//!    serializer using the latest id), under an id registered for another subject, and under an
//!    id the registry never issued. Every such record must land in quarantine with its reason,
//!    while valid v1 records flow.

use std::path::{Path, PathBuf};
use std::process::Command;

use contract::SchemaId;
use serde::{Deserialize, Serialize};

use crate::lab::stack::{schemagate_bin, StackOptions};
use crate::lab::verdict::{self, Verdict};
use crate::lab::ReportHead;
use crate::lab::{topic, LabError};
use crate::order::OrderGenerator;
use crate::render::{Codec, Format};
use crate::version::SchemaVersion;

/// `loadgen/lab/gate.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    format: String,
    breaking: String,
    mode: String,
    /// The field the gate must name.
    field: String,
    records: u64,
    #[serde(default)]
    seed: u64,
    out: Option<PathBuf>,
}

/// The gate experiment's config, validated.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// Format.
    pub format: Format,
    /// The breaking version (compared with v1).
    pub breaking: SchemaVersion,
    /// The subject's compatibility level.
    pub mode: String,
    /// The field the gate's diff must name.
    pub field: String,
    /// Records per producer case.
    pub records: u64,
    /// Generator seed.
    pub seed: u64,
    /// Default output.
    pub out: Option<PathBuf>,
}

impl GateConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let (raw, bad) = crate::lab::load_config::<RawConfig>(path)?;
        Ok(Self {
            format: raw.format.parse().map_err(&bad)?,
            breaking: raw.breaking.parse().map_err(|e| bad(format!("{e}")))?,
            mode: raw.mode.to_ascii_uppercase(),
            field: raw.field,
            records: raw.records.max(1),
            seed: raw.seed,
            out: raw.out,
        })
    }
}

/// One run of `schemagate check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRun {
    /// The arguments after `schemagate`.
    pub args: Vec<String>,
    /// Exit code (1: incompatible).
    pub exit_code: Option<i32>,
    /// What it printed.
    pub stdout: String,
    /// Whether it failed and named the field.
    pub stopped: bool,
}

/// One producer case through the proxy.
#[derive(Debug, Clone, Serialize)]
pub struct ProducerCase {
    /// What the producer does.
    pub case: String,
    /// The schema id in the frames.
    pub schema_id: u32,
    /// Records sent.
    pub sent: u64,
    /// Records the proxy acknowledged.
    pub acknowledged: u64,
    /// Records that reached the topic.
    pub on_topic: i64,
    /// Records that reached the quarantine topic.
    pub quarantined: i64,
    /// `schemagate.reason` of the quarantined records, with counts.
    pub reasons: std::collections::BTreeMap<String, u64>,
    /// Whether the case came out as defense in depth requires.
    pub as_required: bool,
}

/// The gate experiment's report (`docs/lab/gate.json`).
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    /// Experiment (always `gate`), command line, config file, broker.
    #[serde(flatten)]
    pub head: ReportHead,
    /// CPUs and load.
    pub machine: serde_json::Value,
    /// Format, breaking version and its change class.
    pub change: String,
    /// The subject's mode.
    pub mode: String,
    /// The topic the producers wrote to (through the proxy).
    pub topic: String,
    /// Line 1: `schemagate check`, offline and online.
    pub check: Vec<CheckRun>,
    /// Line 2: the registry's verdict on the breaking version.
    pub registry: Verdict,
    /// Line 3: the proxy.
    pub producers: Vec<ProducerCase>,
    /// The policy the proxy enforced.
    pub policy: String,
    /// Every line held.
    pub all_held: bool,
    /// Seconds the run took.
    pub wall_seconds: f64,
}

/// Runs the experiment.
pub async fn run(
    config: &GateConfig,
    config_path: &Path,
    stack: &StackOptions,
    command: String,
) -> Result<GateReport, LabError> {
    let (begin, machine, lab, registry, tag) = crate::lab::begin(stack)?;
    let schemagate = schemagate_bin()?;
    let scratch = stack.log_dir.join(format!("gate-{tag}"));
    let (format, breaking) = (config.format, config.breaking);
    let topic_name = format!("lab-gate-{tag}-{format}");
    let subject = format!("{topic_name}-value");
    let ext = if format == Format::Avro {
        "avsc"
    } else {
        "proto"
    };
    let file = |v: SchemaVersion| -> Result<PathBuf, LabError> {
        let p = crate::lab::stack::scratch(&scratch, &format!("order-{v}.{ext}"))?;
        std::fs::write(&p, format.schema_text(v)).map_err(|cause| LabError::Io {
            path: p.clone(),
            cause,
        })?;
        Ok(p)
    };
    let (v1_file, new_file) = (file(SchemaVersion::V1)?, file(breaking)?);
    let schema_type = if format == Format::Avro {
        "AVRO"
    } else {
        "PROTOBUF"
    };

    // Line 1, offline: the CI gate against the committed v1.
    let mut check = vec![run_check(
        &schemagate,
        &[
            "--type".into(),
            schema_type.into(),
            "--mode".into(),
            config.mode.clone(),
            "--existing".into(),
            v1_file.display().to_string(),
            "--proposed".into(),
            new_file.display().to_string(),
        ],
        &config.field,
    )];
    // Line 2: the subject at the mode with v1, then the breaking version.
    verdict::set_mode(&registry, &subject, &config.mode).await?;
    let v1 = verdict::register(&registry, &subject, format, SchemaVersion::V1).await?;
    let v1_id = v1
        .id
        .ok_or_else(|| LabError::Setup(format!("v1 refused on {subject}: {:?}", v1.message)))?;
    // Line 1, online: the gate against what the registry holds.
    check.push(run_check(
        &schemagate,
        &[
            "--registry".into(),
            lab.registry.clone(),
            "--subject".into(),
            subject.clone(),
            "--type".into(),
            schema_type.into(),
            "--proposed".into(),
            new_file.display().to_string(),
        ],
        &config.field,
    ));
    let refused = verdict::register(&registry, &subject, format, breaking).await?;

    // Line 3: an id of another subject (a different schema, so a different id).
    let other_subject = format!("lab-gate-{tag}-other-value");
    let other = verdict::register_ids(&registry, &other_subject, format, &[SchemaVersion::V7])
        .await?
        .first()
        .map(|(_, id)| id.0)
        .ok_or_else(|| LabError::Setup("no id for the other subject".into()))?;
    let policy = format!(
        "[[topic]]\nmatch = \"{topic_name}\"\nvalue = \"required\"\nkey = \"off\"\n\
         strategy = \"topic\"\non_invalid = \"quarantine\"\nquarantine = \"{{topic}}.quarantine\"\n"
    );
    let policy_file = crate::lab::stack::scratch(&scratch, "policy.toml")?;
    std::fs::write(&policy_file, &policy).map_err(|cause| LabError::Io {
        path: policy_file.clone(),
        cause,
    })?;
    let quarantine = format!("{topic_name}.quarantine");
    topic::create(&lab.bootstrap, &topic_name).await?;
    topic::create(&lab.bootstrap, &quarantine).await?;
    let (_proxy, through) = lab.start_proxy(&schemagate, &policy_file, &scratch)?;
    let codec = Codec::new(format)?;
    let unregistered = 0x7fff_fff0;
    let cases = [
        (
            "valid v1 under v1's id (control)",
            SchemaVersion::V1,
            v1_id,
            true,
        ),
        (
            "breaking version under v1's id (auto-register off, latest id)",
            breaking,
            v1_id,
            false,
        ),
        (
            "breaking version under an id of another subject",
            breaking,
            other,
            false,
        ),
        (
            "breaking version under an id the registry never issued",
            breaking,
            unregistered,
            false,
        ),
    ];
    let generator = OrderGenerator::new(config.seed);
    let mut producers = vec![];
    for (case, version, id, should_flow) in cases {
        let values: Vec<Vec<u8>> = (0..config.records)
            .map(|i| codec.frame(&generator.order(i), version, SchemaId(id)))
            .collect::<Result<_, _>>()?;
        let produced = tokio::task::block_in_place(|| {
            let before = (
                topic::end_offset(&lab.bootstrap, &topic_name)?,
                topic::end_offset(&lab.bootstrap, &quarantine)?,
            );
            let (acked, _) = topic::produce_all(&through, &topic_name, &values)?;
            let after = (
                topic::end_offset(&lab.bootstrap, &topic_name)?,
                topic::end_offset(&lab.bootstrap, &quarantine)?,
            );
            let reasons = topic::header_values(
                &lab.bootstrap,
                &quarantine,
                before.1,
                after.1,
                "schemagate.reason",
            )?;
            Ok::<_, LabError>((acked, after.0 - before.0, after.1 - before.1, reasons))
        })?;
        let (acknowledged, on_topic, quarantined, reason_list) = produced;
        let mut reasons = std::collections::BTreeMap::new();
        for r in reason_list {
            *reasons.entry(r).or_default() += 1;
        }
        let n = config.records as i64;
        let as_required = if should_flow {
            on_topic == n && quarantined == 0
        } else {
            on_topic == 0 && quarantined == n
        };
        eprintln!("gate: {case}: {on_topic} on the topic, {quarantined} quarantined {reasons:?}");
        producers.push(ProducerCase {
            case: case.into(),
            schema_id: id,
            sent: config.records,
            acknowledged,
            on_topic,
            quarantined,
            reasons,
            as_required,
        });
    }
    let all_held = check.iter().all(|c| c.stopped)
        && !refused.accepted
        && refused.status == Some(409)
        && producers.iter().all(|p| p.as_required);
    Ok(GateReport {
        head: lab.head("gate", command, config_path),
        machine,
        change: format!("{format} {breaking} ({})", breaking.change()),
        mode: config.mode.clone(),
        topic: topic_name,
        check,
        registry: refused,
        producers,
        policy,
        all_held,
        wall_seconds: begin.elapsed().as_secs_f64(),
    })
}

/// Runs `schemagate check ARGS` and judges it: exit 1 and `field` named in what it printed.
pub(crate) fn run_check(schemagate: &Path, args: &[String], field: &str) -> CheckRun {
    let out = Command::new(schemagate).arg("check").args(args).output();
    let (exit_code, stdout) = match out {
        Ok(o) => (
            o.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (None, format!("could not run: {e}")),
    };
    CheckRun {
        args: std::iter::once("check".to_string())
            .chain(args.iter().cloned())
            .collect(),
        stopped: exit_code == Some(1) && stdout.contains(field),
        exit_code,
        stdout,
    }
}
