//! OpenTelemetry spans of enforcement (exported only when the binary configured OTLP export:
//! see `serving::telemetry`). Nothing here runs per record on the clean path.
//!
//! - One `produce` span per enforced Produce request ([`traced`]), with the messaging
//!   semantic conventions (`messaging.system = kafka`, `messaging.operation.type = send`,
//!   `messaging.destination.name` when the request names one enforced topic) and the record
//!   counts by outcome, gathered from [`count`] (called where the metrics count them).
//! - Child spans: `quarantine write` (on `QuarantineWriter::write_with_states`) and the
//!   registry client's lookups that miss its cache (in the registry-client crate).
//! - A quarantined record that carries a W3C `traceparent` header (an instrumented producer)
//!   becomes a link on the `quarantine write` span, and its quarantine copy gets a
//!   `schemagate.traceparent` header naming that span ([`quarantine_context`]).

use std::cell::RefCell;
use std::future::Future;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use tracing::field::Empty;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::outcome::Outcome;
use crate::batch::Record;
use crate::inspect::ProduceDecision;

/// The `tracing` target exported spans use (`serving::telemetry::TARGET`).
pub const TARGET: &str = serving::telemetry::TARGET;

/// Most links one span gets (the SDK's own default limit).
const MAX_LINKS: usize = 128;

/// Records of one request by outcome, and the enforced topics it named (i64: the OTLP integer
/// type; tracing-opentelemetry exports a recorded u64 as a string).
#[derive(Debug, Default)]
struct Counts {
    valid: i64,
    quarantined: i64,
    rejected: i64,
    audited: i64,
    passthrough: i64,
    topic: Option<String>,
    topics: usize,
}

tokio::task_local! {
    static COUNTS: RefCell<Counts>;
}

/// Adds `n` records of `topic` with `outcome` to the current request's span (a no-op outside
/// a traced request, and when spans are not exported).
pub fn count(topic: &str, outcome: Outcome, n: usize) {
    let _ = COUNTS.try_with(|c| {
        let mut c = c.borrow_mut();
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let slot = match outcome {
            Outcome::valid => &mut c.valid,
            Outcome::quarantined => &mut c.quarantined,
            Outcome::rejected => &mut c.rejected,
            Outcome::audited => &mut c.audited,
            Outcome::passthrough => &mut c.passthrough,
        };
        *slot = slot.saturating_add(n);
        if c.topic.as_deref() != Some(topic) {
            c.topics += 1;
            c.topic = Some(topic.to_owned());
        }
    });
}

fn decision_name(d: &ProduceDecision) -> &'static str {
    match d {
        ProduceDecision::Forward => "forward",
        ProduceDecision::Respond(_) => "respond",
        ProduceDecision::ForwardModified { .. } => "forward-modified",
        ProduceDecision::Hold { .. } => "hold",
        ProduceDecision::Close(..) => "close",
    }
}

/// Runs one request's decision inside a `produce` span (when spans are exported; otherwise
/// just runs it).
pub async fn traced(decide: impl Future<Output = ProduceDecision>) -> ProduceDecision {
    let span = tracing::info_span!(
        target: TARGET,
        "produce",
        otel.kind = "server",
        otel.status_code = Empty,
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.operation.name = "produce",
        messaging.destination.name = Empty,
        messaging.batch.message_count = Empty,
        schemagate.topics = Empty,
        schemagate.records.valid = Empty,
        schemagate.records.quarantined = Empty,
        schemagate.records.rejected = Empty,
        schemagate.records.audited = Empty,
        schemagate.records.passthrough = Empty,
        schemagate.decision = Empty,
    );
    // Disabled: export is off. Not exported: the head sampler dropped it (it still has an
    // entry in tracing's registry, but no OpenTelemetry span): nothing to count or record.
    if span.is_disabled() || !span.context().span().span_context().is_valid() {
        return decide.await;
    }
    let (decision, counts) = COUNTS
        .scope(RefCell::new(Counts::default()), async {
            let d = decide.await;
            (d, COUNTS.with(|c| std::mem::take(&mut *c.borrow_mut())))
        })
        .instrument(span.clone())
        .await;
    let total =
        counts.valid + counts.quarantined + counts.rejected + counts.audited + counts.passthrough;
    span.record("messaging.batch.message_count", total);
    span.record("schemagate.topics", counts.topics as i64);
    if counts.topics == 1 {
        if let Some(t) = &counts.topic {
            span.record("messaging.destination.name", t.as_str());
        }
    }
    span.record("schemagate.records.valid", counts.valid);
    span.record("schemagate.records.quarantined", counts.quarantined);
    span.record("schemagate.records.rejected", counts.rejected);
    span.record("schemagate.records.audited", counts.audited);
    span.record("schemagate.records.passthrough", counts.passthrough);
    span.record("schemagate.decision", decision_name(&decision));
    if matches!(decision, ProduceDecision::Close(..)) {
        span.record("otel.status_code", "ERROR");
    }
    decision
}

/// A W3C `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`) as a remote span context;
/// None for anything else (other versions' extra fields are ignored, as the spec asks).
pub fn parse_traceparent(value: &[u8]) -> Option<SpanContext> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let mut parts = text.split('-');
    let version = parts.next()?;
    let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = version.len() == 2
        && version != "ff"
        && trace.len() == 32
        && span.len() == 16
        && flags.len() == 2
        && (version != "00" || parts.next().is_none());
    if !well_formed {
        return None;
    }
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if ![version, trace, span, flags].into_iter().all(hex) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let cx = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    cx.is_valid().then_some(cx)
}

/// `traceparent` text for `cx`.
pub fn format_traceparent(cx: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        cx.trace_id(),
        cx.span_id(),
        cx.trace_flags().to_u8()
    )
}

/// In the current (`quarantine write`) span: links each record's producer trace, and returns
/// the `traceparent` its copies carry, or None when spans are not exported.
pub fn quarantine_context<'a>(records: impl Iterator<Item = &'a Record<'a>>) -> Option<String> {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    let own = span.context().span().span_context().clone();
    if !own.is_valid() {
        return None;
    }
    let producer_traces = records
        .flat_map(|r| r.headers())
        .filter(|h| h.key == b"traceparent")
        .filter_map(|h| h.value.and_then(parse_traceparent));
    for cx in producer_traces.take(MAX_LINKS) {
        span.add_link(cx);
    }
    Some(format_traceparent(&own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_garbage_is_refused() {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = parse_traceparent(tp).expect("valid");
        assert_eq!(
            cx.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(cx.span_id().to_string(), "00f067aa0ba902b7");
        assert!(cx.is_sampled() && cx.is_remote());
        assert_eq!(format_traceparent(&cx).as_bytes(), tp);
        for bad in [
            &b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            b"not a traceparent",
            b"\xff\xfe",
            b"",
        ] {
            assert!(
                parse_traceparent(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // A later version may append fields.
        assert!(parse_traceparent(
            b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later"
        )
        .is_some());
    }

    #[tokio::test]
    async fn counts_outside_a_traced_request_are_ignored_and_untraced_requests_just_run() {
        count("t", Outcome::valid, 3);
        // No exporting subscriber here: the span is disabled and the decision passes through.
        let d = traced(async { ProduceDecision::Forward }).await;
        assert!(matches!(d, ProduceDecision::Forward));
    }

    #[test]
    fn the_target_is_the_one_the_telemetry_layer_exports() {
        assert_eq!(TARGET, "schemagate::otel");
    }
}
