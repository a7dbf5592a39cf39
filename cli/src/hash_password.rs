//! `schemagate hash-password USER`: reads a password from the first line of stdin and prints
//! `USER:<argon2id hash>`, a line for `schemagate registry --credentials`.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;

/// Flags of `schemagate hash-password`.
#[derive(clap::Args)]
pub struct Args {
    /// The user the line is for.
    user: String,
}

/// Prints the credentials line.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !args.user.is_empty() && !args.user.contains(':'),
        "the user name must be non-empty and without `:`"
    );
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']);
    anyhow::ensure!(!password.is_empty(), "empty password on stdin");
    let hash =
        registry::security::credentials::hash_password(password).map_err(anyhow::Error::msg)?;
    println!("{}:{hash}", args.user);
    Ok(ExitCode::SUCCESS)
}
