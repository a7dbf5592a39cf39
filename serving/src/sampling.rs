//! Head sampling of the exported spans, decided before a span is built.
//!
//! The OpenTelemetry SDK samples when tracing-opentelemetry starts a span, and by then the
//! layer has already built the span's data and recorded its fields: an unsampled span cost
//! nearly what a sampled one did (`proxy/benches/produce_span.rs`: +2.4 µs at 1% against
//! +3.7 µs at 100%, per Produce request). So the decision is made here instead, as a
//! per-layer filter in front of the OpenTelemetry layer: a span whose parent is exported is
//! exported; a root span is exported with the configured probability. A dropped span still
//! gets its entry in tracing's span registry (a per-layer filter that decides per span cannot
//! disable it for every layer), but the OpenTelemetry layer never sees it: no span data, no
//! attributes, nothing to export. The SDK is then told to keep every span it gets
//! ([`opentelemetry_sdk::trace::Sampler::AlwaysOn`]), so sampling happens once.
//!
//! The standard variables choose the probability, as the SDK would: `OTEL_TRACES_SAMPLER`
//! (`always_on`, `always_off`, `traceidratio`, and the `parentbased_` forms of the three;
//! unset: `parentbased_always_on`) and `OTEL_TRACES_SAMPLER_ARG` (the ratio, 0 to 1; unset:
//! 1). schemagate's spans have no remote parent (a producer's trace becomes a link, not a
//! parent), so a `parentbased_` sampler decides as its root sampler does. Other samplers
//! (`jaeger_remote`, `xray`) are refused with a message.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{dynamic_filter_fn, DynFilterFn};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The `OTEL_TRACES_SAMPLER` or `OTEL_TRACES_SAMPLER_ARG` value cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("OTEL_TRACES_SAMPLER{which}: {detail}")]
pub struct SamplerError {
    which: &'static str,
    detail: String,
}

/// Which root spans are exported: each with probability `ratio`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadSampler {
    ratio: f64,
}

impl HeadSampler {
    /// Exports each root span with probability `ratio` (clamped to 0..=1).
    pub fn ratio(ratio: f64) -> Self {
        Self {
            ratio: if ratio.is_nan() {
                0.0
            } else {
                ratio.clamp(0.0, 1.0)
            },
        }
    }

    /// The probability a root span is exported.
    pub fn probability(&self) -> f64 {
        self.ratio
    }

    /// From `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub fn from_env() -> Result<Self, SamplerError> {
        let get = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self::from_values(
            get("OTEL_TRACES_SAMPLER").as_deref(),
            get("OTEL_TRACES_SAMPLER_ARG").as_deref(),
        )
    }

    fn from_values(sampler: Option<&str>, arg: Option<&str>) -> Result<Self, SamplerError> {
        let ratio_arg = || -> Result<f64, SamplerError> {
            let Some(text) = arg else { return Ok(1.0) };
            match text.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(SamplerError {
                    which: "_ARG",
                    detail: format!("'{text}' is not a ratio from 0 to 1"),
                }),
            }
        };
        let name = sampler.map(|s| s.trim().to_ascii_lowercase());
        let ratio = match name.as_deref().unwrap_or("parentbased_always_on") {
            "always_on" | "parentbased_always_on" => 1.0,
            "always_off" | "parentbased_always_off" => 0.0,
            "traceidratio" | "parentbased_traceidratio" => ratio_arg()?,
            other => {
                return Err(SamplerError {
                    which: "",
                    detail: format!(
                        "'{other}' is not supported (always_on, always_off, traceidratio, \
                         or their parentbased_ forms)"
                    ),
                })
            }
        };
        Ok(Self::ratio(ratio))
    }

    /// One draw: whether a new root span is exported.
    fn sample(&self) -> bool {
        if self.ratio >= 1.0 {
            return true;
        }
        if self.ratio <= 0.0 {
            return false;
        }
        // 53 random bits as a number in [0, 1).
        let unit = (next_random() >> 11) as f64 / ((1u64 << 53) as f64);
        unit < self.ratio
    }

    /// The per-layer filter for the OpenTelemetry layer: spans and events of `target` at INFO
    /// or above. A span whose current span is a span of `target` goes with it (exported or
    /// dropped); otherwise it is exported inside an exported span, and drawn when there is
    /// none (a root). An event goes with the span it is in.
    pub fn filter<S>(
        self,
        target: &'static str,
    ) -> DynFilterFn<S, impl Fn(&Metadata<'_>, &Context<'_, S>) -> bool>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        dynamic_filter_fn(move |meta: &Metadata<'_>, cx: &Context<'_, S>| {
            if meta.target() != target || *meta.level() > Level::INFO {
                return false;
            }
            let exported = cx.lookup_current();
            if !meta.is_span() {
                return exported.is_some();
            }
            // Inside a span of `target`, follow its decision (a dropped one is still the
            // current span, but filtered out of `lookup_current`).
            let current = cx.current_span();
            if current.metadata().is_some_and(|m| m.target() == target) {
                return exported.is_some_and(|s| Some(&s.id()) == current.id());
            }
            exported.is_some() || self.sample()
        })
    }
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(std::thread::current().id()) | 1);
}

/// xorshift64*: a fast per-thread random number (the draw needs no more than that).
fn next_random() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::TARGET;
    use opentelemetry::trace::SpanId;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
    use std::sync::{Arc, Mutex};

    /// Keeps (name, span id, parent span id) of every exported span.
    #[derive(Debug, Clone, Default)]
    struct Keep(Arc<Mutex<Vec<(String, SpanId, SpanId)>>>);

    impl SpanExporter for Keep {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
            for s in batch {
                kept.push((
                    s.name.to_string(),
                    s.span_context.span_id(),
                    s.parent_span_id,
                ));
            }
            Ok(())
        }
    }

    /// Runs `roots` root spans, each with one child span, under the subscriber that `init`
    /// builds with `sampler`; (roots exported, children exported, children exported whose
    /// parent is not).
    fn run(sampler: HeadSampler, roots: u64) -> (usize, usize, usize) {
        let kept = Keep::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(kept.clone())
            .build();
        let subscriber = crate::telemetry::subscriber(
            std::io::sink,
            false,
            tracing_subscriber::EnvFilter::new("info"),
            Some((&provider, sampler)),
        );
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..roots {
                let root = tracing::info_span!(target: TARGET, "root");
                let _in = root.enter();
                let _child = tracing::info_span!(target: TARGET, "child");
            }
            // Below INFO nothing is exported.
            let _debug = tracing::debug_span!(target: TARGET, "debug");
        });
        provider.shutdown().expect("shutdown");
        let kept = kept.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let root_ids: std::collections::HashSet<SpanId> = kept
            .iter()
            .filter(|(name, ..)| name == "root")
            .map(|(_, id, _)| *id)
            .collect();
        let children: Vec<_> = kept.iter().filter(|(name, ..)| name == "child").collect();
        let orphans = children
            .iter()
            .filter(|(_, _, parent)| !root_ids.contains(parent))
            .count();
        assert!(
            kept.iter().all(|(name, ..)| name != "debug"),
            "a DEBUG span was exported"
        );
        (root_ids.len(), children.len(), orphans)
    }

    #[test]
    fn the_standard_variables_choose_the_ratio() {
        let r = |s, a| HeadSampler::from_values(s, a).map(|h| h.probability());
        assert_eq!(r(None, None), Ok(1.0));
        assert_eq!(r(Some("always_off"), None), Ok(0.0));
        assert_eq!(r(Some("parentbased_always_off"), Some("0.5")), Ok(0.0));
        assert_eq!(r(Some("traceidratio"), Some("0.01")), Ok(0.01));
        assert_eq!(
            r(Some("PARENTBASED_TRACEIDRATIO"), Some(" 0.25 ")),
            Ok(0.25)
        );
        assert_eq!(r(Some("traceidratio"), None), Ok(1.0));
        let bad_arg = r(Some("traceidratio"), Some("1.5"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            bad_arg,
            "OTEL_TRACES_SAMPLER_ARG: '1.5' is not a ratio from 0 to 1"
        );
        let bad = r(Some("jaeger_remote"), None).unwrap_err().to_string();
        assert!(
            bad.starts_with("OTEL_TRACES_SAMPLER: 'jaeger_remote' is not supported"),
            "{bad}"
        );
        assert_eq!(HeadSampler::ratio(f64::NAN).probability(), 0.0);
        assert_eq!(HeadSampler::ratio(7.0).probability(), 1.0);
    }

    #[test]
    fn with_export_off_the_exported_spans_are_disabled() {
        let subscriber = crate::telemetry::subscriber(
            std::io::sink,
            false,
            tracing_subscriber::EnvFilter::new("trace"),
            None,
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(target: TARGET, "produce");
            assert!(
                span.is_disabled(),
                "a span for the exporter is built with export off"
            );
            let logged = tracing::info_span!(target: "proxy", "logged");
            assert!(!logged.is_disabled());
        });
    }

    #[test]
    fn always_and_never_export_whole_traces() {
        assert_eq!(run(HeadSampler::ratio(1.0), 100), (100, 100, 0));
        assert_eq!(run(HeadSampler::ratio(0.0), 100), (0, 0, 0));
    }

    #[test]
    fn a_ratio_draws_roots_and_children_follow_their_root() {
        let (roots, children, orphans) = run(HeadSampler::ratio(0.25), 4000);
        // 4000 draws at 0.25: 1000 expected, σ ≈ 27; 800..1200 is over 7σ wide.
        assert!(
            (800..=1200).contains(&roots),
            "{roots} of 4000 roots exported"
        );
        assert_eq!(children, roots, "children follow their root");
        assert_eq!(orphans, 0, "no child exported under a dropped root");
    }
}
