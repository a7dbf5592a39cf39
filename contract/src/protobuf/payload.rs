//! "Does this payload decode under the writer schema": a validating walker over the Protobuf
//! wire format, driven by a plan compiled once from the descriptors.
//!
//! It never builds `DynamicMessage` values: it checks tags, wire types, lengths, varints,
//! UTF-8 (proto3 strings) and nested messages in place, so the happy path does not allocate.
//! Field paths are only assembled when something fails.
//!
//! A fast path (`fast`) runs first: the same plan compiled into tables indexed by the field key,
//! which only ever says "valid". Whatever it does not accept is walked again here, so every
//! rejection and its path come from this walker.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, FileDescriptor, Kind, MessageDescriptor, Syntax};

use crate::schema::DecodeError;

mod fast;

/// Deepest nesting of messages and groups a payload may use (protobuf's own limit is 100).
pub const MAX_DEPTH: usize = 64;

/// Longest message-index list accepted in the frame.
const MAX_INDEXES: u64 = 32;

/// What to do with a field number the writer schema does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownFieldPolicy {
    /// Skip it if it is well-formed (the default): every protobuf runtime keeps unknown
    /// fields, so a consumer reads such a record without error.
    #[default]
    Allow,
    /// Treat it as a contract violation: the producer wrote fields its schema lacks.
    Reject,
}

#[derive(Debug, Clone, Copy)]
enum FieldType {
    Varint,
    Fixed32,
    Fixed64,
    Str { utf8: bool },
    Bytes,
    Message(usize),
    Group(usize),
}

#[derive(Debug, Clone)]
struct FieldPlan {
    number: u32,
    name: String,
    ty: FieldType,
    repeated: bool,
}

#[derive(Debug, Clone)]
struct MessagePlan {
    name: String,
    children: Vec<usize>,
    fields: Vec<FieldPlan>,
    /// `fields` position + 1 for field numbers below [`DIRECT`] (0 = undeclared).
    direct: Vec<u16>,
}

/// Field numbers below this are looked up in a table instead of by binary search.
const DIRECT: usize = 64;

/// The compiled validation plan for every message in a schema's descriptor pool.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    messages: Vec<MessagePlan>,
    roots: Vec<usize>,
    /// The same plan as key-indexed tables: tried first, it only ever says "valid" (and never,
    /// for a schema of more than [`fast::MAX_MESSAGES`] messages).
    fast: fast::Program,
}

impl Plan {
    /// Compiles a plan for the messages of `pool`; `root` gives the top-level message order.
    pub(crate) fn build(pool: &DescriptorPool, root: &FileDescriptor) -> Plan {
        let all: Vec<MessageDescriptor> = pool.all_messages().collect();
        let index: HashMap<String, usize> = all
            .iter()
            .enumerate()
            .map(|(i, m)| (m.full_name().to_string(), i))
            .collect();
        let idx = |m: &MessageDescriptor| index.get(m.full_name()).copied().unwrap_or(0);
        let messages: Vec<MessagePlan> = all
            .iter()
            .map(|m| {
                let utf8 = m.parent_file().syntax() == Syntax::Proto3;
                let mut fields: Vec<FieldPlan> = m
                    .fields()
                    .map(|f| {
                        let ty = match f.kind() {
                            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => FieldType::Fixed64,
                            Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => FieldType::Fixed32,
                            Kind::String => FieldType::Str { utf8 },
                            Kind::Bytes => FieldType::Bytes,
                            Kind::Message(sub) if f.is_group() => FieldType::Group(idx(&sub)),
                            Kind::Message(sub) => FieldType::Message(idx(&sub)),
                            _ => FieldType::Varint,
                        };
                        FieldPlan {
                            number: f.number(),
                            name: f.name().to_string(),
                            ty,
                            repeated: f.is_list(),
                        }
                    })
                    .collect();
                fields.sort_by_key(|f| f.number);
                let mut direct = vec![0u16; DIRECT];
                for (i, f) in fields.iter().enumerate() {
                    if let (Some(slot), Ok(pos)) =
                        (direct.get_mut(f.number as usize), u16::try_from(i + 1))
                    {
                        *slot = pos;
                    }
                }
                MessagePlan {
                    name: m.name().to_string(),
                    children: m.child_messages().map(|c| idx(&c)).collect(),
                    fields,
                    direct,
                }
            })
            .collect();
        let roots = root.messages().map(|m| idx(&m)).collect();
        let fast = fast::Program::build(&messages);
        Plan {
            messages,
            roots,
            fast,
        }
    }

    /// Validates `body`: the message-index list, then the message it selects.
    pub(crate) fn validate(
        &self,
        body: &[u8],
        policy: UnknownFieldPolicy,
    ) -> Result<(), DecodeError> {
        let (msg, rest) = self.select_message(body)?;
        if self.fast.accepts(msg, rest, policy) {
            return Ok(());
        }
        self.walk(msg, rest, policy)
    }

    /// [`validate`](Self::validate) without the fast path (for the differential tests).
    #[cfg(test)]
    pub(crate) fn validate_full(
        &self,
        body: &[u8],
        policy: UnknownFieldPolicy,
    ) -> Result<(), DecodeError> {
        let (msg, rest) = self.select_message(body)?;
        self.walk(msg, rest, policy)
    }

    /// The full walker alone: the authority for every verdict, and the only one that names
    /// what failed.
    fn walk(&self, msg: usize, rest: &[u8], policy: UnknownFieldPolicy) -> Result<(), DecodeError> {
        let walker = Walker { plan: self, policy };
        walker.message(msg, rest, 0).map_err(|f| {
            let mut path = self
                .messages
                .get(msg)
                .map_or(String::new(), |m| m.name.clone());
            for seg in f.0.segments.iter().rev() {
                path.push_str(seg);
            }
            DecodeError {
                path,
                reason: f.0.reason,
            }
        })
    }

    /// Reads the Confluent message-index list and walks to the message it names.
    fn select_message<'b>(&self, body: &'b [u8]) -> Result<(usize, &'b [u8]), DecodeError> {
        let frame_err = |reason: String| DecodeError {
            path: "message-indexes".into(),
            reason,
        };
        let mut pos = 0;
        let count = zigzag(
            read_varint(body, &mut pos)
                .ok_or_else(|| frame_err("message-index count is not a valid varint".into()))?,
        );
        if count < 0 || count as u64 > MAX_INDEXES {
            return Err(frame_err(format!(
                "message-index count {count} out of range"
            )));
        }
        let mut current: Option<usize> = None;
        let indexes = if count == 0 { 1 } else { count };
        for n in 0..indexes {
            let i = if count == 0 {
                0
            } else {
                zigzag(read_varint(body, &mut pos).ok_or_else(|| {
                    frame_err(format!("message index #{n} is not a valid varint"))
                })?)
            };
            let choices: &[usize] = match current {
                None => &self.roots,
                Some(m) => self.messages.get(m).map_or(&[], |m| &m.children),
            };
            let next = usize::try_from(i)
                .ok()
                .and_then(|i| choices.get(i))
                .copied();
            current = Some(next.ok_or_else(|| {
                frame_err(format!(
                    "message index {i} (level {n}) names no message in the schema"
                ))
            })?);
        }
        let msg = current.ok_or_else(|| frame_err("empty message-index list".into()))?;
        Ok((msg, body.get(pos..).unwrap_or(&[])))
    }
}

/// Why decoding stopped, with the path built innermost-first on the way out. Boxed so the
/// walker's `Result`s stay one word wide on the happy path.
struct Failure(Box<FailureInner>);

struct FailureInner {
    segments: Vec<String>,
    reason: String,
}

impl Failure {
    #[cold]
    fn new(reason: impl Into<String>) -> Self {
        Failure(Box::new(FailureInner {
            segments: Vec::new(),
            reason: reason.into(),
        }))
    }
}

struct Walker<'p> {
    plan: &'p Plan,
    policy: UnknownFieldPolicy,
}

impl Walker<'_> {
    /// Walks one message's fields (up to the end of `buf`, or an end-group tag when `group`).
    fn message(&self, msg: usize, buf: &[u8], depth: usize) -> Result<(), Failure> {
        self.fields(msg, buf, depth, None).map(|_| ())
    }

    /// Returns the bytes consumed; stops after the matching end-group tag when `group` is set.
    fn fields(
        &self,
        msg: usize,
        buf: &[u8],
        depth: usize,
        group: Option<u32>,
    ) -> Result<usize, Failure> {
        if depth >= MAX_DEPTH {
            return Err(Failure::new(format!("nesting deeper than {MAX_DEPTH}")));
        }
        let plan = self
            .plan
            .messages
            .get(msg)
            .ok_or_else(|| Failure::new("schema plan is missing a message"))?;
        let mut pos = 0;
        while pos < buf.len() {
            let start = pos;
            let key = read_varint(buf, &mut pos)
                .ok_or_else(|| Failure::new("truncated or overlong tag varint"))?;
            let wire = (key & 7) as u8;
            let number = key >> 3;
            if number == 0 || number > 536_870_911 {
                return Err(Failure::new(format!("invalid field number {number}")));
            }
            let number = number as u32;
            if wire == 4 {
                return match group {
                    Some(g) if g == number => Ok(pos),
                    _ => Err(Failure::new(format!(
                        "unexpected end-group tag for field {number}"
                    ))),
                };
            }
            let field = find_field(plan, number);
            let res = match field {
                Some(f) => self.field(f, wire, buf, &mut pos, depth),
                None if self.policy == UnknownFieldPolicy::Reject => Err(Failure::new(format!(
                    "field number {number} is not declared in {}",
                    plan.name
                ))),
                None => skip_field(number, wire, buf, &mut pos, depth),
            };
            if let Err(mut fail) = res {
                let seg = match field {
                    Some(f) if f.repeated => {
                        format!(".{}[{}]", f.name, occurrences(buf, start, number))
                    }
                    Some(f) => format!(".{}", f.name),
                    None => format!(".<field {number}>"),
                };
                fail.0.segments.push(seg);
                return Err(fail);
            }
        }
        match group {
            Some(g) => Err(Failure::new(format!("group {g} has no end-group tag"))),
            None => Ok(pos),
        }
    }

    /// Checks one field value whose tag has been read; advances `pos` past it.
    fn field(
        &self,
        f: &FieldPlan,
        wire: u8,
        buf: &[u8],
        pos: &mut usize,
        depth: usize,
    ) -> Result<(), Failure> {
        let mismatch = || {
            Failure::new(format!(
                "wire type {wire} does not match the declared type ({})",
                type_name(f.ty)
            ))
        };
        match (f.ty, wire) {
            (FieldType::Varint, 0) => read_varint(buf, pos)
                .map(|_| ())
                .ok_or_else(|| Failure::new("truncated or overlong varint")),
            (FieldType::Fixed64, 1) => advance(buf, pos, 8),
            (FieldType::Fixed32, 5) => advance(buf, pos, 4),
            (FieldType::Group(sub), 3) => {
                let rest = buf.get(*pos..).unwrap_or(&[]);
                let used = self.fields(sub, rest, depth + 1, Some(f.number))?;
                *pos += used;
                Ok(())
            }
            (ty, 2) => {
                let body = length_delimited(buf, pos)?;
                match ty {
                    FieldType::Bytes => Ok(()),
                    FieldType::Str { utf8: false } => Ok(()),
                    // ASCII (most strings) is valid UTF-8; `is_ascii` checks a word at a
                    // time, cheaper than `from_utf8`'s setup for short strings.
                    FieldType::Str { utf8: true } if body.is_ascii() => Ok(()),
                    FieldType::Str { utf8: true } => std::str::from_utf8(body)
                        .map(|_| ())
                        .map_err(|e| Failure::new(format!("string is not valid UTF-8 ({e})"))),
                    FieldType::Message(sub) => self.message(sub, body, depth + 1),
                    FieldType::Varint if f.repeated => packed_varints(body),
                    FieldType::Fixed32 if f.repeated => packed_fixed(body, 4),
                    FieldType::Fixed64 if f.repeated => packed_fixed(body, 8),
                    _ => Err(mismatch()),
                }
            }
            _ => Err(mismatch()),
        }
    }
}

fn type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Varint => "varint",
        FieldType::Fixed32 => "32-bit",
        FieldType::Fixed64 => "64-bit",
        FieldType::Str { .. } => "string",
        FieldType::Bytes => "bytes",
        FieldType::Message(_) => "message",
        FieldType::Group(_) => "group",
    }
}

#[inline]
fn find_field(plan: &MessagePlan, number: u32) -> Option<&FieldPlan> {
    if let Some(&slot) = plan.direct.get(number as usize) {
        return (slot as usize)
            .checked_sub(1)
            .and_then(|i| plan.fields.get(i));
    }
    plan.fields
        .binary_search_by_key(&number, |f| f.number)
        .ok()
        .and_then(|i| plan.fields.get(i))
}

/// Counts earlier occurrences of field `number` in `buf[..end]` (only on the error path).
fn occurrences(buf: &[u8], end: usize, number: u32) -> usize {
    let mut pos = 0;
    let mut seen = 0;
    while pos < end {
        let Some(key) = read_varint(buf, &mut pos) else {
            break;
        };
        if key >> 3 == u64::from(number) {
            seen += 1;
        }
        if skip_field((key >> 3) as u32, (key & 7) as u8, buf, &mut pos, 0).is_err() {
            break;
        }
    }
    seen
}

/// Skips a well-formed field of any wire type (groups are matched to their end tag).
fn skip_field(
    number: u32,
    wire: u8,
    buf: &[u8],
    pos: &mut usize,
    depth: usize,
) -> Result<(), Failure> {
    match wire {
        0 => read_varint(buf, pos)
            .map(|_| ())
            .ok_or_else(|| Failure::new("truncated or overlong varint")),
        1 => advance(buf, pos, 8),
        5 => advance(buf, pos, 4),
        2 => length_delimited(buf, pos).map(|_| ()),
        3 => {
            if depth >= MAX_DEPTH {
                return Err(Failure::new(format!("nesting deeper than {MAX_DEPTH}")));
            }
            loop {
                let key = read_varint(buf, pos)
                    .ok_or_else(|| Failure::new(format!("group {number} has no end-group tag")))?;
                let (n, w) = ((key >> 3) as u32, (key & 7) as u8);
                if w == 4 {
                    return if n == number {
                        Ok(())
                    } else {
                        Err(Failure::new(format!(
                            "end-group tag {n} does not close group {number}"
                        )))
                    };
                }
                skip_field(n, w, buf, pos, depth + 1)?;
            }
        }
        w => Err(Failure::new(format!("invalid wire type {w}"))),
    }
}

#[inline(always)]
fn advance(buf: &[u8], pos: &mut usize, n: usize) -> Result<(), Failure> {
    *pos = fast::fixed(buf, *pos, n)
        .ok_or_else(|| Failure::new(format!("truncated: {n} bytes expected")))?;
    Ok(())
}

#[inline(always)]
fn length_delimited<'b>(buf: &'b [u8], pos: &mut usize) -> Result<&'b [u8], Failure> {
    let len =
        read_varint(buf, pos).ok_or_else(|| Failure::new("truncated or overlong length varint"))?;
    let start = *pos;
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| start.checked_add(l))
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| Failure::new(format!("length {len} runs past the end of the message")))?;
    *pos = end;
    Ok(buf.get(start..end).unwrap_or(&[]))
}

fn packed_varints(body: &[u8]) -> Result<(), Failure> {
    fast::packed_varints(body)
        .then_some(())
        .ok_or_else(|| Failure::new("packed varints are truncated"))
}

fn packed_fixed(body: &[u8], width: usize) -> Result<(), Failure> {
    if body.len().is_multiple_of(width) {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "packed length {} is not a multiple of {width}",
            body.len()
        )))
    }
}

/// Reads a base-128 varint of at most 10 bytes; `None` when truncated or overlong.
///
/// The one-byte case (tags, lengths and small values: most varints) is inlined at every call
/// site; longer varints take [`read_varint_long`].
#[inline(always)]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    if let Some(&b) = buf.get(*pos) {
        if b < 0x80 {
            *pos += 1;
            return Some(u64::from(b));
        }
    }
    read_varint_long(buf, pos)
}

#[inline(never)]
fn read_varint_long(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(*pos + i)?;
        if i == 9 && b > 1 {
            return None;
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *pos += i + 1;
            return Some(value);
        }
    }
    None
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}
