//! `schemagate registry` (skeleton: lands with its issue).

use std::process::ExitCode;

/// Flags of `schemagate registry`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `schemagate registry`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("schemagate registry is not built yet")
}
