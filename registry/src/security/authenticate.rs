//! From an `Authorization` header to a [`Caller`]: the single `--basic-auth` user, the users of
//! a credentials file, or a bearer token.
//!
//! Password hashes are slow on purpose (tens of milliseconds each), so checking one on every
//! request would make the registry slow and easy to exhaust: a successful check is remembered,
//! keyed by a digest of the stored hash, the user and the password (a changed or removed user
//! no longer matches), and at most [`HASH_CHECKS`] checks run at once, off the async threads.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::HeaderValue;
use serving::{FileSource, Watched};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::credentials::{Credentials, StoredHash};
use super::jwt::JwtVerifier;
use super::principal::{AuthFailure, Credential, Principal};
use super::single_user::BasicAuth;

/// Password-hash checks running at once (argon2 holds ~19 MiB each).
pub const HASH_CHECKS: usize = 4;
/// Successful checks remembered; the memory is cleared when full.
pub const REMEMBERED: usize = 10_000;

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No `Authorization` header.
    Anonymous,
    /// A credential that proved this principal.
    Known(Principal),
    /// A credential that proved nothing.
    Refused(AuthFailure),
}

/// A credentials file, reloaded when it changes.
pub type CredentialsFile = Arc<Watched<FileSource<Credentials>>>;

/// The configured ways to authenticate.
#[derive(Default)]
pub struct Authenticator {
    single_user: Option<BasicAuth>,
    credentials: Option<CredentialsFile>,
    jwt: Option<JwtVerifier>,
    remembered: Mutex<HashSet<[u8; 32]>>,
    hash_checks: Option<Arc<Semaphore>>,
}

impl Authenticator {
    /// An authenticator accepting whichever of the three is configured.
    pub fn new(
        single_user: Option<BasicAuth>,
        credentials: Option<CredentialsFile>,
        jwt: Option<JwtVerifier>,
    ) -> Self {
        Self {
            single_user,
            credentials,
            jwt,
            remembered: Mutex::new(HashSet::new()),
            hash_checks: Some(Arc::new(Semaphore::new(HASH_CHECKS))),
        }
    }

    /// True when at least one way to authenticate is configured.
    pub fn is_configured(&self) -> bool {
        self.single_user.is_some() || self.credentials.is_some() || self.jwt.is_some()
    }

    /// The credentials file, for its reload loop.
    pub fn credentials(&self) -> Option<&CredentialsFile> {
        self.credentials.as_ref()
    }

    /// The bearer-token verifier, for its JWKS refresh loop.
    pub fn jwt(&self) -> Option<&JwtVerifier> {
        self.jwt.as_ref()
    }

    /// Who the `Authorization` header (if any) proves the caller to be.
    pub async fn authenticate(&self, header: Option<&HeaderValue>) -> Caller {
        let Some(header) = header else {
            return Caller::Anonymous;
        };
        let result = match Credential::parse(header) {
            Err(e) => Err(e),
            Ok(Credential::Basic { user, password }) => self.basic(user, password).await,
            Ok(Credential::Bearer(token)) => match &self.jwt {
                Some(jwt) => jwt.verify(&token).await,
                None => Err(AuthFailure::BearerNotAccepted),
            },
        };
        match result {
            Ok(p) => Caller::Known(p),
            Err(e) => Caller::Refused(e),
        }
    }

    async fn basic(&self, user: String, password: String) -> Result<Principal, AuthFailure> {
        if let Some(single) = &self.single_user {
            if single.admits(&user, &password) {
                return Ok(Principal::new(user, Vec::new()));
            }
        }
        let Some(file) = &self.credentials else {
            return Err(match self.single_user {
                Some(_) => AuthFailure::BadPassword,
                None => AuthFailure::BasicNotAccepted,
            });
        };
        let hash = file
            .current()
            .hash_of(&user)
            .cloned()
            .ok_or(AuthFailure::BadPassword)?;
        let key = memory_key(&hash, &user, &password);
        if self.lock().contains(&key) {
            return Ok(Principal::new(user, Vec::new()));
        }
        if !self.check_hash(hash, password).await {
            return Err(AuthFailure::BadPassword);
        }
        let mut remembered = self.lock();
        if remembered.len() >= REMEMBERED {
            remembered.clear();
        }
        remembered.insert(key);
        Ok(Principal::new(user, Vec::new()))
    }

    /// Runs one slow hash check on the blocking pool, at most [`HASH_CHECKS`] at once.
    async fn check_hash(&self, hash: StoredHash, password: String) -> bool {
        let Some(permits) = &self.hash_checks else {
            return false;
        };
        let Ok(_permit) = permits.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || hash.verify(&password))
            .await
            .unwrap_or(false)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        // The set only ever holds complete entries.
        self.remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A digest naming (stored hash, user, password); the password itself is never kept.
fn memory_key(hash: &StoredHash, user: &str, password: &str) -> [u8; 32] {
    let mut d = Sha256::new();
    for part in [hash.as_str(), user, password] {
        d.update((part.len() as u64).to_be_bytes());
        d.update(part.as_bytes());
    }
    d.finalize().into()
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::security::credentials::hash_password;

    fn basic(user: &str, password: &str) -> HeaderValue {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {b64}")).unwrap()
    }

    fn file(dir: &std::path::Path, text: &str) -> CredentialsFile {
        let path = dir.join("users");
        std::fs::write(&path, text).unwrap();
        Arc::new(Watched::load(FileSource::new(path)).unwrap())
    }

    #[tokio::test]
    async fn users_of_the_file_and_the_single_user_are_known() {
        let dir = tempfile::tempdir().unwrap();
        let hash = hash_password("pw").unwrap();
        let creds = file(dir.path(), &format!("ci:{hash}\n"));
        let auth = Authenticator::new(BasicAuth::parse("legacy:old"), Some(creds.clone()), None);
        assert!(auth.is_configured());
        assert_eq!(auth.authenticate(None).await, Caller::Anonymous);
        let ci = Caller::Known(Principal::new("ci", vec![]));
        assert_eq!(auth.authenticate(Some(&basic("ci", "pw"))).await, ci);
        // Remembered the second time, same answer.
        assert_eq!(auth.authenticate(Some(&basic("ci", "pw"))).await, ci);
        assert_eq!(
            auth.authenticate(Some(&basic("legacy", "old"))).await,
            Caller::Known(Principal::new("legacy", vec![]))
        );
        for (u, p) in [("ci", "wrong"), ("nobody", "pw"), ("legacy", "pw")] {
            assert_eq!(
                auth.authenticate(Some(&basic(u, p))).await,
                Caller::Refused(AuthFailure::BadPassword),
                "{u}:{p}"
            );
        }
        let bearer = HeaderValue::from_static("Bearer x.y.z");
        assert_eq!(
            auth.authenticate(Some(&bearer)).await,
            Caller::Refused(AuthFailure::BearerNotAccepted)
        );

        // The user is removed from the file: the remembered check no longer counts.
        std::fs::write(dir.path().join("users"), "# nobody\n").unwrap();
        assert!(matches!(
            creds.reload_if_changed(),
            serving::Reload::Reloaded
        ));
        assert_eq!(
            auth.authenticate(Some(&basic("ci", "pw"))).await,
            Caller::Refused(AuthFailure::BadPassword)
        );
    }

    #[tokio::test]
    async fn nothing_configured_refuses_every_credential() {
        let auth = Authenticator::default();
        assert!(!auth.is_configured());
        assert_eq!(
            auth.authenticate(Some(&basic("a", "b"))).await,
            Caller::Refused(AuthFailure::BasicNotAccepted)
        );
    }
}
