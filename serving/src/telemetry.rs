//! Logs and OpenTelemetry for every binary: one call sets up the `tracing` subscriber (text
//! logs on stderr) and, when OTLP export is configured, exports spans and metrics over OTLP.
//!
//! Export is off unless an endpoint is configured, by the standard variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
//! `..._METRICS_ENDPOINT`), and `OTEL_SDK_DISABLED=true` turns it off again. The SDK reads the
//! rest itself: `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or `http/json`;
//! `grpc` is not built in and is refused with a message), `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*` (batching) and
//! `OTEL_METRIC_EXPORT_INTERVAL`.
//!
//! Spans: only spans whose target is [`TARGET`] are exported, and the text log never shows
//! them, so the spans cost nothing when export is off (their call sites are disabled).
//! `OTEL_TRACES_SAMPLER` / `_ARG` are read by [`HeadSampler`], which decides before a span is
//! built, so that an unsampled span costs next to nothing too.
//!
//! Metrics: the Prometheus registry a binary serves on `/metrics` is exported as it stands, by
//! [`Telemetry::export_metrics`]: every counter and gauge family becomes an observable OTLP
//! instrument whose values are read from the registry at each export, so the two views can
//! never disagree. Histograms are exported as their `_count` and `_sum` counters.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::Identity;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;

use crate::sampling::HeadSampler;

/// The `tracing` target of every span meant for OpenTelemetry.
pub const TARGET: &str = "schemagate::otel";

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built (a bad endpoint, an unsupported protocol).
    #[error("cannot set up OTLP export ({what}): {reason}")]
    Exporter {
        /// `traces` or `metrics`.
        what: &'static str,
        /// The SDK's reason.
        reason: String,
    },
    /// `OTEL_TRACES_SAMPLER` or its argument cannot be used.
    #[error(transparent)]
    Sampler(#[from] crate::sampling::SamplerError),
    /// A global subscriber was already installed.
    #[error("cannot install the log subscriber: {0}")]
    Subscriber(String),
}

/// What [`init`] set up; flush it with [`Telemetry::shutdown`] before exiting.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    resource: Option<Resource>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("traces", &self.tracer.is_some())
            .field("metrics", &self.meter.is_some())
            .finish()
    }
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether OTLP export of `signal` (`TRACES` or `METRICS`) is configured.
fn export_configured(signal: &str) -> bool {
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    !disabled
        && (env_set("OTEL_EXPORTER_OTLP_ENDPOINT")
            || env_set(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")))
}

/// Colour in the text log only on a terminal, and never when `NO_COLOR` is set.
pub fn log_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The subscriber [`init`] installs: text logs to `writer` filtered by `filter` (never the
/// [`TARGET`] spans), plus, with a `tracer`, the [`TARGET`] spans at INFO or above that the
/// [`HeadSampler`] picks, sent to it (give the provider [`Sampler::AlwaysOn`]: the choice is
/// made here). Public so that a benchmark measures exactly this stack
/// (`proxy/benches/produce_span.rs`).
pub fn subscriber<W>(
    writer: W,
    colour: bool,
    filter: EnvFilter,
    tracer: Option<(&SdkTracerProvider, HeadSampler)>,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(colour)
        .with_filter(without_spans(filter));
    // Only what the spans carry themselves: no source location, thread, target or busy/idle
    // attributes, and no OpenTelemetry context attached on each poll (nothing here reads
    // `Context::current()`); together a third of a span's cost in proxy/benches/produce_span.rs.
    // Without export, a layer that wants nothing, so that no span of [`TARGET`] is ever built
    // (`Span::is_disabled`); an absent layer (`Option::None`) would count as wanting all of
    // them, and stacked per-layer filters likewise build a span any one of them wants.
    let spans: Box<dyn Layer<Registry> + Send + Sync> = match tracer {
        Some((provider, sampler)) => Box::new(
            tracing_opentelemetry::layer()
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_context_activation(false)
                .with_tracer(provider.tracer("schemagate"))
                .with_filter(sampler.filter(TARGET)),
        ),
        None => Box::new(Identity::new().with_filter(LevelFilter::OFF)),
    };
    tracing_subscriber::registry().with(spans).with(logs)
}

/// `filter` with [`TARGET`] turned off: the text log never shows the exported spans.
fn without_spans(filter: EnvFilter) -> EnvFilter {
    match format!("{TARGET}=off").parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Installs the global subscriber: text logs on stderr filtered by `RUST_LOG` (default
/// `info`), plus OTLP span export when configured. `service` names the binary in the exported
/// resource unless `OTEL_SERVICE_NAME` says otherwise.
pub fn init(service: &str) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let resource = (export_configured("TRACES") || export_configured("METRICS")).then(|| {
        let builder = Resource::builder();
        match env_set("OTEL_SERVICE_NAME") {
            true => builder.build(),
            false => builder.with_service_name(service.to_owned()).build(),
        }
    });
    let tracer = match (&resource, export_configured("TRACES")) {
        (Some(resource), true) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .map_err(|e| TelemetryError::Exporter {
                    what: "traces",
                    reason: e.to_string(),
                })?;
            Some((
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.clone())
                    .with_sampler(Sampler::AlwaysOn)
                    .build(),
                HeadSampler::from_env()?,
            ))
        }
        _ => None,
    };
    subscriber(
        std::io::stderr,
        log_colour(),
        filter,
        tracer.as_ref().map(|(p, s)| (p, *s)),
    )
    .try_init()
    .map_err(|e| TelemetryError::Subscriber(e.to_string()))?;
    if let Some((p, _)) = &tracer {
        opentelemetry::global::set_tracer_provider(p.clone());
    }
    Ok(Telemetry {
        tracer: tracer.map(|(p, _)| p),
        meter: None,
        resource,
    })
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn traces(&self) -> bool {
        self.tracer.is_some()
    }

    /// Exports `registry` (what `/metrics` serves) over OTLP, when metrics export is
    /// configured; a no-op otherwise.
    pub fn export_metrics(
        &mut self,
        registry: Arc<prometheus_client::registry::Registry>,
    ) -> Result<(), TelemetryError> {
        let Some(resource) = self.resource.clone() else {
            return Ok(());
        };
        if !export_configured("METRICS") {
            return Ok(());
        }
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .build()
            .map_err(|e| TelemetryError::Exporter {
                what: "metrics",
                reason: e.to_string(),
            })?;
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter).build())
            .with_resource(resource)
            .build();
        let meter = provider.meter("schemagate");
        let scrape = Arc::new(Scrape::new(registry));
        for (name, kind) in scrape.get().kinds.clone() {
            let scrape = scrape.clone();
            let series = name.clone();
            let observe = move || scrape.get().samples(&series);
            match kind {
                Kind::Counter => {
                    let _ = meter
                        .f64_observable_counter(name)
                        .with_callback(move |o| {
                            for (value, labels) in observe() {
                                o.observe(value, &labels);
                            }
                        })
                        .build();
                }
                Kind::Gauge => {
                    let _ = meter
                        .f64_observable_gauge(name)
                        .with_callback(move |o| {
                            for (value, labels) in observe() {
                                o.observe(value, &labels);
                            }
                        })
                        .build();
                }
            }
        }
        self.meter = Some(provider);
        Ok(())
    }

    /// Flushes and stops the exporters (spans and metrics still buffered are sent).
    pub fn shutdown(self) {
        if let Some(p) = self.tracer {
            if let Err(e) = p.shutdown() {
                eprintln!("OTLP span export did not flush: {e}");
            }
        }
        if let Some(p) = self.meter {
            if let Err(e) = p.shutdown() {
                eprintln!("OTLP metric export did not flush: {e}");
            }
        }
    }
}

/// One encoding of the registry shared by every instrument's callback of one export (each
/// instrument asks in turn; re-encoding the registry for each would be quadratic).
struct Scrape {
    registry: Arc<prometheus_client::registry::Registry>,
    last: std::sync::Mutex<Option<(std::time::Instant, Arc<Families>)>>,
}

impl Scrape {
    /// How long one encoding serves the callbacks of an export.
    const FRESH: std::time::Duration = std::time::Duration::from_millis(500);

    fn new(registry: Arc<prometheus_client::registry::Registry>) -> Self {
        Scrape {
            registry,
            last: std::sync::Mutex::new(None),
        }
    }

    fn get(&self) -> Arc<Families> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &*last {
            Some((at, families)) if at.elapsed() < Self::FRESH => families.clone(),
            _ => {
                let families = Arc::new(Families::read(&self.registry));
                *last = Some((std::time::Instant::now(), families.clone()));
                families
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// One scrape of a Prometheus registry, parsed: series name → kind, and the samples.
#[derive(Debug, Default)]
struct Families {
    /// Exported series names (a counter's `_total`, a histogram's `_count` and `_sum`).
    kinds: BTreeMap<String, Kind>,
    samples: Vec<(String, Vec<KeyValue>, f64)>,
}

impl Families {
    fn read(registry: &prometheus_client::registry::Registry) -> Self {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
            return Families::default();
        }
        Self::parse(&text)
    }

    /// Parses the OpenMetrics text that prometheus-client writes (its own output, so the
    /// subset it uses: `# TYPE` lines, `name{k="v",...} value` samples).
    fn parse(text: &str) -> Self {
        let mut out = Families::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                    continue;
                };
                match kind {
                    "counter" => {
                        out.kinds.insert(format!("{name}_total"), Kind::Counter);
                    }
                    "gauge" => {
                        out.kinds.insert(name.to_owned(), Kind::Gauge);
                    }
                    "histogram" => {
                        out.kinds.insert(format!("{name}_count"), Kind::Counter);
                        out.kinds.insert(format!("{name}_sum"), Kind::Counter);
                    }
                    _ => {}
                }
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some(sample) = parse_sample(line) {
                out.samples.push(sample);
            }
        }
        out
    }

    fn samples(&self, series: &str) -> Vec<(f64, Vec<KeyValue>)> {
        self.samples
            .iter()
            .filter(|(name, _, _)| name == series)
            .map(|(_, labels, value)| (*value, labels.clone()))
            .collect()
    }
}

/// `name{a="x",b="y"} 1.5` → (name, labels, value); label values unescaped.
fn parse_sample(line: &str) -> Option<(String, Vec<KeyValue>, f64)> {
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
    };
    Some((name.to_owned(), labels, value))
}

fn parse_labels(mut s: &str) -> Option<Vec<KeyValue>> {
    let mut labels = Vec::new();
    while !s.is_empty() {
        let (key, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push(KeyValue::new(key.to_owned(), value));
        s = rest[end + 1..].trim_start_matches(',');
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_becomes_series_with_kinds_and_labelled_samples() {
        let text = "# HELP a_total A.\n# TYPE a counter\na_total{topic=\"t\\\"1\",outcome=\"valid\"} 3\n\
                    # TYPE g gauge\ng 7\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_count 2\nh_sum 0.5\n# EOF\n";
        let f = Families::parse(text);
        assert_eq!(f.kinds.get("a_total"), Some(&Kind::Counter));
        assert_eq!(f.kinds.get("g"), Some(&Kind::Gauge));
        assert_eq!(f.kinds.get("h_count"), Some(&Kind::Counter));
        assert_eq!(f.kinds.get("h_sum"), Some(&Kind::Counter));
        assert!(!f.kinds.contains_key("h_bucket"));
        let a = f.samples("a_total");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].0, 3.0);
        assert_eq!(
            a[0].1,
            vec![
                KeyValue::new("topic", "t\"1"),
                KeyValue::new("outcome", "valid")
            ]
        );
        assert_eq!(f.samples("g")[0].0, 7.0);
        assert_eq!(f.samples("h_sum")[0].0, 0.5);
    }

    #[test]
    fn malformed_sample_lines_are_skipped() {
        for line in [
            "x{a=\"1\" 2",
            "x 1 2 z",
            "x{a=1} 3",
            "x{a=\"unterminated} 1",
        ] {
            assert!(parse_sample(line).is_none(), "{line}");
        }
    }
}
