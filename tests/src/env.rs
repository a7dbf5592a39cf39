//! Where the real parts are: paths from environment variables that `scripts/test` exports.

use std::net::SocketAddr;
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

/// The folder of Apache Kafka 4.4.0's jars (`SCHEMAGATE_KAFKA_LIBS`).
pub fn kafka_libs() -> Result<PathBuf, HarnessError> {
    required_path(
        "SCHEMAGATE_KAFKA_LIBS",
        "the folder of Apache Kafka 4.4.0's jars (kafka_2.13 and its runtime dependencies)",
    )
}

/// The test run's shared Apache Kafka cluster (`SCHEMAGATE_KAFKA_BOOTSTRAP`): every node's
/// client address, node 1 first. `scripts/test` starts it before the tests and stops it after.
pub fn shared_kafka() -> Result<Vec<SocketAddr>, HarnessError> {
    const VAR: &str = "SCHEMAGATE_KAFKA_BOOTSTRAP";
    let missing = HarnessError::MissingEnv {
        var: VAR,
        what: "the client addresses of the test run's Apache Kafka cluster",
    };
    let value = std::env::var(VAR).map_err(|_| missing)?;
    let addrs: Result<Vec<SocketAddr>, _> = value.split(',').map(str::parse).collect();
    match addrs {
        Ok(addrs) if !addrs.is_empty() => Ok(addrs),
        _ => Err(HarnessError::io(
            format!("{VAR}={value}"),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a list of IP:PORT"),
        )),
    }
}

/// The `java` to run Kafka with: `$JAVA_HOME/bin/java` when set, else `java` on PATH.
pub fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin").join("java"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("java"))
}

/// The cargo target directory (`CARGO_TARGET_DIR`, else `target/` of the workspace).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
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

/// The classpath of the Java clients built from `tests/clients/java`: their jar, kafka-clients
/// and its dependencies (`SCHEMAGATE_JAVA_CLASSPATH`). Every entry must exist, so a stale cache
/// fails here instead of as a `ClassNotFoundException` inside a test.
pub fn java_classpath() -> Result<std::ffi::OsString, HarnessError> {
    const VAR: &str = "SCHEMAGATE_JAVA_CLASSPATH";
    let value =
        std::env::var_os(VAR)
            .filter(|v| !v.is_empty())
            .ok_or(HarnessError::MissingEnv {
                var: VAR,
                what: "the Java test clients' classpath (kafka-clients 4.4.0)",
            })?;
    for entry in std::env::split_paths(&value) {
        if !entry.exists() {
            return Err(HarnessError::MissingPath {
                var: VAR,
                path: entry,
            });
        }
    }
    Ok(value)
}

/// The Go test clients binary, `sgclients` (franz-go and sarama), built from `tests/clients/go`
/// (`SCHEMAGATE_GO_CLIENTS`).
pub fn go_clients() -> Result<PathBuf, HarnessError> {
    required_path(
        "SCHEMAGATE_GO_CLIENTS",
        "the sgclients binary built from tests/clients/go",
    )
}

/// The OpenTelemetry Collector built from `tests/otelcol` (OTLP receiver, file exporter):
/// `SCHEMAGATE_OTELCOL`.
pub fn otelcol() -> Result<PathBuf, HarnessError> {
    required_path(
        "SCHEMAGATE_OTELCOL",
        "the sgotelcol binary built from tests/otelcol (an OpenTelemetry Collector)",
    )
}

/// True when `SCHEMAGATE_TEST_DIRECT=1`: clients talk to the brokers without the proxy. A
/// diagnostic for telling a proxy bug from a client's own behaviour; it says so on stderr each
/// time it is asked. `scripts/test` refuses to run with it set, and every test that honours it
/// holds a [`NotAPass`], so such a run never reports an ordinary pass.
pub fn direct_to_broker() -> bool {
    let direct = std::env::var("SCHEMAGATE_TEST_DIRECT").is_ok_and(|v| v == "1");
    if direct {
        eprintln!("{DIRECT_WARNING}");
    }
    direct
}

const DIRECT_WARNING: &str = "\n*** SCHEMAGATE_TEST_DIRECT=1: clients talk to Kafka directly; \
THE PROXY WAS NOT TESTED ***\n";

/// Held by a test that ran without the proxy (`SCHEMAGATE_TEST_DIRECT=1`): when dropped at the
/// end of a test that otherwise passed, it fails the test with a message saying the proxy was
/// not tested, so a debugging run never counts as a pass.
#[derive(Debug)]
pub struct NotAPass(());

impl NotAPass {
    /// `Some` when `SCHEMAGATE_TEST_DIRECT=1`.
    pub fn if_direct() -> Option<Self> {
        // Not `then_some`: that would build (and drop, failing) a guard on every normal run.
        if direct_to_broker() {
            Some(Self(()))
        } else {
            None
        }
    }
}

impl Drop for NotAPass {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!(
                "{DIRECT_WARNING}the test's checks held for the clients against the brokers, \
                 but this is a debugging run, not a pass: unset SCHEMAGATE_TEST_DIRECT"
            );
        }
    }
}

/// The directory holding the client scripts (`tests/clients`).
pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients")
}
