//! Zigzag varints as Kafka's record format uses them: the writers. They are read with the
//! proxy's one bounded reader, [`crate::codec::WireReader`] (`varlong`, `varint`,
//! `varint_bytes`).

/// Appends a zigzag varlong.
pub fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends a zigzag varint.
pub fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_varlong(out, i64::from(v));
}

/// Appends a varint length and the bytes, or -1 for null.
pub fn put_nullable_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// Bytes a zigzag varlong takes on the wire.
pub fn varlong_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::WireReader;
    use proptest::prelude::*;

    #[test]
    fn golden_varints() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            put_varlong(&mut out, *v);
            assert_eq!(&out, bytes, "encoding {v}");
            assert_eq!(WireReader::new(bytes).varlong("t").unwrap(), *v);
            assert_eq!(varlong_len(*v), bytes.len());
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let bytes = [0xffu8; 11];
        assert!(WireReader::new(&bytes).varlong("t").is_err());
    }

    proptest! {
        #[test]
        fn varlong_round_trips(v in any::<i64>()) {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            prop_assert_eq!(out.len(), varlong_len(v));
            let mut c = WireReader::new(&out);
            prop_assert_eq!(c.varlong("t").unwrap(), v);
            prop_assert_eq!(c.remaining(), 0);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut c = WireReader::new(&bytes);
            let _ = c.varint_bytes("t");
            let _ = c.varint("t");
        }
    }
}
