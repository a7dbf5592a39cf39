//! "Does this payload decode under writer schema S": a walk over the binary datum that checks
//! every byte without building values.
//!
//! The whole datum must be consumed (trailing bytes are an error), lengths and counts are
//! checked against the bytes that remain before anything is skipped, strings must be UTF-8,
//! enum and union indexes must be in range, ints must fit 32 bits, booleans must be 0 or 1,
//! and nesting is bounded. On failure the error names the field path where decoding stopped,
//! e.g. `Order.items[2].qty`; the path is only built on that (cold) path.
//!
//! The hot path is not the walker here but the schema's compiled program (`program.rs`), which
//! accepts exactly the datums the walker accepts; the walker runs only on what it rejects.

use crate::schema::DecodeError;

use super::limits::{MAX_NESTING, MAX_ZERO_SIZE_ITEMS};
use super::model::{Kind, Model, NodeId, Primitive};
use super::program::Program;

/// Per node: every value of the type encodes to zero bytes (null, fixed(0), records of those).
pub(crate) fn zero_size_nodes(model: &Model) -> Vec<bool> {
    let mut zero = vec![false; model.nodes.len()];
    // Least fixpoint: a record is zero-size once all its fields are known to be.
    loop {
        let mut changed = false;
        for (id, node) in model.nodes.iter().enumerate() {
            if zero[id] {
                continue;
            }
            let now = match &node.kind {
                Kind::Primitive(Primitive::Null) => true,
                Kind::Fixed(f) => f.size == 0,
                Kind::Record(r) => r.fields.iter().all(|f| zero[f.ty]),
                _ => false,
            };
            if now {
                zero[id] = true;
                changed = true;
            }
        }
        if !changed {
            return zero;
        }
    }
}

/// Validates `body` as one datum of `model`'s root type: the compiled `program` decides, and
/// only when it rejects does the walker run again to say where and why.
pub(crate) fn validate(
    model: &Model,
    zero: &[bool],
    program: Option<&Program>,
    body: &[u8],
) -> Result<(), DecodeError> {
    if program.is_some_and(|p| p.accepts(body)) {
        return Ok(());
    }
    let walked = walk(model, zero, body);
    debug_assert!(
        program.is_none() || walked.is_err(),
        "the compiled program rejects a datum the walker accepts"
    );
    walked
}

/// The detailed walk: validates `body` as one datum of `model`'s root type and, on failure,
/// names the path where decoding stopped.
pub(crate) fn walk(model: &Model, zero: &[bool], body: &[u8]) -> Result<(), DecodeError> {
    let mut walker = Walker {
        model,
        zero,
        buf: body,
        pos: 0,
    };
    match walker.value(model.root, 0) {
        Ok(()) if walker.pos == body.len() => Ok(()),
        Ok(()) => Err(DecodeError {
            path: root_label(model),
            reason: format!(
                "{} trailing byte(s) after a complete datum",
                body.len() - walker.pos
            ),
        }),
        Err(fail) => Err(fail.into_error(root_label(model))),
    }
}

/// The first path segment: the root record's name, or `$` for other root types.
fn root_label(model: &Model) -> String {
    match model.node(model.root).kind.named() {
        Some(n) => n.name.name.clone(),
        None => "$".to_string(),
    }
}

/// One step of the path, collected innermost first while the error unwinds.
enum Segment<'m> {
    Field(&'m str),
    Index(u64),
    Key(String),
}

/// Why and where decoding stopped.
struct Fail<'m> {
    reason: String,
    segments: Vec<Segment<'m>>,
}

impl Fail<'_> {
    fn into_error(self, root: String) -> DecodeError {
        let mut path = root;
        for seg in self.segments.iter().rev() {
            match seg {
                Segment::Field(f) => {
                    path.push('.');
                    path.push_str(f);
                }
                Segment::Index(i) => path.push_str(&format!("[{i}]")),
                Segment::Key(k) => path.push_str(&format!("[{k:?}]")),
            }
        }
        DecodeError {
            path,
            reason: self.reason,
        }
    }
}

type Step<'m> = Result<(), Box<Fail<'m>>>;

fn fail<'m, T>(reason: String) -> Result<T, Box<Fail<'m>>> {
    Err(Box::new(Fail {
        reason,
        segments: Vec::new(),
    }))
}

fn at<'m>(seg: Segment<'m>) -> impl FnOnce(Box<Fail<'m>>) -> Box<Fail<'m>> {
    move |mut f| {
        f.segments.push(seg);
        f
    }
}

struct Walker<'m, 'b> {
    model: &'m Model,
    zero: &'m [bool],
    buf: &'b [u8],
    pos: usize,
}

impl<'m> Walker<'m, '_> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn value(&mut self, id: NodeId, depth: usize) -> Step<'m> {
        let model = self.model;
        match &model.node(id).kind {
            Kind::Primitive(p) => self.primitive(*p),
            Kind::Fixed(f) => self.skip(f.size, "fixed"),
            Kind::Enum(e) => {
                let i = self.int()?;
                if i < 0 || i as usize >= e.symbols.len() {
                    return fail(format!(
                        "enum index {i} out of range: {} has {} symbol(s)",
                        e.named.name.full(),
                        e.symbols.len()
                    ));
                }
                Ok(())
            }
            Kind::Union(branches) => {
                let i = self.int()?;
                let Some(&branch) = usize::try_from(i).ok().and_then(|i| branches.get(i)) else {
                    return fail(format!(
                        "union branch index {i} out of range: the union has {} branch(es)",
                        branches.len()
                    ));
                };
                self.nested(branch, depth)
            }
            Kind::Record(r) => {
                if depth >= MAX_NESTING {
                    return fail(format!("nesting deeper than {MAX_NESTING} levels"));
                }
                for f in &r.fields {
                    self.value(f.ty, depth + 1)
                        .map_err(at(Segment::Field(f.name.as_str())))?;
                }
                Ok(())
            }
            Kind::Array(items) => self.blocks(*items, depth, false),
            Kind::Map(values) => self.blocks(*values, depth, true),
        }
    }

    fn nested(&mut self, id: NodeId, depth: usize) -> Step<'m> {
        if depth >= MAX_NESTING {
            return fail(format!("nesting deeper than {MAX_NESTING} levels"));
        }
        self.value(id, depth + 1)
    }

    fn primitive(&mut self, p: Primitive) -> Step<'m> {
        match p {
            Primitive::Null => Ok(()),
            Primitive::Boolean => match self.buf.get(self.pos) {
                Some(0 | 1) => {
                    self.pos += 1;
                    Ok(())
                }
                Some(b) => fail(format!("boolean byte {b:#04x} is neither 0 nor 1")),
                None => fail("data ends where a boolean should be".into()),
            },
            Primitive::Int => self.int().map(|_| ()),
            Primitive::Long => self.long().map(|_| ()),
            Primitive::Float => self.skip(4, "float"),
            Primitive::Double => self.skip(8, "double"),
            Primitive::Bytes => {
                let n = self.length("bytes")?;
                self.skip(n, "bytes")
            }
            Primitive::String => self.string().map(|_| ()),
        }
    }

    /// A length-prefixed UTF-8 string; returns where its bytes are.
    fn string(&mut self) -> Result<(usize, usize), Box<Fail<'m>>> {
        let n = self.length("string")?;
        let start = self.pos;
        self.skip(n, "string")?;
        let bytes = self.buf.get(start..self.pos).unwrap_or(&[]);
        if std::str::from_utf8(bytes).is_err() {
            return fail("string is not valid UTF-8".into());
        }
        Ok((start, self.pos))
    }

    /// Array items or map entries, in blocks: a count (negative: followed by a byte size),
    /// then the items, until a zero count.
    fn blocks(&mut self, item: NodeId, depth: usize, is_map: bool) -> Step<'m> {
        if depth >= MAX_NESTING {
            return fail(format!("nesting deeper than {MAX_NESTING} levels"));
        }
        let what = if is_map { "map" } else { "array" };
        let zero = self.zero.get(item).copied().unwrap_or(false) && !is_map;
        let mut index: u64 = 0;
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(());
            }
            let (count, sized) = if count < 0 {
                let Some(c) = count.checked_neg() else {
                    return fail(format!("{what} block count {count} is out of range"));
                };
                let size = self.long()?;
                if size < 0 || size as u64 > self.remaining() as u64 {
                    return fail(format!(
                        "{what} block byte size {size} is negative or exceeds the {} byte(s) left",
                        self.remaining()
                    ));
                }
                (c as u64, Some((self.pos, size as usize)))
            } else {
                (count as u64, None)
            };
            if zero {
                if count > MAX_ZERO_SIZE_ITEMS {
                    return fail(format!(
                        "{what} block claims {count} empty items, more than {MAX_ZERO_SIZE_ITEMS}"
                    ));
                }
            } else if count > self.remaining() as u64 {
                return fail(format!(
                    "{what} block claims {count} item(s) but only {} byte(s) are left",
                    self.remaining()
                ));
            } else {
                for _ in 0..count {
                    if is_map {
                        let buf = self.buf;
                        let key = self.string().map_err(at(Segment::Index(index)))?;
                        self.value(item, depth + 1).map_err(|f| {
                            let k = buf.get(key.0..key.1).unwrap_or(&[]);
                            at(Segment::Key(String::from_utf8_lossy(k).into_owned()))(f)
                        })?;
                    } else {
                        self.value(item, depth + 1)
                            .map_err(at(Segment::Index(index)))?;
                    }
                    index += 1;
                }
            }
            if let Some((start, size)) = sized {
                let used = self.pos - start;
                if used != size {
                    return fail(format!(
                        "{what} block says it holds {size} byte(s) but its items took {used}"
                    ));
                }
            }
        }
    }

    /// A non-negative length that fits in the bytes left.
    fn length(&mut self, what: &str) -> Result<usize, Box<Fail<'m>>> {
        let n = self.long()?;
        if n < 0 {
            return fail(format!("{what} length {n} is negative"));
        }
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn skip(&mut self, n: usize, what: &str) -> Step<'m> {
        if n > self.remaining() {
            return fail(format!(
                "data ends inside a {what}: needs {n} byte(s), {} left",
                self.remaining()
            ));
        }
        self.pos += n;
        Ok(())
    }

    /// A zigzag varint int: at most 5 bytes and within 32 bits.
    fn int(&mut self) -> Result<i32, Box<Fail<'m>>> {
        let start = self.pos;
        let v = self.long()?;
        if self.pos - start > 5 {
            return fail("int varint is longer than 5 bytes".into());
        }
        i32::try_from(v).or_else(|_| fail(format!("int value {v} does not fit 32 bits")))
    }

    /// A zigzag varint long: at most 10 bytes, within 64 bits.
    fn long(&mut self) -> Result<i64, Box<Fail<'m>>> {
        // Fast path: most lengths, counts, indexes and small numbers take one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(i64::from(b >> 1) ^ -i64::from(b & 1));
            }
        }
        let mut raw: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return fail("data ends inside a varint".into());
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return fail("varint is longer than 64 bits".into());
            }
            raw |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
            shift += 7;
        }
    }
}
