//! Each decompression codec under its size cap (the first byte picks codec and cap), and the
//! round trip of our own compression.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy::batch::{compress, decompress, Compression};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let codec = match selector % 5 {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        _ => Compression::Zstd,
    };
    let limit = 1usize << (8 + (selector >> 4) % 10);
    if let Ok(out) = decompress(codec, input, limit) {
        if codec != Compression::None {
            assert!(out.len() <= limit, "{codec:?} gave {} > {limit}", out.len());
        }
    }
    let packed = compress(codec, input).unwrap_or_else(|e| panic!("{codec:?} compress: {e}"));
    let back = decompress(codec, &packed, input.len())
        .unwrap_or_else(|e| panic!("{codec:?} round trip: {e}"));
    assert_eq!(back, input);
});
