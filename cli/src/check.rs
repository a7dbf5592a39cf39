//! `schemagate check`: the CI gate. Offline it compares files; online it asks a registry.
//! Exit 0 compatible, 1 incompatible (the field-level diff on stdout), 2 error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use contract::{compat, CompatibilityMode, ParsedSchema, ResolvedReference, SchemaType};

mod online;

use crate::registry_auth::RegistryAuth;

/// Flags of `schemagate check`.
#[derive(clap::Args)]
pub struct Args {
    /// Schema format of the files (offline), or of the proposed schema (online).
    #[arg(long = "type", value_name = "AVRO|PROTOBUF|JSON")]
    schema_type: Option<String>,
    /// Compatibility mode (offline): NONE, BACKWARD, FORWARD, FULL and their _TRANSITIVE forms.
    #[arg(long, default_value = "BACKWARD")]
    mode: String,
    /// Registered versions, oldest first (offline).
    #[arg(long, value_name = "FILE")]
    existing: Vec<PathBuf>,
    /// The proposed schema file.
    #[arg(long, value_name = "FILE")]
    proposed: PathBuf,
    /// A referenced schema (offline), dependencies first: NAME is the Protobuf import path,
    /// the Avro full name or the JSON Schema `$ref`; a Protobuf FILE may be `.proto` text or a
    /// base64 `FileDescriptorProto`. Every file is compiled with all of them.
    #[arg(long = "reference", value_name = "NAME=FILE")]
    references: Vec<String>,
    /// Registry URL (online mode).
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
    /// Subject to check against (online mode).
    #[arg(long)]
    subject: Option<String>,
    #[command(flatten)]
    registry_auth: RegistryAuth,
}

/// Runs `schemagate check`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(url) = args.registry.as_deref() {
        let subject = args
            .subject
            .as_deref()
            .context("--subject is required with --registry")?;
        let config = args.registry_auth.config(url)?;
        return online::run(
            &config,
            subject,
            &args.proposed,
            args.schema_type.as_deref(),
        )
        .await;
    }
    let schema_type: SchemaType = args
        .schema_type
        .as_deref()
        .context("--type is required offline")?
        .parse()?;
    let mode: CompatibilityMode = args.mode.parse().map_err(anyhow::Error::msg)?;
    let refs = args
        .references
        .iter()
        .map(|r| reference(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let existing = args
        .existing
        .iter()
        .map(|p| load(schema_type, p, &refs))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let proposed = load(schema_type, &args.proposed, &refs)?;
    let problems = compat::check(mode, &existing, &proposed);
    let code = report(mode, &problems);
    for note in reused_numbers(&existing, &proposed) {
        println!("{note}");
    }
    Ok(code)
}

/// Notes for Protobuf field numbers that keep their number under a new name in `proposed`
/// (against any existing version). Compatible on the wire, so neither the registry nor the
/// verdict objects, but readers of either version take one field for the other: right for a
/// plain rename, silent corruption when the number was reused for a new meaning (experiment
/// 5 in docs/FINDINGS.md). The exit code does not change.
fn reused_numbers(existing: &[ParsedSchema], proposed: &ParsedSchema) -> Vec<String> {
    let ParsedSchema::Protobuf(update) = proposed else {
        return Vec::new();
    };
    let notes: std::collections::BTreeSet<String> = existing
        .iter()
        .filter_map(|e| match e {
            ParsedSchema::Protobuf(original) => Some(original),
            _ => None,
        })
        .flat_map(|original| contract::protobuf::diff::compare(original, update))
        .filter(|d| d.kind == contract::protobuf::diff::DiffKind::FIELD_NAME_CHANGED)
        .map(|d| {
            format!(
                "note: {}: {}: the number stays, so readers of either version read one as the \
                 other; if the meaning changed, reserve the number and add a new one",
                d.path, d.detail
            )
        })
        .collect();
    notes.into_iter().collect()
}

fn load(
    schema_type: SchemaType,
    path: &PathBuf,
    refs: &[ResolvedReference],
) -> anyhow::Result<ParsedSchema> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    ParsedSchema::parse(schema_type, &text, refs).with_context(|| format!("{}", path.display()))
}

/// One `--reference NAME=FILE`: the name and the file's text.
fn reference(arg: &str) -> anyhow::Result<ResolvedReference> {
    let (name, path) = arg
        .split_once('=')
        .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        .with_context(|| format!("--reference {arg:?}: expected NAME=FILE"))?;
    let schema = std::fs::read_to_string(path)
        .with_context(|| format!("reading --reference {name}={path}"))?;
    Ok(ResolvedReference {
        name: name.to_string(),
        schema,
    })
}

/// Prints the verdict and returns the exit code (0 compatible, 1 incompatible).
fn report(mode: CompatibilityMode, problems: &[contract::Incompatibility]) -> ExitCode {
    if problems.is_empty() {
        println!("compatible ({mode})");
        return ExitCode::SUCCESS;
    }
    println!("incompatible ({mode}): {} problem(s)", problems.len());
    for p in problems {
        println!("  {p}");
    }
    ExitCode::from(1)
}
