//! The fast path of Protobuf payload validation: each message's plan compiled into a table of
//! operations indexed by the field key itself, walked with no `Result`s and no paths.
//!
//! A field key (`number << 3 | wire type`) of one byte covers field numbers 1 to 15, which is
//! where schemas put their common fields. For those keys the table gives the operation
//! directly: the field's declared type and its wire type are resolved once, when the schema is
//! compiled, instead of a lookup by number and a match on (type, wire) for every field. Longer
//! keys are looked up in a sorted list of the (number, wire) pairs the message declares.
//!
//! It only ever answers "valid": [`Program::accepts`] returning `false` means "not shown valid
//! here", and the caller then runs the full walker in [`super`], which stays authoritative for
//! every rejection and its path. So the fast path must never accept what the full walker
//! rejects, and it declines whatever it does not implement:
//!
//! - groups (wire types 3 and 4), wire types 6 and 7, field number 0, field numbers beyond
//!   2^29 − 1;
//! - a declared field whose wire type does not match its type (the full walker names the
//!   mismatch);
//! - with [`UnknownFieldPolicy::Reject`](super::UnknownFieldPolicy), any undeclared field;
//! - nesting deeper than [`STACK`] messages (the full walker follows it to
//!   [`MAX_DEPTH`](super::MAX_DEPTH));
//! - any malformed varint, length, string or packed run.
//!
//! The differential tests in `fast/tests.rs` hold it to the full walker's verdicts and to
//! prost-reflect's decoder.

use super::{read_varint, FieldType, MessagePlan, UnknownFieldPolicy, MAX_DEPTH};

/// What to do with the value after a field key. An undeclared field is read by the operation
/// of its wire type (or declined, when unknown fields are rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Decline,
    Varint,
    Fixed64,
    Fixed32,
    /// Length-delimited, any bytes (`bytes`, proto2 `string`, an undeclared field).
    Bytes,
    /// Length-delimited UTF-8 (proto3 `string`).
    Utf8,
    /// Length-delimited message: [`Entry::sub`] names it.
    Message,
    PackedVarint,
    PackedFixed32,
    PackedFixed64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    op: Op,
    /// The message for [`Op::Message`].
    sub: u32,
}

const DECLINE: Entry = Entry {
    op: Op::Decline,
    sub: 0,
};

/// Keys below this are looked up in [`FastMessage::table`].
const TABLE: usize = 128;

/// Field numbers a key may carry (protobuf's limit).
const MAX_NUMBER: u64 = 536_870_911;

/// Nesting the fast path follows (messages inside the top one); deeper bodies are declined and
/// walked by the full walker.
const STACK: usize = 16;

// The full walker's depth limit is then never reached here.
const _: () = assert!(STACK < MAX_DEPTH);

#[derive(Debug, Clone)]
struct FastMessage {
    /// The entry for every one-byte key.
    table: [Entry; TABLE],
    /// The keys of 128 and above (field numbers from 16) of every declared field, sorted.
    wide: Vec<(u32, Entry)>,
    /// What an undeclared field's key maps to, by wire type.
    unknown: [Entry; 8],
}

/// The compiled fast path for every message of a plan, in the plan's order, once per unknown
/// field policy (so the walk never asks which one applies).
#[derive(Debug, Clone)]
pub(super) struct Program {
    allow: Vec<FastMessage>,
    reject: Vec<FastMessage>,
}

/// Messages a schema may have for its fast path to be built. Each message's tables take about
/// 2.2 KiB (two policies), so a schema from the registry with many empty messages (8 MiB of
/// `message A{}` is some 800,000 of them) must not multiply its memory: past this, every
/// payload of the schema goes to the full walker. Real schemas, imports included, have tens.
pub(super) const MAX_MESSAGES: usize = 1024;

impl Program {
    /// The fast path for `plans`; an empty one, which accepts nothing, when there are more than
    /// [`MAX_MESSAGES`] of them.
    pub(super) fn build(plans: &[MessagePlan]) -> Program {
        let plans = if plans.len() <= MAX_MESSAGES {
            plans
        } else {
            &[]
        };
        Program {
            allow: compile(plans, UnknownFieldPolicy::Allow),
            reject: compile(plans, UnknownFieldPolicy::Reject),
        }
    }

    /// Whether any message has tables (false past [`MAX_MESSAGES`]).
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.allow.is_empty()
    }

    /// True when `body` is shown to be a valid encoding of message `msg`; false when it is
    /// not, or when the fast path does not decide it.
    ///
    /// One loop over the whole body: a nested message is entered by pushing the enclosing
    /// message and its end on a small stack, not by a call, and every read is bounded by the
    /// end of the innermost message.
    pub(super) fn accepts(&self, msg: usize, body: &[u8], policy: UnknownFieldPolicy) -> bool {
        let messages = match policy {
            UnknownFieldPolicy::Allow => &self.allow,
            UnknownFieldPolicy::Reject => &self.reject,
        };
        let Some(mut m) = messages.get(msg) else {
            return false;
        };
        // The enclosing messages and their ends.
        let mut stack = [(m, 0usize); STACK];
        let mut depth = 0usize;
        let mut buf = body;
        let mut pos = 0usize;
        loop {
            let Some(&b) = buf.get(pos) else {
                // The end of the current message: back to the one around it.
                if depth == 0 {
                    return true;
                }
                depth -= 1;
                let Some(&(outer, outer_end)) = stack.get(depth) else {
                    return false;
                };
                let Some(outer_buf) = body.get(..outer_end) else {
                    return false;
                };
                (m, buf) = (outer, outer_buf);
                continue;
            };
            let entry = if b < 0x80 {
                pos += 1;
                m.table[usize::from(b)]
            } else {
                match varint(buf, pos) {
                    Some((key, next)) => {
                        pos = next;
                        wide_entry(m, key)
                    }
                    None => return false,
                }
            };
            // Each arm moves `pos` past its value or declines: no `Option` joins the arms, so
            // each one goes straight back to the next key.
            pos = match entry.op {
                Op::Varint => match skip_varint(buf, pos) {
                    Some(next) => next,
                    None => return false,
                },
                Op::Fixed64 => match fixed(buf, pos, 8) {
                    Some(next) => next,
                    None => return false,
                },
                Op::Fixed32 => match fixed(buf, pos, 4) {
                    Some(next) => next,
                    None => return false,
                },
                Op::Bytes => match delimited(buf, pos) {
                    Some((_, end)) => end,
                    None => return false,
                },
                Op::Utf8 => match delimited(buf, pos) {
                    Some((start, end)) if buf.get(start..end).is_some_and(crate::utf8::valid) => {
                        end
                    }
                    _ => return false,
                },
                Op::Message => {
                    let Some((start, end)) = delimited(buf, pos) else {
                        return false;
                    };
                    // Deeper than the stack: the full walker's to walk (or reject).
                    let (Some(slot), Some(inner), Some(inner_buf)) = (
                        stack.get_mut(depth),
                        messages.get(entry.sub as usize),
                        body.get(..end),
                    ) else {
                        return false;
                    };
                    *slot = (m, buf.len());
                    depth += 1;
                    (m, buf) = (inner, inner_buf);
                    start
                }
                Op::PackedVarint => match delimited(buf, pos) {
                    Some((start, end)) if buf.get(start..end).is_some_and(packed_varints) => end,
                    _ => return false,
                },
                Op::PackedFixed32 => match delimited(buf, pos) {
                    Some((start, end)) if (end - start).is_multiple_of(4) => end,
                    _ => return false,
                },
                Op::PackedFixed64 => match delimited(buf, pos) {
                    Some((start, end)) if (end - start).is_multiple_of(8) => end,
                    _ => return false,
                },
                Op::Decline => return false,
            };
        }
    }
}

fn compile(plans: &[MessagePlan], policy: UnknownFieldPolicy) -> Vec<FastMessage> {
    plans
        .iter()
        .map(|m| {
            let unknown: [Entry; 8] = std::array::from_fn(|wire| unknown_entry(wire, policy));
            let entry = |number: u32, wire: u8| {
                declared_entry(m, number, wire)
                    .unwrap_or_else(|| unknown.get(usize::from(wire)).copied().unwrap_or(DECLINE))
            };
            let table: [Entry; TABLE] =
                std::array::from_fn(|key| entry((key >> 3) as u32, (key & 7) as u8));
            // Every wire type of every declared number, the mismatched ones as `Decline`: a
            // key missing here is an undeclared field.
            let mut wide: Vec<(u32, Entry)> = m
                .fields
                .iter()
                .flat_map(|f| (0..8u8).map(|wire| (f.number, wire)))
                .filter_map(|(number, wire)| {
                    let key = number.checked_mul(8)? | u32::from(wire);
                    (key as usize >= TABLE).then(|| (key, entry(number, wire)))
                })
                .collect();
            wide.sort_by_key(|&(key, _)| key);
            FastMessage {
                table,
                wide,
                unknown,
            }
        })
        .collect()
}

/// The operation for an undeclared field arriving with wire type `wire` (the full walker's
/// `skip_field`, groups excepted).
fn unknown_entry(wire: usize, policy: UnknownFieldPolicy) -> Entry {
    let op = match (policy, wire) {
        (UnknownFieldPolicy::Reject, _) => Op::Decline,
        (_, 0) => Op::Varint,
        (_, 1) => Op::Fixed64,
        (_, 2) => Op::Bytes,
        (_, 5) => Op::Fixed32,
        _ => Op::Decline,
    };
    Entry { op, sub: 0 }
}

/// The operation for declared field `number` arriving with wire type `wire` in message `m`
/// (the full walker's `field`, resolved ahead of time); `None` when `m` does not declare it.
fn declared_entry(m: &MessagePlan, number: u32, wire: u8) -> Option<Entry> {
    if number == 0 {
        return Some(DECLINE);
    }
    let f = super::find_field(m, number)?;
    let op = |op| Entry { op, sub: 0 };
    Some(match (f.ty, wire) {
        (FieldType::Varint, 0) => op(Op::Varint),
        (FieldType::Fixed64, 1) => op(Op::Fixed64),
        (FieldType::Fixed32, 5) => op(Op::Fixed32),
        (FieldType::Bytes | FieldType::Str { utf8: false }, 2) => op(Op::Bytes),
        (FieldType::Str { utf8: true }, 2) => op(Op::Utf8),
        (FieldType::Message(sub), 2) => u32::try_from(sub).map_or(DECLINE, |sub| Entry {
            op: Op::Message,
            sub,
        }),
        (FieldType::Varint, 2) if f.repeated => op(Op::PackedVarint),
        (FieldType::Fixed32, 2) if f.repeated => op(Op::PackedFixed32),
        (FieldType::Fixed64, 2) if f.repeated => op(Op::PackedFixed64),
        _ => DECLINE,
    })
}

/// The entry for a key read as a multi-byte varint (it may still be a small key, encoded
/// with redundant bytes). Out of line, so that the loop over one-byte keys stays small; not
/// cold, since schemas with more than 15 fields use such keys all the time.
#[inline(never)]
fn wide_entry(m: &FastMessage, key: u64) -> Entry {
    if key >> 3 > MAX_NUMBER {
        return DECLINE;
    }
    let Ok(key) = u32::try_from(key) else {
        return DECLINE;
    };
    if let Some(&entry) = m.table.get(key as usize) {
        return entry;
    }
    match m.wide.binary_search_by_key(&key, |&(k, _)| k) {
        Ok(i) => m.wide.get(i).map_or(DECLINE, |&(_, entry)| entry),
        // Undeclared: read by wire type, as in the table.
        Err(_) => m
            .unknown
            .get((key & 7) as usize)
            .copied()
            .unwrap_or(DECLINE),
    }
}

/// Reads a varint at `pos`: its value and the position after it. One- and two-byte varints
/// (tags, lengths, small numbers) are read here; longer ones by the shared reader.
#[inline(always)]
fn varint(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    match *buf.get(pos..)? {
        [b0, ..] if b0 < 0x80 => Some((u64::from(b0), pos + 1)),
        [b0, b1, ..] if b1 < 0x80 => Some((u64::from(b0 & 0x7f) | u64::from(b1) << 7, pos + 2)),
        _ => varint_long(buf, pos),
    }
}

/// The position after a varint at `pos`, as [`varint`] reads it, without its value: a
/// one-byte varint at once, a longer one that ends within 8 bytes a word at a time.
#[inline(always)]
fn skip_varint(buf: &[u8], pos: usize) -> Option<usize> {
    let rest = buf.get(pos..)?;
    if let Some(&b) = rest.first() {
        if b < 0x80 {
            return Some(pos + 1);
        }
    }
    match crate::swar::short_varint_len(rest) {
        Some(len) => Some(pos + len),
        None => varint(buf, pos).map(|(_, next)| next),
    }
}

#[cold]
#[inline(never)]
fn varint_long(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    let mut next = pos;
    read_varint(buf, &mut next).map(|value| (value, next))
}

/// The position after `n` fixed bytes at `pos`, if they are there.
#[inline(always)]
pub(super) fn fixed(buf: &[u8], pos: usize, n: usize) -> Option<usize> {
    pos.checked_add(n).filter(|&end| end <= buf.len())
}

/// A length-delimited value at `pos`: where its bytes start and end.
#[inline(always)]
fn delimited(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let (len, start) = varint(buf, pos)?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= buf.len()).then_some((start, end))
}

/// Whether `body` is a run of whole varints (a packed repeated scalar field).
pub(super) fn packed_varints(body: &[u8]) -> bool {
    let mut pos = 0;
    while pos < body.len() {
        match varint(body, pos) {
            Some((_, next)) => pos = next,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;
