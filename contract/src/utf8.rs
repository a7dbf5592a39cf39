//! The UTF-8 check of the validators' fast paths: the same verdict as `std::str::from_utf8`,
//! cheaper on the strings records carry, which are short and mostly ASCII.
//!
//! A string of 8 bytes or more is first checked for ASCII a word at a time (the last word
//! overlapping), with none of `is_ascii`'s alignment steps, which cost more than they save on
//! field-sized strings. A string with a few non-ASCII characters (an accented name, a currency
//! sign) is then walked: ASCII a word at a time, each non-ASCII character checked alone by
//! `from_utf8` on its own bytes. Past [`WALKED_CHARS`] of them, the rest of the string goes to
//! `from_utf8` whole, which is faster on text that is mostly non-ASCII.

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Non-ASCII characters checked one by one before the rest of a string goes to `from_utf8`.
const WALKED_CHARS: usize = 8;

/// True when `body` is valid UTF-8, as `std::str::from_utf8(body).is_ok()`.
#[inline(always)]
pub(crate) fn valid(body: &[u8]) -> bool {
    let ascii = match body.last_chunk::<8>() {
        Some(last) => {
            let (words, _) = body.as_chunks::<8>();
            let seen = words.iter().fold(u64::from_le_bytes(*last), |acc, w| {
                acc | u64::from_le_bytes(*w)
            });
            seen & HIGH_BITS == 0
        }
        None => body.is_ascii(),
    };
    ascii || mostly_ascii(body)
}

/// The walk of a string that is not all ASCII (see the module's documentation).
#[inline(never)]
fn mostly_ascii(body: &[u8]) -> bool {
    let mut pos = 0;
    for _ in 0..WALKED_CHARS {
        let Some(at) = next_high(body, pos) else {
            return true;
        };
        // Every byte before `at` is ASCII, so a character starts at `at`.
        let width = match body.get(at) {
            Some(0xc2..=0xdf) => 2,
            Some(0xe0..=0xef) => 3,
            Some(0xf0..=0xf4) => 4,
            _ => return false,
        };
        // Exactly `width` bytes that start with a `width`-byte lead are valid UTF-8 only as
        // that one character: `from_utf8` rules on overlong forms, surrogates and range.
        match body.get(at..at + width) {
            Some(char_bytes) if std::str::from_utf8(char_bytes).is_ok() => pos = at + width,
            _ => return false,
        }
    }
    body.get(pos..)
        .is_some_and(|rest| std::str::from_utf8(rest).is_ok())
}

/// The position of the first byte at or after `pos` with its high bit set.
#[inline(always)]
fn next_high(body: &[u8], pos: usize) -> Option<usize> {
    let rest = body.get(pos..)?;
    let (pairs, _) = rest.as_chunks::<16>();
    // Two words per step, then the word that holds the first high byte.
    let skipped = pairs
        .iter()
        .position(|p| {
            let (a, b) = p.split_at(8);
            let word = |h: &[u8]| h.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w));
            (word(a) | word(b)) & HIGH_BITS != 0
        })
        .unwrap_or(pairs.len())
        * 16;
    let from = rest.get(skipped..)?;
    let (words, tail) = from.as_chunks::<8>();
    for (i, w) in words.iter().enumerate() {
        let high = u64::from_le_bytes(*w) & HIGH_BITS;
        if high != 0 {
            return Some(pos + skipped + i * 8 + (high.trailing_zeros() / 8) as usize);
        }
    }
    let at = tail.iter().position(|&b| b >= 0x80)?;
    Some(pos + skipped + words.len() * 8 + at)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn agrees(bytes: &[u8]) {
        assert_eq!(
            valid(bytes),
            std::str::from_utf8(bytes).is_ok(),
            "{bytes:02x?}"
        );
    }

    /// Every length up to 48 with a stray, an invalid or a valid multi-byte character at
    /// every position.
    #[test]
    fn agrees_with_from_utf8_at_every_length_and_position() {
        let chars = [
            "é",
            "€",
            "😀",
            "\u{10ffff}",
            "\u{7ff}",
            "\u{800}",
            "\u{fffd}",
        ];
        for len in 0..48 {
            let plain = vec![b'a'; len];
            agrees(&plain);
            for at in 0..len {
                for stray in [
                    0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff,
                ] {
                    let mut bad = plain.clone();
                    bad[at] = stray;
                    agrees(&bad);
                }
                for c in chars {
                    let c = c.as_bytes();
                    let mut with = plain.clone();
                    with.splice(at..at, c.iter().copied());
                    agrees(&with);
                    // Cut short at the end, or by an ASCII byte inside.
                    agrees(&with[..at + c.len() - 1]);
                    for cut in 1..c.len() {
                        let mut broken = with.clone();
                        broken[at + cut] = b'a';
                        agrees(&broken);
                    }
                }
            }
        }
    }

    /// Overlong forms, surrogates and code points past U+10FFFF, after some ASCII.
    #[test]
    fn every_two_and_three_byte_sequence_agrees() {
        for a in 0x80..=0xffu8 {
            for b in 0..=0xffu8 {
                agrees(&[b'x', b'y', a, b]);
                for c in [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff] {
                    agrees(&[b'x', a, b, c]);
                    agrees(&[b'x', a, b, c, 0x80]);
                    agrees(&[b'x', a, b, c, 0xbf, b'z']);
                }
            }
        }
    }

    /// Past the walked characters, the rest goes to `from_utf8`: agreement either side.
    #[test]
    fn many_non_ascii_characters_agree() {
        for n in 0..(WALKED_CHARS * 2 + 2) {
            let text: String = (0..n).map(|i| if i % 2 == 0 { 'é' } else { 'a' }).collect();
            agrees(text.as_bytes());
            let mut bad = text.clone().into_bytes();
            bad.push(0xc3);
            agrees(&bad);
            let all: String = "ü".repeat(n);
            agrees(all.as_bytes());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn random_bytes_agree(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            agrees(&bytes);
        }

        #[test]
        fn random_text_with_one_change_agrees(
            text in "\\PC{0,40}",
            at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            agrees(text.as_bytes());
            let mut b = text.into_bytes();
            if !b.is_empty() {
                let i = at % b.len();
                b[i] = byte;
            }
            agrees(&b);
        }

        #[test]
        fn mostly_ascii_text_agrees(
            parts in proptest::collection::vec(("[a-z ]{0,12}", "[é€😀ü]{0,2}"), 0..8),
            cut in any::<usize>(),
        ) {
            let text: String = parts.iter().map(|(a, b)| format!("{a}{b}")).collect();
            agrees(text.as_bytes());
            let b = text.as_bytes();
            agrees(&b[..cut % (b.len() + 1)]);
        }
    }
}
