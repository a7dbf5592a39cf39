//! A long-running child process (broker, proxy): output to a log file, killed on drop.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{net, HarnessError};

/// How much of a log goes into an error message.
const LOG_TAIL_BYTES: usize = 6000;

/// A server process started by the harness. Dropping it kills the process.
pub struct Server {
    name: String,
    child: Child,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Spawns `command` with stdout and stderr going to a fresh log file.
    pub fn spawn(name: &str, command: Command) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("schemagate-{name}-"))
            .tempdir()
            .map_err(|e| HarnessError::io("creating a log directory", e))?;
        let log = dir.path().join(format!("{name}.log"));
        let mut server = Self::spawn_logging_to(name, command, log)?;
        server._dir = Some(dir);
        Ok(server)
    }

    /// Spawns `command` with stdout and stderr appended to `log` (kept after the process).
    pub fn spawn_logging_to(
        name: &str,
        mut command: Command,
        log: PathBuf,
    ) -> Result<Self, HarnessError> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| HarnessError::io(format!("opening the log file {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| HarnessError::io("cloning a log file handle", e))?;
        let child = command
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| HarnessError::io(format!("starting {name}: {command:?}"), e))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
            _dir: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the process to stop (SIGTERM) and waits up to `grace` for it to exit; kills it
    /// (SIGKILL) after that. Returns whether it exited by itself within the grace period.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        if !self.is_running() {
            return true;
        }
        // std has no SIGTERM; kill(1) is in every base system this runs on.
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let exited = sent && net::wait_until(grace, || !self.is_running());
        if !exited {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        exited
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the server accepts connections on `addr`; fails early if it exits.
    pub fn wait_for_listener(
        &mut self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        let mut exited = None;
        let ready = net::wait_until(timeout, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                exited = Some(status);
                return true;
            }
            net::accepts(addr)
        });
        let reason = match (ready, exited) {
            (_, Some(status)) => format!("exited with {status} before listening on {addr}"),
            (false, None) => format!("nothing accepted connections on {addr} within {timeout:?}"),
            (true, None) => return Ok(()),
        };
        Err(HarnessError::NotReady {
            name: self.name.clone(),
            reason,
            log: self.log_tail(),
        })
    }

    /// Whether the process has exited with status 0.
    pub fn exit_success(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(status)) if status.success())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The log file of this process.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last few kilobytes of the log, for error messages.
    pub fn log_tail(&self) -> String {
        tail_of_file(&self.log, LOG_TAIL_BYTES)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already exited is fine; kill errors cannot be acted on during drop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `max` bytes of a file as lossy UTF-8 (empty when unreadable).
pub fn tail_of_file(path: &Path, max: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    tail_of_bytes(&bytes, max)
}

/// The last `max` bytes of `bytes` as lossy UTF-8.
pub fn tail_of_bytes(bytes: &[u8], max: usize) -> String {
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(bytes.get(start..).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_and_survives_a_split_character() {
        assert_eq!(tail_of_bytes(b"abcdef", 3), "def");
        assert_eq!(tail_of_bytes(b"ab", 10), "ab");
        // "é" is two bytes; cutting through it must not panic.
        assert_eq!(tail_of_bytes("xé".as_bytes(), 1), "\u{fffd}");
    }

    #[test]
    fn a_server_that_exits_early_is_reported_with_its_log() {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "echo cannot bind port; exit 1"]);
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        let err = Server::spawn("early-exit", command)
            .and_then(|mut s| s.wait_for_listener(addr, Duration::from_secs(10)))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("exited with"), "{err}");
        assert!(err.contains("cannot bind port"), "{err}");
    }
}
