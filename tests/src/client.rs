//! Real Kafka clients as child processes: Python and Node scripts and the Java clients under
//! `tests/clients`, the Go clients built from `tests/clients/go`, and kcat. A non-zero exit or
//! a timeout is an error carrying the client's stderr.

use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::tail_of_file;
use crate::{env, HarnessError};

/// How much of a client's output goes into an error message.
const OUTPUT_TAIL_BYTES: usize = 8000;

/// One run of a client program, built up and then [`run`](ClientRun::run).
pub struct ClientRun {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

/// What a client printed.
#[derive(Debug)]
pub struct ClientOutput {
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl ClientRun {
    /// A script under `tests/clients/python`, run by `SCHEMAGATE_PYTHON`.
    pub fn python(script: &str) -> Result<Self, HarnessError> {
        let path = env::clients_dir().join("python").join(script);
        Ok(Self::program(script, env::python()?).arg(path))
    }

    /// A CommonJS script under `tests/clients/node`, run by `node` with `NODE_PATH` set to
    /// `SCHEMAGATE_NODE_MODULES`.
    pub fn node(script: &str) -> Result<Self, HarnessError> {
        let path = env::clients_dir().join("node").join(script);
        let modules = env::node_modules()?;
        Ok(Self::program(script, PathBuf::from("node"))
            .arg(path)
            .env("NODE_PATH", modules))
    }

    /// One scenario of the Java clients (`tests/clients/java`, Apache Kafka's own client library):
    /// `java -cp SCHEMAGATE_JAVA_CLASSPATH dev.schemagate.tests.Main SCENARIO`.
    pub fn java(scenario: &str) -> Result<Self, HarnessError> {
        let classpath = env::java_classpath()?;
        Ok(
            Self::program(&format!("java {scenario}"), PathBuf::from("java"))
                .arg("-cp")
                .arg(classpath)
                .args(["dev.schemagate.tests.Main", scenario]),
        )
    }

    /// A subcommand (`franz`, `sarama`) of the Go clients binary from `SCHEMAGATE_GO_CLIENTS`.
    pub fn go(subcommand: &str) -> Result<Self, HarnessError> {
        Ok(Self::program(&format!("sgclients {subcommand}"), env::go_clients()?).arg(subcommand))
    }

    /// Debian's kcat from `SCHEMAGATE_KCAT`.
    pub fn kcat() -> Result<Self, HarnessError> {
        Ok(Self::program("kcat", env::kcat()?))
    }

    /// Any program, named `name` in error messages.
    pub fn program(name: &str, program: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            program,
            args: Vec::new(),
            envs: Vec::new(),
            stdin: None,
            timeout: Duration::from_secs(120),
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds several arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the client.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Feeds these bytes to the client's stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Kills the client and fails after this long (default two minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the client to completion; fails on a non-zero exit or timeout.
    pub fn run(self) -> Result<ClientOutput, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("schemagate-client-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating a client output directory", e))?;
        let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let create = |p: &PathBuf| {
            File::create(p).map_err(|e| HarnessError::io("creating a client output file", e))
        };
        let mut child = Command::new(&self.program)
            // `cargo test` points LD_LIBRARY_PATH at rdkafka-sys's freshly built librdkafka;
            // a client must load its own, as it would for a user (kcat would get 2.12, not 2.0.2).
            .env_remove("LD_LIBRARY_PATH")
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(match self.stdin {
                Some(_) => Stdio::piped(),
                None => Stdio::null(),
            })
            .stdout(create(&out_path)?)
            .stderr(create(&err_path)?)
            .spawn()
            .map_err(|e| HarnessError::io(format!("starting {:?}", self.program), e))?;
        if let (Some(bytes), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(&bytes)
                .map_err(|e| HarnessError::io(format!("writing stdin of {}", self.name), e))?;
        }
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => break None,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(HarnessError::io(format!("waiting for {}", self.name), e)),
            }
        };
        if status.is_none() {
            // The client hung; kill errors cannot be acted on, the timeout is the error.
            let _ = child.kill();
            let _ = child.wait();
        }
        let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        match status {
            Some(s) if s.success() => Ok(ClientOutput {
                stdout: read(&out_path),
                stderr: read(&err_path),
            }),
            other => Err(HarnessError::ClientFailed {
                name: self.name,
                status: other.map_or(format!("timed out after {:?}", self.timeout), |s| {
                    s.to_string()
                }),
                stderr: tail_of_file(&err_path, OUTPUT_TAIL_BYTES),
                stdout: tail_of_file(&out_path, OUTPUT_TAIL_BYTES),
                // The whole output stays on disk for the post-mortem.
                kept: dir.keep().display().to_string(),
            }),
        }
    }
}

impl ClientOutput {
    /// The JSON object the client printed as its last stdout line (the scripts' summary).
    pub fn summary(&self, name: &str) -> Result<serde_json::Value, HarnessError> {
        let bad = |reason: String| HarnessError::BadSummary {
            name: name.to_owned(),
            reason,
            stdout: self.stdout.clone(),
        };
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .ok_or_else(|| bad("stdout is empty".into()))?;
        serde_json::from_str(line).map_err(|e| bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> ClientRun {
        ClientRun::program("sh", PathBuf::from("/bin/sh")).args(["-c", script])
    }

    #[test]
    fn a_failing_client_reports_its_stderr_and_status() {
        let err = sh("echo partial; echo broken pipe to broker >&2; exit 3")
            .run()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("broken pipe to broker"), "{err}");
        assert!(err.contains("partial"), "{err}");
        assert!(err.contains("exit status: 3"), "{err}");
    }

    #[test]
    fn a_hanging_client_is_killed_at_its_timeout() {
        let started = Instant::now();
        let err = sh("sleep 30")
            .timeout(Duration::from_millis(300))
            .run()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("timed out after 300ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn stdin_and_env_reach_the_client_and_the_summary_is_the_last_json_line() {
        let out = sh("read line; echo noise; echo \"{\\\"got\\\": \\\"$line $SG_X\\\"}\"; echo")
            .env("SG_X", "there")
            .stdin("hello\n")
            .run();
        let summary = out.and_then(|o| o.summary("sh")).map(|v| v["got"].clone());
        assert_eq!(summary.ok(), Some(serde_json::Value::from("hello there")));
    }

    #[test]
    fn output_without_a_json_last_line_is_an_error() {
        let out = sh("echo not json").run();
        let err = out
            .and_then(|o| o.summary("sh"))
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("no JSON summary"));
    }
}
