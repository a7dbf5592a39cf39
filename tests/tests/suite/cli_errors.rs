//! The real binary's start-up errors name their cause once: an error either puts its cause in
//! its own message or exposes it as `source()`, never both, so the CLI's `{:#}` chain does not
//! print it twice.

use std::process::{Command, Stdio};
use std::time::Duration;

use schemagate_tests::env;

const CAUSE: &str = "No such file or directory";

#[test]
fn a_missing_file_is_named_with_its_cause_once() {
    let bin = env::schemagate_bin().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("missing");
    let missing = missing
        .to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 temp path"));
    let listen = "127.0.0.1:1"; // never bound: each case fails before listening
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "proxy --policy",
            vec![
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--listen",
                listen,
                "--policy",
                missing,
                "--registry",
                "http://127.0.0.1:1",
            ],
        ),
        (
            "registry --credentials",
            vec!["registry", "--listen", listen, "--credentials", missing],
        ),
        (
            "registry --permissions",
            vec!["registry", "--listen", listen, "--permissions", missing],
        ),
        (
            "registry --jwks-file",
            vec![
                "registry",
                "--listen",
                listen,
                "--jwks-file",
                missing,
                "--jwt-issuer",
                "i",
                "--jwt-audience",
                "a",
            ],
        ),
        (
            "check --proposed",
            vec![
                "check",
                "--type",
                "AVRO",
                "--proposed",
                missing,
                "--existing",
                missing,
            ],
        ),
    ];
    for (case, args) in cases {
        let mut child = Command::new(&bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{case}: spawning {}: {e}", bin.display()));
        // Bounded: each case fails at start; one that keeps running is killed and fails.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{case}: exited 0\n{stderr}");
        assert!(
            stderr.contains(missing),
            "{case}: the path is not named\n{stderr}"
        );
        assert_eq!(
            stderr.matches(CAUSE).count(),
            1,
            "{case}: the cause must appear exactly once\n{stderr}"
        );
    }
}
