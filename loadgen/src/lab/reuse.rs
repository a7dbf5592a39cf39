//! Experiment 5's core case: Protobuf field-number reuse against Avro alias rename. Each
//! [`Pair`] is v1 and one committed variant schema (`loadgen/schemas/order-*.{proto,avsc}`)
//! that changes one slot of v1: a Protobuf field number or an Avro field name. Orders are
//! written as both, read back through Kafka, and read by the other schema in both directions;
//! what the reader finds in the slot is compared with what it should find.
//!
//! A field's *meaning* (email, coupon, priority, loyalty) is what ties the two sides together:
//! the reader should see the writer's value when the writer has a field of the same meaning
//! (by name, or by alias), and its default otherwise. Anything else is a misread: the reader
//! decoded the record and holds a value the writer never meant for that field.

use std::path::{Path, PathBuf};

use apache_avro::types::Value as AvroValue;
use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, Value as ProtoValue};
use serde::{Deserialize, Serialize};

use crate::lab::decode::{DecodeCount, DecodeTally};
use crate::lab::gate::CheckRun;
use crate::lab::verdict::Verdict;
use crate::lab::LabError;
use crate::order::Order;
use crate::render::{avro, protobuf, Format};
use crate::version::SchemaVersion;

/// Misread samples kept per direction.
const SAMPLES: usize = 3;

/// One `[[pair]]` of the config as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPair {
    /// Short name, e.g. `protobuf-reuse-email`.
    pub name: String,
    /// `avro` or `protobuf`.
    pub format: String,
    /// The variant schema file (relative to the working directory).
    pub schema: PathBuf,
    /// v1's field at the changed slot.
    pub old_field: String,
    /// The variant's field at that slot.
    pub new_field: String,
    /// What the change is, for the report.
    pub change: String,
}

/// A value of one field, normalised across formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    /// A string.
    Str(String),
    /// Any integer.
    Int(i64),
}

impl Datum {
    /// The proto3 / "absent" default of a datum's kind.
    fn default_like(&self) -> Datum {
        match self {
            Datum::Str(_) => Datum::Str(String::new()),
            Datum::Int(_) => Datum::Int(0),
        }
    }
}

impl std::fmt::Display for Datum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Datum::Str(s) => write!(f, "{s:?}"),
            Datum::Int(i) => write!(f, "{i}"),
        }
    }
}

/// What a field name means; fields of one meaning carry the same value of an order.
fn meaning(field: &str) -> Option<&'static str> {
    match field {
        "customer_email" | "contact_email" => Some("email"),
        "coupon_code" => Some("coupon"),
        "priority" => Some("priority"),
        "loyalty_points" => Some("loyalty"),
        _ => None,
    }
}

/// The value of `meaning` in `order` (loyalty points: one per whole currency unit spent).
fn truth(order: &Order, meaning: &str) -> Option<Datum> {
    Some(match meaning {
        "email" => Datum::Str(order.customer_email.clone()),
        "coupon" => Datum::Str(order.coupon_code.clone().unwrap_or_default()),
        "priority" => Datum::Int(i64::from(order.priority)),
        "loyalty" => Datum::Int(order.amount_cents / 100),
        _ => return None,
    })
}

/// One side of a pair: a schema compiled for encoding and reading, and its field at the slot.
#[derive(Debug, Clone)]
pub struct Side {
    /// `v1` or the variant's file name.
    pub label: String,
    /// The schema text (registered as is).
    pub text: String,
    /// The field at the changed slot.
    pub field: String,
    compiled: Compiled,
}

#[derive(Debug, Clone)]
enum Compiled {
    Avro {
        schema: apache_avro::Schema,
        java: contract::avro::AvroSchema,
    },
    Protobuf(MessageDescriptor),
}

impl Side {
    fn compile(format: Format, label: String, text: String, field: String) -> Result<Self, String> {
        let compiled = match format {
            Format::Avro => Compiled::Avro {
                schema: apache_avro::Schema::parse_str(&text).map_err(|e| e.to_string())?,
                java: contract::avro::AvroSchema::parse(&text, &[]).map_err(|e| e.to_string())?,
            },
            Format::Protobuf => Compiled::Protobuf(
                contract::protobuf::ProtobufSchema::parse(&text, &[])
                    .map_err(|e| e.to_string())?
                    .file()
                    .messages()
                    .next()
                    .ok_or("no message in the file")?,
            ),
        };
        if meaning(&field).is_none() {
            return Err(format!("the lab knows no meaning of field {field:?}"));
        }
        Ok(Self {
            label,
            text,
            field,
            compiled,
        })
    }

    /// `order` as a body of this schema (no frame): v1's values, plus the fields v1 lacks
    /// filled by their meaning.
    pub fn encode(&self, order: &Order) -> Result<Vec<u8>, String> {
        match &self.compiled {
            Compiled::Avro { schema, .. } => {
                let apache_avro::Schema::Record(record) = schema else {
                    return Err("not a record schema".into());
                };
                let AvroValue::Record(v1) = avro::to_value(order, SchemaVersion::V1) else {
                    return Err("v1 is not a record".into());
                };
                let mut fields = Vec::with_capacity(record.fields.len());
                for f in &record.fields {
                    let value = match v1.iter().find(|(n, _)| *n == f.name) {
                        Some((_, v)) => v.clone(),
                        None => match meaning(&f.name).and_then(|m| truth(order, m)) {
                            Some(Datum::Str(s)) => AvroValue::String(s),
                            Some(Datum::Int(i)) => AvroValue::Long(i),
                            None => return Err(format!("no value for field {}", f.name)),
                        },
                    };
                    fields.push((f.name.clone(), value));
                }
                apache_avro::writer::datum::GenericDatumWriter::builder(schema)
                    .build()
                    .and_then(|w| w.write_value_to_vec(AvroValue::Record(fields)))
                    .map_err(|e| e.to_string())
            }
            Compiled::Protobuf(desc) => {
                let mut m = protobuf::to_message(order, SchemaVersion::V1, desc);
                for f in desc.fields() {
                    if m.has_field(&f) {
                        continue;
                    }
                    let Some(datum) = meaning(f.name()).and_then(|x| truth(order, x)) else {
                        continue;
                    };
                    let value = match (datum, f.kind()) {
                        (Datum::Str(s), Kind::String) => ProtoValue::String(s),
                        (Datum::Int(i), Kind::Int32 | Kind::Sint32 | Kind::Sfixed32) => {
                            ProtoValue::I32(i32::try_from(i).map_err(|e| e.to_string())?)
                        }
                        (Datum::Int(i), Kind::Int64 | Kind::Sint64 | Kind::Sfixed64) => {
                            ProtoValue::I64(i)
                        }
                        (d, k) => return Err(format!("cannot put {d} in a {k:?} field")),
                    };
                    m.try_set_field(&f, value).map_err(|e| e.to_string())?;
                }
                Ok(m.encode_to_vec())
            }
        }
    }

    /// Reads a body written with `writer` as this schema, and answers this side's slot field.
    pub fn read(&self, writer: &Side, body: &[u8]) -> Result<Datum, String> {
        match (&self.compiled, &writer.compiled) {
            (
                Compiled::Avro { schema, java },
                Compiled::Avro {
                    schema: w_schema,
                    java: w_java,
                },
            ) => {
                // Java's resolution (Confluent's ground truth) first, as loadgen's codec does.
                if let Some(first) = contract::avro::can_read(java, w_java).first() {
                    return Err(first.to_string());
                }
                let written = avro::read_datum(body, w_schema).map_err(|e| e.to_string())?;
                let AvroValue::Record(fields) =
                    avro::resolve_into(written, schema).map_err(|e| e.to_string())?
                else {
                    return Err("not a record".into());
                };
                match fields.into_iter().find(|(n, _)| *n == self.field) {
                    Some((_, AvroValue::String(s))) => Ok(Datum::Str(s)),
                    Some((_, AvroValue::Long(i))) => Ok(Datum::Int(i)),
                    Some((_, AvroValue::Int(i))) => Ok(Datum::Int(i64::from(i))),
                    other => Err(format!("{} holds {other:?}", self.field)),
                }
            }
            (Compiled::Protobuf(desc), Compiled::Protobuf(_)) => {
                let m = DynamicMessage::decode(desc.clone(), body).map_err(|e| e.to_string())?;
                let value = m
                    .get_field_by_name(&self.field)
                    .ok_or_else(|| format!("no field {}", self.field))?;
                match value.as_ref() {
                    ProtoValue::String(s) => Ok(Datum::Str(s.clone())),
                    ProtoValue::I32(i) => Ok(Datum::Int(i64::from(*i))),
                    ProtoValue::I64(i) => Ok(Datum::Int(*i)),
                    other => Err(format!("{} holds {other:?}", self.field)),
                }
            }
            _ => Err("the two sides are of different formats".into()),
        }
    }

    /// What this side, reading `order` as written by `writer`, should find in its slot: the
    /// writer's value of the same meaning, or the default when the writer has none.
    fn expected(&self, writer: &Side, order: &Order) -> Option<Datum> {
        let mine = meaning(&self.field)?;
        let value = truth(order, mine)?;
        let writer_has = match &writer.compiled {
            Compiled::Avro { schema, .. } => match schema {
                apache_avro::Schema::Record(r) => {
                    r.fields.iter().any(|f| meaning(&f.name) == Some(mine))
                }
                _ => false,
            },
            Compiled::Protobuf(d) => d.fields().any(|f| meaning(f.name()) == Some(mine)),
        };
        Some(if writer_has {
            value
        } else {
            value.default_like()
        })
    }

    /// The value `writer` wrote in its own slot field for `order`.
    fn written(&self, order: &Order) -> Option<Datum> {
        meaning(&self.field).and_then(|m| truth(order, m))
    }
}

/// A pair as the run uses it.
#[derive(Debug, Clone)]
pub struct Pair {
    /// From the config.
    pub raw: RawPair,
    /// Format.
    pub format: Format,
    /// v1.
    pub old: Side,
    /// The variant.
    pub new: Side,
}

impl Pair {
    /// Loads the variant file and compiles both sides.
    pub fn load(raw: RawPair) -> Result<Self, String> {
        let format: Format = raw.format.parse()?;
        let text = std::fs::read_to_string(&raw.schema)
            .map_err(|e| format!("{}: {e}", raw.schema.display()))?;
        let label = raw
            .schema
            .file_name()
            .map_or_else(|| raw.name.clone(), |n| n.to_string_lossy().into_owned());
        let old = Side::compile(
            format,
            "v1".into(),
            format.schema_text(SchemaVersion::V1).to_string(),
            raw.old_field.clone(),
        )
        .map_err(|e| format!("{} (v1): {e}", raw.name))?;
        let new = Side::compile(format, label, text, raw.new_field.clone())
            .map_err(|e| format!("{} ({}): {e}", raw.name, raw.schema.display()))?;
        Ok(Self {
            raw,
            format,
            old,
            new,
        })
    }
}

/// One misread record: what the writer put in the slot and what the reader took it for.
#[derive(Debug, Clone, Serialize)]
pub struct Misread {
    /// The order's index in the generator.
    pub index: u64,
    /// `field = value` as written.
    pub written: String,
    /// `field = value` as read.
    pub read: String,
    /// What the reader should have found.
    pub expected: String,
}

/// One direction of one pair: a reader on records of a writer.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    /// Writer schema.
    pub writer: String,
    /// Reader schema.
    pub reader: String,
    /// The reader's field at the slot.
    pub reader_field: String,
    /// Records, decoded, and the decode errors.
    pub count: DecodeCount,
    /// Decoded records whose slot holds what the reader should find.
    pub correct: u64,
    /// Decoded records whose slot holds something else.
    pub misread: u64,
    /// A few of them.
    pub samples: Vec<Misread>,
}

/// Reads `bodies` (the orders `first..` written by `writer`, in order) as `reader`.
pub fn read_direction(
    reader: &Side,
    writer: &Side,
    bodies: &[&[u8]],
    order_of: impl Fn(u64) -> Order,
) -> Reading {
    let mut tally = DecodeTally::default();
    let (mut correct, mut misread, mut samples) = (0, 0, vec![]);
    for (i, body) in bodies.iter().enumerate() {
        let index = i as u64;
        match reader.read(writer, body) {
            Err(e) => tally.add(Err(e)),
            Ok(got) => {
                tally.add(Ok(()));
                let order = order_of(index);
                let expected = reader.expected(writer, &order);
                if expected.as_ref() == Some(&got) {
                    correct += 1;
                    continue;
                }
                misread += 1;
                if samples.len() < SAMPLES {
                    let show = |d: Option<Datum>| d.map_or("?".into(), |d| d.to_string());
                    samples.push(Misread {
                        index,
                        written: format!("{} = {}", writer.field, show(writer.written(&order))),
                        read: format!("{} = {got}", reader.field),
                        expected: show(expected),
                    });
                }
            }
        }
    }
    Reading {
        writer: writer.label.clone(),
        reader: reader.label.clone(),
        reader_field: reader.field.clone(),
        count: tally.finish(),
        correct,
        misread,
        samples,
    }
}

/// Everything the run found about one pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairReport {
    /// Short name.
    pub name: String,
    /// Format.
    pub format: String,
    /// What changed.
    pub change: String,
    /// The variant's schema file.
    pub schema: String,
    /// v1's field at the slot, and the variant's.
    pub fields: [String; 2],
    /// The registry's answer to registering the variant after v1, per mode.
    pub verdicts: Vec<(String, Verdict)>,
    /// `schemagate check` of the variant against v1, per mode.
    pub check: Vec<CheckRun>,
    /// Topic the records went to.
    pub topic: String,
    /// Records acknowledged.
    pub produced: u64,
    /// The variant's reader on v1 records (what BACKWARD promises).
    pub new_reads_old: Reading,
    /// v1's reader on the variant's records (what FORWARD promises).
    pub old_reads_new: Reading,
}

/// `schemagate check --type T --mode M --existing <v1> --proposed <variant>` for each mode;
/// the v1 text is written to `scratch` (the variant is the committed file).
pub fn check_runs(
    schemagate: &Path,
    pair: &Pair,
    modes: &[String],
    scratch: &Path,
) -> Result<Vec<CheckRun>, LabError> {
    let ext = if pair.format == Format::Avro {
        "avsc"
    } else {
        "proto"
    };
    let v1 = crate::lab::stack::scratch(scratch, &format!("order-v1.{ext}"))?;
    std::fs::write(&v1, &pair.old.text).map_err(|cause| LabError::Io {
        path: v1.clone(),
        cause,
    })?;
    let schema_type = if pair.format == Format::Avro {
        "AVRO"
    } else {
        "PROTOBUF"
    };
    Ok(modes
        .iter()
        .map(|mode| {
            crate::lab::gate::run_check(
                schemagate,
                &[
                    "--type".into(),
                    schema_type.into(),
                    "--mode".into(),
                    mode.clone(),
                    "--existing".into(),
                    v1.display().to_string(),
                    "--proposed".into(),
                    pair.raw.schema.display().to_string(),
                ],
                &pair.raw.old_field,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderGenerator;

    fn pair(format: &str, file: &str, old: &str, new: &str) -> Pair {
        let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("schemas")
            .join(file);
        Pair::load(RawPair {
            name: file.into(),
            format: format.into(),
            schema,
            old_field: old.into(),
            new_field: new.into(),
            change: String::new(),
        })
        .unwrap()
    }

    fn both_ways(p: &Pair, n: u64) -> (Reading, Reading) {
        let g = OrderGenerator::new(5);
        let old: Vec<Vec<u8>> = (0..n).map(|i| p.old.encode(&g.order(i)).unwrap()).collect();
        let new: Vec<Vec<u8>> = (0..n).map(|i| p.new.encode(&g.order(i)).unwrap()).collect();
        let (old, new): (Vec<&[u8]>, Vec<&[u8]>) = (
            old.iter().map(Vec::as_slice).collect(),
            new.iter().map(Vec::as_slice).collect(),
        );
        (
            read_direction(&p.new, &p.old, &old, |i| g.order(i)),
            read_direction(&p.old, &p.new, &new, |i| g.order(i)),
        )
    }

    #[test]
    fn a_reused_protobuf_number_reads_every_email_as_a_coupon() {
        let p = pair(
            "protobuf",
            "order-reuse-email.proto",
            "customer_email",
            "coupon_code",
        );
        let (new_old, _) = both_ways(&p, 40);
        assert_eq!(new_old.count.decoded, 40);
        assert_eq!(new_old.misread, 40, "{new_old:?}");
        assert!(new_old.samples[0].read.contains('@'), "{new_old:?}");
    }

    #[test]
    fn a_protobuf_rename_and_an_avro_alias_read_the_right_value() {
        let proto = pair(
            "protobuf",
            "order-rename-email.proto",
            "customer_email",
            "contact_email",
        );
        let (a, b) = both_ways(&proto, 20);
        assert_eq!((a.correct, b.correct), (20, 20), "{a:?} {b:?}");
        let avro = pair(
            "avro",
            "order-rename-email-alias.avsc",
            "customer_email",
            "contact_email",
        );
        let (a, b) = both_ways(&avro, 20);
        assert_eq!((a.correct, a.misread), (20, 0), "{a:?}");
        // The v1 reader has no alias for contact_email and no default for customer_email.
        assert_eq!(b.count.decoded, 0, "{b:?}");
    }
}
