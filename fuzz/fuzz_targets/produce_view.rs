//! The Produce request view on arbitrary frames: what it reads, it rebuilds into a frame that
//! reads back the same, and an edited rebuild reads back with the edits.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;
use proxy::header::request_header_len;
use proxy::produce_view::{PartitionEdit, ProduceRequestView};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    // The version byte as the proxy's frame capture writes it; others fold into v3..=v13.
    let version = match i16::from(selector) {
        v @ 3..=13 => v,
        v => 3 + v % 11,
    };
    let Ok(offset) = request_header_len(frame, ApiKey::Produce, version) else {
        return;
    };
    let Ok(view) = ProduceRequestView::parse(frame, version, offset) else {
        return;
    };
    let kept = view.encode(|_, _| PartitionEdit::Keep);
    let again = ProduceRequestView::parse(&kept, version, offset)
        .unwrap_or_else(|e| panic!("the rebuilt request does not read back: {e}"));
    assert_eq!(again, view);
    // Drop odd partitions, replace even ones.
    let edited = view.encode(|_, p| match p % 2 {
        0 => PartitionEdit::Replace(Bytes::from_static(b"replaced")),
        _ => PartitionEdit::Drop,
    });
    let edited = ProduceRequestView::parse(&edited, version, offset)
        .unwrap_or_else(|e| panic!("the edited request does not read back: {e}"));
    let kept_parts: usize = view
        .topics
        .iter()
        .map(|t| t.partitions.len().div_ceil(2))
        .sum();
    let got: usize = edited.topics.iter().map(|t| t.partitions.len()).sum();
    assert_eq!(got, kept_parts);
    assert!(edited
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .all(|p| p.records == Some(&b"replaced"[..])));
});
