//! One WARN line per closed connection, within limits: a flood of bad connections (a scanner,
//! a misconfigured client in a restart loop) would otherwise write a line for each. Per close
//! reason, the first [`CloseLog::PER_WINDOW`] closes of each window are logged; the rest are
//! counted, and the next close of that reason after the window ends logs
//! "suppressed K more" first. `schemagate_connections_closed_total` counts every close.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::CloseReason;

/// What to do with one close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admit {
    /// Log this close.
    pub log: bool,
    /// Closes of this reason that were not logged in the window just ended (0: none).
    pub suppressed: u64,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

/// Per-reason limiter of close log lines.
#[derive(Debug)]
pub struct CloseLog {
    window: Duration,
    per_window: u32,
    reasons: Mutex<HashMap<CloseReason, Window>>,
}

impl Default for CloseLog {
    fn default() -> Self {
        CloseLog::new(Self::WINDOW, Self::PER_WINDOW)
    }
}

impl CloseLog {
    /// Lines logged per reason and window.
    pub const PER_WINDOW: u32 = 10;
    /// The window.
    pub const WINDOW: Duration = Duration::from_secs(10);

    /// A limiter of `per_window` lines per reason every `window`.
    pub fn new(window: Duration, per_window: u32) -> Self {
        CloseLog {
            window,
            per_window,
            reasons: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one close of `reason` at `now`: whether to log it, and how many went unlogged
    /// in the window that just ended.
    pub fn admit(&self, reason: CloseReason, now: Instant) -> Admit {
        let mut reasons = self.reasons.lock().unwrap_or_else(|p| p.into_inner());
        let w = reasons.entry(reason).or_insert(Window {
            started: now,
            logged: 0,
            suppressed: 0,
        });
        let mut suppressed = 0;
        if now.saturating_duration_since(w.started) >= self.window {
            suppressed = std::mem::take(&mut w.suppressed);
            w.started = now;
            w.logged = 0;
        }
        if w.logged < self.per_window {
            w.logged += 1;
            Admit {
                log: true,
                suppressed,
            }
        } else {
            w.suppressed += 1;
            Admit {
                log: false,
                suppressed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_first_n_per_reason_then_reports_the_rest_once() {
        let log = CloseLog::new(Duration::from_secs(10), 3);
        let t0 = Instant::now();
        let logged = (0..1000)
            .filter(|_| log.admit(CloseReason::malformed, t0).log)
            .count();
        assert_eq!(logged, 3);
        // Another reason has its own budget.
        assert!(log.admit(CloseReason::truncated, t0).log);
        // Within the window: still quiet, nothing reported yet.
        let later = log.admit(CloseReason::malformed, t0 + Duration::from_secs(9));
        assert_eq!(
            later,
            Admit {
                log: false,
                suppressed: 0
            }
        );
        // The next window: the 998 unlogged closes are reported once, and logging resumes.
        let next = log.admit(CloseReason::malformed, t0 + Duration::from_secs(10));
        assert_eq!(
            next,
            Admit {
                log: true,
                suppressed: 998
            }
        );
        let after = log.admit(CloseReason::malformed, t0 + Duration::from_secs(11));
        assert_eq!(
            after,
            Admit {
                log: true,
                suppressed: 0
            }
        );
        // A quiet window reports nothing.
        let quiet = log.admit(CloseReason::malformed, t0 + Duration::from_secs(30));
        assert_eq!(
            quiet,
            Admit {
                log: true,
                suppressed: 0
            }
        );
    }
}
