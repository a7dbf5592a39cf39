//! Smoke runs of the evolution lab's commands (`loadgen lab ...`, issue 12) with small counts:
//! the real loadgen binary against the run's Kafka cluster and the real `schemagate registry`.

use std::path::PathBuf;
use std::process::Command;

use schemagate_tests::{env, Broker};

fn loadgen_bin() -> PathBuf {
    let bin = env::target_dir().join("debug").join("loadgen");
    assert!(
        bin.is_file(),
        "{} is missing: cargo build -p loadgen",
        bin.display()
    );
    bin
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `loadgen lab ARGS --bootstrap <the run's cluster> --out <scratch>/<report> --log-dir
/// <scratch>` from the repository root, with `SCHEMAGATE_BIN` and `vars` set;
/// fails the test unless it exits 0, and returns the JSON report it wrote.
fn lab(args: &[&str], report: &str, vars: &[(&str, PathBuf)]) -> serde_json::Value {
    let broker = Broker::shared().unwrap_or_else(|e| panic!("{e}"));
    let scratch = tempfile::tempdir().expect("temp dir");
    let out = scratch.path().join(report);
    let run = Command::new(loadgen_bin())
        .current_dir(repo())
        .arg("lab")
        .args(args)
        .args(["--bootstrap", &broker.bootstrap(), "--out"])
        .arg(&out)
        .arg("--log-dir")
        .arg(scratch.path())
        .env(
            "SCHEMAGATE_BIN",
            env::schemagate_bin().unwrap_or_else(|e| panic!("{e}")),
        )
        .envs(vars.iter().cloned())
        .output()
        .expect("loadgen runs");
    assert!(
        run.status.success(),
        "loadgen lab {} failed: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out).expect("report written")).expect("JSON")
}

#[test]
fn lab_matrix_smoke_finds_the_protobuf_zero_value_disagreement() {
    let python = env::python().unwrap_or_else(|e| panic!("{e}"));
    let report = lab(
        &["matrix", "--config", "loadgen/lab/matrix-smoke.toml"],
        "matrix.json",
        &[("SCHEMAGATE_PYTHON", python)],
    );
    let cells = report["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 2 * 2 * 4);
    let cell = |f: &str, v: &str, m: &str| {
        cells
            .iter()
            .find(|c| c["format"] == f && c["version"] == v && c["mode"] == m)
            .unwrap_or_else(|| panic!("no cell {f} {v} {m}"))
    };
    // Adding an optional field is accepted everywhere and every record decodes both ways.
    for m in ["NONE", "BACKWARD", "FORWARD", "FULL"] {
        assert_eq!(cell("avro", "v2", m)["verdict"]["accepted"], true, "{m}");
        assert_eq!(cell("avro", "v2", m)["agrees"], true, "{m}");
    }
    // int → string: the registry answers 409 with its message, and the decode agrees (Avro).
    let v7 = cell("avro", "v7", "BACKWARD");
    assert_eq!(v7["verdict"]["status"], 409);
    assert!(v7["verdict"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("incompatible")));
    assert_eq!(v7["agrees"], true);
    // Protobuf int32 → string: rejected, yet the zero priorities still decode with the new reader.
    let pb = cell("protobuf", "v7", "BACKWARD");
    assert_eq!(pb["verdict"]["accepted"], false);
    assert_eq!(pb["agrees"], false, "{pb}");
    let decodes = report["decodes"].as_array().expect("decodes");
    let row = |f: &str, v: &str, r: &str| {
        decodes
            .iter()
            .find(|d| d["format"] == f && d["version"] == v && d["reader"] == r)
            .unwrap_or_else(|| panic!("no decode row {f} {v} {r}"))
    };
    let pb_row = row("protobuf", "v7", "loadgen");
    assert_eq!(pb_row["new_reads_old"]["Ok"]["decoded"], 4, "{pb_row}");
    assert_eq!(pb_row["old_reads_new"]["Ok"]["decoded"], 0, "{pb_row}");
    // Go's protobuf keeps a field of the wrong wire type as unknown fields instead of failing:
    // it "decodes" every record both ways (the languages disagree; docs/EVOLUTION.md).
    let go_row = row("protobuf", "v7", "go-protobuf");
    assert_eq!(go_row["new_reads_old"]["Ok"]["decoded"], 50, "{go_row}");
    assert_eq!(go_row["old_reads_new"]["Ok"]["decoded"], 50, "{go_row}");
    // fastavro, hamba/avro and Java Avro, reading from Kafka with writer schemas from the registry,
    // agree with ours.
    for r in ["loadgen", "python-fastavro", "go-hamba-avro", "java-avro"] {
        let d = row("avro", "v7", r);
        assert_eq!(d["new_reads_old"]["Ok"]["records"], 50, "{r}: {d}");
        assert_eq!(d["new_reads_old"]["Ok"]["decoded"], 0, "{r}: {d}");
        let controls = d["control"]["Ok"].as_array().expect("controls ran");
        assert!(controls.iter().all(|c| c["decoded"] == 50), "{r}: {d}");
    }
    assert_eq!(
        row("avro", "v2", "python-fastavro")["old_reads_new"]["Ok"]["decoded"],
        50
    );
}

#[test]
fn lab_gate_smoke_stops_the_breaking_change_at_every_line() {
    let r = lab(
        &[
            "gate",
            "--config",
            "loadgen/lab/gate.toml",
            "--records",
            "10",
        ],
        "gate.json",
        &[],
    );
    for c in r["check"].as_array().expect("checks") {
        assert_eq!(c["exit_code"], 1, "{c}");
        assert!(
            c["stdout"]
                .as_str()
                .is_some_and(|s| s.contains("Order.region")),
            "{c}"
        );
    }
    assert_eq!(r["registry"]["status"], 409, "{r}");
    let reasons: Vec<&serde_json::Value> = r["producers"]
        .as_array()
        .expect("producers")
        .iter()
        .map(|p| &p["reasons"])
        .collect();
    assert_eq!(
        reasons,
        [
            &serde_json::json!({}),
            &serde_json::json!({"decode-failed": 10}),
            &serde_json::json!({"subject-mismatch": 10}),
            &serde_json::json!({"unknown-schema-id": 10}),
        ]
    );
    assert_eq!(r["producers"][0]["on_topic"], 10);
    assert_eq!(r["all_held"], true, "{r}");
}
