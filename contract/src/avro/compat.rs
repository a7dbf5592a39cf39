//! Reader/writer compatibility, exactly as Java Avro's `SchemaCompatibility` (1.9 and later)
//! decides it, which is what Confluent Schema Registry uses for AVRO subjects.
//!
//! The rules: named types match when their simple names are equal (namespaces are ignored) or
//! a reader alias names the writer's full name; numbers widen int→long→float→double and
//! string and bytes read each other; every branch of a writer union must be readable, and a
//! reader union reads a value when some branch does; an enum reader needs every writer
//! symbol unless it has a default symbol; fixed sizes must be equal; a reader field missing
//! from the writer needs a default. Pairs already on the stack count as compatible (Java's
//! recursion guard), and results are memoised per (reader, writer) node pair.
//!
//! Unlike Java's first-error view, every incompatibility is reported with a field path
//! (`Order.items[].qty`) built from the reader's field names.

use std::collections::HashMap;
use std::rc::Rc;

use crate::verdict::Incompatibility;

use super::model::{Kind, Model, NodeId, Primitive, Record};

/// Most incompatibilities kept for one pair, so shared types cannot blow the list up.
const MAX_REPORTED: usize = 1000;

/// Deepest chain of (reader, writer) pairs compared. Two recursive types with cycles of
/// coprime lengths walk up to the product of the lengths before a pair repeats; past this
/// bound the pair is reported as incompatible rather than risking the stack.
const MAX_DEPTH: usize = 256;

/// An incompatibility with a path relative to the pair where it was found.
#[derive(Clone)]
struct Found {
    path: String,
    message: String,
}

type Findings = Rc<Vec<Found>>;

enum Memo {
    InProgress,
    Done(Findings),
}

/// Every reason `reader` cannot read data written with `writer`; empty means it can.
pub(crate) fn can_read(reader: &Model, writer: &Model) -> Vec<Incompatibility> {
    let mut checker = Checker {
        reader,
        writer,
        memo: HashMap::new(),
        depth: 0,
    };
    let found = checker.pair(reader.root, writer.root);
    let root = match reader.node(reader.root).kind.named() {
        Some(n) => n.name.name.clone(),
        None => "$".to_string(),
    };
    let mut out: Vec<Incompatibility> = Vec::with_capacity(found.len());
    for f in found.iter() {
        let inc = Incompatibility {
            path: format!("{root}{}", f.path),
            message: f.message.clone(),
        };
        if !out.contains(&inc) {
            out.push(inc);
        }
    }
    out
}

struct Checker<'a> {
    reader: &'a Model,
    writer: &'a Model,
    memo: HashMap<(NodeId, NodeId), Memo>,
    depth: usize,
}

impl Checker<'_> {
    /// The memoised check of one (reader, writer) pair.
    fn pair(&mut self, r: NodeId, w: NodeId) -> Findings {
        match self.memo.get(&(r, w)) {
            Some(Memo::Done(found)) => return found.clone(),
            // Java breaks recursion by assuming compatible until proven otherwise.
            Some(Memo::InProgress) => return Rc::new(Vec::new()),
            None => {}
        }
        if self.depth >= MAX_DEPTH {
            return Rc::new(vec![here(format!(
                "schemas nest more than {MAX_DEPTH} levels deep here; not compared"
            ))]);
        }
        self.memo.insert((r, w), Memo::InProgress);
        self.depth += 1;
        let found = Rc::new(self.calculate(r, w));
        self.depth -= 1;
        self.memo.insert((r, w), Memo::Done(found.clone()));
        found
    }

    fn ok(&mut self, r: NodeId, w: NodeId) -> bool {
        self.pair(r, w).is_empty()
    }

    fn calculate(&mut self, r: NodeId, w: NodeId) -> Vec<Found> {
        let (reader, writer) = (self.reader, self.writer);
        let rk = &reader.node(r).kind;
        let wk = &writer.node(w).kind;
        let mut out = Vec::new();
        match (rk, wk) {
            (Kind::Primitive(a), Kind::Primitive(b)) if a == b => {}
            (Kind::Array(ri), Kind::Array(wi)) => extend(&mut out, "[]", &self.pair(*ri, *wi)),
            (Kind::Map(rv), Kind::Map(wv)) => extend(&mut out, "{}", &self.pair(*rv, *wv)),
            (Kind::Fixed(rf), Kind::Fixed(wf)) => {
                names(&mut out, rk, wk);
                if rf.size != wf.size {
                    out.push(here(format!(
                        "fixed {} has size {} in the reader but {} in the writer — sizes must be equal",
                        rf.named.name.name, rf.size, wf.size
                    )));
                }
            }
            (Kind::Enum(re), Kind::Enum(we)) => {
                names(&mut out, rk, wk);
                let mut missing: Vec<&String> = we
                    .symbols
                    .iter()
                    .filter(|s| !re.symbols.contains(s))
                    .collect();
                missing.sort();
                if !missing.is_empty() && re.default.is_none() {
                    let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                    out.push(here(format!(
                        "reader enum {} lacks writer symbol(s) [{}] and has no default symbol — data holding them cannot be read",
                        re.named.name.name,
                        list.join(", ")
                    )));
                }
            }
            (Kind::Record(rr), Kind::Record(wr)) => {
                names(&mut out, rk, wk);
                self.fields(&mut out, rr, wr);
            }
            (Kind::Union(_), Kind::Union(wb)) => {
                for (i, b) in wb.iter().enumerate() {
                    if !self.ok(r, *b) {
                        out.push(here(format!(
                            "writer union branch {i} ({}) has no reader union branch that can read it",
                            writer.node(*b).kind.describe()
                        )));
                    }
                }
            }
            (_, Kind::Union(wb)) => {
                for (i, b) in wb.iter().enumerate() {
                    let found = self.pair(r, *b);
                    let branch = format!(
                        "writer union branch {i} ({}): ",
                        writer.node(*b).kind.describe()
                    );
                    let room = MAX_REPORTED.saturating_sub(out.len());
                    out.extend(found.iter().take(room).map(|f| Found {
                        path: f.path.clone(),
                        message: format!("{branch}{}", f.message),
                    }));
                }
            }
            (Kind::Union(rb), _) => {
                if !rb.iter().any(|b| self.ok(*b, w)) {
                    out.push(here(format!(
                        "reader union has no branch that can read writer type {}",
                        wk.describe()
                    )));
                }
            }
            (Kind::Primitive(a), Kind::Primitive(b)) if promotes(*b, *a) => {}
            _ => out.push(here(format!(
                "reader type {} cannot read writer type {} — only int→long/float/double, long→float/double, float→double and string↔bytes are promoted",
                rk.describe(),
                wk.describe()
            ))),
        }
        out.truncate(MAX_REPORTED);
        out
    }

    fn fields(&mut self, out: &mut Vec<Found>, rr: &Record, wr: &Record) {
        for rf in &rr.fields {
            let mut matches = wr.field(&rf.name).into_iter().collect::<Vec<_>>();
            matches.extend(rf.aliases.iter().filter_map(|a| wr.field(a)));
            let seg = format!(".{}", rf.name);
            match matches.as_slice() {
                [] if rf.default.is_none() => out.push(Found {
                    path: seg,
                    message: "reader field has no default and the writer has no such field — data written without it has no value".into(),
                }),
                [] => {}
                [wf] => extend(out, &seg, &self.pair(rf.ty, wf.ty)),
                _ => out.push(Found {
                    path: seg,
                    message: "reader field matches several writer fields through its name and aliases".into(),
                }),
            }
        }
    }
}

/// Java's promotions: may a value written as `writer` be read as `reader`?
fn promotes(writer: Primitive, reader: Primitive) -> bool {
    use Primitive::*;
    matches!(
        (writer, reader),
        (Int, Long | Float | Double)
            | (Long, Float | Double)
            | (Float, Double)
            | (String, Bytes)
            | (Bytes, String)
    )
}

/// Java's `schemaNameEquals`: equal simple names, or a reader alias naming the writer.
fn names(out: &mut Vec<Found>, rk: &Kind, wk: &Kind) {
    let (Some(r), Some(w)) = (rk.named(), wk.named()) else {
        return;
    };
    let w_full = w.name.full();
    if r.name.name != w.name.name && !r.aliases.contains(&w_full) {
        out.push(here(format!(
            "reader {} is named {} but the writer's is {w_full}, and no reader alias names it — a rename needs an alias",
            rk.type_name(),
            r.name.full()
        )));
    }
}

fn here(message: String) -> Found {
    Found {
        path: String::new(),
        message,
    }
}

fn extend(out: &mut Vec<Found>, prefix: &str, found: &[Found]) {
    let room = MAX_REPORTED.saturating_sub(out.len());
    out.extend(found.iter().take(room).map(|f| Found {
        path: format!("{prefix}{}", f.path),
        message: f.message.clone(),
    }));
}
