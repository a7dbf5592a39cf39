//! Word-at-a-time reads shared by the validators' fast paths: 8 bytes loaded as one
//! little-endian `u64` (no `unsafe`), their high bits tested together.

/// The high bit of every byte of a word.
pub(crate) const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The length of the varint at the start of `bytes` when it ends within their first 8 bytes:
/// then it holds at most 56 bits, in range for any varint of 64 bits. `None` when fewer than 8
/// bytes are left or the varint goes on: the caller reads it byte by byte.
#[inline(always)]
pub(crate) fn short_varint_len(bytes: &[u8]) -> Option<usize> {
    let ends = !u64::from_le_bytes(*bytes.first_chunk::<8>()?) & HIGH_BITS;
    (ends != 0).then(|| (ends.trailing_zeros() / 8) as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length is where the first byte below 0x80 is, within 8 bytes, whatever follows.
    #[test]
    fn short_varint_len_finds_the_first_last_byte() {
        for len in 1..=12 {
            for pad in 0..10 {
                let mut bytes = vec![0xffu8; len - 1];
                bytes.push(0x01);
                bytes.extend(std::iter::repeat_n(0x80, pad));
                let want = (bytes.len() >= 8 && len <= 8).then_some(len);
                assert_eq!(short_varint_len(&bytes), want, "{bytes:02x?}");
            }
        }
        assert_eq!(short_varint_len(&[0x80; 8]), None);
        assert_eq!(short_varint_len(&[]), None);
    }
}
