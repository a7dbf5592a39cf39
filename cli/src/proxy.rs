//! `schemagate proxy` (skeleton: lands with its issue).

use std::process::ExitCode;

/// Flags of `schemagate proxy`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `schemagate proxy`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("schemagate proxy is not built yet")
}
