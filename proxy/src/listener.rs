//! One TCP listener per broker index, accepting within the connection cap.

use std::net::SocketAddr;
use std::sync::Arc;

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
