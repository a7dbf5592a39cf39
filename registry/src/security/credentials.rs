//! Basic-auth users from a credentials file: one `user:hash` a line, the hash argon2 (PHC
//! string, as `schemagate hash-password` writes) or bcrypt (`$2b$...`, as `htpasswd -B`
//! writes). Plaintext passwords are refused. `#` starts a comment line.

use std::collections::HashMap;
use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serving::FromText;

/// A stored password hash, checked to parse when the file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredHash {
    /// An argon2 PHC string (`$argon2id$v=19$m=...`).
    Argon2(String),
    /// A bcrypt hash (`$2b$12$...`).
    Bcrypt(String),
}

impl StoredHash {
    fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("$argon2") {
            let parsed =
                PasswordHash::new(text).map_err(|e| format!("not a valid argon2 hash: {e}"))?;
            let complete = parsed.salt.is_some()
                && parsed.hash.is_some()
                && argon2::Algorithm::try_from(parsed.algorithm).is_ok()
                && argon2::Params::try_from(&parsed).is_ok();
            if !complete {
                return Err(
                    "not a valid argon2 hash (algorithm, parameters, salt and hash)".into(),
                );
            }
            return Ok(StoredHash::Argon2(text.to_owned()));
        }
        let bcrypt_prefix = ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|p| text.starts_with(p));
        if bcrypt_prefix {
            // 60 characters: `$2b$`, two cost digits, `$`, 22 of salt and 31 of hash.
            let cost = text.get(4..6).and_then(|c| c.parse::<u32>().ok());
            if text.len() != 60 || !cost.is_some_and(|c| (4..=31).contains(&c)) {
                return Err("not a valid bcrypt hash".into());
            }
            return Ok(StoredHash::Bcrypt(text.to_owned()));
        }
        Err("not an argon2 or bcrypt hash (plaintext passwords are refused)".into())
    }

    /// Does `password` match? Deliberately slow (tens of milliseconds): call off the async
    /// threads.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            StoredHash::Argon2(phc) => PasswordHash::new(phc).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            }),
            StoredHash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
        }
    }

    /// The hash text, as stored.
    pub fn as_str(&self) -> &str {
        match self {
            StoredHash::Argon2(s) | StoredHash::Bcrypt(s) => s,
        }
    }
}

/// A credentials file that cannot be used: the registry refuses to start, a reload keeps the
/// previous users.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read.
    #[error("cannot read credentials file {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error (in the message, not a `source()`, so a chain prints it once).
        cause: std::io::Error,
    },
    /// A line is not `user:hash`, or the hash is not one we accept.
    #[error("credentials file {path}, line {line}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// One human line (never the hash).
        reason: String,
    },
}

/// The users of a credentials file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    users: HashMap<String, StoredHash>,
}

impl Credentials {
    /// Parses credentials text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CredentialsError> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let invalid = |reason: String| CredentialsError::Invalid {
                path: origin.to_owned(),
                line: index + 1,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| invalid("expected user:hash".into()))?;
            if user.is_empty() || user.chars().any(char::is_control) {
                return Err(invalid("empty user name or control characters".into()));
            }
            let hash =
                StoredHash::parse(hash).map_err(|e| invalid(format!("user {user:?}: {e}")))?;
            if users.insert(user.to_owned(), hash).is_some() {
                return Err(invalid(format!("user {user:?} appears twice")));
            }
        }
        Ok(Self { users })
    }

    /// The stored hash of `user`.
    pub fn hash_of(&self, user: &str) -> Option<&StoredHash> {
        self.users.get(user)
    }

    /// How many users the file holds.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when the file holds no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl FromText for Credentials {
    type Error = CredentialsError;

    fn from_text(text: &str, origin: &str) -> Result<Self, CredentialsError> {
        Self::parse(text, origin)
    }

    fn unusable(path: &Path, cause: Option<std::io::Error>) -> CredentialsError {
        let path = path.display().to_string();
        match cause {
            Some(cause) => CredentialsError::Read { path, cause },
            None => CredentialsError::Invalid {
                path,
                line: 1,
                reason: "not UTF-8".into(),
            },
        }
    }
}

/// An argon2id hash of `password` (argon2's default cost, a random salt), as a PHC string
/// for a credentials file line.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_and_bcrypt_hashes_verify() {
        let argon = hash_password("s3cret").unwrap();
        assert!(argon.starts_with("$argon2id$"), "{argon}");
        let bcrypt = bcrypt::hash("hunter2", 4).unwrap();
        let text = format!("# CI and the orders service\nci:{argon}\n\n svc-orders:{bcrypt} \n");
        let creds = Credentials::parse(&text, "creds").unwrap();
        assert_eq!(creds.len(), 2);
        let ci = creds.hash_of("ci").unwrap();
        assert!(ci.verify("s3cret"));
        assert!(!ci.verify("s3cret "));
        let svc = creds.hash_of("svc-orders").unwrap();
        assert!(svc.verify("hunter2"));
        assert!(!svc.verify("hunter3"));
        assert!(creds.hash_of("nobody").is_none());
        assert_ne!(hash_password("s3cret").unwrap(), argon, "salts differ");
    }

    #[test]
    fn plaintext_and_malformed_lines_are_refused_with_their_line() {
        let bcrypt = bcrypt::hash("x", 4).unwrap();
        let cases = [
            ("ci:hunter2\n", 1, "plaintext"),
            ("# c\nci\n", 2, "user:hash"),
            (
                ":$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA\n",
                1,
                "empty user",
            ),
            ("ci:$argon2id$nonsense\n", 1, "argon2"),
            ("ci:$2b$99$abc\n", 1, "bcrypt"),
            (&format!("a:{bcrypt}\na:{bcrypt}\n"), 2, "twice"),
        ];
        for (text, line, needle) in cases {
            let e = Credentials::parse(text, "users.txt")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("users.txt, line {line}:")) && e.contains(needle),
                "{text:?} → {e}"
            );
            assert!(!e.contains("hunter2"), "a secret leaked into {e}");
        }
    }
}
