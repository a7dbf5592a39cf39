//! Avro rendering of `Order`: one `apache_avro::Value` per schema version, encoded with the
//! real apache-avro encoder, decoded with Avro schema resolution (writer → reader).

use std::collections::HashMap;

use apache_avro::types::Value;
use apache_avro::Schema;

use crate::order::{Item, Order};
use crate::version::SchemaVersion;

/// Why an Avro schema, encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    /// A bundled `.avsc` did not parse (a bug in `loadgen/schemas/`).
    #[error("schema {version} does not parse: {cause}")]
    Schema {
        /// Which version.
        version: SchemaVersion,
        /// What apache-avro said (in the message, not also a `source()`).
        cause: apache_avro::Error,
    },
    /// The value did not encode under its schema.
    #[error("encoding under {version}: {cause}")]
    Encode {
        /// Which version.
        version: SchemaVersion,
        /// What apache-avro said (in the message, not also a `source()`).
        cause: apache_avro::Error,
    },
    /// Decoding or schema resolution failed.
    #[error("decoding: {0}")]
    Decode(apache_avro::Error),
    /// Java's schema resolution (Confluent's ground truth) refuses this writer for this reader.
    #[error("reader {reader} cannot read writer {writer}: {reason}")]
    Incompatible {
        /// Writer version.
        writer: SchemaVersion,
        /// Reader version.
        reader: SchemaVersion,
        /// The first incompatibility, naming the field.
        reason: String,
    },
    /// The datum decoded but bytes were left over.
    #[error("{0} trailing bytes after the datum")]
    Trailing(usize),
}

/// The parsed Avro schema of every version, and which writer each reader can read.
#[derive(Debug, Clone)]
pub struct AvroSchemas {
    schemas: Vec<(SchemaVersion, Schema)>,
    /// `(writer, reader)` → first Java-resolution incompatibility, for pairs that fail.
    refused: HashMap<(SchemaVersion, SchemaVersion), String>,
}

impl AvroSchemas {
    /// Parses all bundled `.avsc` files.
    pub fn load() -> Result<Self, AvroError> {
        let schemas = SchemaVersion::ALL
            .into_iter()
            .map(|version| {
                Schema::parse_str(version.avsc())
                    .map(|s| (version, s))
                    .map_err(|cause| AvroError::Schema { version, cause })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            schemas,
            refused: java_refusals(),
        })
    }

    /// The schema of `version`.
    pub fn get(&self, version: SchemaVersion) -> &Schema {
        // Every version is loaded by `load`, so the search always succeeds; v1 is a harmless
        // fallback that keeps this total without a panic path.
        self.schemas
            .iter()
            .find(|(v, _)| *v == version)
            .or(self.schemas.first())
            .map(|(_, s)| s)
            .unwrap_or(&Schema::Null)
    }

    /// Encodes `order` as a datum of `version` (no framing).
    pub fn encode(&self, order: &Order, version: SchemaVersion) -> Result<Vec<u8>, AvroError> {
        let schema = self.get(version);
        apache_avro::writer::datum::GenericDatumWriter::builder(schema)
            .build()
            .and_then(|w| w.write_value_to_vec(to_value(order, version)))
            .map_err(|cause| AvroError::Encode { version, cause })
    }

    /// Decodes a datum written with `writer`, resolved into `reader`; rejects leftovers.
    pub fn decode(
        &self,
        body: &[u8],
        writer: SchemaVersion,
        reader: SchemaVersion,
    ) -> Result<Value, AvroError> {
        let written = read_datum(body, self.get(writer))?;
        if writer == reader {
            return Ok(written);
        }
        // apache-avro resolves values, not schemas (a long that fits is read as an int); Java
        // refuses such pairs outright, so ask contract's Java-compatible rules first.
        if let Some(reason) = self.refused.get(&(writer, reader)) {
            return Err(AvroError::Incompatible {
                writer,
                reader,
                reason: reason.clone(),
            });
        }
        resolve_into(written, self.get(reader))
    }
}

/// Reads one datum of `writer` from `body`; rejects leftovers.
pub fn read_datum(body: &[u8], writer: &Schema) -> Result<Value, AvroError> {
    let mut rest = body;
    let written = apache_avro::reader::datum::GenericDatumReader::builder(writer)
        .build()
        .and_then(|r| r.read_value(&mut rest))
        .map_err(AvroError::Decode)?;
    if !rest.is_empty() {
        return Err(AvroError::Trailing(rest.len()));
    }
    Ok(written)
}

/// Resolves a value read with its writer's schema into `reader` (the caller has already asked
/// contract's Java-compatible rules whether the pair resolves at all).
pub fn resolve_into(written: Value, reader: &Schema) -> Result<Value, AvroError> {
    // apache-avro 0.22 ignores reader field aliases during resolution (Java honours them), so
    // rename aliased fields first, then resolve.
    apply_field_aliases(written, reader)
        .resolve(reader)
        .map_err(AvroError::Decode)
}

/// Every (writer, reader) pair Java's resolution refuses, with its first reason.
fn java_refusals() -> HashMap<(SchemaVersion, SchemaVersion), String> {
    let parsed: Vec<(SchemaVersion, contract::avro::AvroSchema)> = SchemaVersion::ALL
        .into_iter()
        .filter_map(|v| {
            contract::avro::AvroSchema::parse(v.avsc(), &[])
                .ok()
                .map(|s| (v, s))
        })
        .collect();
    let mut refused = HashMap::new();
    for (writer, w) in &parsed {
        for (reader, r) in &parsed {
            if let Some(first) = contract::avro::can_read(r, w).first() {
                refused.insert((*writer, *reader), first.to_string());
            }
        }
    }
    refused
}

/// Renames record fields the reader knows under an alias to the reader's name, recursively
/// through records, arrays and maps (the shapes `Order` uses).
fn apply_field_aliases(value: Value, reader: &Schema) -> Value {
    match (value, reader) {
        (Value::Record(fields), Schema::Record(record)) => Value::Record(
            fields
                .into_iter()
                .map(|(name, v)| {
                    let target = record
                        .fields
                        .iter()
                        .find(|f| f.name == name)
                        .or_else(|| record.fields.iter().find(|f| f.aliases.contains(&name)));
                    match target {
                        Some(f) => (f.name.clone(), apply_field_aliases(v, &f.schema)),
                        None => (name, v),
                    }
                })
                .collect(),
        ),
        (Value::Array(items), Schema::Array(array)) => Value::Array(
            items
                .into_iter()
                .map(|v| apply_field_aliases(v, &array.items))
                .collect(),
        ),
        (Value::Map(entries), Schema::Map(map)) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k, apply_field_aliases(v, &map.types)))
                .collect(),
        ),
        (other, _) => other,
    }
}

/// The Avro value of `order` under `version`'s field list.
pub fn to_value(order: &Order, version: SchemaVersion) -> Value {
    let mut fields: Vec<(String, Value)> = Vec::with_capacity(14);
    fields.extend([
        ("order_id".into(), Value::String(order.order_id.clone())),
        ("account_id".into(), Value::Long(order.account_id)),
        (
            "status".into(),
            Value::Enum(order.status.index(), order.status.symbol().into()),
        ),
        ("amount_cents".into(), Value::Long(order.amount_cents)),
        ("currency".into(), Value::String(order.currency.clone())),
        ("ts".into(), Value::TimestampMillis(order.ts_millis)),
        (
            "items".into(),
            Value::Array(order.items.iter().map(|i| item_value(i, version)).collect()),
        ),
        (
            "shipping_address".into(),
            Value::String(order.shipping_address.clone()),
        ),
    ]);
    if version != SchemaVersion::V4 {
        // Keep v1's field order: customer_email sits before shipping_address.
        fields.insert(
            7,
            (
                "customer_email".into(),
                Value::String(order.customer_email.clone()),
            ),
        );
    }
    let channel_name = if version == SchemaVersion::V5 {
        "sales_channel"
    } else {
        "channel"
    };
    fields.push((channel_name.into(), Value::String(order.channel.clone())));
    let priority = match version {
        SchemaVersion::V7 => Value::String(order.priority.to_string()),
        _ => Value::Int(order.priority),
    };
    fields.push(("priority".into(), priority));
    fields.push(("notes".into(), Value::String(order.notes.clone())));
    match version {
        SchemaVersion::V2 => fields.push((
            "coupon_code".into(),
            match &order.coupon_code {
                Some(c) => Value::Union(1, Box::new(Value::String(c.clone()))),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        )),
        SchemaVersion::V3 => fields.push(("region".into(), Value::String(order.region.clone()))),
        _ => {}
    }
    Value::Record(fields)
}

fn item_value(item: &Item, version: SchemaVersion) -> Value {
    let qty = match version {
        SchemaVersion::V6 => Value::Long(i64::from(item.qty)),
        _ => Value::Int(item.qty),
    };
    Value::Record(vec![
        ("sku".into(), Value::String(item.sku.clone())),
        ("qty".into(), qty),
        ("price_cents".into(), Value::Long(item.price_cents)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderGenerator, TARGET_FRAMED_LEN};
    use crate::render::wire::HEADER_LEN;
    use SchemaVersion::*;

    fn sample(n: u64) -> Vec<Order> {
        let g = OrderGenerator::new(42);
        (0..n).map(|i| g.order(i)).collect()
    }

    #[test]
    fn v1_frames_are_512_bytes() {
        let s = AvroSchemas::load().unwrap();
        for o in sample(200) {
            let body = s.encode(&o, V1).unwrap();
            assert_eq!(body.len() + HEADER_LEN, TARGET_FRAMED_LEN, "{o:?}");
        }
    }

    #[test]
    fn every_version_is_about_512_bytes_and_decodes_under_itself() {
        let s = AvroSchemas::load().unwrap();
        for o in sample(50) {
            for v in SchemaVersion::ALL {
                let body = s.encode(&o, v).unwrap();
                assert!((400..=540).contains(&(body.len() + HEADER_LEN)), "{v}");
                assert_eq!(s.decode(&body, v, v).unwrap(), to_value(&o, v), "{v}");
            }
        }
    }

    /// (writer, reader, readable?) for each evolution class, as Avro resolution defines it.
    const CLASSES: [(SchemaVersion, SchemaVersion, bool); 12] = [
        (V1, V2, true),  // add optional: new reader fills the default
        (V2, V1, true),  // ...and old readers skip the new field
        (V1, V3, false), // add required: new reader has no value for `region`
        (V3, V1, true),  // ...old readers skip it
        (V1, V4, true),  // remove: new reader skips `customer_email`
        (V4, V1, false), // ...old readers miss `customer_email` (no default)
        (V1, V5, true),  // rename via alias: reader finds `sales_channel` as `channel`
        (V5, V1, false), // ...the old reader has no alias for `sales_channel`
        (V1, V6, true),  // int -> long is a promotion
        (V6, V1, false), // ...long -> int is not
        (V1, V7, false), // int -> string is no promotion
        (V7, V1, false), // ...nor is string -> int
    ];

    #[test]
    fn evolution_classes_resolve_as_claimed() {
        let s = AvroSchemas::load().unwrap();
        let o = &sample(1)[0];
        for (writer, reader, readable) in CLASSES {
            let body = s.encode(o, writer).unwrap();
            let got = s.decode(&body, writer, reader);
            assert_eq!(got.is_ok(), readable, "{writer} read as {reader}: {got:?}");
        }
    }

    #[test]
    fn resolution_keeps_values() {
        let s = AvroSchemas::load().unwrap();
        let o = &sample(3)[2];
        let as_v6 = s.decode(&s.encode(o, V1).unwrap(), V1, V6).unwrap();
        assert_eq!(as_v6, to_value(o, V6));
        let as_v5 = s.decode(&s.encode(o, V1).unwrap(), V1, V5).unwrap();
        assert_eq!(as_v5, to_value(o, V5));
    }

    #[test]
    fn every_bundled_schema_is_known_to_the_java_rules() {
        // java_refusals silently skips schemas contract cannot parse; make sure it parsed all.
        for v in SchemaVersion::ALL {
            assert!(
                contract::avro::AvroSchema::parse(v.avsc(), &[]).is_ok(),
                "{v}"
            );
        }
        let refused = java_refusals();
        let expected = CLASSES.iter().filter(|(_, _, ok)| !ok).count();
        let listed = CLASSES
            .iter()
            .filter(|(w, r, _)| refused.contains_key(&(*w, *r)))
            .count();
        assert_eq!(listed, expected);
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let s = AvroSchemas::load().unwrap();
        let mut body = s.encode(&sample(1)[0], V1).unwrap();
        body.push(0);
        assert!(matches!(
            s.decode(&body, V1, V1),
            Err(AvroError::Trailing(1))
        ));
    }
}
