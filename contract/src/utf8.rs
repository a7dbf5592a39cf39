//! The UTF-8 check of the validators' fast paths: the same verdict as `std::str::from_utf8`,
//! cheaper on the strings records carry, which are short and mostly ASCII.
//!
//! A string of 8 bytes or more is first checked for ASCII a word at a time (the last word
//! overlapping), with none of `is_ascii`'s alignment steps, which cost more than they save on
//! field-sized strings. A string with a few non-ASCII characters (an accented name, a currency
//! sign) is then walked: ASCII a word at a time, each non-ASCII character checked alone against
//! Unicode's table of well-formed sequences (the rules `from_utf8` applies). Past [`WALKED_CHARS`] of them, the rest of the string goes to
//! `from_utf8` whole, which is faster on text that is mostly non-ASCII.

use crate::swar::HIGH_BITS;

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
        match multibyte(body, at) {
            Some(width) => pos = at + width,
            None => return false,
        }
    }
    body.get(pos..)
        .is_some_and(|rest| std::str::from_utf8(rest).is_ok())
}

/// The width of the well-formed character of 2 to 4 bytes that starts at `at`, or `None`:
/// Unicode's table of well-formed UTF-8 byte sequences (Table 3-7), which is what `from_utf8`
/// accepts (no overlong forms, no surrogates, nothing past U+10FFFF).
#[inline(always)]
fn multibyte(body: &[u8], at: usize) -> Option<usize> {
    let byte = |i: usize| body.get(at.checked_add(i)?).copied();
    let cont = |i: usize| byte(i).is_some_and(|b| (0x80..=0xbf).contains(&b));
    let lead = byte(0)?;
    let second = byte(1)?;
    let (width, second_ok) = match lead {
        0xc2..=0xdf => (2, (0x80..=0xbf).contains(&second)),
        0xe0 => (3, (0xa0..=0xbf).contains(&second)),
        0xe1..=0xec | 0xee..=0xef => (3, (0x80..=0xbf).contains(&second)),
        0xed => (3, (0x80..=0x9f).contains(&second)),
        0xf0 => (4, (0x90..=0xbf).contains(&second)),
        0xf1..=0xf3 => (4, (0x80..=0xbf).contains(&second)),
        0xf4 => (4, (0x80..=0x8f).contains(&second)),
        _ => return None,
    };
    (second_ok && (2..width).all(cont)).then_some(width)
}

/// The position of the first byte at or after `pos` with its high bit set.
#[inline(always)]
fn next_high(body: &[u8], pos: usize) -> Option<usize> {
    let rest = body.get(pos..)?;
    let word = |w: &[u8; 8]| u64::from_le_bytes(*w) & HIGH_BITS;
    let (pairs, _) = rest.as_chunks::<16>();
    // Two words per step, then the word that holds the first high byte.
    let skipped = pairs
        .iter()
        .position(|p| {
            let (a, b) = p.split_at(8);
            let half = |h: &[u8]| h.first_chunk::<8>().map_or(0, word);
            half(a) | half(b) != 0
        })
        .unwrap_or(pairs.len())
        * 16;
    let from = rest.get(skipped..)?;
    let (words, tail) = from.as_chunks::<8>();
    for (i, w) in words.iter().enumerate() {
        let high = word(w);
        if high != 0 {
            return Some(pos + skipped + i * 8 + (high.trailing_zeros() / 8) as usize);
        }
    }
    if tail.is_empty() {
        return None;
    }
    // Fewer than 8 bytes left: the last 8 of `rest`, which overlap only words found ASCII.
    match rest.last_chunk::<8>() {
        Some(last) => {
            let high = word(last);
            (high != 0).then(|| pos + rest.len() - 8 + (high.trailing_zeros() / 8) as usize)
        }
        None => tail
            .iter()
            .position(|&b| b >= 0x80)
            .map(|at| pos + skipped + words.len() * 8 + at),
    }
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

    /// Every lead byte from 0xf0 with every second byte, and the third and fourth bytes at the
    /// edges of the continuation range, after some ASCII.
    #[test]
    fn every_four_byte_lead_and_second_byte_agrees() {
        let edges = [0x00, 0x7f, 0x80, 0x81, 0xbe, 0xbf, 0xc0, 0xff];
        for a in 0xf0..=0xffu8 {
            for b in 0..=0xffu8 {
                for c in edges {
                    for d in edges {
                        agrees(&[b'x', a, b, c, d]);
                        agrees(&[b'x', a, b, c, d, b'z']);
                    }
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
