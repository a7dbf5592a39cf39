//! Record-batch compression codecs with a hard cap on decompressed size.
//!
//! A produce request is hostile until parsed: a few kilobytes of zstd can expand to gigabytes,
//! so every decoder here stops at `limit` bytes and reports the batch as too large instead.

use std::io::{Read, Write};

use super::BatchError;

/// The codec named by the low three bits of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Records stored as they are.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy, raw or in the xerial (snappy-java) framing.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The codec for attribute bits 0..3.
    pub fn from_attributes(attributes: i16) -> Result<Self, BatchError> {
        Ok(match attributes & 0x07 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => {
                return Err(BatchError::malformed(
                    "attributes",
                    "unknown compression codec",
                ))
            }
        })
    }

    /// The attribute bits for this codec.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

/// The 8-byte magic that opens snappy-java's stream framing, which Kafka's Java client writes.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";

/// Decompresses `input` into a new buffer of at most `limit` bytes.
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Vec<u8>, BatchError> {
    let bad = |e: std::io::Error| BatchError::Decompress(codec_name(codec), e.to_string());
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => read_capped(flate2::read::GzDecoder::new(input), limit).map_err(bad),
        Compression::Lz4 => {
            read_capped(lz4_flex::frame::FrameDecoder::new(input), limit).map_err(bad)
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(bad)?;
            read_capped(decoder, limit).map_err(bad)
        }
        Compression::Snappy => snappy_decompress(input, limit),
    }
}

fn codec_name(codec: Compression) -> &'static str {
    match codec {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

/// Reads everything, failing as soon as the output would exceed `limit`.
fn read_capped(reader: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(std::io::Error::other(format!(
            "decompressed size exceeds the {limit}-byte limit"
        )));
    }
    Ok(out)
}

fn snappy_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, BatchError> {
    let Some(mut rest) = input.strip_prefix(XERIAL_MAGIC) else {
        return snappy_block(input, limit, Vec::new());
    };
    // xerial framing: 8-byte magic, 4-byte version, 4-byte compatible version, then blocks of
    // (4-byte big-endian length, raw snappy block).
    rest = rest
        .get(8..)
        .ok_or(BatchError::malformed("snappy", "xerial header truncated"))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or(BatchError::malformed(
            "snappy",
            "xerial block length truncated",
        ))?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = tail
            .get(..len)
            .ok_or(BatchError::malformed("snappy", "xerial block truncated"))?;
        out = snappy_block(block, limit, out)?;
        rest = &tail[len..];
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking its declared length against `limit` first.
fn snappy_block(block: &[u8], limit: usize, mut out: Vec<u8>) -> Result<Vec<u8>, BatchError> {
    let declared = snap::raw::decompress_len(block)
        .map_err(|e| BatchError::Decompress("snappy", e.to_string()))?;
    if out.len().saturating_add(declared) > limit {
        return Err(BatchError::Decompress(
            "snappy",
            format!("decompressed size exceeds the {limit}-byte limit"),
        ));
    }
    let start = out.len();
    out.resize(start + declared, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| BatchError::Decompress("snappy", e.to_string()))?;
    out.truncate(start + written);
    Ok(out)
}

/// Compresses `input` with `codec` (used when forwarding a subset of a batch's records).
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, BatchError> {
    let bad = |e: std::io::Error| BatchError::Decompress(codec_name(codec), e.to_string());
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(input).map_err(bad)?;
            enc.finish().map_err(bad)
        }
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(input).map_err(bad)?;
            enc.finish().map_err(|e| bad(std::io::Error::other(e)))
        }
        Compression::Zstd => zstd::stream::encode_all(input, 3).map_err(bad),
        Compression::Snappy => snap::raw::Encoder::new()
            .compress_vec(input)
            .map_err(|e| BatchError::Decompress("snappy", e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in ALL {
            let packed = compress(codec, &data).unwrap();
            assert_eq!(
                decompress(codec, &packed, data.len()).unwrap(),
                data,
                "{codec:?}"
            );
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let data = vec![0u8; 1 << 20];
        for codec in &ALL[1..] {
            let packed = compress(*codec, &data).unwrap();
            let err = decompress(*codec, &packed, 4096).unwrap_err();
            assert!(err.to_string().contains("limit"), "{codec:?}: {err}");
        }
    }

    #[test]
    fn xerial_framed_snappy_is_read() {
        let data = b"hello hello hello hello xerial".to_vec();
        let block = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&1i32.to_be_bytes());
        framed.extend_from_slice(&1i32.to_be_bytes());
        framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
        framed.extend_from_slice(&block);
        assert_eq!(
            decompress(Compression::Snappy, &framed, 1024).unwrap(),
            data
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for codec in ALL {
                let _ = decompress(codec, &bytes, 1 << 16);
            }
        }
    }
}
