//! Loopback ports: finding free ones and waiting until a server accepts on one.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::HarnessError;

/// A loopback port that was free a moment ago, outside the OS's ephemeral range so that no
/// client socket of a parallel test takes it before the server binds it (see [`loopback`]).
pub fn free_port() -> Result<u16, HarnessError> {
    free_port_range(1)
}

/// A base port `p` with `p..p + count` all free, for servers that listen on consecutive ports.
pub fn free_port_range(count: u16) -> Result<u16, HarnessError> {
    loopback::free_block(count).map_err(|e| {
        HarnessError::io(
            format!("finding {count} consecutive free ports"),
            std::io::Error::new(std::io::ErrorKind::AddrInUse, e.to_string()),
        )
    })
}

/// Whether something accepts TCP connections on `addr` right now.
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Polls `ready` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_free_port_range_can_be_bound_and_then_accepts() {
        let base = free_port_range(3).unwrap_or_default();
        assert_ne!(base, 0);
        let listeners: Vec<_> = (0..3)
            .filter_map(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        assert_eq!(listeners.len(), 3, "ports {base}..{} not free", base + 3);
        assert!(accepts(SocketAddr::from(([127, 0, 0, 1], base))));
        drop(listeners);
        assert!(!accepts(SocketAddr::from(([127, 0, 0, 1], base))));
    }

    #[test]
    fn wait_until_gives_up_at_the_timeout() {
        let started = std::time::Instant::now();
        assert!(!wait_until(Duration::from_millis(200), || false));
        assert!(started.elapsed() >= Duration::from_millis(200));
        let mut calls = 0;
        assert!(wait_until(Duration::from_secs(5), || {
            calls += 1;
            calls == 3
        }));
    }
}
