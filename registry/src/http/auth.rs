//! Optional HTTP basic auth on the endpoints that change state.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::error::RegistryError;

/// One user and password; writes must present them.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    user: String,
    password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BasicAuth({}:***)", self.user)
    }
}

impl BasicAuth {
    /// Parses `user:password` (the password may itself contain colons).
    pub fn parse(s: &str) -> Option<Self> {
        let (user, password) = s.trim().split_once(':')?;
        (!user.is_empty()).then(|| BasicAuth {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    /// Does this `Authorization` header value carry our credentials?
    fn admits(&self, header_value: &str) -> bool {
        let Some(encoded) = header_value
            .strip_prefix("Basic ")
            .or_else(|| header_value.strip_prefix("basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let expected = format!("{}:{}", self.user, self.password);
        constant_time_eq(&decoded, expected.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Registration, deletes and config/mode changes are writes; lookups and compatibility
/// checks are POSTs that only read.
fn is_write(method: &Method, path: &str) -> bool {
    match *method {
        Method::PUT | Method::DELETE => true,
        Method::POST => path.starts_with("/subjects/") && path.ends_with("/versions"),
        _ => false,
    }
}

/// Middleware: 401 for a write without the configured credentials.
pub async fn require_for_writes(
    State(auth): State<Arc<Option<BasicAuth>>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(auth) = auth.as_ref() {
        if is_write(req.method(), req.uri().path()) {
            let ok = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| auth.admits(v));
            if !ok {
                return RegistryError::Unauthorized.into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_credentials() {
        let a = BasicAuth::parse("alice:s3:cret").unwrap();
        let good = base64::engine::general_purpose::STANDARD.encode("alice:s3:cret");
        assert!(a.admits(&format!("Basic {good}")));
        let bad = base64::engine::general_purpose::STANDARD.encode("alice:wrong");
        assert!(!a.admits(&format!("Basic {bad}")));
        assert!(!a.admits("Bearer x"));
        assert!(!a.admits("Basic !!!"));
        assert!(BasicAuth::parse("nocolon").is_none());
        assert!(BasicAuth::parse(":pw").is_none());
    }

    #[test]
    fn classifies_writes() {
        assert!(is_write(&Method::POST, "/subjects/a/versions"));
        assert!(!is_write(&Method::POST, "/subjects/a"));
        assert!(!is_write(
            &Method::POST,
            "/compatibility/subjects/a/versions"
        ));
        assert!(is_write(&Method::PUT, "/config"));
        assert!(is_write(&Method::DELETE, "/subjects/a"));
        assert!(!is_write(&Method::GET, "/subjects"));
    }
}
