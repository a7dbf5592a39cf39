//! Learning the brokers from upstream metadata, at start and periodically.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::watch;

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
    if shared.ready.swap(false, Ordering::SeqCst) {
        tracing::warn!("no upstream broker reachable");
    }
    false
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
