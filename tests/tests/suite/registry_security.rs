//! A secured `schemagate registry` (TLS from a test CA, users from a credentials file written by
//! `schemagate hash-password`, bearer JWTs signed by a key of the test's own, and the committed
//! "writes from CI only" example permissions), driven by real clients: Confluent's Python
//! client and serializers, the kafkajs registry client, and schemagate's own `check` and proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use schemagate_tests::certs::{TestCa, Validity, LOOPBACK};
use schemagate_tests::{env, net, Broker, ClientRun, Metrics, Proxy, Registry};
use serde_json::json;

use crate::support::unique;

const ISSUER: &str = "https://idp.schemagate.test";
const AUDIENCE: &str = "schema-registry";
const USERS: [(&str, &str); 3] = [
    ("ci-pipeline", "ci-secret"),
    ("svc-orders", "orders-secret"),
    ("schemagate-proxy", "proxy-secret"),
];

/// Where the registry reads the token keys from.
enum KeysFrom {
    /// `--jwks-file`.
    File,
    /// `--jwks-url`, served by the test on loopback.
    Url,
}

/// Serves `body` as JSON to every HTTP request on a loopback port, for the life of the test
/// process; returns the URL.
fn serve_forever(body: String) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    url
}

/// A secured registry and what its clients need.
struct Secured {
    registry: Registry,
    admin: SocketAddr,
    dir: tempfile::TempDir,
    ca: PathBuf,
    other_ca: PathBuf,
    /// A client certificate from the registry's CA, for `--tls-client-ca`.
    client: schemagate_tests::certs::Issued,
    signer: rcgen::KeyPair,
}

fn bin() -> PathBuf {
    env::schemagate_bin().unwrap_or_else(|e| panic!("{e}"))
}

/// `user:hash`, as `schemagate hash-password` prints it.
fn credentials_line(user: &str, password: &str) -> String {
    let out = ClientRun::program("schemagate hash-password", bin())
        .args(["hash-password", user])
        .stdin(format!("{password}\n"))
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let line = out.stdout.trim().to_owned();
    assert!(line.starts_with(&format!("{user}:$argon2id$")), "{line}");
    line
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

impl Secured {
    fn start() -> Self {
        Self::start_with(KeysFrom::File, |_| Vec::new())
    }

    /// As [`Secured::start`], with flags chosen from the registry CA's path.
    fn start_with(keys: KeysFrom, extra: impl FnOnce(&Path) -> Vec<String>) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let ca =
            TestCa::new(&dir.path().join("ca"), "registry CA").unwrap_or_else(|e| panic!("{e}"));
        let other =
            TestCa::new(&dir.path().join("other"), "another CA").unwrap_or_else(|e| panic!("{e}"));
        let server = ca
            .issue("registry", LOOPBACK, Validity::Current)
            .unwrap_or_else(|e| panic!("{e}"));
        let client = ca
            .issue("ci-client", &["ci.example"], Validity::Current)
            .unwrap_or_else(|e| panic!("{e}"));
        let credentials = dir.path().join("users.txt");
        let lines: Vec<String> = USERS.iter().map(|(u, p)| credentials_line(u, p)).collect();
        write(&credentials, &(lines.join("\n") + "\n"));
        let signer = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let raw = signer.public_key_raw();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "test-key", "alg": "ES256",
            "use": "sig", "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}]});
        let jwks_path = dir.path().join("jwks.json");
        write(&jwks_path, &jwks.to_string());
        let jwks_flag = match keys {
            KeysFrom::File => ["--jwks-file".to_owned(), jwks_path.display().to_string()],
            KeysFrom::Url => ["--jwks-url".to_owned(), serve_forever(jwks.to_string())],
        };
        let admin = SocketAddr::from((
            [127, 0, 0, 1],
            net::free_port().unwrap_or_else(|e| panic!("{e}")),
        ));
        let flags = [
            "--tls-cert",
            &server.cert.display().to_string(),
            "--tls-key",
            &server.key.display().to_string(),
            "--credentials",
            &credentials.display().to_string(),
            "--permissions",
            &examples()
                .join("registry-permissions.toml")
                .display()
                .to_string(),
            &jwks_flag[0],
            &jwks_flag[1],
            "--jwt-issuer",
            ISSUER,
            "--jwt-audience",
            AUDIENCE,
            "--jwt-groups-claim",
            "groups",
            "--reload-secs",
            "1",
            "--admin",
            &admin.to_string(),
        ]
        .map(String::from)
        .into_iter()
        .chain(extra(&ca.ca_path()))
        .collect();
        let registry = Registry::start_https("memory", flags).unwrap_or_else(|e| panic!("{e}"));
        Self {
            registry,
            admin,
            ca: ca.ca_path(),
            other_ca: other.ca_path(),
            client,
            signer,
            dir,
        }
    }

    /// A JWT for `sub`, expiring `exp_in` seconds from now (negative: already expired).
    fn token(&self, sub: &str, exp_in: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let claims =
            json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + exp_in});
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("test-key".into());
        let key = EncodingKey::from_ec_der(&self.signer.serialize_der());
        jsonwebtoken::encode(&header, &claims, &key).unwrap_or_else(|e| panic!("{e}"))
    }

    fn user_info(user: &str) -> String {
        let (u, p) = USERS
            .iter()
            .find(|(u, _)| *u == user)
            .copied()
            .unwrap_or_default();
        format!("{u}:{p}")
    }

    fn metrics(&self) -> Metrics {
        match schemagate_tests::http::request(self.admin, "GET", "/metrics", None) {
            Ok((200, body)) => Metrics::parse(&body),
            other => panic!("registry /metrics: {other:?}"),
        }
    }

    /// `schemagate check --registry URL --subject S` with `auth` flags: exit code and output.
    fn check(&self, subject: &str, auth: &[&str]) -> (i32, String) {
        let proposed = self.dir.path().join("proposed.avsc");
        write(
            &proposed,
            r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int","default":1}]}"#,
        );
        let out = Command::new(bin())
            .env_remove("SCHEMAGATE_REGISTRY_BASIC_AUTH")
            .env_remove("SCHEMAGATE_REGISTRY_BEARER_TOKEN")
            .args([
                "check",
                "--registry",
                &self.registry.url(),
                "--subject",
                subject,
            ])
            .arg("--proposed")
            .arg(&proposed)
            .args(auth)
            .output()
            .unwrap_or_else(|e| panic!("running schemagate check: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn client(&self, run: ClientRun, tag: &str) -> ClientRun {
        run.arg(self.registry.url())
            .arg(&self.ca)
            .arg(&self.other_ca)
            .env("SG_RUN", tag)
            .env("SG_CI_USER_INFO", Self::user_info("ci-pipeline"))
            .env("SG_SVC_USER_INFO", Self::user_info("svc-orders"))
            .env("SG_CI_TOKEN", self.token("ci-pipeline", 300))
            .env("SG_EXPIRED_TOKEN", self.token("ci-pipeline", -600))
            .timeout(Duration::from_secs(180))
    }
}

fn counted(m: &Metrics, access: &str, outcome: &str) -> f64 {
    m.sum(
        "schemagate_registry_access_total",
        &[("access", access), ("outcome", outcome)],
    )
}

#[test]
fn confluent_python_client_ci_writes_services_read_teams_are_apart_and_tokens_expire() {
    let secured = Secured::start();
    let tag = unique("py");
    let run = ClientRun::python("registry_security_check.py").unwrap_or_else(|e| panic!("{e}"));
    let out = secured
        .client(run, &tag)
        .run()
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", secured.registry.log_tail()));
    assert!(
        out.stdout.contains("all registry security checks passed"),
        "{}",
        out.stdout
    );

    // The audit trail: one line for each write and each refusal, and the counters agree.
    let log = secured.registry.log_tail();
    let denied = log.lines().find(|l| {
        l.contains("schemagate::audit")
            && l.contains("principal=\"svc-orders\"")
            && l.contains(&format!("subject=\"orders-{tag}-value\""))
            && l.contains("outcome=denied")
            && l.contains("status=403")
    });
    assert!(
        denied.is_some(),
        "no audit line for the refused write:\n{log}"
    );
    let written = log.lines().any(|l| {
        l.contains("schemagate::audit")
            && l.contains("principal=\"ci-pipeline\"")
            && l.contains("method=POST")
            && l.contains("outcome=allowed")
            && l.contains("status=200")
    });
    assert!(written, "no audit line for CI's registration:\n{log}");
    let m = secured.metrics();
    assert!(counted(&m, "write", "allowed") >= 3.0, "{}", m.text());
    assert!(counted(&m, "write", "denied") >= 1.0, "{}", m.text());
    assert!(counted(&m, "read", "denied") >= 2.0, "{}", m.text());
    assert!(
        counted(&m, "read", "unauthenticated") >= 3.0,
        "{}",
        m.text()
    );
}

#[test]
fn client_certificates_are_required_when_a_client_ca_is_set() {
    let secured = Secured::start_with(KeysFrom::File, |ca| {
        vec!["--tls-client-ca".into(), ca.display().to_string()]
    });
    let out = ClientRun::python("registry_client_cert_check.py")
        .unwrap_or_else(|e| panic!("{e}"))
        .arg(secured.registry.url())
        .arg(&secured.ca)
        .arg(&secured.client.cert)
        .arg(&secured.client.key)
        .env("SG_CI_USER_INFO", Secured::user_info("ci-pipeline"))
        .run()
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", secured.registry.log_tail()));
    assert!(
        out.stdout.contains("all client certificate checks passed"),
        "{}",
        out.stdout
    );
    // schemagate's own clients present no certificate: refused at the handshake, exit 2.
    let (code, text) = secured.check(
        "orders-value",
        &[
            "--registry-basic-auth",
            &Secured::user_info("ci-pipeline"),
            "--registry-ca-file",
            &secured.ca.display().to_string(),
        ],
    );
    assert_eq!(code, 2, "{text}");
}

#[test]
fn bearer_tokens_are_checked_against_a_jwks_url() {
    let secured = Secured::start_with(KeysFrom::Url, |_| Vec::new());
    let ca = secured.ca.display().to_string();
    let token = secured.token("ci-pipeline", 300);
    let auth = ["--registry-bearer-token", &token, "--registry-ca-file", &ca];
    let (code, out) = secured.check("orders-value", &auth);
    assert_eq!(code, 0, "{out}\n{}", secured.registry.log_tail());
    let expired = secured.token("ci-pipeline", -600);
    let auth = [
        "--registry-bearer-token",
        &expired,
        "--registry-ca-file",
        &ca,
    ];
    let (code, out) = secured.check("orders-value", &auth);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("401"), "{out}");
    let m = secured.metrics();
    let fetched = m.sum(
        "schemagate_registry_jwks_fetches_total",
        &[("result", "ok")],
    );
    assert!(fetched >= 1.0, "{}", m.text());
}

#[test]
fn kafkajs_registry_client_authenticates_with_basic_auth_and_bearer_tokens() {
    let secured = Secured::start();
    let run = ClientRun::node("registry_security_check.js").unwrap_or_else(|e| panic!("{e}"));
    let out = secured
        .client(run, &unique("node"))
        .run()
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", secured.registry.log_tail()));
    assert!(
        out.stdout
            .contains("all node registry security checks passed"),
        "{}",
        out.stdout
    );
}

#[test]
fn schemagate_check_authenticates_trusts_its_ca_and_sees_reloaded_credentials() {
    let secured = Secured::start();
    let ca = secured.ca.display().to_string();
    let subject = format!("{}-value", unique("orders"));
    // Nothing registered yet: compatible, as CI's bearer token may ask.
    let token = secured.token("ci-pipeline", 300);
    let (code, out) = secured.check(
        &subject,
        &["--registry-bearer-token", &token, "--registry-ca-file", &ca],
    );
    assert_eq!(code, 0, "{out}\n{}", secured.registry.log_tail());

    // Another CA: the handshake fails, exit 2.
    let other = secured.other_ca.display().to_string();
    let (code, out) = secured.check(
        &subject,
        &[
            "--registry-bearer-token",
            &token,
            "--registry-ca-file",
            &other,
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("certificate") || out.contains("UnknownIssuer"),
        "{out}"
    );

    // An expired token: 401, exit 2.
    let expired = secured.token("ci-pipeline", -600);
    let (code, out) = secured.check(
        &subject,
        &[
            "--registry-bearer-token",
            &expired,
            "--registry-ca-file",
            &ca,
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("401"), "{out}");

    // A password rotated in the credentials file takes effect once the file is reloaded, with
    // no restart (the example grants schemagate-proxy READ on every subject).
    let users = secured.dir.path().join("users.txt");
    let before = std::fs::read_to_string(&users).unwrap_or_default();
    let rotated = credentials_line("schemagate-proxy", "rotated-secret");
    let kept: Vec<&str> = before
        .lines()
        .filter(|l| !l.starts_with("schemagate-proxy:"))
        .collect();
    let check_as = |password: &str| {
        let user_info = format!("schemagate-proxy:{password}");
        let auth = [
            "--registry-basic-auth",
            &user_info,
            "--registry-ca-file",
            &ca,
        ];
        secured.check(&subject, &auth)
    };
    let (code, out) = check_as("proxy-secret");
    assert_eq!(code, 0, "the old password works before the rotation: {out}");
    write(&users, &format!("{}\n{rotated}\n", kept.join("\n")));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        let (code, out) = check_as("rotated-secret");
        if code == 0 {
            last.clear();
            break;
        }
        last = out;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        last.is_empty(),
        "the rotated password was never accepted: {last}\n{}",
        secured.registry.log_tail()
    );
    let (code, out) = check_as("proxy-secret");
    assert_eq!(code, 2, "the old password must stop working: {out}");
    assert!(out.contains("401"), "{out}");
    let m = secured.metrics();
    assert!(
        m.sum(
            "schemagate_registry_reloads_total",
            &[("file", "credentials"), ("result", "ok")]
        ) >= 1.0,
        "{}",
        m.text()
    );
}

#[test]
fn the_proxy_enforces_against_the_secured_registry_with_its_own_credentials() {
    let secured = Secured::start();
    let broker = Broker::shared().unwrap_or_else(|e| panic!("{e}"));
    let topic = unique("orders-secured");
    let policy = secured.dir.path().join("policy.toml");
    write(
        &policy,
        &format!("[[topic]]\nmatch = \"{topic}\"\nvalue = \"required\"\non_invalid = \"reject\"\n"),
    );
    let flags = [
        "--registry",
        &secured.registry.url(),
        "--registry-ca-file",
        &secured.ca.display().to_string(),
        "--registry-basic-auth",
        &Secured::user_info("schemagate-proxy"),
        "--policy",
        &policy.display().to_string(),
    ]
    .map(String::from);
    let proxy = Proxy::start_with(broker.addrs(), &flags).unwrap_or_else(|e| panic!("{e}"));
    // The producer registers as CI; the proxy reads as schemagate-proxy.
    let conf = json!({
        "basic.auth.user.info": Secured::user_info("ci-pipeline"),
        "ssl.ca.location": secured.ca.display().to_string(),
    });
    let records = 50u64;
    let out = ClientRun::python("enforce_roundtrip.py")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &proxy.listen().to_string()])
        .args(["--registry", &secured.registry.url()])
        .args([
            "--format",
            "avro",
            "--topic",
            &topic,
            "--records",
            &records.to_string(),
        ])
        .env("SG_REGISTRY_CONF", conf.to_string())
        .timeout(Duration::from_secs(300))
        .run()
        .and_then(|o| o.summary("enforce_roundtrip.py"))
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nproxy log:\n{}\nregistry log:\n{}",
                proxy.log_tail(),
                secured.registry.log_tail()
            )
        });
    assert_eq!(out["acked"].as_u64(), Some(records), "{out}");
    let m = match proxy.admin_get("/metrics") {
        Ok((200, body)) => Metrics::parse(&body),
        other => panic!("proxy /metrics: {other:?}"),
    };
    let valid = m.sum(
        "schemagate_records_total",
        &[("topic", &topic), ("outcome", "valid")],
    );
    assert_eq!(valid, records as f64, "{}", m.text());
    // The proxy's registry requests were answered 200, none refused.
    assert!(
        m.sum("schemagate_registry_requests_total", &[("status", "200")]) >= 1.0,
        "{}",
        m.text()
    );
    for refused in ["401", "403"] {
        assert_eq!(
            m.sum("schemagate_registry_requests_total", &[("status", refused)]),
            0.0,
            "{}",
            m.text()
        );
    }
}
