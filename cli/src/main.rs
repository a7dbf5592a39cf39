//! `schemagate`: thin argument parsing and wiring of the subcommands. Logic lives in the
//! libraries; each subcommand's flags and wiring are in their own file.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod hash_password;
mod kafka_config;
mod listener_tls;
mod proxy;
mod quarantine;
mod registry;
mod registry_auth;

/// A Kafka-wire-protocol sidecar that enforces schema contracts on unmodified clients.
#[derive(Parser)]
#[command(name = "schemagate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Kafka proxy in front of one or more brokers.
    Proxy(Box<proxy::Args>),
    /// Run a Confluent-compatible schema registry.
    Registry(Box<registry::Args>),
    /// Check a proposed schema for compatibility (CI gate). Exit 0 compatible, 1 incompatible, 2 error.
    Check(check::Args),
    /// Audit and replay quarantined records.
    Quarantine(quarantine::Args),
    /// Print a `user:hash` line for `schemagate registry --credentials` (password on stdin).
    HashPassword(hash_password::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let service = match &cli.command {
        Command::Proxy(_) => "schemagate-proxy",
        Command::Registry(_) => "schemagate-registry",
        _ => "schemagate",
    };
    // Text logs on stderr (colour only on a terminal, never with NO_COLOR); OTLP export of
    // spans and metrics when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/OBSERVABILITY.md).
    let mut telemetry = match serving::telemetry::init(service) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Proxy(a) => proxy::run(*a, &mut telemetry).await,
            Command::Registry(a) => registry::run(*a, &mut telemetry).await,
            Command::Check(a) => check::run(a).await,
            Command::Quarantine(a) => quarantine::run(a).await,
            Command::HashPassword(a) => hash_password::run(&a),
        }
    });
    drop(runtime);
    telemetry.shutdown();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
