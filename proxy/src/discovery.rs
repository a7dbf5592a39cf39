//! Learning the brokers from upstream metadata, at start and periodically.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use tokio::sync::watch;

use crate::codec::put_string;
use crate::upstream;
use crate::Shared;

/// Fetches the broker list once, from the bootstrap brokers then the known ones, and records
/// it. Returns whether an upstream answered; readiness follows the latest attempt.
pub async fn refresh(shared: &Shared) -> bool {
    let mut candidates = shared.config.upstreams.clone();
    candidates.extend(shared.brokers.slots().into_iter().map(|s| s.upstream));
    for addr in &candidates {
        match upstream::fetch_brokers(&shared.connector, addr, shared.limits).await {
            Ok(brokers) => {
                if let Err(e) = shared.brokers.observe_all(&brokers) {
                    tracing::warn!(error = %e, "cannot map every broker");
                }
                if !shared.ready.swap(true, Ordering::SeqCst) {
                    tracing::info!(%addr, brokers = brokers.len(), "upstream reachable");
                }
                return true;
            }
            Err(e) => tracing::debug!(error = %e, "metadata fetch failed"),
        }
    }
    // A SASL listener refuses Metadata before authentication, and the proxy never
    // authenticates as anyone; ApiVersions is answered before authentication, so it still
    // proves the broker is there (brokers are then learned from the clients' own metadata).
    for addr in &candidates {
        if answers_api_versions(addr, shared).await {
            if !shared.ready.swap(true, Ordering::SeqCst) {
                tracing::info!(
                    %addr,
                    "upstream reachable; its metadata needs authentication, so brokers are \
                     learned from the clients' metadata"
                );
            }
            return true;
        }
    }
    if shared.ready.swap(false, Ordering::SeqCst) {
        tracing::warn!("no upstream broker reachable");
    }
    false
}

/// Whether the broker at `addr` answers an ApiVersions v0 request.
async fn answers_api_versions(addr: &str, shared: &Shared) -> bool {
    let timeout = shared.config.connect_timeout;
    let mut req = BytesMut::new();
    req.put_i16(18); // ApiVersions
    req.put_i16(0);
    req.put_i32(1); // correlation id
    put_string(&mut req, false, Some(b"schemagate-proxy"));
    let exchange = async {
        let frame = upstream::one_exchange(&shared.connector, addr, &req, shared.limits)
            .await
            .ok()?
            .ok()??;
        let correlation: [u8; 4] = frame.get(..4)?.try_into().ok()?;
        (i32::from_be_bytes(correlation) == 1).then_some(())
    };
    matches!(tokio::time::timeout(timeout, exchange).await, Ok(Some(())))
}

/// Refreshes the broker list every `metadata_refresh` until shutdown.
pub async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.config.metadata_refresh) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        refresh(&shared).await;
    }
}
