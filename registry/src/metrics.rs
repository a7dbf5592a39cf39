//! The registry's metrics (Prometheus text on `--admin`): access by outcome, reloads of its
//! watched files, and JWKS fetches. Labels stay bounded: never a principal or a subject.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serving::{Reload, ReloadResult, Source, Watched};
use tokio::sync::watch;

use crate::security::audit::AccessLabels;

/// A file the registry watches for changes.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum WatchedFile {
    /// The listener's certificate, key and client CA.
    tls,
    /// The credentials file.
    credentials,
    /// The permissions file.
    permissions,
    /// The JWKS file.
    jwks,
}

/// Labels of `schemagate_registry_reloads_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// Which file.
    pub file: WatchedFile,
    /// How the reload went.
    pub result: ReloadResult,
}

/// Labels of `schemagate_registry_jwks_fetches_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    /// How the fetch went.
    pub result: ReloadResult,
}

/// Every metric the registry publishes.
#[derive(Debug, Clone, Default)]
pub struct RegistryMetrics {
    /// Checked requests, by access asked for and outcome.
    pub access: Family<AccessLabels, Counter>,
    /// Reloads of watched files that did something, by file and result.
    pub reloads: Family<ReloadLabels, Counter>,
    /// Fetches of a JWKS URL, by result.
    pub jwks_fetches: Family<FetchLabels, Counter>,
}

impl RegistryMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "schemagate_registry_access",
            "Registry requests by access asked for (read, write, admin) and outcome (allowed, denied, unauthenticated)",
            m.access.clone(),
        );
        registry.register(
            "schemagate_registry_reloads",
            "Reloads of the registry's watched files (tls, credentials, permissions, jwks) by result",
            m.reloads.clone(),
        );
        registry.register(
            "schemagate_registry_jwks_fetches",
            "Fetches of the JWKS URL by result",
            m.jwks_fetches.clone(),
        );
        m
    }

    /// Checks `watched` (which is `file`) every `interval` until `stop` is set, logging and
    /// counting each reload that did something.
    pub fn watch<S: Source>(
        &self,
        watched: Arc<Watched<S>>,
        interval: Duration,
        file: WatchedFile,
        mut stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let metrics = self.clone();
        serving::watch::run(
            watched,
            interval,
            move |outcome| metrics.reloaded(file, outcome),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )
    }

    /// Logs and counts one reload of `file` that did something.
    pub fn reloaded<E: std::fmt::Display>(&self, file: WatchedFile, outcome: Reload<E>) {
        match &outcome {
            Reload::Failed(e) => {
                tracing::error!(?file, error = %e, "reload failed, keeping the previous version")
            }
            _ => tracing::info!(?file, "reloaded"),
        }
        let result = outcome.result();
        self.reloads
            .get_or_create(&ReloadLabels { file, result })
            .inc();
    }
}
