//! [`BenchError`]: why a bench run, or one of its experiments, failed.
//!
//! Each variant either says its cause in its own message or exposes it as `source()`, never
//! both, so anyhow's report in the binary names every cause once. A failure's message says
//! what was being done and why ([`BenchError::during`]), which is what the report's JSON keeps.

use super::kinds::BenchPath;
use crate::process::ProcessError;
use crate::registry::RegistryError;
use crate::render::RenderError;

/// Why a bench run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A binary the run needs was not given (the variable that names it is unset).
    #[error("{0} is not set")]
    Unset(&'static str),
    /// The path needs a TLS listener the broker started without.
    #[error("{0} needs the broker's TLS listener")]
    NoTls(BenchPath),
    /// The registry URL is not `http://IP:PORT`.
    #[error("registry URL {url} is not http://IP:PORT: {cause}")]
    RegistryUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse (in the message, not also a `source()`).
        cause: std::net::AddrParseError,
    },
    /// Creating the bench topic failed.
    #[error("creating topic {topic}: {code}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's answer (in the message, not also a `source()`).
        code: rdkafka::types::RDKafkaErrorCode,
    },
    /// A child process could not be found, started or reached.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The registry refused or did not answer.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A record could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The Kafka client failed.
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Other I/O (ports, policy file, relays, producer processes).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
    /// The registry client of `registry_client` could not be built (the JSON Schema paths).
    #[error(transparent)]
    RegistryClientBuild(#[from] registry_client::BuildError),
    /// The registry, asked through `registry_client`, refused or did not answer.
    #[error(transparent)]
    RegistryClient(#[from] registry_client::RegistryError),
    /// A new topic's partitions did not all get a leader and a full ISR in time.
    #[error("topic {topic} not ready: {seen}")]
    TopicNotReady {
        /// The topic.
        topic: String,
        /// What the last metadata showed.
        seen: String,
    },
    /// A block of ports for every broker would run past port 65535.
    #[error("no block of {0} loopback ports fits above the first one")]
    NoPortBlock(u16),
    /// Kroxylicious delivered records without ever fetching the schema it validates against.
    #[error("{path}: Kroxylicious never fetched the JSON Schema from {url}")]
    SchemaNeverFetched {
        /// The path.
        path: BenchPath,
        /// Where the schema was served.
        url: String,
    },
    /// What was being done when `cause` failed (a path and round, an experiment).
    #[error("{during}: {cause}")]
    During {
        /// What was being done.
        during: String,
        /// Why it failed (in the message, not also a `source()`).
        cause: Box<BenchError>,
    },
}

impl BenchError {
    /// This error, as the cause of a failure while doing `during`.
    pub fn during(self, during: String) -> Self {
        Self::During {
            during,
            cause: Box::new(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::error::Error as _;

    #[test]
    fn every_cause_is_named_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = BenchError::from(io)
            .during("proxy round 2".into())
            .during("registry experiments".into());
        assert_eq!(
            e.to_string(),
            "registry experiments: proxy round 2: no such file"
        );
        assert!(e.source().is_none());
        let parse = "nowhere".parse::<std::net::SocketAddr>().unwrap_err();
        let e = BenchError::RegistryUrl {
            url: "http://nowhere".into(),
            cause: parse.clone(),
        };
        assert_eq!(
            e.to_string(),
            format!("registry URL http://nowhere is not http://IP:PORT: {parse}")
        );
        assert!(e.source().is_none());
    }
}
