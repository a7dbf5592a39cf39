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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // A log file or pipe gets plain text, so `key=value` fields stay greppable; a terminal
        // gets colour unless NO_COLOR is set to anything but "" (https://no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
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
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Proxy(a) => proxy::run(*a).await,
            Command::Registry(a) => registry::run(*a).await,
            Command::Check(a) => check::run(a).await,
            Command::Quarantine(a) => quarantine::run(a).await,
            Command::HashPassword(a) => hash_password::run(&a),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
