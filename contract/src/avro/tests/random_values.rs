//! Random values of any schema, as apache-avro `Value`s, to encode reference datums with
//! apache-avro's writer (an implementation independent of our validator).

use std::collections::HashMap;

use apache_avro::types::Value;

use crate::avro::model::{Kind, Primitive};
use crate::avro::AvroSchema;

/// A small deterministic generator (xorshift64*), seeded by proptest.
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] = &["a", "Z", "0", " ", "é", "€", "𝄞", "\n", "sku-", "\u{0}"];
        let n = self.below(12);
        (0..n).map(|_| PIECES[self.below(PIECES.len())]).collect()
    }

    fn int(&mut self) -> i32 {
        match self.below(4) {
            0 => self.below(3) as i32 - 1,
            1 => i32::MAX - self.below(2) as i32,
            2 => i32::MIN + self.below(2) as i32,
            _ => self.next() as i32,
        }
    }

    fn long(&mut self) -> i64 {
        match self.below(4) {
            0 => self.below(3) as i64 - 1,
            1 => i64::MAX,
            2 => i64::MIN,
            _ => self.next() as i64,
        }
    }
}

/// A random value of `schema`'s root type. Past depth 4 unions prefer `null` and collections
/// stay empty, so recursive schemas terminate.
pub(super) fn value(schema: &AvroSchema, rng: &mut Rng) -> Value {
    let m = &schema.inner.model;
    gen(m, m.root, rng, 0)
}

fn gen(m: &crate::avro::model::Model, id: usize, rng: &mut Rng, depth: usize) -> Value {
    let deep = depth > 4;
    match &m.node(id).kind {
        Kind::Primitive(p) => match p {
            Primitive::Null => Value::Null,
            Primitive::Boolean => Value::Boolean(rng.below(2) == 1),
            Primitive::Int => Value::Int(rng.int()),
            Primitive::Long => Value::Long(rng.long()),
            Primitive::Float => Value::Float(f32::from_bits(rng.next() as u32)),
            Primitive::Double => Value::Double(f64::from_bits(rng.next())),
            Primitive::Bytes => {
                let n = rng.below(20);
                Value::Bytes(rng.bytes(n))
            }
            Primitive::String => Value::String(rng.text()),
        },
        Kind::Fixed(f) => Value::Fixed(f.size, rng.bytes(f.size)),
        Kind::Enum(e) => {
            let i = rng.below(e.symbols.len());
            Value::Enum(i as u32, e.symbols[i].clone())
        }
        Kind::Union(branches) => {
            let null = branches
                .iter()
                .position(|b| matches!(m.node(*b).kind, Kind::Primitive(Primitive::Null)));
            let i = match (deep, null) {
                (true, Some(n)) => n,
                _ => rng.below(branches.len()),
            };
            Value::Union(i as u32, Box::new(gen(m, branches[i], rng, depth + 1)))
        }
        Kind::Array(items) => {
            let n = if deep { 0 } else { rng.below(5) };
            Value::Array((0..n).map(|_| gen(m, *items, rng, depth + 1)).collect())
        }
        Kind::Map(values) => {
            let n = if deep { 0 } else { rng.below(4) };
            let map: HashMap<String, Value> = (0..n)
                .map(|i| {
                    (
                        format!("{}{i}", rng.text()),
                        gen(m, *values, rng, depth + 1),
                    )
                })
                .collect();
            Value::Map(map)
        }
        Kind::Record(r) => Value::Record(
            r.fields
                .iter()
                .map(|f| (f.name.clone(), gen(m, f.ty, rng, depth + 1)))
                .collect(),
        ),
    }
}
