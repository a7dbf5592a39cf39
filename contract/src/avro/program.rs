//! The fast path of datum validation: each schema is compiled once, when it is parsed, into
//! flat programs of small `Copy` ops, and a datum is checked by running the root program.
//!
//! Record fields are copied inline, so a record of records is one linear run of ops (`Long`,
//! `String`, ...), not a recursive match over the schema graph. Only what is conditional or
//! repeated gets a program of its own: union branches, array items and map values. The usual
//! optional field, a union of `null` and one leaf, is a single op ([`Op::Optional`]). A record that
//! is recursive, not compiled yet, or long is called (`Call`) rather than copied, which keeps
//! recursive schemas finite and a schema reusing a big record many times small.
//!
//! A program only answers valid or not. On "not", [`super::validate`] walks the datum again with
//! the detailed walker, which names the path and the reason; so the two must accept exactly the
//! same datums, checked by a differential property test. In particular the nesting limit is
//! that of the walker: there every record, union, array and map checks its depth when reached.
//! Within one program every op is reached unless an earlier one fails, so a program checks once,
//! on entry, the deepest of its own ops ([`Prog::limit`]); sub-programs check theirs when run.

use super::limits::{MAX_NESTING, MAX_ZERO_SIZE_ITEMS};
use super::model::{Kind, Model, NodeId, Primitive};

/// Programs up to this many ops are copied into the records that use them; longer ones are
/// called, so a schema compiles to a size linear in its own.
const INLINE_MAX: usize = 64;

/// How deep compiling may recurse through the schema graph before it leaves programs to be
/// compiled later: a chain of named types can be as long as the schema text allows.
const MAX_COMPILE_DEPTH: usize = 64;

/// Index of a program in [`Program::progs`].
type ProgId = u32;

/// A value read without nesting: a primitive, a fixed or an enum (the leaf ops, as the leaf
/// of an [`Op::Optional`]).
#[derive(Debug, Clone, Copy)]
enum Leaf {
    Boolean,
    Int,
    Long,
    Skip(u32),
    Bytes,
    String,
    Enum { symbols: u32 },
}

impl Leaf {
    fn op(self) -> Op {
        match self {
            Leaf::Boolean => Op::Boolean,
            Leaf::Int => Op::Int,
            Leaf::Long => Op::Long,
            Leaf::Skip(n) => Op::Skip(n),
            Leaf::Bytes => Op::Bytes,
            Leaf::String => Op::String,
            Leaf::Enum { symbols } => Op::Enum { symbols },
        }
    }
}

/// One step of a program. `rel` is the op's depth relative to the program's start (at most
/// [`MAX_NESTING`]: anything deeper fails anyway). The leaf ops come first, kept in this one
/// enum so that running one is a single dispatch.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// A byte 0 or 1.
    Boolean,
    /// A zigzag varint of at most 5 bytes within 32 bits.
    Int,
    /// A zigzag varint of at most 10 bytes within 64 bits.
    Long,
    /// `float`, `double`, `fixed`: this many bytes, any value.
    Skip(u32),
    /// A length, then that many bytes.
    Bytes,
    /// A length, then that many bytes of UTF-8.
    String,
    /// An int in `0..symbols`.
    Enum { symbols: u32 },
    /// A union of `null` and one leaf (`["null", "string"]`, the usual optional field): an
    /// index, then nothing if it is `null`'s, the leaf if it is the other's. Its depth is
    /// checked with the program's, like the general union's own.
    Optional { leaf: Leaf, null: u32 },
    /// An int in `0..count` choosing `branches[first + index]`, run one level deeper.
    Union { first: u32, count: u32, rel: u32 },
    /// Blocks of items, each run one level deeper; items of zero bytes are only counted.
    Array { items: ProgId, rel: u32, zero: bool },
    /// Blocks of a string key and a value, each value run one level deeper.
    Map { values: ProgId, rel: u32 },
    /// A record's program, run at this op's depth.
    Call { prog: ProgId, rel: u32 },
}

impl Op {
    /// Reads one value without nesting.
    fn is_leaf(self) -> bool {
        !matches!(
            self,
            Op::Optional { .. }
                | Op::Union { .. }
                | Op::Array { .. }
                | Op::Map { .. }
                | Op::Call { .. }
        )
    }

    /// Reads one value with no program of its own (see [`flat`]).
    fn is_flat(self) -> bool {
        self.is_leaf() || matches!(self, Op::Optional { .. })
    }

    /// The op as part of a program that starts `shift` levels higher.
    fn shifted(self, shift: usize) -> Op {
        let by = |rel: u32| {
            rel_u32(
                usize::try_from(rel)
                    .unwrap_or(usize::MAX)
                    .saturating_add(shift),
            )
        };
        match self {
            Op::Union { first, count, rel } => Op::Union {
                first,
                count,
                rel: by(rel),
            },
            Op::Array { items, rel, zero } => Op::Array {
                items,
                rel: by(rel),
                zero,
            },
            Op::Map { values, rel } => Op::Map {
                values,
                rel: by(rel),
            },
            Op::Call { prog, rel } => Op::Call { prog, rel: by(rel) },
            op => op,
        }
    }
}

/// A relative depth as stored in an op: capped at [`MAX_NESTING`], since every depth from there
/// on fails alike.
fn rel_u32(rel: usize) -> u32 {
    u32::try_from(rel.min(MAX_NESTING)).unwrap_or(u32::MAX)
}

/// The ops of one value, as `value(node, depth)` of the walker.
#[derive(Debug)]
struct Prog {
    ops: Box<[Op]>,
    /// Run at this depth or deeper, one of the program's own ops would be nested too deep.
    limit: usize,
    /// Every op is flat: array items and map values of this program are read in the loop over
    /// them, with no call per item.
    flat: bool,
}

/// The validation program of a schema.
#[derive(Debug)]
pub(crate) struct Program {
    progs: Vec<Prog>,
    /// Union branch tables, each a run of program ids.
    branches: Vec<ProgId>,
    root: ProgId,
}

impl Program {
    /// Compiles the program of `model`'s root type; `zero` is [`super::validate::zero_size_nodes`].
    /// `None` only if the schema is too big for 32-bit program ids.
    pub(crate) fn compile(model: &Model, zero: &[bool]) -> Option<Program> {
        let mut c = Compiler {
            model,
            zero,
            memo: vec![None; model.nodes.len()],
            progs: Vec::new(),
            branches: Vec::new(),
            pending: Vec::new(),
            depth: 0,
        };
        let root = c.prog(model.root)?;
        while let Some((id, pid)) = c.pending.pop() {
            c.build(id, pid)?;
        }
        Some(Program {
            progs: c
                .progs
                .into_iter()
                .map(|p| Prog {
                    flat: p.ops.iter().all(|op| op.is_flat()),
                    ops: p.ops.into_boxed_slice(),
                    limit: match p.check {
                        Some(rel) => MAX_NESTING.saturating_sub(rel),
                        None => usize::MAX,
                    },
                })
                .collect(),
            branches: c.branches,
            root,
        })
    }

    /// Is `body` exactly one datum of the schema?
    pub(crate) fn accepts(&self, body: &[u8]) -> bool {
        let Some(root) = self.progs.get(index(self.root)) else {
            return false;
        };
        let runner = Runner {
            progs: &self.progs,
            branches: &self.branches,
        };
        runner.run(root, 0, body).is_some_and(<[u8]>::is_empty)
    }
}

/// A `u32` id or index as a `usize` index.
fn index(id: u32) -> usize {
    usize::try_from(id).unwrap_or(usize::MAX)
}

/// A program while it is compiled.
struct Draft {
    ops: Vec<Op>,
    /// The deepest relative depth among its own ops that check their depth.
    check: Option<usize>,
    done: bool,
}

struct Compiler<'m> {
    model: &'m Model,
    zero: &'m [bool],
    /// The program of each node, once one is started.
    memo: Vec<Option<ProgId>>,
    progs: Vec<Draft>,
    branches: Vec<ProgId>,
    /// Programs started but left for later because compiling had recursed too deep.
    pending: Vec<(NodeId, ProgId)>,
    /// Current recursion depth of `prog`.
    depth: usize,
}

impl Compiler<'_> {
    /// The program of `id`, compiled now unless it is already started (recursion) or compiling
    /// is too deep, in which case it is only reserved and may not be `done` yet.
    fn prog(&mut self, id: NodeId) -> Option<ProgId> {
        if let Some(pid) = *self.memo.get(id)? {
            return Some(pid);
        }
        let pid = ProgId::try_from(self.progs.len()).ok()?;
        self.progs.push(Draft {
            ops: Vec::new(),
            check: None,
            done: false,
        });
        *self.memo.get_mut(id)? = Some(pid);
        if self.depth >= MAX_COMPILE_DEPTH {
            self.pending.push((id, pid));
            return Some(pid);
        }
        self.depth += 1;
        let built = self.build(id, pid);
        self.depth -= 1;
        built.map(|()| pid)
    }

    /// Compiles the reserved program `pid` of node `id`.
    fn build(&mut self, id: NodeId, pid: ProgId) -> Option<()> {
        let mut draft = Draft {
            ops: Vec::new(),
            check: None,
            done: true,
        };
        let model = self.model;
        match &model.nodes.get(id)?.kind {
            Kind::Record(r) => {
                draft.check = Some(0);
                for f in &r.fields {
                    self.field(f.ty, 1, &mut draft)?;
                }
            }
            _ => self.emit(id, 0, &mut draft)?,
        }
        *self.progs.get_mut(usize::try_from(pid).ok()?)? = draft;
        Some(())
    }

    /// A record field of type `id` at depth `rel`: a record is copied in or called, anything
    /// else emitted in place.
    fn field(&mut self, id: NodeId, rel: usize, out: &mut Draft) -> Option<()> {
        if !matches!(self.model.nodes.get(id)?.kind, Kind::Record(_)) {
            return self.emit(id, rel, out);
        }
        let pid = self.prog(id)?;
        let sub = self.progs.get(usize::try_from(pid).ok()?)?;
        if sub.done && sub.ops.len() <= INLINE_MAX {
            out.ops.extend(sub.ops.iter().map(|op| op.shifted(rel)));
            if let Some(c) = sub.check {
                raise(out, c.saturating_add(rel));
            }
        } else {
            // The callee checks its own depth when it runs.
            out.ops.push(Op::Call {
                prog: pid,
                rel: rel_u32(rel),
            });
        }
        Some(())
    }

    /// The leaf that reads a value of type `id`, if it is one (a fixed of no bytes is not:
    /// it reads nothing, and emits no op).
    fn leaf(&self, id: NodeId) -> Option<Leaf> {
        Some(match &self.model.nodes.get(id)?.kind {
            Kind::Primitive(p) => match p {
                Primitive::Null => return None,
                Primitive::Boolean => Leaf::Boolean,
                Primitive::Int => Leaf::Int,
                Primitive::Long => Leaf::Long,
                Primitive::Float => Leaf::Skip(4),
                Primitive::Double => Leaf::Skip(8),
                Primitive::Bytes => Leaf::Bytes,
                Primitive::String => Leaf::String,
            },
            Kind::Fixed(f) if f.size == 0 => return None,
            // Wider than 32 bits: no program (`compile` gives `None`), the walker judges.
            Kind::Fixed(f) => Leaf::Skip(u32::try_from(f.size).ok()?),
            Kind::Enum(e) => Leaf::Enum {
                // An int index is below 2^31, so a saturated count judges it alike.
                symbols: u32::try_from(e.symbols.len()).unwrap_or(u32::MAX),
            },
            Kind::Union(_) | Kind::Array(_) | Kind::Map(_) | Kind::Record(_) => return None,
        })
    }

    /// The [`Op::Optional`] of a union of exactly `null` and one leaf.
    fn optional(&self, branches: &[NodeId]) -> Option<Op> {
        let is_null = |b: NodeId| {
            self.model
                .nodes
                .get(b)
                .is_some_and(|n| matches!(n.kind, Kind::Primitive(Primitive::Null)))
        };
        match *branches {
            [a, b] if is_null(a) => Some(Op::Optional {
                leaf: self.leaf(b)?,
                null: 0,
            }),
            [a, b] if is_null(b) => Some(Op::Optional {
                leaf: self.leaf(a)?,
                null: 1,
            }),
            _ => None,
        }
    }

    /// The ops of a value of non-record type `id` at depth `rel`.
    fn emit(&mut self, id: NodeId, rel: usize, out: &mut Draft) -> Option<()> {
        let model = self.model;
        let op = match &model.nodes.get(id)?.kind {
            Kind::Primitive(Primitive::Null) => return Some(()),
            Kind::Fixed(f) if f.size == 0 => return Some(()),
            Kind::Primitive(_) | Kind::Fixed(_) | Kind::Enum(_) => self.leaf(id)?.op(),
            Kind::Union(branches) => {
                raise(out, rel);
                if let Some(op) = self.optional(branches) {
                    out.ops.push(op);
                    return Some(());
                }
                // Branch programs may add tables of their own: collect first, then append.
                let table = branches
                    .iter()
                    .map(|&b| self.prog(b))
                    .collect::<Option<Vec<ProgId>>>()?;
                let first = u32::try_from(self.branches.len()).ok()?;
                let count = u32::try_from(table.len()).ok()?;
                self.branches.extend(table);
                Op::Union {
                    first,
                    count,
                    rel: rel_u32(rel),
                }
            }
            Kind::Array(items) => {
                raise(out, rel);
                Op::Array {
                    items: self.prog(*items)?,
                    rel: rel_u32(rel),
                    zero: self.zero.get(*items).copied().unwrap_or(false),
                }
            }
            Kind::Map(values) => {
                raise(out, rel);
                Op::Map {
                    values: self.prog(*values)?,
                    rel: rel_u32(rel),
                }
            }
            Kind::Record(_) => {
                let pid = self.prog(id)?;
                Op::Call {
                    prog: pid,
                    rel: rel_u32(rel),
                }
            }
        };
        out.ops.push(op);
        Some(())
    }
}

/// Notes an op at depth `rel` that checks its depth.
fn raise(out: &mut Draft, rel: usize) {
    out.check = Some(out.check.map_or(rel, |c| c.max(rel)));
}

/// Runs programs. The bytes not read yet are passed in and returned (`None`: the datum does not
/// decode) rather than kept in the runner, so the cursor stays in registers.
struct Runner<'p> {
    progs: &'p [Prog],
    branches: &'p [ProgId],
}

impl<'p> Runner<'p> {
    fn prog(&self, id: ProgId) -> Option<&'p Prog> {
        self.progs.get(index(id))
    }

    /// `prog` as a value at `depth`.
    fn run<'b>(&self, prog: &'p Prog, depth: usize, rest: &'b [u8]) -> Option<&'b [u8]> {
        if depth >= prog.limit {
            return None;
        }
        self.ops(prog, depth, rest)
    }

    /// `prog`'s ops, its depth already checked.
    fn ops<'b>(&self, prog: &'p Prog, depth: usize, mut rest: &'b [u8]) -> Option<&'b [u8]> {
        for &op in prog.ops.iter() {
            rest = self.op(op, depth, rest)?;
        }
        Some(rest)
    }

    #[inline(always)]
    fn op<'b>(&self, op: Op, depth: usize, rest: &'b [u8]) -> Option<&'b [u8]> {
        match op {
            Op::Union { first, count, rel } => {
                let (i, rest) = int(rest)?;
                let i = u32::try_from(i).ok().filter(|&i| i < count)?;
                let branch = *self.branches.get(index(first).saturating_add(index(i)))?;
                let prog = self.prog(branch)?;
                let depth = below(depth, rel);
                if depth >= prog.limit {
                    return None;
                }
                match *prog.ops {
                    // `null` and single primitives (the usual branches) without a call.
                    [] => Some(rest),
                    [op] if op.is_leaf() => leaf(op, rest),
                    _ => self.ops(prog, depth, rest),
                }
            }
            Op::Array { items, rel, zero } => {
                self.blocks(self.prog(items)?, below(depth, rel), false, zero, rest)
            }
            Op::Map { values, rel } => {
                self.blocks(self.prog(values)?, below(depth, rel), true, false, rest)
            }
            Op::Call { prog, rel } => self.run(self.prog(prog)?, at_depth(depth, rel), rest),
            op => flat(op, rest),
        }
    }

    /// Array items or map entries in blocks, each a count (negative: then a byte size), until a
    /// zero count. `depth` is the items' own.
    fn blocks<'b>(
        &self,
        item: &'p Prog,
        depth: usize,
        is_map: bool,
        zero: bool,
        mut rest: &'b [u8],
    ) -> Option<&'b [u8]> {
        loop {
            let (count, after) = long(rest)?;
            rest = after;
            if count == 0 {
                return Some(rest);
            }
            let (count, sized) = if count < 0 {
                let count = count.checked_neg()?;
                let (size, after) = long(rest)?;
                rest = after;
                let size = usize::try_from(size).ok().filter(|&s| s <= rest.len())?;
                (count.unsigned_abs(), Some((rest.len(), size)))
            } else {
                (count.unsigned_abs(), None)
            };
            if zero {
                if count > MAX_ZERO_SIZE_ITEMS {
                    return None;
                }
            } else {
                if count > u64::try_from(rest.len()).unwrap_or(u64::MAX) {
                    return None;
                }
                // count > 0: the items are reached, and all at one depth.
                if depth >= item.limit {
                    return None;
                }
                match *item.ops {
                    // A primitive, or a record of primitives (the usual line item): its ops
                    // in this loop.
                    _ if item.flat => {
                        for _ in 0..count {
                            if is_map {
                                rest = string(rest)?;
                            }
                            for &op in item.ops.iter() {
                                rest = flat(op, rest)?;
                            }
                        }
                    }
                    _ => {
                        for _ in 0..count {
                            if is_map {
                                rest = string(rest)?;
                            }
                            rest = self.ops(item, depth, rest)?;
                        }
                    }
                }
            }
            if let Some((before, size)) = sized {
                if before.checked_sub(rest.len()) != Some(size) {
                    return None;
                }
            }
        }
    }
}

/// A flat op ([`Op::is_flat`]); any other fails.
#[inline(always)]
fn flat(op: Op, rest: &[u8]) -> Option<&[u8]> {
    match op {
        Op::Optional { leaf: l, null } => {
            // The branch index, as the general union reads it.
            let (i, rest) = int(rest)?;
            match u32::try_from(i).ok()? {
                i if i == null => Some(rest),
                i if i == 1 - null => leaf(l.op(), rest),
                _ => None,
            }
        }
        op => leaf(op, rest),
    }
}

/// A leaf op ([`Op::is_leaf`]): one value of a primitive, fixed or enum type; any other fails.
#[inline(always)]
fn leaf(op: Op, rest: &[u8]) -> Option<&[u8]> {
    match op {
        Op::Boolean => match rest.split_first() {
            Some((0 | 1, tail)) => Some(tail),
            _ => None,
        },
        Op::Int => skip_int(rest),
        Op::Long => skip_long(rest),
        Op::Skip(n) => rest.get(usize::try_from(n).ok()?..),
        Op::Bytes => {
            let (n, rest) = length(rest)?;
            rest.get(n..)
        }
        Op::String => string(rest),
        Op::Enum { symbols } => {
            let (i, rest) = int(rest)?;
            u32::try_from(i).ok().filter(|&i| i < symbols).map(|_| rest)
        }
        Op::Optional { .. }
        | Op::Union { .. }
        | Op::Array { .. }
        | Op::Map { .. }
        | Op::Call { .. } => None,
    }
}

/// A non-negative length (whether the bytes are there is the caller's check).
#[inline(always)]
fn length(rest: &[u8]) -> Option<(usize, &[u8])> {
    let (n, rest) = long(rest)?;
    Some((usize::try_from(n).ok()?, rest))
}

/// A length-prefixed UTF-8 string.
#[inline(always)]
fn string(rest: &[u8]) -> Option<&[u8]> {
    let (n, rest) = length(rest)?;
    let (bytes, rest) = rest.split_at_checked(n)?;
    crate::utf8::valid(bytes).then_some(rest)
}

/// A zigzag varint int: at most 5 bytes, within 32 bits.
#[inline(always)]
fn int(rest: &[u8]) -> Option<(i32, &[u8])> {
    if let Some((&b, tail)) = rest.split_first() {
        if b < 0x80 {
            return Some((i32::from(b >> 1) ^ -i32::from(b & 1), tail));
        }
    }
    let mut raw: u64 = 0;
    for (i, &b) in rest.iter().enumerate().take(5) {
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            // Zigzag maps exactly the 32-bit ints to `0..2^32`.
            let v = (raw >> 1) as i64 ^ -((raw & 1) as i64);
            return Some((i32::try_from(v).ok()?, rest.get(i + 1..)?));
        }
    }
    // Ended, or a sixth byte follows: longer than 5 bytes either way.
    None
}

use crate::swar::HIGH_BITS;

/// The bytes after a zigzag varint int, as [`int`] reads it, without computing its value: the
/// length of a varint within the next 8 bytes is found a word at a time.
#[inline(always)]
fn skip_int(rest: &[u8]) -> Option<&[u8]> {
    match rest.first_chunk::<8>() {
        Some(word) => {
            let word = u64::from_le_bytes(*word);
            let ends = !word & HIGH_BITS;
            let len = (ends.trailing_zeros() / 8) as usize + 1;
            // At most 5 bytes, and a fifth one holds bits 28 to 31 only (32 bits in all).
            (len < 5 || (len == 5 && (word >> 32) & 0xff <= 0x0f)).then(|| rest.get(len..))?
        }
        None => int(rest).map(|(_, rest)| rest),
    }
}

/// The bytes after a zigzag varint long, as [`long`] reads it, without computing its value.
#[inline(always)]
fn skip_long(rest: &[u8]) -> Option<&[u8]> {
    match crate::swar::short_varint_len(rest) {
        Some(len) => rest.get(len..),
        None => long(rest).map(|(_, rest)| rest),
    }
}

/// A zigzag varint long: at most 10 bytes, within 64 bits.
#[inline(always)]
fn long(rest: &[u8]) -> Option<(i64, &[u8])> {
    if let Some((&b, tail)) = rest.split_first() {
        if b < 0x80 {
            return Some((i64::from(b >> 1) ^ -i64::from(b & 1), tail));
        }
    }
    let mut raw: u64 = 0;
    for (i, &b) in rest.iter().enumerate().take(10) {
        // The tenth byte holds bit 63 only.
        if i == 9 && b > 1 {
            return None;
        }
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some(((raw >> 1) as i64 ^ -((raw & 1) as i64), rest.get(i + 1..)?));
        }
    }
    None
}

/// The depth of what an op at `rel` holds (union branch, items, values).
fn below(depth: usize, rel: u32) -> usize {
    at_depth(depth, rel).saturating_add(1)
}

/// The depth of an op at `rel` in a program run at `depth`.
fn at_depth(depth: usize, rel: u32) -> usize {
    depth.saturating_add(usize::try_from(rel).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time skips end where the reading functions end, at every length, with
    /// and without 8 bytes to read a word from.
    #[test]
    fn varint_skips_agree_with_reading() {
        let fills = [0x80u8, 0x81, 0xff, 0x8f];
        let lasts = [0x00u8, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0xff];
        for len in 0..12 {
            for fill in fills {
                for last in lasts {
                    let mut varint = vec![fill; len];
                    varint.push(last);
                    for pad in 0..10 {
                        let mut bytes = varint.clone();
                        bytes.extend(std::iter::repeat_n(0x55, pad));
                        let b = &bytes[..];
                        assert_eq!(
                            skip_int(b).map(<[u8]>::len),
                            int(b).map(|(_, r)| r.len()),
                            "int {b:02x?}"
                        );
                        assert_eq!(
                            skip_long(b).map(<[u8]>::len),
                            long(b).map(|(_, r)| r.len()),
                            "long {b:02x?}"
                        );
                    }
                }
            }
        }
        assert_eq!(skip_int(&[]), None);
        assert_eq!(skip_long(&[]), None);
    }
}
