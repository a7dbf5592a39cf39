//! The race rules: every instance that applies the same log reaches the same state, and the
//! first record in the log wins every contest.

use super::*;
use crate::record::{LogRecord, RecordKey, SchemaValue};

fn schema_rec(subject: &str, version: i32, id: i32, text: &str) -> LogRecord {
    LogRecord::new(
        RecordKey::schema(subject, version),
        &SchemaValue {
            subject: subject.into(),
            version,
            id,
            schema_type: None,
            references: vec![],
            schema: text.into(),
            deleted: false,
        },
    )
}

fn replay(log: &[LogRecord]) -> State {
    let mut s = State::default();
    for r in log {
        s.apply(r);
    }
    s
}

#[test]
fn an_id_belongs_to_the_first_record_carrying_it() {
    // Two writers both picked id 1 for different schemas in different subjects.
    let log = [
        schema_rec("a", 1, 1, "\"string\""),
        schema_rec("b", 1, 1, "\"int\""),
        // The loser retried with a higher id.
        schema_rec("b", 1, 2, "\"int\""),
    ];
    let s = replay(&log);
    assert_eq!(s.schema(1).unwrap().schema, "\"string\"");
    assert_eq!(s.schema(2).unwrap().schema, "\"int\"");
    assert_eq!(s.entry("b", 1).unwrap().id, 2);
    assert_eq!(s.next_id(), 3);
}

#[test]
fn a_version_belongs_to_the_first_record_for_it() {
    let log = [
        schema_rec("s", 1, 1, "\"string\""),
        schema_rec("s", 1, 2, "\"int\""),
        // Repair: the loser writes the winner's value again so compaction keeps it.
        schema_rec("s", 1, 1, "\"string\""),
        schema_rec("s", 2, 2, "\"int\""),
    ];
    let s = replay(&log);
    assert_eq!(s.entry("s", 1).unwrap().id, 1);
    assert_eq!(s.entry("s", 2).unwrap().id, 2);
    assert_eq!(s.versions("s", false).unwrap(), vec![1, 2]);
}

#[test]
fn one_content_keeps_its_first_id() {
    let log = [
        schema_rec("a", 1, 1, "\"string\""),
        // Another writer gave the same content a new id: ignored.
        schema_rec("b", 1, 2, "\"string\""),
        schema_rec("b", 1, 1, "\"string\""),
    ];
    let s = replay(&log);
    assert!(s.schema(2).is_none());
    assert_eq!(s.entry("b", 1).unwrap().id, 1);
    assert_eq!(s.versions_of_id(1, false).len(), 2);
}

#[test]
fn deletes_config_and_mode_follow_the_log() {
    let mut deleted = schema_rec("s", 1, 1, "\"string\"");
    deleted.value = Some(
        br#"{"subject":"s","version":1,"id":1,"schema":"\"string\"","deleted":true}"#.to_vec(),
    );
    let log = [
        schema_rec("s", 1, 1, "\"string\""),
        schema_rec("s", 2, 2, "\"int\""),
        deleted,
        LogRecord::new(
            RecordKey::Config {
                subject: None,
                magic: 0,
            },
            &crate::record::ConfigValue {
                compatibility_level: "FULL".into(),
            },
        ),
        LogRecord::new(
            RecordKey::Mode {
                subject: Some("s".into()),
                magic: 0,
            },
            &crate::record::ModeValue {
                mode: "READONLY".into(),
            },
        ),
        LogRecord::tombstone(RecordKey::schema("s", 2)),
    ];
    let s = replay(&log);
    assert_eq!(s.versions("s", true).unwrap(), vec![1]);
    assert!(s.versions("s", false).is_err());
    assert_eq!(s.global_config(), CompatibilityMode::Full);
    assert_eq!(s.effective_mode("s"), Mode::ReadOnly);
    assert_eq!(s.effective_mode("t"), Mode::ReadWrite);
    // Ids stay bound after a permanent delete, so a re-registration gets the same id.
    assert_eq!(s.schema(2).unwrap().schema, "\"int\"");
}

#[test]
fn garbage_records_change_nothing() {
    let mut s = State::default();
    for (k, v) in [
        (
            &br#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#[..],
            Some(&b"{not json"[..]),
        ),
        (
            br#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#,
            Some(br#"{"subject":"t","version":1,"id":1,"schema":"x"}"#),
        ),
        (
            br#"{"keytype":"CONFIG","subject":null,"magic":0}"#,
            Some(br#"{"compatibilityLevel":"SIDEWAYS"}"#),
        ),
    ] {
        if let Some(r) = LogRecord::decode(k, v) {
            s.apply(&r);
        }
    }
    assert!(s.subjects(true).is_empty());
    assert_eq!(s.global_config(), CompatibilityMode::Backward);
}

#[test]
fn references_resolve_transitively_dependencies_first() {
    let refd = |subject: &str, id: i32, text: &str, refs: Vec<SchemaReference>| {
        LogRecord::new(
            RecordKey::schema(subject, 1),
            &SchemaValue {
                subject: subject.into(),
                version: 1,
                id,
                schema_type: None,
                references: refs,
                schema: text.into(),
                deleted: false,
            },
        )
    };
    let r = |name: &str, subject: &str| SchemaReference {
        name: name.into(),
        subject: subject.into(),
        version: 1,
    };
    let log = [
        refd("c", 1, "C", vec![]),
        refd("b", 2, "B", vec![r("C", "c")]),
        refd("a", 3, "A", vec![r("B", "b")]),
    ];
    let s = replay(&log);
    let resolved = s.resolve(&[r("B", "b")]).unwrap();
    let names: Vec<&str> = resolved.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["C", "B"]);
    assert!(s.resolve(&[r("X", "missing")]).is_err());
    assert_eq!(s.referenced_by("c", 1), vec![2]);
}

proptest::proptest! {
    /// Whatever bytes a log holds, a record that decodes applies without a panic (moved here
    /// from `record.rs`, whose tests do not reach into the state).
    #[test]
    fn random_bytes_never_panic(key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
                                value in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256))) {
        if let Some(rec) = LogRecord::decode(&key, value.as_deref()) {
            let mut state = State::default();
            state.apply(&rec);
        }
    }
}
