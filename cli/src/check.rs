//! `schemagate check`: the CI gate. Offline it compares files; online it asks a registry.
//! Exit 0 compatible, 1 incompatible (the field-level diff on stdout), 2 error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use contract::{compat, CompatibilityMode, ParsedSchema, SchemaType};

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
    let existing = args
        .existing
        .iter()
        .map(|p| load(schema_type, p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let proposed = load(schema_type, &args.proposed)?;
    let problems = compat::check(mode, &existing, &proposed);
    Ok(report(mode, &problems))
}

fn load(schema_type: SchemaType, path: &PathBuf) -> anyhow::Result<ParsedSchema> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    ParsedSchema::parse(schema_type, &text, &[]).with_context(|| format!("{}", path.display()))
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
