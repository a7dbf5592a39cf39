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
    let scratch = tempfile::tempdir().expect("temp dir");
    lab_in(scratch.path(), args, report, vars)
}

/// [`lab`], with the report and whatever the command writes beside it kept in `scratch`.
fn lab_in(
    scratch: &std::path::Path,
    args: &[&str],
    report: &str,
    vars: &[(&str, PathBuf)],
) -> serde_json::Value {
    let broker = Broker::shared().unwrap_or_else(|e| panic!("{e}"));
    let out = scratch.join(report);
    let run = Command::new(loadgen_bin())
        .current_dir(repo())
        .arg("lab")
        .args(args)
        .args(["--bootstrap", &broker.bootstrap(), "--out"])
        .arg(&out)
        .arg("--log-dir")
        .arg(scratch)
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

#[test]
fn lab_formats_smoke_measures_both_formats_and_catches_the_reused_field_number() {
    let r = lab(
        &["formats", "--config", "loadgen/lab/formats-smoke.toml"],
        "formats.json",
        &[],
    );
    // Seven versions in two formats, 50 orders each, all read back and decoded by their own
    // version's reader.
    let sizes = r["sizes"].as_array().expect("sizes");
    assert_eq!(sizes.len(), 14, "{r}");
    for s in sizes {
        assert!(s["min"].as_u64().is_some_and(|m| m > 0), "{s}");
        assert_eq!(s["own_reader"]["records"], 50, "{s}");
        assert_eq!(s["own_reader"]["decoded"], 50, "{s}");
    }
    // With the frame, a Protobuf v1 order is larger than the Avro one (field tags, against Avro's
    // bare values; the generator pads notes so Avro v1 frames are 512 bytes).
    let size = |f: &str, v: &str| {
        sizes
            .iter()
            .find(|s| s["format"] == f && s["version"] == v)
            .and_then(|s| s["mean"].as_f64())
            .unwrap_or_else(|| panic!("no size {f} {v}"))
    };
    assert_eq!(size("avro", "v1"), 512.0, "{r}");
    assert!(size("protobuf", "v1") > size("avro", "v1"), "{r}");
    // What each format permits: removing a field passes FULL in Protobuf, not even FORWARD in Avro.
    let permit = |f: &str, v: &str, m: &str| {
        r["permits"]
            .as_array()
            .expect("permits")
            .iter()
            .find(|c| c["format"] == f && c["version"] == v && c["mode"] == m)
            .map(|c| c["verdict"]["accepted"].clone())
            .unwrap_or_else(|| panic!("no permit {f} {v} {m}"))
    };
    assert_eq!(permit("protobuf", "v4", "FULL"), true, "{r}");
    assert_eq!(permit("avro", "v4", "FORWARD"), false, "{r}");
    let pair = |name: &str| {
        r["pairs"]
            .as_array()
            .expect("pairs")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no pair {name}"))
            .clone()
    };
    // Field-number reuse: the registry and `schemagate check` accept it under every mode, every
    // record decodes, and every one of them holds an e-mail address as its coupon code.
    let reuse = pair("protobuf-reuse-email");
    for (mode, v) in reuse["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .map(|x| (&x[0], &x[1]))
    {
        assert_eq!(v["accepted"], true, "{mode}: {reuse}");
    }
    assert!(
        reuse["check"]
            .as_array()
            .expect("check")
            .iter()
            .all(|c| c["exit_code"] == 0),
        "{reuse}"
    );
    let misread = &reuse["new_reads_old"];
    assert_eq!(misread["count"]["records"], 50, "{reuse}");
    assert_eq!(misread["count"]["decoded"], 50, "{reuse}");
    assert_eq!(misread["misread"], misread["count"]["decoded"], "{reuse}");
    assert!(
        misread["samples"][0]["read"]
            .as_str()
            .is_some_and(|s| s.starts_with("coupon_code = ") && s.contains('@')),
        "{reuse}"
    );
    // Reusing an int32's number for an int64 is accepted too, and the old reader takes every
    // loyalty balance for a priority.
    let int64 = pair("protobuf-reuse-priority-int64");
    assert!(
        int64["verdicts"]
            .as_array()
            .expect("verdicts")
            .iter()
            .all(|x| x[1]["accepted"] == true),
        "{int64}"
    );
    assert_eq!(int64["old_reads_new"]["count"]["decoded"], 50, "{int64}");
    assert_eq!(int64["old_reads_new"]["misread"], 50, "{int64}");
    // Avro's alias rename: the new reader gets every e-mail back under its new name; the old
    // reader, which has no alias, reads nothing, and the registry says so under FORWARD.
    let alias = pair("avro-alias-rename-email");
    assert_eq!(alias["new_reads_old"]["count"]["decoded"], 50, "{alias}");
    assert_eq!(alias["new_reads_old"]["correct"], 50, "{alias}");
    assert_eq!(alias["new_reads_old"]["misread"], 0, "{alias}");
    assert_eq!(alias["old_reads_new"]["count"]["decoded"], 0, "{alias}");
    assert_eq!(alias["verdicts"][0][0], "BACKWARD", "{alias}");
    assert_eq!(alias["verdicts"][0][1]["accepted"], true, "{alias}");
    assert_eq!(alias["verdicts"][1][0], "FORWARD", "{alias}");
    assert_eq!(alias["verdicts"][1][1]["accepted"], false, "{alias}");
    assert_eq!(alias["verdicts"][1][1]["status"], 409, "{alias}");
    // The bench was not run for the smoke, and the report says so.
    assert_eq!(r["cpu"]["found"], false, "{r}");
}

#[test]
fn lab_replay_smoke_decodes_the_history_and_names_the_writer_it_cannot_read() {
    let r = lab(
        &["replay", "--config", "loadgen/lab/replay-smoke.toml"],
        "replay.json",
        &[],
    );
    let mixed = &r["mixed"];
    assert_eq!(mixed["written"]["acknowledged"], 4000, "{r}");
    assert_eq!(mixed["replayed"]["records"], 4000, "{r}");
    // Four writers in turns of 100 records: 1,000 each. v6 reads v1 (int promoted to long), v2
    // (an extra field skipped) and itself; v4 removed customer_email, which v6 has without a
    // default.
    let by_writer = &mixed["replayed"]["by_writer"];
    for v in ["v1", "v2", "v6"] {
        assert_eq!(by_writer[v]["records"], 1000, "{v}: {r}");
        assert_eq!(by_writer[v]["decoded"], 1000, "{v}: {r}");
    }
    assert_eq!(by_writer["v4"]["records"], 1000, "{r}");
    assert_eq!(by_writer["v4"]["decoded"], 0, "{r}");
    let message = by_writer["v4"]["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("customer_email"), "{message}");
    assert_eq!(r["decoded_percent"], 75.0, "{r}");
    let single = &r["single"]["replayed"];
    assert_eq!(single["records"], 1000, "{r}");
    assert_eq!(single["decoded"], 1000, "{r}");
    assert!(r["rate_vs_single"].as_f64().is_some_and(|x| x > 0.0), "{r}");
    // The broker was given (the run's cluster), so the lab cannot read its disk.
    assert!(r["disk_bytes_per_record"].is_null(), "{r}");
    assert!(
        r["extrapolation"]["replay_hours"]
            .as_f64()
            .is_some_and(|h| h > 0.0),
        "{r}"
    );
}

#[test]
fn lab_upgrade_smoke_derives_each_modes_order_and_the_proxy_prevents_the_wrong_one() {
    let r = lab(
        &["upgrade", "--config", "loadgen/lab/upgrade-smoke.toml"],
        "upgrade.json",
        &[],
    );
    let runs = r["runs"].as_array().expect("runs");
    let run = |mode: &str, order: &str, proxy: bool| {
        runs.iter()
            .find(|x| x["mode"] == mode && x["order"] == order && x["through_proxy"] == proxy)
            .unwrap_or_else(|| panic!("no run {mode} {order} proxy={proxy}: {r}"))
    };
    let errors = |x: &serde_json::Value| x["deserialize_errors"].as_u64().expect("count");
    for x in runs {
        assert_eq!(x["drained"], true, "{x}");
        // The consumers' counters and the Prometheus counter agree.
        assert_eq!(
            x["deserialize_errors"], x["deserialize_errors_total_metric"],
            "{x}"
        );
        assert_eq!(
            x["consumed"],
            x["decoded"].as_u64().unwrap() + errors(x),
            "{x}"
        );
    }
    // BACKWARD (v4 removes a field v1 requires): producers first breaks the old consumers, and
    // only them; consumers first is clean.
    let wrong = run("BACKWARD", "producers-first", false);
    let floor = |x: &serde_json::Value| x["predicted_errors_at_least"].as_u64().expect("floor");
    assert!(floor(wrong) > 0 && errors(wrong) >= floor(wrong), "{wrong}");
    assert_eq!(
        wrong["errors_by_reader"],
        serde_json::json!({"v1": errors(wrong)})
    );
    assert_eq!(errors(run("BACKWARD", "consumers-first", false)), 0);
    // FORWARD (v3 adds a required field): the reverse, the new consumers fail on old data.
    let wrong = run("FORWARD", "consumers-first", false);
    assert!(floor(wrong) > 0 && errors(wrong) >= floor(wrong), "{wrong}");
    assert_eq!(
        wrong["errors_by_reader"],
        serde_json::json!({"v3": errors(wrong)})
    );
    assert_eq!(errors(run("FORWARD", "producers-first", false)), 0);
    let modes = r["modes"].as_array().expect("modes");
    assert_eq!(modes[0]["order"], "consumers first", "{r}");
    assert_eq!(modes[1]["order"], "producers first", "{r}");
    assert!(modes.iter().all(|m| m["as_predicted"] == true), "{r}");
    // The wrong order again, through the enforcing proxy with `readers = [1]`: no consumer
    // fails, the v4 records wait in quarantine, and the replay after the consumers upgraded
    // delivers every one of them to consumers that decode them.
    let guarded = run("BACKWARD", "producers-first", true);
    assert_eq!(errors(guarded), 0, "{guarded}");
    let p = &guarded["proxy"];
    let quarantined = p["quarantined"].as_u64().expect("count");
    assert!(quarantined > 0, "{p}");
    assert_eq!(
        p["reasons"],
        serde_json::json!({"reader-incompatible": quarantined})
    );
    // Every v4 record was held back: quarantined + on the topic = acknowledged.
    let v4: u64 = guarded["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["produced"]["v4"].as_u64())
        .sum();
    assert_eq!(quarantined, v4, "{guarded}");
    assert_eq!(
        p["on_topic"].as_u64().unwrap() + quarantined,
        p["acknowledged"].as_u64().unwrap()
    );
    // With the old reader still declared, a replay releases nothing.
    assert_eq!(p["replay_dry_run_before_upgrade"]["passed"], 0, "{p}");
    assert_eq!(p["replay"]["exit_code"], 0, "{p}");
    assert_eq!(p["replay"]["produced"].as_u64(), Some(quarantined), "{p}");
    assert_eq!(p["decoded_after_replay"].as_u64(), Some(quarantined), "{p}");
    assert_eq!(p["errors_after_replay"], 0, "{p}");
}

#[test]
fn lab_rollout_smoke_fails_the_wrong_order_under_load_and_full_survives_a_random_one() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let r = lab_in(
        scratch.path(),
        &["rollout", "--config", "loadgen/lab/rollout-smoke.toml"],
        "rollout.json",
        &[],
    );
    let runs = r["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{r}");
    let n = |x: &serde_json::Value, k: &str| x[k].as_u64().unwrap_or_else(|| panic!("{k}: {x}"));
    for x in runs {
        assert_eq!(
            x["deserialize_errors"], x["deserialize_errors_total_metric"],
            "{x}"
        );
        // Both versions coexisted for a while, and it was sampled about every 500 ms, with a
        // lag value per group in every sample.
        let c = &x["coexistence"];
        assert!(c["seconds"].as_f64().unwrap() > 0.0, "{c}");
        let samples = x["samples"].as_array().expect("samples");
        let secs = x["samples"][samples.len() - 1]["t_s"].as_f64().unwrap();
        assert!(
            samples.len() as f64 >= secs / 0.5 * 0.8,
            "{} in {secs} s",
            samples.len()
        );
        assert!(samples
            .iter()
            .all(|s| s["lag"].as_array().map(Vec::len) == Some(2)));
        assert!(
            samples.iter().any(|s| s["lag"][0].as_u64() > Some(0)),
            "{x}"
        );
        assert!(
            samples
                .iter()
                .any(|s| s["acked_per_s"].as_f64() > Some(0.0)),
            "{x}"
        );
        // Every instance ended on the new version.
        let last = &samples[samples.len() - 1];
        assert_eq!(
            (
                last["producers_new"].as_u64(),
                last["consumers_new"].as_u64()
            ),
            (Some(2), Some(4))
        );
        // Written = acknowledged (no producer error), and both groups read all of it.
        let written: u64 = x["produced"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|v| v.as_u64())
            .sum();
        assert!(
            written > 0
                && x["client_errors"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .all(|k| k.starts_with("consumer")),
            "{x}"
        );
        // Both groups read all of it across the restarts. Up to 1.3 % went unread here before
        // the fleet's consumers handled what their close hands back (rust-rdkafka's Drop
        // discarded those records and librdkafka committed their offsets).
        for (g, unread) in x["received"]
            .as_array()
            .unwrap()
            .iter()
            .zip(x["unread"].as_array().unwrap())
        {
            assert!(g.as_u64().unwrap() >= written, "{x}");
            assert_eq!(unread.as_u64(), Some(0), "{x}");
        }
        let chart = scratch.path().join(x["chart"].as_str().expect("chart"));
        let png = std::fs::read(&chart).unwrap_or_else(|e| panic!("{}: {e}", chart.display()));
        assert_eq!(&png[1..4], b"PNG");
    }
    // BACKWARD v4, producers first under load: the v1 consumers fail on v4 records, and only they.
    let wrong = &runs[0];
    assert_eq!(
        (wrong["mode"].as_str(), wrong["order"].as_str()),
        (Some("BACKWARD"), Some("producers-first"))
    );
    assert!(n(wrong, "deserialize_errors") > 0, "{wrong}");
    assert_eq!(
        wrong["errors_by_reader"],
        serde_json::json!({"v1": n(wrong, "deserialize_errors")})
    );
    assert!(n(wrong, "errors_in_window") > 0, "{wrong}");
    // FULL v2 in a seeded random order of producers and consumers: nothing fails.
    let full = &runs[1];
    assert_eq!(full["mode"], "FULL");
    assert!(
        full["order"]
            .as_str()
            .is_some_and(|o| o.starts_with("random (seed ")),
        "{full}"
    );
    assert_eq!(n(full, "deserialize_errors"), 0, "{full}");
    assert!(n(full, "decoded") > 0, "{full}");
    // The costs are measured: the proxy used CPU for the records it checked.
    let costs = &r["costs"];
    assert!(
        costs["proxy_us_per_record"].as_f64().unwrap() > 0.0,
        "{costs}"
    );
    assert_eq!(
        costs["records"].as_u64(),
        Some(
            runs.iter()
                .map(|x| x["produced"]
                    .as_object()
                    .unwrap()
                    .values()
                    .filter_map(|v| v.as_u64())
                    .sum::<u64>())
                .sum()
        )
    );
}
