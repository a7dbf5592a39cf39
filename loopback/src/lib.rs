//! # loopback — free ports for the servers that tests and benchmarks start
//!
//! A test that starts a server needs a port nobody else uses. Asking the OS for port 0 and
//! releasing it gives a port from the *ephemeral* range (Linux: 32768–60999), and that is
//! where every outgoing connection on the machine takes its local port too: between the probe
//! and the server's own bind, a client socket of a parallel test can take it. That happened in
//! CI (a proxy's broker port taken, `Address already in use`).
//!
//! So ports come from outside the ephemeral range (by default 10000 up to its start), at a
//! random place, and a candidate is used only after every port of the block was bound once
//! here. Only another server can then take it, and parallel tests start at different random
//! places. A process never hands out a port twice: a block picked for a proxy is released
//! until the proxy binds it, and the same test's next pick (its admin port) must not land in
//! it (that happened in CI too). Across processes, a reservation file per port (see
//! `reservations`) keeps two test processes from picking the same port in that window.
//!
//! No `unsafe`, no dependencies.
#![forbid(unsafe_code)]

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The lowest port handed out (below it live well-known and registered services).
pub const LOWEST: u16 = 10_000;

/// Attempts before [`free_block`] gives up.
const ATTEMPTS: usize = 200;

/// No block of `count` free ports was found (or `count` is 0 or too large).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoFreePorts {
    /// The block size asked for.
    pub count: u16,
}

impl std::fmt::Display for NoFreePorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no {} consecutive free loopback ports outside the ephemeral range after {ATTEMPTS} tries",
            self.count
        )
    }
}

impl std::error::Error for NoFreePorts {}

/// A loopback port that was free a moment ago, outside the ephemeral range.
pub fn free_port() -> Result<u16, NoFreePorts> {
    free_block(1)
}

/// A base port `p` with `p .. p + count` all free a moment ago, outside the ephemeral range,
/// for a server that listens on consecutive ports (the proxy's port per broker).
pub fn free_block(count: u16) -> Result<u16, NoFreePorts> {
    let none = NoFreePorts { count };
    let range = usable(ephemeral(), count).ok_or(none.clone())?;
    let span = u64::from(range.end() - range.start()) + 1;
    for _ in 0..ATTEMPTS {
        let base = range.start() + u16::try_from(random() % span).map_err(|_| none.clone())?;
        if all_bindable(base, count) && claim(base, count) {
            return Ok(base);
        }
    }
    Err(none)
}

/// Records `base .. base + count` as handed out by this process, and reserves them against
/// other processes on this machine; false (and nothing kept) when one of them already was.
fn claim(base: u16, count: u16) -> bool {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let block: Vec<u16> = (0..count).filter_map(|i| base.checked_add(i)).collect();
    if block.len() != usize::from(count) || block.iter().any(|p| given.contains(p)) {
        return false;
    }
    let mut reserved = Vec::with_capacity(block.len());
    for &port in &block {
        if !reservations::reserve(port) {
            reservations::release(&reserved);
            return false;
        }
        reserved.push(port);
    }
    given.extend(block);
    true
}

/// Reservations across the processes of one machine: a file per port in
/// `$TMPDIR/loopback-ports/`, created exclusively, holding the owner's process id. A port is
/// taken while its owner runs; the file of a process that has ended is taken over. (Tests run
/// as many processes at once; each picks ports and releases them until its servers bind them,
/// and a random pick of another process could otherwise land in that window.)
mod reservations {
    use std::io::Write;
    use std::path::PathBuf;

    fn dir() -> PathBuf {
        std::env::temp_dir().join("loopback-ports")
    }

    /// Whether the process `pid` still runs (Linux's `/proc`; elsewhere assume it does).
    fn alive(pid: u32) -> bool {
        if !std::path::Path::new("/proc/self").exists() {
            return true;
        }
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    /// Reserves `port` for this process; false when another live process holds it. Without a
    /// usable directory, reserves nothing and says yes (the in-process check still holds).
    pub(super) fn reserve(port: u16) -> bool {
        let dir = dir();
        if std::fs::create_dir_all(&dir).is_err() {
            return true;
        }
        let file = dir.join(port.to_string());
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&file)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    match owner {
                        Some(pid) if pid == std::process::id() => return true,
                        Some(pid) if alive(pid) => return false,
                        // Its owner has ended (or is still writing it: then the next create
                        // fails and the port is skipped).
                        Some(_) => {
                            let _ = std::fs::remove_file(&file);
                        }
                        None => return false,
                    }
                }
                Err(_) => return true,
            }
        }
        false
    }

    /// Gives back reservations made by this process.
    pub(super) fn release(ports: &[u16]) {
        for port in ports {
            let _ = std::fs::remove_file(dir().join(port.to_string()));
        }
    }
}

/// `127.0.0.1:port`.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Whether every port of `base .. base + count` can be bound on 127.0.0.1 now (all held at
/// once, then released).
fn all_bindable(base: u16, count: u16) -> bool {
    let mut held = Vec::with_capacity(usize::from(count));
    for i in 0..count {
        let Some(port) = base.checked_add(i) else {
            return false;
        };
        match TcpListener::bind(addr(port)) {
            Ok(l) => held.push(l),
            Err(_) => return false,
        }
    }
    true
}

/// The OS's ephemeral range (Linux's `ip_local_port_range`; the Linux default elsewhere).
fn ephemeral() -> RangeInclusive<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| parse_range(&text))
        .unwrap_or(32_768..=60_999)
}

/// `"32768\t60999\n"` → `32768..=60999`.
fn parse_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut parts = text.split_whitespace().map(str::parse::<u16>);
    let low = parts.next()?.ok()?;
    let high = parts.next()?.ok()?;
    (low <= high).then_some(low..=high)
}

/// The bases a block of `count` may start at: below the ephemeral range when there is room
/// (the usual case), else above it.
fn usable(ephemeral: RangeInclusive<u16>, count: u16) -> Option<RangeInclusive<u16>> {
    if count == 0 {
        return None;
    }
    let below = ephemeral
        .start()
        .checked_sub(count)
        .filter(|&last| last >= LOWEST)
        .map(|last| LOWEST..=last);
    let above = ephemeral
        .end()
        .checked_add(1)
        .zip(u16::MAX.checked_sub(count - 1))
        .filter(|(first, last)| first <= last)
        .map(|(first, last)| first..=last);
    below.or(above)
}

/// A number that differs between calls, processes and runs (std's random hasher keys, the
/// process id and a counter; no dependency on a random-number crate).
fn random() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_file_is_parsed_and_nonsense_is_refused() {
        assert_eq!(parse_range("32768\t60999\n"), Some(32_768..=60_999));
        assert_eq!(parse_range("1024 65535"), Some(1024..=65_535));
        assert_eq!(parse_range("60999 32768"), None);
        assert_eq!(parse_range("32768"), None);
        assert_eq!(parse_range("a b"), None);
    }

    #[test]
    fn blocks_start_below_the_ephemeral_range_and_fit_before_it() {
        assert_eq!(usable(32_768..=60_999, 4), Some(LOWEST..=32_764));
        assert_eq!(usable(32_768..=60_999, 1), Some(LOWEST..=32_767));
        // No room below: above it, ending at 65535.
        assert_eq!(usable(1024..=60_999, 4), Some(61_000..=65_532));
        // No room anywhere, or nothing asked.
        assert_eq!(usable(1024..=65_535, 4), None);
        assert_eq!(usable(32_768..=60_999, 0), None);
    }

    #[test]
    fn a_block_is_bindable_outside_the_ephemeral_range_and_taken_ports_are_skipped() {
        let eph = ephemeral();
        let base = free_block(4).unwrap_or(0);
        assert!(base >= LOWEST, "base {base}");
        assert!(
            !eph.contains(&base) && !eph.contains(&(base + 3)),
            "{base} in {eph:?}"
        );
        let held: Vec<_> = (0..4)
            .filter_map(|i| TcpListener::bind(addr(base + i)).ok())
            .collect();
        assert_eq!(held.len(), 4, "ports {base}..{} not free", base + 4);
        // While held, the block is not offered again.
        assert!(!all_bindable(base, 4));
        assert!(!all_bindable(base + 3, 1));
        drop(held);
        assert!(all_bindable(base, 4));
    }

    #[test]
    fn a_process_never_hands_out_a_port_twice() {
        // Picks that are released at once (as a server not started yet leaves them) still
        // never overlap: 300 blocks of 4 and 300 single ports, all distinct.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..300 {
            let base = free_block(4).unwrap_or(0);
            assert_ne!(base, 0);
            for p in base..base + 4 {
                assert!(seen.insert(p), "port {p} handed out twice");
            }
            let one = free_port().unwrap_or(0);
            assert!(seen.insert(one), "port {one} handed out twice");
        }
        assert!(!claim(*seen.iter().next().unwrap_or(&LOWEST), 1));
    }

    #[test]
    fn another_live_process_s_reservation_holds_and_an_ended_one_s_is_taken_over() {
        // A port this process never hands out itself, for the test's own files.
        let port = free_port().unwrap_or(0);
        assert_ne!(port, 0);
        let file = std::env::temp_dir()
            .join("loopback-ports")
            .join(port.to_string());
        // Process 1 (init) always runs.
        std::fs::write(&file, "1").unwrap_or_else(|e| panic!("{e}"));
        assert!(!reservations::reserve(port));
        // No process has this id (above Linux's largest pid_max).
        std::fs::write(&file, "4294967294").unwrap_or_else(|e| panic!("{e}"));
        assert!(reservations::reserve(port));
        let owner = std::fs::read_to_string(&file).unwrap_or_default();
        assert_eq!(owner, std::process::id().to_string());
        reservations::release(&[port]);
        assert!(!file.exists());
    }

    #[test]
    fn successive_picks_spread_out() {
        let picks: std::collections::BTreeSet<u16> =
            (0..20).filter_map(|_| free_port().ok()).collect();
        assert!(picks.len() >= 15, "{picks:?}");
    }
}
