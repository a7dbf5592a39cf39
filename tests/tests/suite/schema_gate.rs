//! `scripts/schema-gate`, the pull-request gate, on a real git repository with the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use schemagate_tests::env;

const V1: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}"#;
const WITH_DEFAULT: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"note","type":"string","default":""}]}"#;
const WITHOUT_DEFAULT: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"priority","type":"int"}]}"#;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn gate(dir: &Path) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/schema-gate");
    let bin = env::schemagate_bin().unwrap_or_else(|e| panic!("{e}"));
    Command::new(script)
        .args(["--base", "HEAD", "--bin"])
        .arg(bin)
        .current_dir(dir)
        .output()
        .expect("schema-gate runs")
}

#[test]
fn the_gate_fails_a_breaking_change_and_names_the_field() {
    let repo = tempfile::tempdir().expect("temp dir");
    let dir = repo.path();
    std::fs::create_dir(dir.join("schemas")).unwrap();
    std::fs::write(dir.join("schemas/order.avsc"), V1).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "v1"]);

    std::fs::write(dir.join("schemas/order.avsc"), WITH_DEFAULT).unwrap();
    let ok = gate(dir);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(text.contains("ok       schemas/order.avsc"), "{text}");

    std::fs::write(dir.join("schemas/order.avsc"), WITHOUT_DEFAULT).unwrap();
    let bad = gate(dir);
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(text.contains("BREAKING schemas/order.avsc"), "{text}");
    assert!(
        text.contains("Order.priority"),
        "the diff names the field: {text}"
    );
}

/// A Protobuf field number kept under a new name is compatible on the wire, so the gate passes
/// it, but `schemagate check` notes it and the gate prints the note under its `ok` line:
/// reusing a number for a field of another meaning makes readers misread every value
/// (experiment 5). Reserving the number and adding a new one gets no note.
#[test]
fn the_gate_passes_a_reused_protobuf_field_number_with_a_note_naming_it() {
    let schemas = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../loadgen/schemas");
    let read = |name: &str| std::fs::read_to_string(schemas.join(name)).expect("a lab schema");
    let repo = tempfile::tempdir().expect("temp dir");
    let dir = repo.path();
    std::fs::create_dir(dir.join("schemas")).unwrap();
    std::fs::write(dir.join("schemas/order.proto"), read("order-v1.proto")).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "v1"]);

    std::fs::write(
        dir.join("schemas/order.proto"),
        read("order-reuse-email.proto"),
    )
    .unwrap();
    let reused = gate(dir);
    let text = String::from_utf8_lossy(&reused.stdout);
    assert_eq!(reused.status.code(), Some(0), "{text}");
    assert!(text.contains("ok       schemas/order.proto"), "{text}");
    assert!(
        text.contains("note: #/Order/8: field customer_email renamed coupon_code"),
        "{text}"
    );

    std::fs::write(
        dir.join("schemas/order.proto"),
        read("order-reserve-email.proto"),
    )
    .unwrap();
    let reserved = gate(dir);
    let text = String::from_utf8_lossy(&reserved.stdout);
    assert_eq!(reserved.status.code(), Some(0), "{text}");
    assert!(!text.contains("note:"), "{text}");
}
