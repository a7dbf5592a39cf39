//! Rendering `Order` events as bytes on a topic: Avro or Protobuf bodies in the Confluent
//! wire frame, and decoding them back with a consumer's reader version.
//!
//! - [`avro`]: apache-avro values, datums and resolution;
//! - [`protobuf`]: prost-reflect dynamic messages from run-time compiled `.proto` text;
//! - [`wire`]: the frame, through `contract::wire`.

pub mod avro;
pub mod protobuf;
pub mod wire;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use contract::wire::{MessageIndexes, WireFrame};
use contract::SchemaId;

use crate::order::Order;
use crate::version::SchemaVersion;

/// Serialization format of record values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Avro binary datums.
    Avro,
    /// Protobuf messages (with Confluent message indexes).
    Protobuf,
}

impl Format {
    /// The registry's `schemaType` (`None` for Avro, which Confluent omits).
    pub fn schema_type(self) -> Option<&'static str> {
        match self {
            Format::Avro => None,
            Format::Protobuf => Some("PROTOBUF"),
        }
    }

    /// The schema text of `version` in this format.
    pub fn schema_text(self, version: SchemaVersion) -> &'static str {
        match self {
            Format::Avro => version.avsc(),
            Format::Protobuf => version.proto(),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Avro => "avro",
            Format::Protobuf => "protobuf",
        })
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "avro" => Ok(Format::Avro),
            "protobuf" | "proto" => Ok(Format::Protobuf),
            other => Err(format!(
                "unknown format {other:?}: expected avro or protobuf"
            )),
        }
    }
}

/// Why a record could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Avro schema or encoding.
    #[error(transparent)]
    Avro(#[from] avro::AvroError),
    /// Protobuf schema.
    #[error(transparent)]
    Protobuf(#[from] protobuf::ProtobufError),
}

/// Why a consumed record did not decode; `kind` labels it in summaries.
#[derive(Debug, thiserror::Error)]
pub enum DecodeFailure {
    /// Not a Confluent frame.
    #[error("frame: {0}")]
    Frame(contract::FrameError),
    /// An id this fleet never registered.
    #[error("unknown schema id {0}")]
    UnknownId(SchemaId),
    /// The Protobuf message-index list is broken.
    #[error("message indexes: {0}")]
    Indexes(contract::wire::MessageIndexError),
    /// Avro resolution or datum failure.
    #[error(transparent)]
    Avro(#[from] avro::AvroError),
    /// Protobuf decode failure.
    #[error(transparent)]
    Protobuf(#[from] protobuf::ProtobufError),
}

// Frame and Indexes say their cause in their message, so they are not `#[from]` (which would
// also make it their `source()`, and a chain would print it twice).
impl From<contract::FrameError> for DecodeFailure {
    fn from(e: contract::FrameError) -> Self {
        Self::Frame(e)
    }
}

impl From<contract::wire::MessageIndexError> for DecodeFailure {
    fn from(e: contract::wire::MessageIndexError) -> Self {
        Self::Indexes(e)
    }
}

/// Encodes orders of any version, and decodes them with any reader version.
#[derive(Debug, Clone)]
pub struct Codec {
    format: Format,
    avro: avro::AvroSchemas,
    protobuf: protobuf::ProtobufSchemas,
}

impl Codec {
    /// Loads every bundled schema of both formats.
    pub fn new(format: Format) -> Result<Self, RenderError> {
        Ok(Self {
            format,
            avro: avro::AvroSchemas::load()?,
            protobuf: protobuf::ProtobufSchemas::load()?,
        })
    }

    /// The format records are written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The framed record value of `order` as `version`, tagged with registry id `id`.
    pub fn frame(
        &self,
        order: &Order,
        version: SchemaVersion,
        id: SchemaId,
    ) -> Result<Vec<u8>, RenderError> {
        Ok(match self.format {
            Format::Avro => wire::frame_avro(id, &self.avro.encode(order, version)?),
            Format::Protobuf => wire::frame_protobuf(id, &self.protobuf.encode(order, version)),
        })
    }

    /// Decodes a framed value with `reader`; `writers` maps registered ids to versions.
    /// Returns the writer version on success.
    pub fn decode(
        &self,
        framed: &[u8],
        writers: &HashMap<SchemaId, SchemaVersion>,
        reader: SchemaVersion,
    ) -> Result<SchemaVersion, (Option<SchemaVersion>, DecodeFailure)> {
        let frame = WireFrame::decode(framed).map_err(|e| (None, e.into()))?;
        let writer = *writers
            .get(&frame.schema_id)
            .ok_or((None, DecodeFailure::UnknownId(frame.schema_id)))?;
        let failed = |e: DecodeFailure| (Some(writer), e);
        match self.format {
            Format::Avro => {
                self.avro
                    .decode(frame.body, writer, reader)
                    .map_err(|e| failed(e.into()))?;
            }
            Format::Protobuf => {
                let (_, body) = MessageIndexes::decode(frame.body).map_err(|e| failed(e.into()))?;
                self.protobuf
                    .decode(body, reader)
                    .map_err(|e| failed(e.into()))?;
            }
        }
        Ok(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderGenerator;

    #[test]
    fn framed_records_decode_through_the_id_map() {
        for format in [Format::Avro, Format::Protobuf] {
            let codec = Codec::new(format).unwrap();
            let ids: HashMap<_, _> = [
                (SchemaId(11), SchemaVersion::V1),
                (SchemaId(17), SchemaVersion::V7),
            ]
            .into_iter()
            .collect();
            let o = OrderGenerator::new(9).order(0);
            let o = Order { priority: 3, ..o };
            let v1 = codec.frame(&o, SchemaVersion::V1, SchemaId(11)).unwrap();
            let v7 = codec.frame(&o, SchemaVersion::V7, SchemaId(17)).unwrap();
            assert_eq!(
                codec.decode(&v1, &ids, SchemaVersion::V1).unwrap(),
                SchemaVersion::V1
            );
            let err = codec.decode(&v7, &ids, SchemaVersion::V1).unwrap_err();
            assert_eq!(err.0, Some(SchemaVersion::V7), "{format}");
            let unknown = codec.frame(&o, SchemaVersion::V1, SchemaId(99)).unwrap();
            assert!(matches!(
                codec.decode(&unknown, &ids, SchemaVersion::V1),
                Err((None, DecodeFailure::UnknownId(SchemaId(99))))
            ));
        }
    }

    proptest::proptest! {
        #[test]
        fn random_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let ids: HashMap<_, _> = [(SchemaId(0), SchemaVersion::V1)].into_iter().collect();
            let mut framed = vec![0u8, 0, 0, 0, 0];
            framed.extend_from_slice(&body);
            for format in [Format::Avro, Format::Protobuf] {
                let codec = Codec::new(format).unwrap();
                for reader in SchemaVersion::ALL {
                    let _ = codec.decode(&framed, &ids, reader);
                    let _ = codec.decode(&body, &ids, reader);
                }
            }
        }

        #[test]
        fn every_generated_order_round_trips(seed in proptest::num::u64::ANY, index in 0u64..1_000_000) {
            let o = OrderGenerator::new(seed).order(index);
            let ids: HashMap<_, _> = SchemaVersion::ALL.iter().map(|v| (SchemaId(v.number()), *v)).collect();
            for format in [Format::Avro, Format::Protobuf] {
                let codec = Codec::new(format).unwrap();
                for v in SchemaVersion::ALL {
                    let framed = codec.frame(&o, v, SchemaId(v.number())).unwrap();
                    proptest::prop_assert_eq!(codec.decode(&framed, &ids, v).unwrap(), v);
                }
            }
        }
    }
}
