//! `schemagate check --registry URL --subject S --proposed FILE [--type T]`: asks any
//! Confluent-compatible registry `POST /compatibility/subjects/{s}/versions/latest?verbose=true`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use registry_client::{Auth, RegistryConfig};
use serde_json::{json, Value};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

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
    let registry = Registry::new(config)?;
    let latest = registry.latest(subject).await?;
    let Some(latest) = latest else {
        println!("compatible: subject {subject:?} has no versions yet, nothing to break");
        return Ok(ExitCode::SUCCESS);
    };
    // The proposed file is a new version of the latest one: same type and references unless
    // --type says otherwise.
    let schema_type = match schema_type {
        Some(t) => t.parse::<contract::SchemaType>()?.as_str().to_string(),
        None => latest["schemaType"].as_str().unwrap_or("AVRO").to_string(),
    };
    let mut body = json!({ "schema": text, "schemaType": schema_type });
    if let Some(refs) = latest.get("references").filter(|r| r.is_array()) {
        body["references"] = refs.clone();
    }
    let level = registry.level(subject).await.unwrap_or_else(|_| "?".into());
    let path = format!(
        "/compatibility/subjects/{}/versions/latest?verbose=true",
        encode(subject)
    );
    let (status, answer) = registry.post(&path, &body).await?;
    if !status.is_success() {
        anyhow::bail!("registry answered {status}: {}", error_text(&answer));
    }
    let compatible = answer["is_compatible"]
        .as_bool()
        .context("registry answer has no is_compatible")?;
    let messages: Vec<&str> = answer["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let version = latest["version"].as_i64().unwrap_or(0);
    if compatible {
        println!("compatible ({level}) with {subject} version {version} at {url}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "incompatible ({level}) with {subject} version {version} at {url}: {} problem(s)",
        messages.len()
    );
    for m in messages {
        println!("  {m}");
    }
    Ok(ExitCode::from(1))
}

/// A registry base URL, its credentials (the flags', else the URL's userinfo) and trust.
struct Registry {
    client: reqwest::Client,
    base: reqwest::Url,
    auth: Option<Auth>,
}

impl Registry {
    fn new(config: &RegistryConfig) -> anyhow::Result<Self> {
        let url = &config.url;
        let mut base = reqwest::Url::parse(url).with_context(|| format!("registry URL {url}"))?;
        let from_url = (!base.username().is_empty()).then(|| Auth::Basic {
            username: base.username().to_string(),
            password: base.password().unwrap_or_default().to_string(),
        });
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(30));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading --registry-ca-file {}", path.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("--registry-ca-file {}", path.display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Registry {
            client: builder.build()?,
            base,
            auth: config.auth.clone().or(from_url),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    fn with_auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some(Auth::Basic { username, password }) => r.basic_auth(username, Some(password)),
            Some(Auth::Bearer(token)) => r.bearer_auth(token),
            None => r,
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let resp = self
            .with_auth(self.client.get(self.url(path)))
            .header("Accept", CONTENT_TYPE)
            .send()
            .await
            .with_context(|| format!("GET {}", self.url(path)))?;
        read(resp).await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let resp = self
            .with_auth(self.client.post(self.url(path)))
            .header("Content-Type", CONTENT_TYPE)
            .header("Accept", CONTENT_TYPE)
            .body(serde_json::to_vec(body)?)
            .send()
            .await
            .with_context(|| format!("POST {}", self.url(path)))?;
        read(resp).await
    }

    /// The latest version of `subject`, or `None` when the subject does not exist.
    async fn latest(&self, subject: &str) -> anyhow::Result<Option<Value>> {
        let (status, v) = self
            .get(&format!("/subjects/{}/versions/latest", encode(subject)))
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND && v["error_code"].as_i64() == Some(40401) {
            return Ok(None);
        }
        if !status.is_success() {
            anyhow::bail!("registry answered {status}: {}", error_text(&v));
        }
        Ok(Some(v))
    }

    /// The compatibility level that applies to `subject`.
    async fn level(&self, subject: &str) -> anyhow::Result<String> {
        let (status, v) = self
            .get(&format!("/config/{}?defaultToGlobal=true", encode(subject)))
            .await?;
        anyhow::ensure!(status.is_success(), "no config");
        Ok(v["compatibilityLevel"]
            .as_str()
            .or(v["compatibility"].as_str())
            .unwrap_or("?")
            .to_string())
    }
}

/// Largest registry answer read (a schema with its references stays far below).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

async fn read(mut resp: reqwest::Response) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let status = resp.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        anyhow::ensure!(
            bytes.len() + chunk.len() <= MAX_ANSWER_BYTES,
            "registry answer larger than {MAX_ANSWER_BYTES} bytes"
        );
        bytes.extend_from_slice(&chunk);
    }
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok((status, v))
}

fn error_text(v: &Value) -> String {
    match (v["error_code"].as_i64(), v["message"].as_str()) {
        (Some(code), Some(m)) => format!("error {code}: {m}"),
        _ => v.to_string(),
    }
}

/// Percent-encodes a subject for use as one path segment.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encodes_subjects_as_one_segment() {
        assert_eq!(encode("orders-value"), "orders-value");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
    }
}
