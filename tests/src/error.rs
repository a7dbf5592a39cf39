//! The harness's error type: each variant says what to do about it.

use std::path::PathBuf;

/// Why a harness step failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A real part is not configured; the message says how to get it.
    #[error("{var} is not set: {what}. Run the tests with scripts/test, which installs every prerequisite and exports {var}")]
    MissingEnv {
        /// The environment variable that was expected.
        var: &'static str,
        /// What it should point at.
        what: &'static str,
    },
    /// A configured path does not exist.
    #[error("{var}={path} does not exist; run scripts/test to install it")]
    MissingPath {
        /// The environment variable that named the path.
        var: &'static str,
        /// The path it named.
        path: PathBuf,
    },
    /// A process could not be spawned or waited for.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A server did not start listening in time or died while starting.
    #[error("{name} did not become ready: {reason}\n--- {name} log (tail) ---\n{log}")]
    NotReady {
        /// The server's name.
        name: String,
        /// What went wrong.
        reason: String,
        /// The end of its log.
        log: String,
    },
    /// A client script exited non-zero or timed out.
    #[error("{name} failed ({status})\n--- stderr (tail) ---\n{stderr}\n--- stdout (tail) ---\n{stdout}\n(whole output kept in {kept})")]
    ClientFailed {
        /// The client's name (script or program).
        name: String,
        /// Its exit status or "timed out after ...".
        status: String,
        /// The end of its stderr.
        stderr: String,
        /// The end of its stdout.
        stdout: String,
        /// The folder where its whole stdout and stderr are kept.
        kept: String,
    },
    /// A client's output could not be understood.
    #[error("{name} printed no JSON summary on its last stdout line: {reason}\n{stdout}")]
    BadSummary {
        /// The client's name.
        name: String,
        /// Why parsing failed.
        reason: String,
        /// Its stdout.
        stdout: String,
    },
}

impl HarnessError {
    /// Wraps an I/O error with what the harness was doing.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
