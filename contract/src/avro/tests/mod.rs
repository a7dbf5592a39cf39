//! Tests of the Avro module, one file per concern.
