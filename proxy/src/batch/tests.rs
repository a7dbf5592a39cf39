use super::*;
use proptest::prelude::*;

fn template() -> BatchHeader {
    BatchHeader::plain(1_700_000_000_000)
}

/// A record with no key, value "a" and no headers.
fn value_a() -> Record<'static> {
    Record {
        attributes: 0,
        timestamp_delta: 0,
        offset_delta: 0,
        key: None,
        value: Some(b"a"),
        header_count: 0,
        headers_raw: &[],
    }
}

fn headers(pairs: &[(&[u8], Option<&[u8]>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        varint::put_nullable_bytes(&mut out, Some(k));
        varint::put_nullable_bytes(&mut out, *v);
    }
    out
}

#[test]
fn round_trip_every_codec_keeps_records_and_duplicate_headers() {
    let raw = headers(&[(b"h", Some(b"1")), (b"h", Some(b"2")), (b"n", None)]);
    let recs = vec![
        Record {
            attributes: 0,
            timestamp_delta: 0,
            offset_delta: 7,
            key: Some(b"k1"),
            value: Some(b"v1"),
            header_count: 3,
            headers_raw: &raw,
        },
        Record {
            attributes: 0,
            timestamp_delta: 5,
            offset_delta: 9,
            key: None,
            value: None,
            header_count: 0,
            headers_raw: &[],
        },
    ];
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let bytes = encode_batch(&template(), codec, &recs).unwrap();
        let batches = RecordBatch::parse_all(&bytes, BatchLimits::default()).unwrap();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(b.compression, codec);
        assert_eq!(b.header.record_count, 2);
        assert_eq!(b.header.last_offset_delta, 1);
        assert_eq!(b.header.max_timestamp, 1_700_000_000_005);
        let got: Vec<_> = b.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(got[0].offset_delta, 0);
        assert_eq!(got[1].offset_delta, 1);
        assert_eq!(got[0].key, Some(&b"k1"[..]));
        assert_eq!(got[1].value, None);
        let hs: Vec<_> = got[0].headers().collect();
        assert_eq!(hs.len(), 3);
        assert_eq!((hs[0].key, hs[0].value), (&b"h"[..], Some(&b"1"[..])));
        assert_eq!((hs[1].key, hs[1].value), (&b"h"[..], Some(&b"2"[..])));
        assert_eq!(hs[2].value, None);
    }
}

#[test]
fn golden_empty_value_batch_bytes() {
    // One record, key null, value "a", no headers, uncompressed: checks the header layout and
    // the CRC against values computed by hand from the v2 format specification.
    let rec = value_a();
    let bytes = encode_batch(&template(), Compression::None, &[rec]).unwrap();
    assert_eq!(bytes.len(), HEADER_LEN + 8);
    assert_eq!(&bytes[8..12], &(HEADER_LEN as i32 - 12 + 8).to_be_bytes());
    assert_eq!(bytes[16], 2);
    // record: len=7 | attr 0 | ts 0 | off 0 | key -1 | vlen 1 | 'a' | headers 0
    assert_eq!(
        &bytes[HEADER_LEN..],
        &[0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, b'a', 0x00]
    );
    let crc = u32::from_be_bytes(bytes[17..21].try_into().unwrap());
    assert_eq!(crc, crc32c::crc32c(&bytes[21..]));
}

#[test]
fn record_count_reads_every_batch_header() {
    let rec = value_a();
    let mut two =
        encode_batch(&template(), Compression::None, &[rec.clone(), rec.clone()]).unwrap();
    let three = encode_batch(
        &template(),
        Compression::Gzip,
        &[rec.clone(), rec.clone(), rec],
    )
    .unwrap();
    two.extend_from_slice(&three);
    assert_eq!(record_count(&two), 5);
    assert_eq!(record_count(&two[..20]), 0);
    assert_eq!(record_count(&[]), 0);
}

#[test]
fn corrupt_crc_is_refused() {
    let rec = value_a();
    let mut bytes = encode_batch(&template(), Compression::None, &[rec]).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0xff;
    assert!(matches!(
        RecordBatch::parse(&bytes, BatchLimits::default()),
        Err(BatchError::Malformed("crc", _))
    ));
}

#[test]
fn legacy_magic_is_named() {
    let mut bytes = vec![0u8; 70];
    bytes[16] = 1;
    assert_eq!(
        RecordBatch::parse(&bytes, BatchLimits::default()).unwrap_err(),
        BatchError::LegacyFormat(1)
    );
}

#[test]
fn record_count_over_limit_is_refused() {
    let rec = value_a();
    let bytes = encode_batch(&template(), Compression::None, &[rec.clone(), rec]).unwrap();
    let limits = BatchLimits {
        max_records: 1,
        ..BatchLimits::default()
    };
    assert!(matches!(
        RecordBatch::parse(&bytes, limits),
        Err(BatchError::TooManyRecords(2))
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(batches) = RecordBatch::parse_all(&bytes, BatchLimits::default()) {
            for b in &batches {
                for r in b.records().flatten() {
                    let _ = r.headers().count();
                }
            }
        }
    }

    #[test]
    fn mutated_valid_batches_never_panic(flip in 0usize..200, val in any::<u8>()) {
        let raw = headers(&[(b"h", Some(b"1"))]);
        let rec = Record { attributes: 0, timestamp_delta: 3, offset_delta: 0, key: Some(b"key"), value: Some(b"value"), header_count: 1, headers_raw: &raw };
        let mut bytes = encode_batch(&template(), Compression::None, &[rec.clone(), rec]).unwrap();
        let i = flip % bytes.len();
        bytes[i] = val;
        // Fix the CRC so mutations reach the record parser.
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        if let Ok(batches) = RecordBatch::parse_all(&bytes, BatchLimits::default()) {
            for b in &batches { for r in b.records() { let _ = r.map(|r| r.headers().count()); } }
        }
    }
}

#[test]
fn deferred_crc_parses_a_corrupt_batch_and_verify_names_it() {
    let mut bytes = encode_batch(&template(), Compression::None, &[value_a()]).unwrap();
    bytes[18] ^= 0x01;
    let batches = RecordBatch::parse_all_deferring_crc(&bytes, BatchLimits::default()).unwrap();
    assert_eq!(batches[0].records().count(), 1);
    assert!(matches!(
        batches[0].verify_crc(),
        Err(BatchError::Malformed("crc", _))
    ));
    assert!(matches!(
        RecordBatch::parse_all(&bytes, BatchLimits::default()),
        Err(BatchError::Malformed("crc", _))
    ));
}

#[test]
fn a_compressed_batch_that_fails_to_decompress_is_named_corrupt_when_its_crc_is_wrong() {
    let mut bytes = encode_batch(&template(), Compression::Gzip, &[value_a()]).unwrap();
    // Garble the compressed records (after the 61-byte header) and the stored CRC.
    for b in &mut bytes[61..] {
        *b = 0xAA;
    }
    let crc_ok = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc_ok.to_be_bytes());
    let undecodable = RecordBatch::parse_all_deferring_crc(&bytes, BatchLimits::default());
    assert!(
        matches!(&undecodable, Err(e) if !matches!(e, BatchError::Malformed("crc", _))),
        "a right CRC keeps the decompression error: {undecodable:?}"
    );
    bytes[17] ^= 0x01;
    assert!(matches!(
        RecordBatch::parse_all_deferring_crc(&bytes, BatchLimits::default()),
        Err(BatchError::Malformed("crc", _))
    ));
}

#[test]
fn a_new_base_sequence_keeps_the_records_and_a_valid_crc() {
    let mut header = template();
    header.producer_id = 42;
    header.producer_epoch = 3;
    header.base_sequence = 10;
    for codec in [Compression::None, Compression::Zstd] {
        let bytes = encode_batch(&header, codec, &[value_a(), value_a()]).unwrap();
        let (batch, _) = RecordBatch::parse(&bytes, BatchLimits::default()).unwrap();
        assert_eq!(batch.bytes(), &bytes[..]);
        let moved = batch.with_base_sequence(7);
        let (again, rest) = RecordBatch::parse(&moved, BatchLimits::default()).unwrap();
        assert!(rest.is_empty());
        assert_eq!(again.header.base_sequence, 7);
        assert_eq!(
            BatchHeader {
                base_sequence: 10,
                ..again.header
            },
            batch.header
        );
        let records: Vec<_> = again.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].value, Some(&b"a"[..]));
    }
}

/// The bytes of record `r` (length prefix included), as a batch holds them.
fn record_bytes(r: &Record<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode::write_record(&mut out, r, r.offset_delta);
    out
}

/// The fast record reading agrees with the checked one: same record and length when it reads
/// one, and it declines everything the checked one refuses.
fn fast_agrees(bytes: &[u8]) -> bool {
    let mut cursor = crate::codec::WireReader::new(bytes);
    let checked = Record::read_checked(&mut cursor)
        .ok()
        .map(|r| (r, cursor.position()));
    let fast = Record::read_fast(bytes);
    assert_eq!(fast, checked, "{bytes:02x?}");
    fast.is_some()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn the_fast_record_reading_agrees_on_records_and_their_damage(
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        heads in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..5),
             proptest::option::of(proptest::collection::vec(any::<u8>(), 0..150))),
            0..4,
        ),
        timestamp_delta in any::<i64>(),
        offset_delta in any::<i32>(),
        attributes in any::<i8>(),
        flip in any::<usize>(),
        byte in any::<u8>(),
        cut in any::<usize>(),
    ) {
        let pairs: Vec<(&[u8], Option<&[u8]>)> =
            heads.iter().map(|(k, v)| (&k[..], v.as_deref())).collect();
        let raw = headers(&pairs);
        let r = Record {
            attributes,
            timestamp_delta,
            offset_delta,
            key: key.as_deref(),
            value: value.as_deref(),
            header_count: pairs.len() as i32,
            headers_raw: &raw,
        };
        let bytes = record_bytes(&r);
        prop_assert!(fast_agrees(&bytes));
        prop_assert_eq!(Record::read_fast(&bytes).map(|(got, _)| got), Some(r));
        let mut damaged = bytes.clone();
        let at = flip % damaged.len();
        damaged[at] = byte;
        fast_agrees(&damaged);
        fast_agrees(&bytes[..cut % (bytes.len() + 1)]);
        let mut longer = bytes.clone();
        longer.push(byte);
        fast_agrees(&longer);
    }

    #[test]
    fn the_fast_record_reading_agrees_on_random_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        fast_agrees(&bytes);
    }
}

/// Edge cases the random ones rarely reach: negative lengths and counts, a null header key,
/// bytes after the headers, varints at their longest.
#[test]
fn the_fast_record_reading_agrees_at_the_edges() {
    let mut accepted = 0;
    let cases: &[&[u8]] = &[
        &[0x01],
        &[0x0c, 0, 0, 0, 0x01, 0x01, 0x00],
        &[0x0e, 0, 0, 0, 0x01, 0x01, 0x01, 0x00],
        &[0x0c, 0, 0, 0, 0x01, 0x01, 0x02],
        &[0x0c, 0, 0, 0, 0x03, 0x01, 0x00],
        &[0x0e, 0, 0, 0, 0x01, 0x01, 0x02, 0x01],
        &[0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x02, 0x00],
        // One header with a null key, then a null value.
        &[0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x01],
        &[0x12, 0, 0, 0, 0x01, 0x01, 0x02, 0x02, 0x61, 0x01],
        &[0x0a, 0, 0, 0, 0x01, 0x01, 0x00, 0x00],
        &[0x0c, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00],
        &[
            0x16, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ],
        &[
            0x14, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00,
        ],
        &[0x0c, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x0f],
        &[
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ],
    ];
    for case in cases {
        accepted += usize::from(fast_agrees(case));
    }
    // Both verdicts are reached.
    assert!(
        (1..cases.len()).contains(&accepted),
        "{accepted} of {} read",
        cases.len()
    );
}
