//! Who may do what on the registry.
//!
//! - [`principal`]: the credential an `Authorization` header carries and the [`Principal`] it
//!   proves.
//! - [`single_user`]: `--basic-auth USER:PASSWORD`, the one command-line user.
//! - [`credentials`]: many users from a file of argon2 or bcrypt hashes.
//! - [`jwks`] and [`jwt`]: OAuth2 bearer tokens checked against a JWKS file or URL.
//! - [`authenticate`]: [`Authenticator`], from a header to a [`Caller`].
//! - [`permissions`]: READ/WRITE/ADMIN on subject names and prefixes, from a TOML file.
//! - [`access`]: what each endpoint asks for and the [`access::Decision`].
//! - [`audit`]: the audit log line and access counter of each request.
//!
//! [`Security`] holds what is configured; files are reloaded when they change, the JWKS URL is
//! refetched periodically, both by [`Security::run_reloads`].

pub mod access;
pub mod audit;
pub mod authenticate;
pub mod credentials;
pub mod jwks;
pub mod jwt;
pub mod permissions;
pub mod principal;
pub mod single_user;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serving::{FileSource, FromText, ReloadResult, Watched};

use crate::metrics::{FetchLabels, RegistryMetrics, WatchedFile};
pub use access::Mode;
pub use authenticate::{Authenticator, Caller};
pub use jwks::{Jwks, RemoteJwks, RemoteJwksConfig};
pub use jwt::{JwtConfig, JwtVerifier};
pub use permissions::{Permissions, PermissionsError, Role};
pub use principal::Principal;
pub use single_user::BasicAuth;

/// A permissions file, reloaded when it changes.
pub type PermissionsFile = Arc<Watched<FileSource<Permissions>>>;

impl FromText for Permissions {
    type Error = PermissionsError;

    fn from_text(text: &str, origin: &str) -> Result<Self, PermissionsError> {
        Permissions::parse(text, origin)
    }

    fn unusable(path: &Path, source: Option<std::io::Error>) -> PermissionsError {
        let path = path.display().to_string();
        match source {
            Some(cause) => PermissionsError::Read { path, cause },
            None => PermissionsError::Invalid {
                path,
                line: 1,
                reason: "not UTF-8".into(),
            },
        }
    }
}

/// Where the JWKS comes from.
#[derive(Debug, Clone)]
pub enum JwksConfig {
    /// A file, reloaded when it changes.
    File(PathBuf),
    /// A URL, refetched every `refresh` (and, at most every 30 s, for an unknown key id).
    Url {
        /// How to reach it.
        remote: RemoteJwksConfig,
        /// How often it is refetched.
        refresh: Duration,
    },
}

/// What to configure; everything is optional, and nothing configured leaves the registry open.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    /// `--basic-auth`: one user and password.
    pub single_user: Option<BasicAuth>,
    /// A credentials file of `user:hash` lines.
    pub credentials: Option<PathBuf>,
    /// Bearer tokens: what they must say, and the keys they are signed with.
    pub jwt: Option<(JwtConfig, JwksConfig)>,
    /// A permissions file; without one, nothing is checked per subject.
    pub permissions: Option<PathBuf>,
    /// How often the files are checked for changes.
    pub reload_interval: Duration,
}

/// Security that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The credentials file is unusable.
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    /// The permissions file is unusable.
    #[error(transparent)]
    Permissions(#[from] PermissionsError),
    /// The JWKS file or URL is unusable.
    #[error(transparent)]
    Jwks(#[from] jwks::JwksError),
    /// A permissions file with no way to authenticate would refuse every request.
    #[error("a permissions file needs a way to authenticate: --credentials, --basic-auth or --jwks-file/--jwks-url")]
    NobodyCanAuthenticate,
}

/// The security in force: how callers authenticate, what they may do, and the counters.
pub struct Security {
    mode: Mode,
    authenticator: Authenticator,
    permissions: Option<PermissionsFile>,
    metrics: RegistryMetrics,
    reload_interval: Duration,
    jwks_refresh: Duration,
}

impl Security {
    /// No security at all: the registry is open to anyone who can reach it.
    pub fn open() -> Self {
        Self::from_parts(Authenticator::default(), None, RegistryMetrics::default())
    }

    /// Reads every configured file (and fetches a JWKS URL once; a failure there is logged and
    /// retried, so an identity provider that is down does not stop the registry).
    pub async fn load(
        config: SecurityConfig,
        metrics: RegistryMetrics,
    ) -> Result<Self, SecurityError> {
        let credentials = config
            .credentials
            .map(|p| Watched::load(FileSource::new(p)).map(Arc::new))
            .transpose()?;
        let mut jwks_refresh = Duration::from_secs(300);
        let jwt = match config.jwt {
            None => None,
            Some((jwt, JwksConfig::File(path))) => {
                let keys = Watched::load(FileSource::new(path))?;
                Some(JwtVerifier::new(jwt, Jwks::File(Arc::new(keys))))
            }
            Some((jwt, JwksConfig::Url { remote, refresh })) => {
                let remote = Arc::new(RemoteJwks::new(&remote)?);
                jwks_refresh = refresh;
                fetch_logged(&remote, &metrics).await;
                Some(JwtVerifier::new(jwt, Jwks::Url(remote)))
            }
        };
        let authenticator = Authenticator::new(config.single_user, credentials, jwt);
        let permissions = config
            .permissions
            .map(|p| Watched::load(FileSource::new(p)).map(Arc::new))
            .transpose()?;
        if permissions.is_some() && !authenticator.is_configured() {
            return Err(SecurityError::NobodyCanAuthenticate);
        }
        let mut security = Self::from_parts(authenticator, permissions, metrics);
        security.reload_interval = config.reload_interval.max(Duration::from_secs(1));
        security.jwks_refresh = jwks_refresh.max(Duration::from_secs(10));
        Ok(security)
    }

    /// Only the `--basic-auth` user, guarding writes (the registry's first form of auth).
    pub fn single_user(user: BasicAuth) -> Self {
        Self::from_parts(
            Authenticator::new(Some(user), None, None),
            None,
            RegistryMetrics::default(),
        )
    }

    fn from_parts(
        authenticator: Authenticator,
        permissions: Option<PermissionsFile>,
        metrics: RegistryMetrics,
    ) -> Self {
        let mode = match (&permissions, authenticator.is_configured()) {
            (Some(_), _) => Mode::Permissions,
            (None, true) => Mode::WritesNeedPrincipal,
            (None, false) => Mode::Open,
        };
        Self {
            mode,
            authenticator,
            permissions,
            metrics,
            reload_interval: Duration::from_secs(5),
            jwks_refresh: Duration::from_secs(300),
        }
    }

    /// How requests are checked.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// The permissions in force now, if a file is configured.
    pub fn permissions(&self) -> Option<Arc<Permissions>> {
        self.permissions.as_ref().map(|w| w.current())
    }

    /// The counters.
    pub fn metrics(&self) -> &RegistryMetrics {
        &self.metrics
    }

    /// Reloads the credentials, permissions and JWKS files when they change, and refetches
    /// the JWKS URL, until `stop` says so.
    pub async fn run_reloads(self: Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        let interval = self.reload_interval;
        let m = &self.metrics;
        if let Some(file) = self.authenticator.credentials() {
            tasks.spawn(m.watch(
                file.clone(),
                interval,
                WatchedFile::credentials,
                stop.clone(),
            ));
        }
        if let Some(file) = &self.permissions {
            tasks.spawn(m.watch(
                file.clone(),
                interval,
                WatchedFile::permissions,
                stop.clone(),
            ));
        }
        match self.authenticator.jwt().map(JwtVerifier::keys) {
            Some(Jwks::File(file)) => {
                tasks.spawn(m.watch(file.clone(), interval, WatchedFile::jwks, stop.clone()));
            }
            Some(Jwks::Url(remote)) => {
                let (remote, m, every) = (remote.clone(), m.clone(), self.jwks_refresh);
                let mut stop = stop.clone();
                tasks.spawn(async move {
                    let stopped = async move {
                        let _ = stop.wait_for(|s| *s).await;
                    };
                    tokio::pin!(stopped);
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(every) => fetch_logged(&remote, &m).await,
                            _ = &mut stopped => return,
                        }
                    }
                });
            }
            None => {}
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Fetches the JWKS URL, logging and counting the result.
async fn fetch_logged(remote: &RemoteJwks, metrics: &RegistryMetrics) {
    let result = match remote.refetch().await {
        Ok(keys) => {
            tracing::info!(url = remote.url(), keys, "JWKS fetched");
            ReloadResult::ok
        }
        Err(e) => {
            tracing::error!(error = %e, "JWKS fetch failed, keeping the previous keys");
            ReloadResult::error
        }
    };
    metrics
        .jwks_fetches
        .get_or_create(&FetchLabels { result })
        .inc();
}
