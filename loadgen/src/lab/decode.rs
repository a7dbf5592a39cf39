//! Counting what a reader decodes: per direction (reader version × writer version), how many
//! records decoded, and each distinct error message with how often it occurred.

use std::collections::{BTreeMap, HashMap};

use contract::SchemaId;
use serde::{Deserialize, Serialize};

use crate::render::Codec;
use crate::version::SchemaVersion;

/// Distinct error messages kept per count; the rest are folded into one line.
const MAX_MESSAGES: usize = 6;

/// What one reader made of the records of one writer version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecodeCount {
    /// Records of that writer version on the topic.
    pub records: u64,
    /// Records the reader decoded.
    pub decoded: u64,
    /// Each distinct error, exactly as the reader reported it, with its count.
    pub errors: Vec<ErrorCount>,
}

/// One error message and how many records failed with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// The message.
    pub message: String,
    /// Records.
    pub count: u64,
}

impl DecodeCount {
    /// Every record decoded (and there was at least one).
    pub fn all(&self) -> bool {
        self.records > 0 && self.decoded == self.records
    }

    /// No record decoded.
    pub fn none(&self) -> bool {
        self.decoded == 0
    }

    /// Builds a count from per-record outcomes.
    pub fn from_outcomes<I: IntoIterator<Item = Result<(), String>>>(outcomes: I) -> Self {
        let mut tally = DecodeTally::default();
        for o in outcomes {
            tally.add(o);
        }
        tally.finish()
    }
}

/// A [`DecodeCount`] being built one record at a time (for streams too long to collect).
#[derive(Debug, Clone, Default)]
pub struct DecodeTally {
    records: u64,
    decoded: u64,
    errors: BTreeMap<String, u64>,
}

impl DecodeTally {
    /// Counts one record's outcome.
    pub fn add(&mut self, outcome: Result<(), String>) {
        self.records += 1;
        match outcome {
            Ok(()) => self.decoded += 1,
            Err(m) => *self.errors.entry(m).or_default() += 1,
        }
    }

    /// The count, with the rare messages folded.
    pub fn finish(self) -> DecodeCount {
        DecodeCount {
            records: self.records,
            decoded: self.decoded,
            errors: fold(self.errors),
        }
    }
}

/// The most frequent messages first, at most [`MAX_MESSAGES`], the rest summed on one line.
fn fold(errors: BTreeMap<String, u64>) -> Vec<ErrorCount> {
    let mut list: Vec<ErrorCount> = errors
        .into_iter()
        .map(|(message, count)| ErrorCount { message, count })
        .collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then(a.message.cmp(&b.message)));
    if list.len() > MAX_MESSAGES {
        let rest: Vec<ErrorCount> = list.split_off(MAX_MESSAGES - 1);
        list.push(ErrorCount {
            message: format!("({} other distinct messages)", rest.len()),
            count: rest.iter().map(|e| e.count).sum(),
        });
    }
    list
}

/// Decodes with loadgen's own decoder (`render::Codec`) every value written by `writer`
/// (told apart by the frame's schema id) as `reader`.
pub fn with_codec(
    codec: &Codec,
    values: &[Vec<u8>],
    ids: &HashMap<SchemaId, SchemaVersion>,
    writer: SchemaVersion,
    reader: SchemaVersion,
) -> DecodeCount {
    DecodeCount::from_outcomes(
        values
            .iter()
            .filter(|v| writer_of(v, ids) == Some(writer))
            .map(|v| {
                codec
                    .decode(v, ids, reader)
                    .map(drop)
                    .map_err(|(_, e)| e.to_string())
            }),
    )
}

/// The writer version of a framed value, from its schema id.
fn writer_of(value: &[u8], ids: &HashMap<SchemaId, SchemaVersion>) -> Option<SchemaVersion> {
    let frame = contract::wire::WireFrame::decode(value).ok()?;
    ids.get(&frame.schema_id).copied()
}

// The matrix's rows: matrix and readers both fill them.
/// One reader implementation's live decode of one (format, class) topic.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeRow {
    /// Format.
    pub format: String,
    /// The class's version.
    pub version: String,
    /// Reader implementation.
    pub reader: String,
    /// vN reader on v1 records.
    pub new_reads_old: Result<DecodeCount, String>,
    /// v1 reader on vN records.
    pub old_reads_new: Result<DecodeCount, String>,
    /// v1 reader on v1 records and vN reader on vN records (the data itself is sound).
    pub control: Result<(DecodeCount, DecodeCount), String>,
}

/// One topic's setup: its name and the registry ids of v1 and vN.
#[derive(Debug, Clone, Serialize)]
pub struct TopicRow {
    /// Format.
    pub format: String,
    /// The class's version.
    pub version: String,
    /// Topic the records went to.
    pub topic: String,
    /// Registry id of v1 and vN under `{topic}-value`.
    pub ids: BTreeMap<String, u32>,
    /// Records acknowledged by the broker.
    pub produced: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fold_rare_messages() {
        let outcomes = (0..20).map(|i| {
            if i % 2 == 0 {
                Ok(())
            } else {
                Err(format!("e{}", i % 9))
            }
        });
        let c = DecodeCount::from_outcomes(outcomes);
        assert_eq!((c.records, c.decoded), (20, 10));
        assert_eq!(c.errors.len(), MAX_MESSAGES);
        assert_eq!(c.errors.iter().map(|e| e.count).sum::<u64>(), 10);
        assert!(c.errors.last().unwrap().message.contains("other distinct"));
    }
}
