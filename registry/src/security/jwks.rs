//! The keys bearer tokens are checked against: a JWKS (JSON Web Key Set) from a file, reloaded
//! when it changes, or from an identity provider's URL, fetched within limits and cached.
//!
//! Only public signing keys are kept (RSA, EC, OKP with `use` absent or `sig`); a symmetric
//! (`oct`) key in a published set would let anyone who reads the set forge tokens, so it is
//! dropped, as are keys this library cannot use. Each key is checked on its own, so one odd
//! key never hides the others.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serving::{FileSource, FromText, Watched};

/// Largest JWKS accepted, from a file or a URL.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Most keys kept from one set.
pub const MAX_KEYS: usize = 100;
/// An unknown key id triggers a fetch at most this often (a key rotation shows up without
/// waiting for the refresh interval; a flood of made-up key ids costs one fetch a period).
pub const MIN_REFETCH: Duration = Duration::from_secs(30);

/// One usable verification key.
#[derive(Clone)]
pub struct VerifyingKey {
    /// `kid`, if the set names it.
    pub kid: Option<String>,
    /// `alg`, if the set pins it.
    pub alg: Option<Algorithm>,
    /// The key.
    pub key: DecodingKey,
}

/// The usable keys of a set.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    /// Keys left out (symmetric, encryption-only, unparseable, over the cap).
    pub skipped: usize,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeySet({} keys, {} skipped)",
            self.keys.len(),
            self.skipped
        )
    }
}

/// A JWKS that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The file could not be read.
    #[error("cannot read JWKS file {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error (in the message, not a `source()`, so a chain prints it once).
        cause: std::io::Error,
    },
    /// Not a JWKS, too large, or without a single usable key.
    #[error("JWKS from {origin} is not usable: {reason}")]
    Invalid {
        /// The file or URL.
        origin: String,
        /// One human line.
        reason: String,
    },
    /// The URL could not be fetched.
    #[error("fetching JWKS from {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// One human line.
        reason: String,
    },
}

impl KeySet {
    /// Parses a JWKS document; `origin` names it in errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self, JwksError> {
        let invalid = |reason: String| JwksError::Invalid {
            origin: origin.to_owned(),
            reason,
        };
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(invalid(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        #[derive(serde::Deserialize)]
        struct Raw {
            keys: Vec<serde_json::Value>,
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        let mut set = KeySet::default();
        for value in raw.keys {
            match usable(value) {
                Some(key) if set.keys.len() < MAX_KEYS => set.keys.push(key),
                _ => set.skipped += 1,
            }
        }
        if set.keys.is_empty() {
            return Err(invalid(format!(
                "no usable public signing key ({} skipped)",
                set.skipped
            )));
        }
        Ok(set)
    }

    /// The key a token with this `kid` is checked against: the one with that id, or, for a
    /// token without `kid`, the only key of the set.
    pub fn find(&self, kid: Option<&str>) -> Option<&VerifyingKey> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }

    /// How many keys are usable.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is usable (never for a parsed set).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A public signing key, or `None`.
fn usable(value: serde_json::Value) -> Option<VerifyingKey> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None;
    }
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
        None => None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(VerifyingKey {
        kid: jwk.common.key_id,
        alg,
        key,
    })
}

impl FromText for KeySet {
    type Error = JwksError;

    fn from_text(text: &str, origin: &str) -> Result<Self, JwksError> {
        KeySet::parse(text.as_bytes(), origin)
    }

    fn unusable(path: &Path, cause: Option<std::io::Error>) -> JwksError {
        let path = path.display().to_string();
        match cause {
            Some(cause) => JwksError::Read { path, cause },
            None => JwksError::Invalid {
                origin: path,
                reason: "not UTF-8".into(),
            },
        }
    }
}

/// Where the keys come from.
#[derive(Clone)]
pub enum Jwks {
    /// A file, reloaded when it changes.
    File(Arc<Watched<FileSource<KeySet>>>),
    /// An identity provider's URL, refreshed periodically.
    Url(Arc<RemoteJwks>),
}

impl Jwks {
    /// The keys in force now.
    pub fn current(&self) -> Arc<KeySet> {
        match self {
            Jwks::File(w) => w.current(),
            Jwks::Url(r) => r.current(),
        }
    }

    /// Asks for fresh keys because a token named a key id the set lacks; true when a fetch
    /// happened (a file is reloaded on its own schedule, so never for a file).
    pub async fn refresh_for_unknown_key(&self) -> bool {
        match self {
            Jwks::File(_) => false,
            Jwks::Url(r) => r.refetch_if_due().await,
        }
    }
}

/// A JWKS behind a URL: the last good set, and when it was last fetched.
pub struct RemoteJwks {
    url: reqwest::Url,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// When the last fetch started; held across the fetch, so concurrent unknown-kid
    /// refreshes share one.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

/// How to reach a JWKS URL.
#[derive(Debug, Clone)]
pub struct RemoteJwksConfig {
    /// `https://...` (or `http://` on a loopback address).
    pub url: String,
    /// Extra PEM CA certificates for the URL's TLS (web roots are trusted too).
    pub ca_file: Option<std::path::PathBuf>,
    /// Limit on one fetch, from connecting to the last byte.
    pub timeout: Duration,
}

impl RemoteJwks {
    /// Checks the URL and builds the HTTP client; nothing is fetched yet.
    pub fn new(config: &RemoteJwksConfig) -> Result<Self, JwksError> {
        let bad = |reason: String| JwksError::Fetch {
            url: config.url.clone(),
            reason,
        };
        let url = reqwest::Url::parse(&config.url).map_err(|e| bad(e.to_string()))?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            // Keys fetched in the clear could be swapped by anyone on the path.
            "http" if loopback => {}
            _ => return Err(bad("must be https (http only on a loopback address)".into())),
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(3));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| bad(format!("reading CA file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| bad(format!("CA file {}: {e}", path.display())))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            url,
            http,
            keys: RwLock::new(Arc::new(KeySet::default())),
            last_fetch: tokio::sync::Mutex::new(None),
        })
    }

    /// The last good set (empty until a fetch succeeds).
    pub fn current(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches the set now and keeps it if usable; the old set stays otherwise.
    pub async fn refetch(&self) -> Result<usize, JwksError> {
        let mut last = self.last_fetch.lock().await;
        *last = Some(Instant::now());
        self.fetch_and_keep().await
    }

    /// Fetches unless a fetch started less than [`MIN_REFETCH`] ago; true when it fetched.
    pub async fn refetch_if_due(&self) -> bool {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
            return false;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.fetch_and_keep().await {
            tracing::warn!(error = %e, "JWKS fetch for an unknown key id failed");
        }
        true
    }

    async fn fetch_and_keep(&self) -> Result<usize, JwksError> {
        let bytes = self.fetch().await?;
        let set = KeySet::parse(&bytes, self.url.as_str())?;
        let n = set.len();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        Ok(n)
    }

    /// GETs the URL, reading at most [`MAX_JWKS_BYTES`].
    async fn fetch(&self) -> Result<BytesMut, JwksError> {
        let bad = |reason: String| JwksError::Fetch {
            url: self.url.to_string(),
            reason,
        };
        let mut response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| bad(e.to_string()))?;
        if !response.status().is_success() {
            return Err(bad(format!("HTTP {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(bad(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| bad(e.to_string()))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(bad(format!("larger than {MAX_JWKS_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The URL, for logs.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec_jwk(kid: &str) -> serde_json::Value {
        let key = rcgen::KeyPair::generate().unwrap();
        let raw = key.public_key_raw();
        let b64 = |b: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
        };
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
               "x": b64(&raw[1..33]), "y": b64(&raw[33..65])})
    }

    #[test]
    fn symmetric_encryption_and_odd_keys_are_dropped() {
        let set = json!({"keys": [
            ec_jwk("a"),
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc", "kid": "enc"},
            {"kty": "XYZ", "kid": "future"},
            ec_jwk("b"),
        ]});
        let set = KeySet::parse(set.to_string().as_bytes(), "test").unwrap();
        assert_eq!((set.len(), set.skipped), (2, 3));
        assert!(set.find(Some("a")).is_some());
        assert!(set.find(Some("hmac")).is_none());
        assert!(set.find(None).is_none(), "two keys: a token must name one");
        assert_eq!(set.find(Some("b")).unwrap().alg, Some(Algorithm::ES256));
    }

    #[test]
    fn a_set_without_usable_keys_or_too_large_is_refused() {
        let only_hmac = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string();
        let e = KeySet::parse(only_hmac.as_bytes(), "idp")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no usable public signing key"), "{e}");
        assert!(KeySet::parse(b"[]", "idp").is_err());
        let huge = vec![b' '; MAX_JWKS_BYTES + 1];
        assert!(KeySet::parse(&huge, "idp").is_err());
        let one = json!({"keys": [ec_jwk("only")]}).to_string();
        let set = KeySet::parse(one.as_bytes(), "idp").unwrap();
        assert!(
            set.find(None).is_some(),
            "the only key serves tokens without kid"
        );
    }

    #[test]
    fn remote_urls_must_be_https_unless_loopback() {
        let cfg = |url: &str| RemoteJwksConfig {
            url: url.into(),
            ca_file: None,
            timeout: Duration::from_secs(1),
        };
        assert!(RemoteJwks::new(&cfg("https://idp.example/jwks")).is_ok());
        assert!(RemoteJwks::new(&cfg("http://127.0.0.1:1/jwks")).is_ok());
        assert!(RemoteJwks::new(&cfg("http://localhost:1/jwks")).is_ok());
        assert!(RemoteJwks::new(&cfg("http://idp.example/jwks")).is_err());
        assert!(RemoteJwks::new(&cfg("file:///etc/jwks")).is_err());
    }

    /// Serves `body` (HTTP/1.1, `Connection: close`) to every connection; `None` accepts and
    /// never answers. Returns the URL and a count of requests served.
    async fn serve(body: Option<Vec<u8>>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let body = body.clone();
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let Some(body) = body else {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(&body).await;
                });
            }
        });
        (url, served)
    }

    fn remote(url: &str) -> RemoteJwks {
        RemoteJwks::new(&RemoteJwksConfig {
            url: url.into(),
            ca_file: None,
            timeout: Duration::from_millis(500),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_url_is_fetched_cached_and_refetched_at_most_every_period() {
        let set = json!({"keys": [ec_jwk("k1")]}).to_string().into_bytes();
        let (url, served) = serve(Some(set)).await;
        let r = remote(&url);
        assert!(r.current().is_empty(), "nothing before the first fetch");
        assert_eq!(r.refetch().await.unwrap(), 1);
        assert!(r.current().find(Some("k1")).is_some());
        // An unknown kid right after a fetch does not fetch again.
        assert!(!r.refetch_if_due().await);
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn oversized_and_silent_answers_are_refused_within_the_limits() {
        let huge = vec![b' '; MAX_JWKS_BYTES + 10];
        let (url, _) = serve(Some(huge)).await;
        let e = remote(&url).refetch().await.unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");

        let (url, _) = serve(None).await;
        let started = Instant::now();
        let r = remote(&url);
        assert!(r.refetch().await.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the timeout bounds a fetch"
        );
    }

    #[tokio::test]
    async fn a_failed_fetch_keeps_the_old_set_and_refetches_are_rate_limited() {
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        drop(server); // nothing listens: every fetch fails
        let remote = RemoteJwks::new(&RemoteJwksConfig {
            url: format!("http://{addr}/jwks"),
            ca_file: None,
            timeout: Duration::from_millis(500),
        })
        .unwrap();
        assert!(remote.refetch().await.is_err());
        assert!(remote.current().is_empty());
        assert!(!remote.refetch_if_due().await, "a fetch just happened");
    }
}
