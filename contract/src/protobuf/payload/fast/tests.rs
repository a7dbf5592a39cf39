//! The fast path held to the full walker and to prost-reflect's decoder.

use proptest::prelude::*;
use prost::Message as _;
use prost_reflect::{DynamicMessage, Value};

use crate::protobuf::{ProtobufSchema, UnknownFieldPolicy};

include!("../../../../benches/fixtures/protobuf_order.rs");

/// Every operation of the table: each scalar kind, packed runs, nesting, recursion, keys of
/// one, two and three bytes.
const WIDE: &str = r#"
syntax = "proto3";
package t;
message T {
  int32 a = 1;
  string s = 2;
  bytes b = 3;
  fixed64 f64 = 4;
  fixed32 f32 = 5;
  repeated int64 pv = 6;
  repeated fixed32 pf32 = 7;
  repeated double pf64 = 8;
  T child = 9;
  repeated Item items = 15;
  sint64 wide = 16;
  string far = 2047;
  Item farther = 20000;
  message Item { string name = 1; uint64 n = 100; }
}
"#;

/// proto2: groups (which the fast path declines) and strings without the UTF-8 rule.
const GROUPS: &str = r#"
syntax = "proto2";
package g;
message G {
  optional string s = 1;
  optional group Grp = 2 { optional int32 x = 3; }
  repeated int32 unpacked = 4;
  optional G next = 5;
}
"#;

fn schema(text: &str) -> ProtobufSchema {
    ProtobufSchema::parse(text, &[]).unwrap()
}

/// The differential check: the fast path never accepts what the full walker rejects, and
/// `validate` (fast path first) gives exactly the full walker's verdict. Returns whether the
/// fast path accepted.
fn agree(s: &ProtobufSchema, body: &[u8], policy: UnknownFieldPolicy) -> bool {
    let full = s.plan.validate_full(body, policy);
    let both = s.plan.validate(body, policy);
    assert_eq!(
        both, full,
        "validate and the full walker differ on {body:02x?}"
    );
    let Ok((msg, rest)) = s.plan.select_message(body) else {
        return false;
    };
    let fast = s.plan.fast.accepts(msg, rest, policy);
    if fast {
        assert!(
            full.is_ok(),
            "the fast path accepted what the full walker rejects ({full:?}): {body:02x?}"
        );
    }
    fast
}

#[test]
fn the_order_fixture_takes_the_fast_path() {
    let s = schema(ORDER);
    for n in [0, 1, 15, 40] {
        let body = order_bytes(&s, n);
        assert!(agree(&s, &body, UnknownFieldPolicy::Allow));
        assert!(agree(&s, &body, UnknownFieldPolicy::Reject));
    }
}

#[test]
fn what_the_fast_path_declines_still_gets_the_full_verdict() {
    let t = schema(WIDE);
    let g = schema(GROUPS);
    let allow = UnknownFieldPolicy::Allow;
    let reject = UnknownFieldPolicy::Reject;
    // (schema, body after the index byte, policy, full verdict ok, fast path accepts)
    let cases: &[(&ProtobufSchema, &[u8], UnknownFieldPolicy, bool, bool)] = &[
        // empty message
        (&t, &[], allow, true, true),
        // field 1 as a varint, then the same key written with a redundant byte (0x88 0x00)
        (&t, &[0x08, 0x01, 0x88, 0x00, 0x02], allow, true, true),
        // field 16 (two-byte key 0x80 0x01), field 2047 (0xfa 0x7f) as "hi"
        (
            &t,
            &[0x80, 0x01, 0x03, 0xfa, 0x7f, 0x02, b'h', b'i'],
            allow,
            true,
            true,
        ),
        // field 20000: a nested Item { n = 100: 7 } (key 0x82 0xe2 0x09, n's key 0xa0 0x06)
        (
            &t,
            &[0x82, 0xe2, 0x09, 0x03, 0xa0, 0x06, 0x07],
            allow,
            true,
            true,
        ),
        // field 1 with wire type 2, field 16 with wire type 2, field 2047 as a varint:
        // mismatches
        (&t, &[0x0a, 0x00], allow, false, false),
        (&t, &[0x82, 0x01, 0x00], allow, false, false),
        (&t, &[0xf8, 0x7f, 0x00], allow, false, false),
        // field 2 with invalid UTF-8
        (&t, &[0x12, 0x01, 0xff], allow, false, false),
        // field 2 with valid non-ASCII UTF-8 ("é")
        (&t, &[0x12, 0x02, 0xc3, 0xa9], allow, true, true),
        // packed fixed32 of 5 bytes
        (&t, &[0x3a, 0x05, 1, 2, 3, 4, 5], allow, false, false),
        // packed fixed64 of 16 bytes, packed varints [1, 300]
        (
            &t,
            &[0x42, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            allow,
            true,
            true,
        ),
        (&t, &[0x32, 0x03, 0x01, 0xac, 0x02], allow, true, true),
        // packed varints ending inside a varint
        (&t, &[0x32, 0x02, 0x01, 0xac], allow, false, false),
        // repeated int64 sent unpacked
        (&t, &[0x30, 0x01, 0x30, 0x02], allow, true, true),
        // undeclared field 14 (varint), 17 (fixed32), 3000 (bytes) under both policies
        (&t, &[0x70, 0x01], allow, true, true),
        (&t, &[0x70, 0x01], reject, false, false),
        (&t, &[0x8d, 0x01, 1, 2, 3, 4], allow, true, true),
        (&t, &[0xc2, 0xbb, 0x01, 0x01, 0x00], allow, true, true),
        (&t, &[0xc2, 0xbb, 0x01, 0x01, 0x00], reject, false, false),
        // field number 0, wire types 6 and 7, a lone end-group tag
        (&t, &[0x00, 0x01], allow, false, false),
        (&t, &[0x0e], allow, false, false),
        (&t, &[0x0f], allow, false, false),
        (&t, &[0x0c], allow, false, false),
        // a field number above 2^29 - 1 (key 0xf8 0xff 0xff 0xff 0x0f is number 2^29 - 1)
        (&t, &[0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00], allow, true, true),
        (
            &t,
            &[0x80, 0x80, 0x80, 0x80, 0x10, 0x00],
            allow,
            false,
            false,
        ),
        // truncated: length past the end, fixed64 short, varint without its end
        (&t, &[0x12, 0x05, b'a'], allow, false, false),
        (&t, &[0x21, 1, 2, 3], allow, false, false),
        (&t, &[0x08, 0xff], allow, false, false),
        // an overlong (11-byte) varint
        (
            &t,
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            allow,
            false,
            false,
        ),
        // a group: valid, but only the full walker walks it
        (&g, &[0x13, 0x18, 0x05, 0x14], allow, true, false),
        // a group closed by the wrong end tag
        (&g, &[0x13, 0x18, 0x05, 0x1c], allow, false, false),
        // proto2 strings are not UTF-8 checked
        (&g, &[0x0a, 0x01, 0xff], allow, true, true),
    ];
    for (i, &(s, rest, policy, ok, fast)) in cases.iter().enumerate() {
        let mut body = vec![0u8];
        body.extend_from_slice(rest);
        assert_eq!(
            s.plan.validate_full(&body, policy).is_ok(),
            ok,
            "case {i}: full verdict"
        );
        assert_eq!(agree(s, &body, policy), fast, "case {i}: fast path");
    }
}

#[test]
fn deep_nesting_is_declined_past_the_stack_and_rejected_at_the_limit() {
    let t = schema(WIDE);
    // T.child nested `levels` deep, innermost empty.
    let nested = |levels: usize| {
        let mut inner: Vec<u8> = Vec::new();
        for _ in 0..levels {
            let mut outer = vec![0x4a];
            encode_varint(inner.len() as u64, &mut outer);
            outer.extend(inner);
            inner = outer;
        }
        let mut body = vec![0u8];
        body.extend(inner);
        body
    };
    let allow = UnknownFieldPolicy::Allow;
    // The fast path follows nesting as deep as its stack, and declines deeper bodies...
    assert!(agree(&t, &nested(super::STACK), allow));
    assert!(!agree(&t, &nested(super::STACK + 1), allow));
    // ... which the full walker accepts up to its limit, and rejects from there.
    assert!(t.validate(&nested(super::STACK + 1)).is_ok());
    assert!(t.validate(&nested(super::MAX_DEPTH - 1)).is_ok());
    assert!(!agree(&t, &nested(super::MAX_DEPTH), allow));
    assert!(t.validate(&nested(super::MAX_DEPTH)).is_err());
}

fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// SplitMix64: the generator below draws from it, seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// How `WIDE`'s fields are written: (number, natural wire type, what the value holds).
#[derive(Clone, Copy)]
enum Shape {
    Varint,
    Fixed64,
    Fixed32,
    Text,
    Bytes,
    PackedVarint,
    PackedFixed(usize),
    Message(&'static [(u32, Shape)]),
    /// `T` itself (the recursive field).
    Recurse,
}

const ITEM: &[(u32, Shape)] = &[(1, Shape::Text), (100, Shape::Varint)];

const T_FIELDS: &[(u32, Shape)] = &[
    (1, Shape::Varint),
    (2, Shape::Text),
    (3, Shape::Bytes),
    (4, Shape::Fixed64),
    (5, Shape::Fixed32),
    (6, Shape::PackedVarint),
    (6, Shape::Varint),
    (7, Shape::PackedFixed(4)),
    (7, Shape::Fixed32),
    (8, Shape::PackedFixed(8)),
    (9, Shape::Recurse),
    (15, Shape::Message(ITEM)),
    (16, Shape::Varint),
    (2047, Shape::Text),
    (20000, Shape::Message(ITEM)),
];

/// Undeclared numbers the generator also writes (every one as any wire type).
const STRAY: &[u32] = &[10, 14, 17, 99, 2046, 2048, 19_999, 536_870_911];

/// Writes a `T` (or an `Item`) body. With `valid`, only what decodes: natural wire types,
/// exact lengths, UTF-8 text, undeclared fields well-formed, no groups. Without it, about one
/// choice in ten goes wrong in one of the ways a hostile or buggy producer's bytes do.
fn message(rng: &mut Rng, fields: &'static [(u32, Shape)], depth: usize, valid: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let count = rng.below(if depth == 0 { 12 } else { 5 });
    for _ in 0..count {
        let stray = rng.chance(10);
        let (number, shape) = if stray {
            let n = STRAY[rng.below(STRAY.len() as u64) as usize];
            let shapes = [Shape::Varint, Shape::Fixed64, Shape::Fixed32, Shape::Bytes];
            (n, shapes[rng.below(4) as usize])
        } else {
            fields[rng.below(fields.len() as u64) as usize]
        };
        let wire: u64 = match shape {
            Shape::Varint => 0,
            Shape::Fixed64 => 1,
            Shape::Fixed32 => 5,
            _ => 2,
        };
        let broken = !valid && rng.chance(10);
        let wire = if broken && rng.chance(30) {
            rng.below(8)
        } else {
            wire
        };
        let key = (u64::from(number) << 3) | wire;
        if !valid && rng.chance(3) {
            // the key with a redundant continuation byte
            let mut k = Vec::new();
            encode_varint(key, &mut k);
            if let Some(last) = k.last_mut() {
                *last |= 0x80;
            }
            k.push(0);
            out.extend(k);
        } else {
            encode_varint(key, &mut out);
        }
        match wire {
            0 => {
                if broken && rng.chance(20) {
                    out.extend([0xff; 11]);
                } else {
                    encode_varint(rng.next() >> rng.below(64), &mut out);
                }
            }
            1 => out.extend(rng.next().to_le_bytes()),
            5 => out.extend((rng.next() as u32).to_le_bytes()),
            2 => {
                let mut payload = match shape {
                    Shape::Text => text(rng, broken),
                    Shape::Bytes => (0..rng.below(20)).map(|_| rng.next() as u8).collect(),
                    Shape::PackedVarint => {
                        let mut p = Vec::new();
                        for _ in 0..rng.below(6) {
                            encode_varint(rng.next() >> rng.below(64), &mut p);
                        }
                        if broken && rng.chance(30) {
                            p.push(0x80);
                        }
                        p
                    }
                    Shape::PackedFixed(width) => {
                        let n = rng.below(4) as usize * width + usize::from(broken);
                        (0..n).map(|_| rng.next() as u8).collect()
                    }
                    Shape::Message(sub) if depth < 6 => message(rng, sub, depth + 1, valid),
                    Shape::Recurse if depth < 6 => message(rng, T_FIELDS, depth + 1, valid),
                    _ => Vec::new(),
                };
                if broken && rng.chance(20) {
                    payload.push(0xff);
                }
                let mut len = payload.len() as u64;
                if broken && rng.chance(30) {
                    len = len.wrapping_add(rng.below(3)).wrapping_sub(1);
                }
                encode_varint(len, &mut out);
                out.extend(payload);
            }
            3 => {
                // a group: never valid in proto3 messages, walked only by the full walker
                out.extend(message(rng, ITEM, depth + 1, false));
                let end = if rng.chance(80) { number } else { number + 1 };
                encode_varint((u64::from(end) << 3) | 4, &mut out);
            }
            _ => {}
        }
    }
    if !valid && rng.chance(5) && !out.is_empty() {
        let cut = rng.below(out.len() as u64) as usize;
        out.truncate(cut);
    }
    out
}

fn text(rng: &mut Rng, broken: bool) -> Vec<u8> {
    const PIECES: &[&str] = &["SKU-", "0042", "é", "日本", "🦀", " ", "x", "EUR"];
    let mut s: Vec<u8> = (0..rng.below(6))
        .flat_map(|_| PIECES[rng.below(PIECES.len() as u64) as usize].bytes())
        .collect();
    if broken && !s.is_empty() {
        let at = rng.below(s.len() as u64) as usize;
        s.insert(at, 0x80 | (rng.next() as u8 & 0x3f));
    }
    s
}

fn framed(inner: Vec<u8>) -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend(inner);
    body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Well-formed bodies: the fast path accepts every one, and so do the full walker and
    /// prost-reflect's decoder.
    #[test]
    fn the_fast_path_accepts_every_well_formed_body(seed in any::<u64>()) {
        let t = schema(WIDE);
        let mut rng = Rng(seed);
        let inner = message(&mut rng, T_FIELDS, 0, true);
        let body = framed(inner.clone());
        prop_assert!(agree(&t, &body, UnknownFieldPolicy::Allow), "declined {body:02x?}");
        let desc = t.file().messages().next().unwrap();
        prop_assert!(DynamicMessage::decode(desc, inner.as_slice()).is_ok());
    }

    /// Damaged bodies: whatever the fast path accepts, the full walker and prost-reflect
    /// accept too, under either policy; `validate` always gives the full walker's verdict.
    #[test]
    fn the_fast_path_never_accepts_what_the_full_walker_rejects(seed in any::<u64>()) {
        let t = schema(WIDE);
        let mut rng = Rng(seed);
        let inner = message(&mut rng, T_FIELDS, 0, false);
        let body = framed(inner.clone());
        for policy in [UnknownFieldPolicy::Allow, UnknownFieldPolicy::Reject] {
            if agree(&t, &body, policy) {
                let desc = t.file().messages().next().unwrap();
                prop_assert!(
                    DynamicMessage::decode(desc, inner.as_slice()).is_ok(),
                    "prost-reflect rejects what the fast path accepted: {body:02x?}"
                );
            }
        }
    }

    /// Arbitrary bytes after the index list, under both test schemas and the Order.
    #[test]
    fn random_bytes_get_the_same_verdict(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        for text in [WIDE, GROUPS, ORDER] {
            let s = schema(text);
            let body = framed(tail.clone());
            for policy in [UnknownFieldPolicy::Allow, UnknownFieldPolicy::Reject] {
                agree(&s, &body, policy);
            }
        }
    }

    /// One byte of a valid Order changed, anywhere: the same verdict either way.
    #[test]
    fn a_changed_byte_of_an_order_gets_the_same_verdict(at in 1usize..2000, byte in any::<u8>()) {
        let s = schema(ORDER);
        let mut body = order_bytes(&s, 15);
        let at = at % body.len();
        body[at] = byte;
        let fast = agree(&s, &body, UnknownFieldPolicy::Allow);
        if fast {
            let desc = s.file().messages().next().unwrap();
            prop_assert!(DynamicMessage::decode(desc, &body[1..]).is_ok());
        }
    }
}

/// The generator's damaged mode must reach both verdicts, or the property above would check
/// little: count them over a fixed run of seeds.
#[test]
fn the_damaged_generator_reaches_both_verdicts_and_the_fast_path() {
    let t = schema(WIDE);
    let (mut fast, mut ok, mut bad) = (0, 0, 0);
    for seed in 0..2000 {
        let body = framed(message(&mut Rng(seed), T_FIELDS, 0, false));
        if agree(&t, &body, UnknownFieldPolicy::Allow) {
            fast += 1;
        }
        if t.plan
            .validate_full(&body, UnknownFieldPolicy::Allow)
            .is_ok()
        {
            ok += 1;
        } else {
            bad += 1;
        }
    }
    assert!(
        bad > 200 && ok > 200 && fast > 200,
        "ok {ok}, bad {bad}, fast {fast}"
    );
}

/// A schema past the message limit gets no fast path, and its payloads the full walker's
/// verdicts.
#[test]
fn a_schema_with_too_many_messages_is_walked_without_tables() {
    let many = |n: usize| {
        let mut text = String::from("syntax = \"proto3\"; message Root { string s = 1; }");
        for i in 1..n {
            text.push_str(&format!(" message M{i} {{ }}"));
        }
        schema(&text)
    };
    let at = many(super::MAX_MESSAGES);
    assert!(!at.plan.fast.is_empty());
    let past = many(super::MAX_MESSAGES + 1);
    assert!(past.plan.fast.is_empty());
    assert!(past.validate(&[0, 0x0a, 0x02, b'h', b'i']).is_ok());
    assert!(past.validate(&[0, 0x0a, 0x01, 0xff]).is_err());
}
