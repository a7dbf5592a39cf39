//! Where the real parts are: paths from environment variables that `scripts/test` exports.

use std::path::PathBuf;

use crate::HarnessError;

fn required_path(var: &'static str, what: &'static str) -> Result<PathBuf, HarnessError> {
    let value = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .ok_or(HarnessError::MissingEnv { var, what })?;
    let path = PathBuf::from(value);
    if !path.exists() {
        return Err(HarnessError::MissingPath { var, path });
    }
    Ok(path)
}

/// The tansu broker binary (`TANSU_BIN`).
pub fn tansu_bin() -> Result<PathBuf, HarnessError> {
    required_path("TANSU_BIN", "the tansu broker binary")
}

/// The `schemagate` binary under test (`SCHEMAGATE_BIN`).
pub fn schemagate_bin() -> Result<PathBuf, HarnessError> {
    required_path("SCHEMAGATE_BIN", "the schemagate binary under test")
}

/// The Python interpreter of the client venv (`SCHEMAGATE_PYTHON`).
pub fn python() -> Result<PathBuf, HarnessError> {
    required_path(
        "SCHEMAGATE_PYTHON",
        "a Python with confluent-kafka and kafka-python",
    )
}

/// The `node_modules` directory holding kafkajs (`SCHEMAGATE_NODE_MODULES`).
pub fn node_modules() -> Result<PathBuf, HarnessError> {
    required_path("SCHEMAGATE_NODE_MODULES", "node_modules with kafkajs")
}

/// Debian's kcat, linked against librdkafka 2.0.2 (`SCHEMAGATE_KCAT`).
pub fn kcat() -> Result<PathBuf, HarnessError> {
    required_path("SCHEMAGATE_KCAT", "Debian's kcat binary")
}

/// The Go test clients binary, `sgclients` (franz-go and sarama), built from `tests/clients/go`
/// (`SCHEMAGATE_GO_CLIENTS`).
pub fn go_clients() -> Result<PathBuf, HarnessError> {
    required_path(
        "SCHEMAGATE_GO_CLIENTS",
        "the sgclients binary built from tests/clients/go",
    )
}

/// True when `SCHEMAGATE_TEST_DIRECT=1`: clients talk to the broker without the proxy. A
/// diagnostic for telling a proxy bug from a test bug; `scripts/test` always unsets it.
pub fn direct_to_broker() -> bool {
    std::env::var("SCHEMAGATE_TEST_DIRECT").is_ok_and(|v| v == "1")
}

/// The directory holding the client scripts (`tests/clients`).
pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients")
}
