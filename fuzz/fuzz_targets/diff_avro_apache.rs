//! Differential: our Avro validator against apache-avro's decoder. The input is a schema (text
//! before the first NUL) and bytes (after it). Where apache-avro decodes the bytes, it encodes
//! the value again: that datum, which apache-avro itself wrote, must pass our validator.
//!
//! Not asserted the other way (our accepting ⇒ apache-avro decodes): apache-avro's reader
//! differs from Java's on purpose-irrelevant details (e.g. it checks logical-type contents
//! such as uuid strings), which our validator, like Confluent's Java one, does not.
#![no_main]

use std::sync::Once;

use contract::avro::{AvroSchema, APACHE_AVRO_SAFE_DEPTH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static LIMIT: Once = Once::new();
    // apache-avro trusts wire counts up to its allocation cap (512 MiB by default).
    LIMIT.call_once(|| {
        apache_avro::util::max_allocation_bytes(1 << 20);
    });
    let (text, bytes) = schemagate_fuzz::split(data);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let (Ok(ours), Ok(theirs)) = (
        AvroSchema::parse_registered(text, &[]),
        apache_avro::Schema::parse_str(text),
    ) else {
        return;
    };
    // apache-avro's decoder, encoder and its values' Clone, Debug and Drop recurse once per
    // level with no limit: a recursive schema and a long run of `02` bytes (or a record that
    // holds itself) overflowed this target's stack (SIGSEGV after 360,750 runs). Only datums
    // that cannot nest deeper than it handles safely go to it; ours refuses the deeper ones
    // itself (`contract::avro::tests::nesting`).
    if !ours
        .decode_depth_bound(bytes.len())
        .is_some_and(|d| d <= APACHE_AVRO_SAFE_DEPTH)
    {
        return;
    }
    let (Ok(reader), Ok(writer)) = (
        apache_avro::reader::datum::GenericDatumReader::builder(&theirs).build(),
        apache_avro::writer::datum::GenericDatumWriter::builder(&theirs).build(),
    ) else {
        return;
    };
    let Ok(value) = reader.read_value(&mut std::io::Cursor::new(bytes)) else {
        return;
    };
    let Ok(datum) = writer.write_value_to_vec(value.clone()) else {
        return;
    };
    if let Err(e) = ours.validate(&datum) {
        panic!("apache-avro wrote {datum:02x?} for {value:?} under {text}; we reject it: {e}");
    }
});
