//! The fleet's final summary: throughput, produce latency, errors by kind, deserialize errors
//! per consumer and writer version, and consumer lag over time.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::latency::LatencySummary;

/// Lag of every group at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct LagSample {
    /// Seconds since the fleet started.
    pub t_s: f64,
    /// Acknowledged records minus records consumed, per group.
    pub lag: BTreeMap<String, i64>,
}

/// One consumer's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerSummary {
    /// Its group.
    pub group: String,
    /// Its reader version.
    pub reader: String,
    /// Records received.
    pub consumed: u64,
    /// Records decoded with the reader schema.
    pub decoded: u64,
    /// Deserialize errors: writer version → error kind → count.
    pub deserialize_errors: BTreeMap<String, BTreeMap<String, u64>>,
    /// librdkafka consumer errors by kind.
    pub client_errors: BTreeMap<String, u64>,
}

/// Everything a fleet run reports.
#[derive(Debug, Clone, Serialize)]
pub struct FleetSummary {
    /// Seconds producers ran.
    pub duration_s: f64,
    /// Records acknowledged.
    pub produced: u64,
    /// Acknowledged records per second.
    pub events_per_sec: f64,
    /// Produce latency across all producers.
    pub produce_latency: LatencySummary,
    /// Producer errors by kind.
    pub produce_errors: BTreeMap<String, u64>,
    /// Records produced per writer version.
    pub produced_by_writer: BTreeMap<String, u64>,
    /// Per consumer (`group/member`).
    pub consumers: BTreeMap<String, ConsumerSummary>,
    /// Lag samples, one per second.
    pub lag: Vec<LagSample>,
}

impl FleetSummary {
    /// The summary as text for a terminal.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let l = &self.produce_latency;
        let _ = writeln!(
            s,
            "produced {} records in {:.1} s: {:.0} events/s",
            self.produced, self.duration_s, self.events_per_sec
        );
        let _ = writeln!(
            s,
            "produce latency p50 {:.2} ms  p99 {:.2} ms  p999 {:.2} ms  max {:.2} ms",
            l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
        let _ = writeln!(
            s,
            "produced by writer version: {:?}",
            self.produced_by_writer
        );
        let _ = writeln!(s, "produce errors by kind: {:?}", self.produce_errors);
        for (label, c) in &self.consumers {
            let _ = writeln!(
                s,
                "consumer {label} (reader {}): consumed {} decoded {}",
                c.reader, c.consumed, c.decoded
            );
            for (writer, kinds) in &c.deserialize_errors {
                let _ = writeln!(s, "    deserialize errors, writer {writer}: {kinds:?}");
            }
            if !c.client_errors.is_empty() {
                let _ = writeln!(s, "    client errors: {:?}", c.client_errors);
            }
        }
        let _ = writeln!(s, "consumer lag over time (records):");
        for sample in &self.lag {
            let _ = writeln!(s, "  t={:>5.1}s {:?}", sample.t_s, sample.lag);
        }
        s
    }
}
