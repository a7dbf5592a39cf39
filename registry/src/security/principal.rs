//! Who is calling: the credential a request carries, and the principal it proves.

use axum::http::HeaderValue;
use base64::Engine;

/// Longest `Authorization` header read (a JWT with many claims stays well under it).
pub const MAX_AUTHORIZATION_BYTES: usize = 16 * 1024;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name permissions refer to: a basic-auth user, or a JWT's principal claim.
    pub name: String,
    /// Groups the credential itself carries (a JWT's groups claim), besides the permissions
    /// file's own groups.
    pub groups: Vec<String>,
}

impl Principal {
    /// A principal named `name` in `groups`.
    pub fn new(name: impl Into<String>, groups: Vec<String>) -> Self {
        Self {
            name: name.into(),
            groups,
        }
    }
}

/// The credential an `Authorization` header carries.
#[derive(PartialEq, Eq)]
pub enum Credential {
    /// `Basic base64(user:password)`.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// `Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { user, .. } => write!(f, "Basic({user}:***)"),
            Credential::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// Why a credential was not accepted; the text goes to the audit log, never to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// The header is not `Basic ...` or `Bearer ...`, or does not decode.
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    /// No such user, or the wrong password.
    #[error("unknown user or wrong password")]
    BadPassword,
    /// Basic auth is not configured.
    #[error("basic auth is not accepted here")]
    BasicNotAccepted,
    /// Bearer tokens are not configured.
    #[error("bearer tokens are not accepted here")]
    BearerNotAccepted,
    /// The token is not valid: bad signature, unknown key, expired, wrong issuer or audience.
    #[error("bearer token refused: {0}")]
    BadToken(String),
}

impl Credential {
    /// Reads an `Authorization` header value.
    pub fn parse(value: &HeaderValue) -> Result<Self, AuthFailure> {
        if value.len() > MAX_AUTHORIZATION_BYTES {
            return Err(AuthFailure::Malformed("longer than 16 KiB"));
        }
        let text = value
            .to_str()
            .map_err(|_| AuthFailure::Malformed("not visible ASCII"))?;
        let (scheme, rest) = text
            .split_once(' ')
            .ok_or(AuthFailure::Malformed("no scheme"))?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| AuthFailure::Malformed("basic credentials are not base64"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| AuthFailure::Malformed("basic credentials are not UTF-8"))?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or(AuthFailure::Malformed("basic credentials have no `:`"))?;
            Ok(Credential::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            })
        } else if scheme.eq_ignore_ascii_case("bearer") {
            if rest.is_empty() {
                return Err(AuthFailure::Malformed("empty bearer token"));
            }
            Ok(Credential::Bearer(rest.to_owned()))
        } else {
            Err(AuthFailure::Malformed("scheme is neither Basic nor Bearer"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Credential, AuthFailure> {
        Credential::parse(&HeaderValue::from_str(s).unwrap())
    }

    #[test]
    fn basic_and_bearer_are_read() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("ci:pa:ss");
        assert_eq!(
            parse(&format!("Basic {b64}")),
            Ok(Credential::Basic {
                user: "ci".into(),
                password: "pa:ss".into()
            })
        );
        assert_eq!(
            parse("bearer abc.def.ghi"),
            Ok(Credential::Bearer("abc.def.ghi".into()))
        );
        assert_eq!(
            format!("{:?}", parse("Bearer secret").unwrap()),
            "Bearer(***)"
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "Basic",
            "Basic !!!",
            "Digest x",
            "Bearer ",
            "Basic bm9jb2xvbg==",
        ] {
            assert!(
                matches!(parse(bad), Err(AuthFailure::Malformed(_))),
                "{bad:?} accepted"
            );
        }
        let huge = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES));
        assert!(matches!(parse(&huge), Err(AuthFailure::Malformed(_))));
    }
}
