//! OAuth2 bearer tokens: JWTs signed by a key of the configured JWKS, from the configured
//! issuer, for the configured audience, not expired; a claim names the principal.
//!
//! Only asymmetric algorithms are accepted (RS*, PS*, ES*, EdDSA): the algorithm comes from
//! the token's header, so it must fit the key (and the key's own `alg`, when the set pins one).

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::jwks::Jwks;
use super::principal::{AuthFailure, Principal};

/// Most groups read from a token's groups claim.
pub const MAX_GROUPS: usize = 256;
/// Longest principal or group name read from a token.
pub const MAX_NAME_BYTES: usize = 256;

const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What a token must say.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// `iss` must equal this.
    pub issuer: String,
    /// `aud` must be (or contain) this.
    pub audience: String,
    /// The claim holding the principal's name (`sub` by default; `client_id`, `azp` or
    /// `preferred_username` with some identity providers).
    pub principal_claim: String,
    /// A claim holding the principal's groups (a list of strings, or one string).
    pub groups_claim: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
}

/// Checks bearer tokens.
pub struct JwtVerifier {
    config: JwtConfig,
    keys: Jwks,
}

impl JwtVerifier {
    /// A verifier of tokens signed by `keys`.
    pub fn new(config: JwtConfig, keys: Jwks) -> Self {
        Self { config, keys }
    }

    /// Where the keys come from.
    pub fn keys(&self) -> &Jwks {
        &self.keys
    }

    /// The principal a valid token names.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthFailure> {
        let bad = |reason: String| AuthFailure::BadToken(reason);
        let header = jsonwebtoken::decode_header(token).map_err(|e| bad(e.to_string()))?;
        if !ASYMMETRIC.contains(&header.alg) {
            return Err(bad(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let kid = header.kid.as_deref();
        let mut keys = self.keys.current();
        if keys.find(kid).is_none() && self.keys.refresh_for_unknown_key().await {
            keys = self.keys.current();
        }
        let key = keys
            .find(kid)
            .ok_or_else(|| bad(format!("no key with kid {kid:?} in the JWKS")))?;
        if key.alg.is_some_and(|a| a != header.alg) {
            return Err(bad(format!(
                "the key is for {:?}, the token says {:?}",
                key.alg, header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation)
            .map_err(|e| bad(e.to_string()))?;
        self.principal(&data.claims)
    }

    fn principal(&self, claims: &Value) -> Result<Principal, AuthFailure> {
        let claim = &self.config.principal_claim;
        let name = claims
            .get(claim)
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && n.len() <= MAX_NAME_BYTES)
            .ok_or_else(|| {
                AuthFailure::BadToken(format!("claim {claim:?} is not a name (1 to 256 bytes)"))
            })?;
        let groups = match self
            .config
            .groups_claim
            .as_deref()
            .and_then(|c| claims.get(c))
        {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(g)) => vec![g.clone()],
            Some(Value::Array(list)) if list.len() <= MAX_GROUPS => list
                .iter()
                .map(|g| {
                    g.as_str()
                        .filter(|g| g.len() <= MAX_NAME_BYTES)
                        .map(str::to_owned)
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| AuthFailure::BadToken("groups claim holds a non-name".into()))?,
            Some(_) => {
                return Err(AuthFailure::BadToken(
                    "groups claim is not a list of names".into(),
                ))
            }
        };
        Ok(Principal::new(name, groups))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use serving::{FileSource, Watched};

    use super::*;
    use crate::security::jwks::KeySet;

    struct Idp {
        key: rcgen::KeyPair,
        _dir: tempfile::TempDir,
        verifier: JwtVerifier,
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    fn idp(groups_claim: Option<&str>) -> Idp {
        let key = rcgen::KeyPair::generate().unwrap();
        let raw = key.public_key_raw();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
                                    "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}]});
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks.to_string()).unwrap();
        let watched = Watched::load(FileSource::<KeySet>::new(path)).unwrap();
        let verifier = JwtVerifier::new(
            JwtConfig {
                issuer: "https://idp.test".into(),
                audience: "schema-registry".into(),
                principal_claim: "sub".into(),
                groups_claim: groups_claim.map(str::to_owned),
                leeway: Duration::from_secs(5),
            },
            Jwks::File(Arc::new(watched)),
        );
        Idp {
            key,
            _dir: dir,
            verifier,
        }
    }

    impl Idp {
        fn sign(&self, kid: Option<&str>, claims: Value) -> String {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = kid.map(str::to_owned);
            let key = EncodingKey::from_ec_der(&self.key.serialize_der());
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        }
    }

    fn claims(sub: &str, exp_in: i64) -> Value {
        json!({"sub": sub, "iss": "https://idp.test", "aud": "schema-registry",
               "exp": now() + exp_in, "groups": ["ci"]})
    }

    #[tokio::test]
    async fn a_valid_token_names_its_principal_and_groups() {
        let idp = idp(Some("groups"));
        let token = idp.sign(Some("k1"), claims("ci-pipeline", 300));
        let p = idp.verifier.verify(&token).await.unwrap();
        assert_eq!(p, Principal::new("ci-pipeline", vec!["ci".into()]));
        // A list audience holding ours is fine.
        let mut c = claims("svc", 300);
        c["aud"] = json!(["other", "schema-registry"]);
        assert!(idp.verifier.verify(&idp.sign(Some("k1"), c)).await.is_ok());
    }

    #[tokio::test]
    async fn expired_foreign_and_forged_tokens_are_refused() {
        let idp = idp(None);
        let expired = idp.sign(Some("k1"), claims("ci", -60));
        let e = idp.verifier.verify(&expired).await.unwrap_err().to_string();
        assert!(e.contains("ExpiredSignature"), "{e}");

        let mut wrong_iss = claims("ci", 300);
        wrong_iss["iss"] = json!("https://evil.test");
        let e = idp
            .verifier
            .verify(&idp.sign(Some("k1"), wrong_iss))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("InvalidIssuer"), "{e}");

        let mut wrong_aud = claims("ci", 300);
        wrong_aud["aud"] = json!("another-service");
        let e = idp
            .verifier
            .verify(&idp.sign(Some("k1"), wrong_aud))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("InvalidAudience"), "{e}");

        let mut no_exp = claims("ci", 300);
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(idp
            .verifier
            .verify(&idp.sign(Some("k1"), no_exp))
            .await
            .is_err());

        let e = idp
            .verifier
            .verify(&idp.sign(Some("k2"), claims("ci", 300)))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no key with kid"), "{e}");

        // Signed by another key under our kid.
        let other = super::tests::idp(None);
        let forged = other.sign(Some("k1"), claims("ci", 300));
        let e = idp.verifier.verify(&forged).await.unwrap_err();
        assert!(e.to_string().contains("InvalidSignature"), "{e}");

        // HS256 with any secret is refused before a key is even looked up.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims("ci", 300),
            &EncodingKey::from_secret(b"guess"),
        )
        .unwrap();
        let e = idp.verifier.verify(&hs).await.unwrap_err();
        assert!(e.to_string().contains("not accepted"), "{e}");
        assert!(idp.verifier.verify("not.a.jwt").await.is_err());
    }

    #[tokio::test]
    async fn the_principal_claim_must_be_a_name() {
        let idp = idp(Some("groups"));
        let mut c = claims("", 300);
        assert!(idp
            .verifier
            .verify(&idp.sign(None, c.clone()))
            .await
            .is_err());
        c["sub"] = json!(42);
        assert!(idp
            .verifier
            .verify(&idp.sign(None, c.clone()))
            .await
            .is_err());
        c["sub"] = json!("ok");
        c["groups"] = json!([1, 2]);
        assert!(idp.verifier.verify(&idp.sign(None, c)).await.is_err());
    }
}
