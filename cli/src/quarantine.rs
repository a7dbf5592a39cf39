//! `schemagate quarantine` (skeleton: lands with its issue).

use std::process::ExitCode;

/// Flags of `schemagate quarantine`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `schemagate quarantine`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("schemagate quarantine is not built yet")
}
