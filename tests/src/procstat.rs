//! What a running process uses, read from `/proc/<pid>`: resident memory now and at its peak,
//! CPU time, open file descriptors and threads. For the reliability scenarios and the soak.

use std::path::PathBuf;

/// One reading of a process's resource use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcSample {
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set size since the process started (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// User plus system CPU time so far, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
    pub cpu_ticks: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
}

impl ProcSample {
    /// Reads `pid`'s use now; `None` when the process is gone or `/proc` cannot be read.
    pub fn read(pid: u32) -> Option<Self> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        };
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        Some(Self {
            rss_kib: field("VmRSS:")?,
            peak_rss_kib: field("VmHWM:")?,
            cpu_ticks: cpu_ticks(&stat)?,
            fds: std::fs::read_dir(dir.join("fd")).ok()?.count() as u64,
            threads: field("Threads:")?,
        })
    }
}

/// utime + stime from the text of `/proc/<pid>/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = ProcSample::read(std::process::id()).unwrap_or_default();
        assert!(s.rss_kib > 0 && s.peak_rss_kib >= s.rss_kib, "{s:?}");
        assert!(s.fds >= 3 && s.threads >= 1, "{s:?}");
    }

    #[test]
    fn cpu_fields_count_from_the_last_parenthesis() {
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 17 5 0 0";
        assert_eq!(cpu_ticks(stat), Some(22));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn a_gone_process_reads_as_none() {
        assert_eq!(ProcSample::read(u32::MAX), None);
    }
}
