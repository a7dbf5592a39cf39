//! `schemagate check` (skeleton: lands with its issue).

use std::process::ExitCode;

/// Flags of `schemagate check`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `schemagate check`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("schemagate check is not built yet")
}
