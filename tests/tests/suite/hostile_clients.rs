//! Hostile clients against an enforcing proxy on the shared cluster, with the proxy's peak
//! memory (`VmHWM`) reported for each: 2,000 connections that each start a 100 MiB frame and
//! send it slowly, decompression bombs for every codec, batches with hostile record counts,
//! and garbage after a valid header. Each case runs its own proxy, so its peak is its own.
//!
//! These are heavy: they are `#[ignore]`d and run with `scripts/test --reliability` (or
//! `cargo nextest run --run-ignored only -E 'test(hostile_clients::)'`).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use schemagate_tests::{EnforcedStack, ProcSample, RegistryStore};

use crate::cluster_workload::create_spread_topic;
use crate::enforce_support::{policy, start_enforced_with};
use crate::raw_kafka::{exchange, frame, produce, produce_errors, CLIENT_ID};
use crate::support::unique;

/// Offset of `record_count` in a v2 batch, and of the attributes the CRC-32C starts with.
const RECORD_COUNT_AT: usize = 57;
const CRC_AT: usize = 17;
const CRC_FROM: usize = 21;

/// An enforcing proxy (quarantine policy, `"string"` schema) for one fresh topic.
struct Target {
    stack: EnforcedStack,
    topic: String,
}

impl Target {
    fn start(name: &str, flags: &[&str]) -> Self {
        let topic = unique(name);
        let stack =
            start_enforced_with(&policy(&topic, "quarantine"), RegistryStore::Memory, flags);
        create_spread_topic(&stack.broker().bootstrap(), &topic, 1);
        stack
            .registry()
            .register(&format!("{topic}-value"), "AVRO", r#""string""#)
            .unwrap_or_else(|e| panic!("{e}"));
        Self { stack, topic }
    }

    fn sample(&self) -> ProcSample {
        ProcSample::read(self.stack.proxy().pid())
            .unwrap_or_else(|| panic!("the proxy is gone\n{}", self.stack.proxy().log_tail()))
    }

    /// Sends one Produce frame with `records` for the topic; the partition error codes, or
    /// `None` when the proxy closed the connection instead of answering.
    fn produce(&self, records: Bytes) -> Option<Vec<i16>> {
        let f = frame(ApiKey::Produce, 9, 5, &produce(&self.topic, records));
        exchange(self.stack.bootstrap(), &f, Duration::from_secs(60)).map(produce_errors)
    }

    /// The proxy still answers a new client (ApiVersions) after the attack.
    fn still_serves(&self) -> bool {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("hostile"))
            .with_client_software_version(StrBytes::from_static_str("1"));
        exchange(
            self.stack.bootstrap(),
            &frame(ApiKey::ApiVersions, 3, 9, &request),
            Duration::from_secs(10),
        )
        .is_some()
    }

    /// Prints the report line the docs' table is built from.
    fn report(&self, case: &str, outcome: &str, extra: serde_json::Value) -> ProcSample {
        let s = self.sample();
        let line = serde_json::json!({
            "case": case,
            "outcome": outcome,
            "proxy_peak_rss_mib": s.peak_rss_kib / 1024,
            "proxy_rss_mib": s.rss_kib / 1024,
            "proxy_fds": s.fds,
            "proxy_threads": s.threads,
            "details": extra,
        });
        eprintln!("RELIABILITY {line}");
        s
    }
}

/// How the proxy answered a Produce: its partition error codes, or a closed connection.
fn describe(answer: &Option<Vec<i16>>) -> String {
    match answer {
        Some(codes) => format!("error codes {codes:?}"),
        None => "connection closed".to_owned(),
    }
}

/// One v2 batch of `values` (one record each), encoded by kafka-protocol with `compression`.
fn batch(values: &[Bytes], compression: Compression) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(v.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap_or_else(|e| panic!("encoding a batch: {e}"));
    buf.freeze()
}

/// A valid Confluent-framed `"string"` value (schema id 1).
fn good_value() -> Bytes {
    let mut v = vec![0, 0, 0, 0, 1, 10];
    v.extend_from_slice(b"hello");
    Bytes::from(v)
}

/// `batch` with its record count replaced and its CRC made right again.
fn with_record_count(batch: &Bytes, count: i32) -> Bytes {
    let mut b = batch.to_vec();
    b[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&b[CRC_FROM..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// Decompression bombs: one record of 256 MiB of zeros (four times the proxy's 64 MiB cap)
/// compressed with each codec. The proxy must refuse the batch, and its memory must stay
/// within the cap plus the frame.
#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn decompression_bombs_are_refused_within_the_cap() {
    let zeros = Bytes::from(vec![0u8; 256 << 20]);
    let mut failures = Vec::new();
    for (name, codec) in [
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        let bomb = batch(std::slice::from_ref(&zeros), codec);
        let target = Target::start(&format!("bomb-{name}"), &[]);
        let before = target.sample();
        let answer = target.produce(bomb.clone());
        let serves = target.still_serves();
        let outcome = describe(&answer);
        let s = target.report(
            &format!("decompression bomb ({name})"),
            &outcome,
            serde_json::json!({"compressed_bytes": bomb.len(), "decompressed_bytes": zeros.len(),
                "rss_before_mib": before.rss_kib / 1024, "still_serves": serves}),
        );
        // The cap (64 MiB) plus the compressed frame and the proxy's own baseline.
        let bound_kib =
            before.peak_rss_kib + (64 << 10) + (bomb.len() as u64 / 1024) * 2 + (32 << 10);
        if answer.as_ref().is_some_and(|c| c.contains(&0)) {
            failures.push(format!("{name}: the bomb was accepted: {outcome}"));
        }
        if s.peak_rss_kib > bound_kib {
            failures.push(format!(
                "{name}: peak RSS {} KiB above the bound {bound_kib} KiB",
                s.peak_rss_kib
            ));
        }
        if !serves {
            failures.push(format!("{name}: the proxy stopped serving"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Batches whose header claims more (or fewer) records than they hold: over the proxy's cap,
/// `i32::MAX`, negative, and a million (under the cap) with one record present.
#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn hostile_record_counts_are_refused() {
    let one = batch(&[good_value()], Compression::None);
    let mut failures = Vec::new();
    for count in [(1 << 20) + 1, i32::MAX, -1, 1_000_000] {
        let target = Target::start("hostile-count", &[]);
        let answer = target.produce(with_record_count(&one, count));
        let serves = target.still_serves();
        let outcome = describe(&answer);
        let s = target.report(
            &format!("record count {count} (1 record present)"),
            &outcome,
            serde_json::json!({"still_serves": serves}),
        );
        if answer.as_ref().is_some_and(|c| c.contains(&0)) {
            failures.push(format!("count {count}: accepted: {outcome}"));
        }
        if s.peak_rss_kib > 256 << 10 || !serves {
            failures.push(format!(
                "count {count}: peak {} KiB, serves {serves}",
                s.peak_rss_kib
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Garbage after a valid header: a Produce request header followed by 1 MiB of random bytes,
/// and a valid request whose batch header is followed by garbage instead of records.
#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn garbage_after_a_valid_header_is_refused() {
    let mut noise = vec![0u8; 1 << 20];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for b in &mut noise {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *b = seed as u8;
    }
    let mut failures = Vec::new();
    // 1. A request header, then noise where the Produce body should be.
    let target = Target::start("garbage-body", &[]);
    let mut f = frame(ApiKey::Produce, 9, 5, &produce(&target.topic, Bytes::new()));
    let header_len = 4 + 2 + 2 + 4 + 2 + CLIENT_ID.len() + 1;
    f.truncate(header_len);
    f.extend_from_slice(&noise);
    let size = (f.len() - 4) as i32;
    f[..4].copy_from_slice(&size.to_be_bytes());
    let answer = exchange(target.stack.bootstrap(), &f, Duration::from_secs(30));
    let serves = target.still_serves();
    let outcome = match answer {
        Some(_) => "answered".to_owned(),
        None => "connection closed".to_owned(),
    };
    let s = target.report(
        "Produce header + 1 MiB of garbage",
        &outcome,
        serde_json::json!({"still_serves": serves}),
    );
    if !serves || s.peak_rss_kib > 256 << 10 {
        failures.push(format!(
            "garbage body: serves {serves}, peak {} KiB",
            s.peak_rss_kib
        ));
    }
    // 2. A batch header that announces 64 KiB of records, followed by garbage.
    let target = Target::start("garbage-records", &[]);
    let one = batch(&[good_value()], Compression::None);
    let mut b = one[..61].to_vec();
    b.extend_from_slice(&noise[..64 << 10]);
    let length = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&length.to_be_bytes());
    let answer = target.produce(Bytes::from(b));
    let serves = target.still_serves();
    let outcome = describe(&answer);
    let s = target.report(
        "batch header + 64 KiB of garbage records",
        &outcome,
        serde_json::json!({"still_serves": serves}),
    );
    if answer.as_ref().is_some_and(|c| c.contains(&0)) || !serves || s.peak_rss_kib > 256 << 10 {
        failures.push(format!("garbage records: {outcome}, serves {serves}"));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Connections that each announce a 100 MiB frame.
const SLOW_CONNECTIONS: usize = 2_000;
/// What each sends of it: a first chunk, then a kilobyte every [`TRICKLE_EVERY`] a few times.
const FIRST_CHUNK: usize = 4 << 10;
const TRICKLES: usize = 3;
const TRICKLE_EVERY: Duration = Duration::from_secs(5);
/// The proxy's stall timeout in this test: longer than opening all the connections takes,
/// so that they are all open at once.
const STALL_SECS: u64 = 20;
/// What one slow connection may cost: the 8 KiB body buffer (`proxy::frame::FIRST_STEP`)
/// and 32 KiB for everything else.
const PER_CONNECTION_KIB: u64 = 40;

/// 2,000 connections each start a 100 MiB frame (the proxy's default cap, so the size is
/// accepted) and send it slowly, then stop. The proxy's body buffer holds at most
/// max(8 KiB, twice what arrived): 8 KiB for the 7 KiB each sends. With the rest of a
/// connection (its task, its upstream connection: about 21 KiB measured) its RSS stays under
/// baseline + 2,000 × [`PER_CONNECTION_KIB`]; the stall timeout closes every connection once
/// it falls silent.
#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn slow_giant_frames_stay_bounded_and_are_closed_by_the_stall_timeout() {
    let stall = STALL_SECS.to_string();
    let target = Target::start("slow-giants", &["--stall-timeout-secs", &stall]);
    let before = target.sample();
    let size = (100i32 << 20).to_be_bytes();
    let mut conns = Vec::with_capacity(SLOW_CONNECTIONS);
    let started = Instant::now();
    for _ in 0..SLOW_CONNECTIONS {
        let mut c = TcpStream::connect(target.stack.bootstrap())
            .unwrap_or_else(|e| panic!("connection {}: {e}", conns.len()));
        c.write_all(&size).unwrap_or_else(|e| panic!("{e}"));
        c.write_all(&[7u8; FIRST_CHUNK])
            .unwrap_or_else(|e| panic!("{e}"));
        conns.push(c);
    }
    let opened_in = started.elapsed();
    let mut peak_rss_kib = 0;
    for _ in 0..TRICKLES {
        std::thread::sleep(TRICKLE_EVERY);
        for c in &mut conns {
            let _ = c.write_all(&[7u8; 1024]);
        }
        peak_rss_kib = peak_rss_kib.max(target.sample().rss_kib);
    }
    let held = target.sample();
    // Silence: each connection must be closed by the proxy within the stall timeout (plus
    // slack for 2,000 timers on a loaded machine).
    let silent_at = Instant::now();
    for c in &conns {
        c.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut open: Vec<usize> = (0..conns.len()).collect();
    let deadline = silent_at + Duration::from_secs(STALL_SECS + 30);
    let mut buf = [0u8; 64];
    while !open.is_empty() && Instant::now() < deadline {
        open.retain(|&i| match conns[i].read(&mut buf) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => true,
            Err(_) => false,
        });
        peak_rss_kib = peak_rss_kib.max(target.sample().rss_kib);
        std::thread::sleep(Duration::from_millis(100));
    }
    let closed_in = silent_at.elapsed();
    let serves = target.still_serves();
    let after = target.report(
        "2,000 slow 100 MiB frames",
        &format!(
            "{} of {SLOW_CONNECTIONS} closed by the stall timeout",
            SLOW_CONNECTIONS - open.len()
        ),
        serde_json::json!({
            "rss_before_mib": before.rss_kib / 1024,
            "rss_while_held_mib": held.rss_kib / 1024,
            "fds_while_held": held.fds,
            "sampled_peak_rss_mib": peak_rss_kib / 1024,
            "opened_in_ms": opened_in.as_millis() as u64,
            "all_closed_after_silence_ms": closed_in.as_millis() as u64,
            "stall_timeout_s": STALL_SECS,
            "still_serves": serves,
        }),
    );
    let bound_kib = before.rss_kib + SLOW_CONNECTIONS as u64 * PER_CONNECTION_KIB;
    assert!(
        held.fds >= SLOW_CONNECTIONS as u64,
        "only {} descriptors open while the connections were held",
        held.fds
    );
    assert!(
        open.is_empty(),
        "{} connections still open {closed_in:?} after silence",
        open.len()
    );
    assert!(
        after.peak_rss_kib <= bound_kib,
        "peak RSS {} KiB above the bound {bound_kib} KiB",
        after.peak_rss_kib
    );
    assert!(serves, "the proxy stopped serving");
}
