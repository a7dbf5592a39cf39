//! `schemagate check --registry URL --subject S --proposed FILE [--type T]`: asks any
//! Confluent-compatible registry `POST /compatibility/subjects/{s}/versions/latest?verbose=true`
//! through the `registry-client` crate.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use registry_client::{
    Missing, RegistryClient, RegistryConfig, RegistryError, Subject, VersionSpec,
};

/// Runs the online check: exit 0 compatible, 1 incompatible (messages on stdout), error → 2.
pub async fn run(
    config: &RegistryConfig,
    subject: &str,
    proposed: &Path,
    schema_type: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(proposed)
        .with_context(|| format!("reading {}", proposed.display()))?;
    let url = config.url.as_str();
    let mut config = config.clone();
    // One person waits on one answer: a slow registry is given time.
    config.request_timeout = Duration::from_secs(30);
    let registry = RegistryClient::new(config).context("registry client")?;
    let subject_name = subject;
    let subject = Subject::new(subject);
    let latest = match registry.version_schema(&subject, VersionSpec::Latest).await {
        Ok(latest) => latest,
        Err(RegistryError::NotFound {
            what: Missing::Subject,
            ..
        }) => {
            println!("compatible: subject {subject_name:?} has no versions yet, nothing to break");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e.into()),
    };
    // The proposed file is a new version of the latest one: same type and references unless
    // --type says otherwise.
    let schema_type = match schema_type {
        Some(t) => t.parse::<contract::SchemaType>()?,
        None => latest.schema_type,
    };
    let level = registry
        .compatibility_level(&subject)
        .await
        .unwrap_or_else(|_| "?".into());
    let report = registry
        .check_compatibility(
            &subject,
            VersionSpec::Latest,
            schema_type,
            &text,
            &latest.references,
        )
        .await?;
    let version = latest.version;
    if report.is_compatible {
        println!("compatible ({level}) with {subject} version {version} at {url}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "incompatible ({level}) with {subject} version {version} at {url}: {} problem(s)",
        report.messages.len()
    );
    for m in &report.messages {
        println!("  {m}");
    }
    Ok(ExitCode::from(1))
}
