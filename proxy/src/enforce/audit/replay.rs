//! `quarantine replay`: re-check every quarantined record against the registry as it is now
//! and re-produce those that pass, keeping key, value, timestamp and the client's headers.
//!
//! Two passes over the same snapshot of the topic. The first judges every record and only
//! remembers which offsets passed; the second produces exactly those (acks=all, idempotent).
//! So a registry that stops answering halfway stops the run before anything is produced, and
//! no record is ever counted as failing because the registry could not be asked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;

use super::reader::{self, blocking, Extent, ReadConfig};
use super::recheck::Rechecker;
use super::record::QuarantinedRecord;
use super::AuditError;

/// Records judged per registry round.
const CHECK_CHUNK: usize = 500;
/// Deliveries awaited together.
const PRODUCE_WINDOW: usize = 1000;
/// Failing records listed by name in the report.
const MAX_EXAMPLES: usize = 20;

/// What to replay, and where to.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// How to reach the brokers.
    pub read: ReadConfig,
    /// The quarantine topic.
    pub topic: String,
    /// The topic passing records are produced to.
    pub to: String,
    /// Judge only; produce nothing.
    pub dry_run: bool,
}

/// A record that still fails, named for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failing {
    /// Partition of the quarantine topic.
    pub partition: i32,
    /// Offset there.
    pub offset: i64,
    /// The reason code now.
    pub reason: String,
    /// One human line.
    pub detail: String,
}

/// The outcome of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// The quarantine topic.
    pub topic: String,
    /// The destination topic.
    pub to: String,
    /// True when nothing was produced on purpose.
    pub dry_run: bool,
    /// Records read.
    pub read: u64,
    /// Records that pass the contract now.
    pub passed: u64,
    /// Records produced to `to` and acknowledged (0 on a dry run).
    pub produced: u64,
    /// Records that still fail, per reason.
    pub still_failing: BTreeMap<String, u64>,
    /// The first few failing records.
    pub examples: Vec<Failing>,
}

impl ReplayReport {
    /// Records that still fail.
    pub fn failing(&self) -> u64 {
        self.still_failing.values().sum()
    }

    /// The report as aligned text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let produced = if self.dry_run {
            format!(
                "0 (dry run: {} would be produced to {})",
                self.passed, self.to
            )
        } else {
            format!("{} to {}", self.produced, self.to)
        };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "read           {}", self.read);
        let _ = writeln!(out, "passed         {}", self.passed);
        let _ = writeln!(out, "produced       {produced}");
        let _ = writeln!(out, "still failing  {}", self.failing());
        let width = self
            .still_failing
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0);
        for (reason, n) in &self.still_failing {
            let _ = writeln!(out, "  {reason:<width$}  {n}");
        }
        for f in &self.examples {
            let _ = writeln!(
                out,
                "  partition {} offset {}: {}: {}",
                f.partition, f.offset, f.reason, f.detail
            );
        }
        out
    }
}

/// Runs a replay: judge everything, then produce what passed.
pub async fn replay(cfg: &ReplayConfig, rechecker: &Rechecker) -> Result<ReplayReport, AuditError> {
    if cfg.to == cfg.topic {
        return Err(AuditError::Usage(format!(
            "refusing to replay {} into itself: --to must name another topic",
            cfg.topic
        )));
    }
    let extent = blocking({
        let (read, topic) = (cfg.read.clone(), cfg.topic.clone());
        move || reader::snapshot(&read, &topic, None)
    })
    .await?;
    if !cfg.dry_run {
        let (read, to) = (cfg.read.clone(), cfg.to.clone());
        blocking(move || reader::partitions(&read, &to)).await?;
    }
    let mut report = ReplayReport {
        topic: cfg.topic.clone(),
        to: cfg.to.clone(),
        dry_run: cfg.dry_run,
        ..ReplayReport::default()
    };
    let passing = judge(cfg, &extent, rechecker, &mut report).await?;
    if !cfg.dry_run && !passing.is_empty() {
        report.produced = produce(cfg, extent, &passing).await?;
    }
    Ok(report)
}

/// First pass: the offsets that pass; counts go into `report`.
async fn judge(
    cfg: &ReplayConfig,
    extent: &Extent,
    rechecker: &Rechecker,
    report: &mut ReplayReport,
) -> Result<BTreeSet<(i32, i64)>, AuditError> {
    let mut passing = BTreeSet::new();
    let mut records = reader::stream(cfg.read.clone(), extent.clone());
    let mut chunk = Vec::with_capacity(CHECK_CHUNK);
    loop {
        let next = records.recv().await.transpose()?;
        let done = next.is_none();
        if let Some(r) = next {
            chunk.push(r);
        }
        if chunk.len() >= CHECK_CHUNK || (done && !chunk.is_empty()) {
            let verdicts =
                rechecker
                    .check(&chunk)
                    .await
                    .map_err(|error| AuditError::RegistryUnavailable {
                        checked: report.read,
                        error,
                    })?;
            for (r, v) in chunk.drain(..).zip(verdicts) {
                report.read += 1;
                match v {
                    None => {
                        report.passed += 1;
                        passing.insert((r.partition, r.offset));
                    }
                    Some(v) => {
                        *report
                            .still_failing
                            .entry(v.reason.as_str().to_string())
                            .or_default() += 1;
                        if report.examples.len() < MAX_EXAMPLES {
                            report.examples.push(Failing {
                                partition: r.partition,
                                offset: r.offset,
                                reason: v.reason.as_str().to_string(),
                                detail: format!("{} {}", v.part.as_str(), v.detail),
                            });
                        }
                    }
                }
            }
        }
        if done {
            return Ok(passing);
        }
    }
}

/// Second pass: produces the passing records, returns how many were acknowledged.
async fn produce(
    cfg: &ReplayConfig,
    extent: Extent,
    passing: &BTreeSet<(i32, i64)>,
) -> Result<u64, AuditError> {
    let failed = |produced, reason: String| AuditError::Produce {
        to: cfg.to.clone(),
        produced,
        reason,
    };
    let producer: FutureProducer = cfg
        .read
        .client_config()
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .map_err(|e| failed(0, format!("cannot create a producer: {e}")))?;
    let mut records = reader::stream(cfg.read.clone(), extent);
    let mut window = Vec::with_capacity(PRODUCE_WINDOW);
    let mut produced = 0u64;
    loop {
        let next = records.recv().await.transpose()?;
        let done = next.is_none();
        if let Some(r) = next {
            if passing.contains(&(r.partition, r.offset)) {
                window.push(r);
            }
        }
        if window.len() >= PRODUCE_WINDOW || (done && !window.is_empty()) {
            let sends = window.iter().map(|r| send(&producer, &cfg.to, r));
            for result in join_all(sends).await {
                result.map_err(|reason| failed(produced, reason))?;
                produced += 1;
            }
            window.clear();
        }
        if done {
            return Ok(produced);
        }
    }
}

/// Produces one record as the client first sent it.
async fn send(producer: &FutureProducer, to: &str, r: &QuarantinedRecord) -> Result<(), String> {
    let mut record = FutureRecord::<[u8], [u8]>::to(to).headers(client_headers(r));
    if let Some(ms) = r.timestamp.millis() {
        record = record.timestamp(ms);
    }
    if let Some(k) = r.key.as_deref() {
        record = record.key(k);
    }
    if let Some(v) = r.value.as_deref() {
        record = record.payload(v);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

/// The client's headers, in order, duplicates and nulls kept; no `schemagate.*` ones.
fn client_headers(r: &QuarantinedRecord) -> OwnedHeaders {
    let original = r.original_headers();
    let mut h = OwnedHeaders::new_with_capacity(original.len());
    for header in original {
        h = h.insert(Header {
            key: &header.key,
            value: header.value.as_deref(),
        });
    }
    h
}

#[cfg(test)]
mod tests {
    use super::super::record::tests::{header, quarantined};
    use super::*;
    use rdkafka::message::Headers;

    #[test]
    fn replayed_headers_are_the_clients_own() {
        let r = quarantined(
            vec![
                header("dup", Some("one")),
                header("nul", None),
                header("dup", Some("two")),
            ],
            "subject-mismatch",
            "3",
            "app",
        );
        let h = client_headers(&r);
        let got: Vec<(String, Option<Vec<u8>>)> = h
            .iter()
            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("dup".to_string(), Some(b"one".to_vec())),
                ("nul".to_string(), None),
                ("dup".to_string(), Some(b"two".to_vec())),
            ]
        );
    }

    #[test]
    fn report_text_golden() {
        let mut report = ReplayReport {
            topic: "orders.quarantine".into(),
            to: "orders".into(),
            dry_run: true,
            read: 5,
            passed: 2,
            ..ReplayReport::default()
        };
        report.still_failing.insert("decode-failed".into(), 2);
        report.still_failing.insert("too-short".into(), 1);
        report.examples.push(Failing {
            partition: 0,
            offset: 3,
            reason: "too-short".into(),
            detail: "value record is 2 bytes, shorter than the 5-byte wire header".into(),
        });
        let golden = "\
read           5
passed         2
produced       0 (dry run: 2 would be produced to orders)
still failing  3
  decode-failed  2
  too-short      1
  partition 0 offset 3: too-short: value record is 2 bytes, shorter than the 5-byte wire header
";
        assert_eq!(report.text(), golden);
        assert_eq!(report.failing(), 3);
    }
}
