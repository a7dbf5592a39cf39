//! One TCP listener per broker index, accepting within the connection cap.
//!
//! The listener of a broker found after start ([`bind_until_stopped`]) keeps trying when its
//! port is taken: until it is bound, `/readyz` names it and
//! `schemagate_listener_bind_failures_total` counts the attempts, because metadata already
//! advertises that port to clients.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::connection;
use crate::Shared;

/// Binds the listener for broker `index` on the listen IP and port `listen_port + index`.
pub async fn bind(shared: &Shared, index: usize) -> std::io::Result<TcpListener> {
    let port = shared
        .brokers
        .port_for_index(index)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    TcpListener::bind(SocketAddr::new(shared.config.listen.ip(), port)).await
}

/// Broker indexes whose listener could not be bound yet, with the last error.
#[derive(Debug, Default)]
pub struct Unbound(Mutex<BTreeMap<usize, String>>);

impl Unbound {
    fn set(&self, index: usize, error: Option<String>) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match error {
            Some(e) => map.insert(index, e),
            None => map.remove(&index),
        };
    }

    /// Why the proxy is not ready, if some broker has no listener.
    pub fn not_ready(&self) -> Option<String> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (index, error) = map.iter().next()?;
        let more = match map.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        Some(format!(
            "no listener for broker index {index}: {error}{more}\n"
        ))
    }
}

/// The wait before bind attempt `attempt + 1`: 100 ms doubling, capped at 5 s.
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(5))
}

/// Binds broker `index`'s listener, retrying while the port is taken, then serves it until
/// shutdown. Each failed attempt is counted; the first is logged as an error, later ones at
/// debug level, and success after a failure at info.
pub async fn bind_until_stopped(
    shared: Arc<Shared>,
    index: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut attempt: u32 = 0;
    let listener = loop {
        match bind(&shared, index).await {
            Ok(l) => break l,
            Err(e) => {
                shared.metrics.bind_failures.inc();
                if attempt == 0 {
                    tracing::error!(index, error = %e, "cannot listen for broker, retrying");
                } else {
                    tracing::debug!(index, attempt, error = %e, "cannot listen for broker");
                }
                shared.unbound.set(index, Some(e.to_string()));
                if e.kind() == std::io::ErrorKind::InvalidInput {
                    // No port for this index (beyond --max-brokers): retrying cannot help.
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(retry_delay(attempt)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
                attempt = attempt.saturating_add(1);
            }
        }
    };
    if attempt > 0 {
        tracing::info!(
            index,
            attempts = attempt + 1,
            "listener for broker bound after retrying"
        );
        shared.unbound.set(index, None);
    }
    serve(shared, index, listener, shutdown).await;
}

/// Accepts client connections for broker `index` until shutdown.
pub async fn serve(
    shared: Arc<Shared>,
    index: usize,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    tracing::info!(index, addr = ?local, "listening for broker index");
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually EMFILE or a reset during the handshake; back off briefly.
                tracing::warn!(index, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = shared.connection_permits.clone().try_acquire_owned() else {
            shared.metrics.refused.inc();
            tracing::warn!(%peer, index, "connection cap reached, refusing connection");
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            connection::handle(shared, stream, peer, index, shutdown).await;
            drop(permit);
        });
    }
    tracing::info!(index, "listener stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_from_100_ms_and_stops_at_5_s() {
        assert_eq!(retry_delay(0), Duration::from_millis(100));
        assert_eq!(retry_delay(1), Duration::from_millis(200));
        assert_eq!(retry_delay(5), Duration::from_millis(3200));
        assert_eq!(retry_delay(6), Duration::from_secs(5));
        assert_eq!(retry_delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn unbound_names_the_lowest_index_and_counts_the_rest() {
        let u = Unbound::default();
        assert_eq!(u.not_ready(), None);
        u.set(2, Some("Address already in use".into()));
        u.set(1, Some("Permission denied".into()));
        assert_eq!(
            u.not_ready().as_deref(),
            Some("no listener for broker index 1: Permission denied (and 1 more)\n")
        );
        u.set(1, None);
        assert_eq!(
            u.not_ready().as_deref(),
            Some("no listener for broker index 2: Address already in use\n")
        );
        u.set(2, None);
        assert_eq!(u.not_ready(), None);
    }
}
