//! The record-batch reader with small caps: every codec (the attribute bits choose it), the
//! record and header iterators, and the re-encoder used after quarantine: the records of a
//! batch that reads, re-encoded, read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy::batch::{encode_batch, BatchLimits, Record, RecordBatch};

const LIMITS: BatchLimits = BatchLimits {
    max_decompressed_bytes: 1 << 20,
    max_records: 1 << 12,
};

fuzz_target!(|data: &[u8]| {
    let _ = proxy::batch::record_count(data);
    let Ok(batches) = RecordBatch::parse_all_deferring_crc(data, LIMITS) else {
        return;
    };
    for batch in batches {
        let _ = batch.verify_crc();
        assert!(batch.header.record_count as usize <= LIMITS.max_records);
        let mut records: Vec<Record<'_>> = Vec::new();
        let mut whole = true;
        for r in batch.records() {
            match r {
                Ok(rec) => {
                    for h in rec.headers() {
                        let _ = (h.key, h.value);
                    }
                    records.push(rec);
                }
                Err(_) => whole = false,
            }
        }
        assert!(records.len() <= batch.header.record_count as usize);
        if !whole {
            continue;
        }
        let Ok(encoded) = encode_batch(&batch.header, batch.compression, &records) else {
            continue;
        };
        let (again, rest) = RecordBatch::parse(&encoded, LIMITS)
            .unwrap_or_else(|e| panic!("a re-encoded batch does not read back: {e}"));
        assert!(rest.is_empty());
        let back: Vec<Record<'_>> = again
            .records()
            .map(|r| r.unwrap_or_else(|e| panic!("re-encoded record: {e}")))
            .collect();
        assert_eq!(back.len(), records.len());
        for (a, b) in back.iter().zip(&records) {
            assert_eq!(
                (a.key, a.value, a.headers_raw),
                (b.key, b.value, b.headers_raw)
            );
            assert_eq!(a.timestamp_delta, b.timestamp_delta);
        }
    }
});
