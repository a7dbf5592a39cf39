//! `schemagate proxy` refuses to start on TLS configuration it can judge offline — a missing
//! file, a key that does not parse, a key that is not the certificate's — with one clear line
//! naming the file, and starts on everything it cannot judge offline (an unreachable broker).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use schemagate_tests::certs::LOOPBACK;
use schemagate_tests::{env, net, Proxy};

use crate::tls::{issue, new_ca, path};

/// How long a refusal may take: it happens before any socket is opened.
const REFUSAL_WITHIN: Duration = Duration::from_secs(20);

/// Runs `schemagate proxy <flags>` in front of a closed port; returns its exit code and
/// stderr, or fails the test if it is still running after [`REFUSAL_WITHIN`].
fn refused(flags: &[String]) -> (Option<i32>, String) {
    let listen = net::free_port().unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(env::schemagate_bin().unwrap_or_else(|e| panic!("{e}")))
        .args(["proxy", "--upstream", "127.0.0.1:1"])
        .args(["--listen", &format!("127.0.0.1:{listen}")])
        .args(flags)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting schemagate: {e}"));
    let deadline = Instant::now() + REFUSAL_WITHIN;
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemagate proxy {flags:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("reading schemagate's stderr: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn flags(pairs: &[(&str, &Path)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, p)| [(*flag).to_owned(), path(p)])
        .collect()
}

#[test]
fn offline_tls_mistakes_are_refused_at_start_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = new_ca(dir.path(), "ca");
    let server = issue(&ca, "server", LOOPBACK);
    let other = issue(&ca, "other", LOOPBACK);
    let missing = dir.path().join("missing-ca.pem");
    let garbage = dir.path().join("garbage.key");
    std::fs::write(
        &garbage,
        "-----BEGIN PRIVATE KEY-----\n!!not base64!!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let upstream = |pairs: &[(&str, &Path)]| {
        let mut f = vec!["--upstream-tls".to_owned()];
        f.extend(flags(pairs));
        f
    };
    let unreadable = vec![
        format!("cannot read {}", path(&missing)),
        "No such file or directory".to_owned(),
    ];
    let not_pem = vec![format!("{} is not valid PEM", path(&garbage))];
    let mismatch = vec![format!(
        "{} is not the private key of the certificate in {}",
        path(&other.key),
        path(&server.cert)
    )];
    let (cert, key, client_ca) = ("--tls-cert", "--tls-key", "--tls-client-ca");
    let (up_cert, up_key) = ("--upstream-cert", "--upstream-key");
    // (case, flags, what the one error line must say)
    let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "missing upstream CA file",
            upstream(&[("--upstream-ca-file", &missing)]),
            unreadable.clone(),
        ),
        (
            "missing client CA file",
            flags(&[
                (cert, &server.cert),
                (key, &server.key),
                (client_ca, &missing),
            ]),
            unreadable,
        ),
        (
            "listener key that does not parse",
            flags(&[(cert, &server.cert), (key, &garbage)]),
            not_pem.clone(),
        ),
        (
            "listener key file holding a certificate",
            flags(&[(cert, &server.cert), (key, &server.cert)]),
            vec![format!("{} holds no PEM private key", path(&server.cert))],
        ),
        (
            "listener certificate and key that do not match",
            flags(&[(cert, &server.cert), (key, &other.key)]),
            mismatch.clone(),
        ),
        (
            "upstream client certificate and key that do not match",
            upstream(&[(up_cert, &server.cert), (up_key, &other.key)]),
            mismatch,
        ),
        (
            "upstream client key that does not parse",
            upstream(&[(up_cert, &server.cert), (up_key, &garbage)]),
            not_pem,
        ),
        (
            "no trust at all",
            vec![
                "--upstream-tls".to_owned(),
                "--upstream-no-system-roots".to_owned(),
            ],
            vec!["needs at least one --upstream-ca-file".to_owned()],
        ),
        (
            "a librdkafka setting that is not KEY=VALUE",
            vec!["-X".to_owned(), "security.protocol".to_owned()],
            vec!["-X \"security.protocol\" is not KEY=VALUE".to_owned()],
        ),
    ];
    for (case, flags, says) in cases {
        let (code, stderr) = refused(&flags);
        assert_eq!(code, Some(2), "{case}: exit code\n{stderr}");
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{case}: one error line\n{stderr}");
        for words in &says {
            // Exactly once: a cause printed both in the message and as its source would
            // appear twice.
            assert_eq!(
                errors[0].matches(words.as_str()).count(),
                1,
                "{case}: {words:?} once in {:?}",
                errors[0]
            );
        }
    }
}

#[test]
fn what_cannot_be_judged_offline_does_not_stop_the_start() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = new_ca(dir.path(), "ca");
    let server = issue(&ca, "server", LOOPBACK);
    // A closed broker port: whether it ever answers is not known at start.
    let closed = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
    let mut with = vec![
        "--upstream-tls".to_owned(),
        "--upstream-no-system-roots".to_owned(),
    ];
    with.extend(flags(&[
        ("--upstream-ca-file", &ca.ca_path()),
        ("--tls-cert", &server.cert),
        ("--tls-key", &server.key),
        ("--tls-client-ca", &ca.ca_path()),
    ]));
    let mut proxy = Proxy::start_with(&[closed], &with).unwrap_or_else(|e| panic!("{e}"));
    assert!(proxy.is_running(), "{}", proxy.log_tail());
    assert_eq!(
        proxy.wait_for_readyz(503, Duration::from_secs(5)),
        Some(503),
        "no upstream answers, so not ready\n{}",
        proxy.log_tail()
    );
}
