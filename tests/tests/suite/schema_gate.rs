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
