//! Which brokers and paths the bench knows, by name, and what each path needs (a TLS
//! listener, a peer, a broker kind); starting them is [`super::broker`]'s and
//! [`super::path`]'s job. A leaf: the error type names a path, and those modules return errors.

use std::fmt;
use std::str::FromStr;

/// Which broker the runs start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrokerKind {
    /// tansu, memory storage.
    #[default]
    Tansu,
    /// Apache Kafka 4.4, one combined KRaft node, with an `SSL` listener beside the plaintext.
    Kafka,
    /// Apache Kafka 4.4, three combined KRaft nodes, one cluster for the whole bench; each run
    /// writes a fresh topic with replication factor 3 and `min.insync.replicas=2`.
    KafkaCluster,
}

impl BrokerKind {
    /// How the report names the broker.
    pub fn describe(self) -> &'static str {
        match self {
            BrokerKind::Tansu => "tansu 0.6.0, memory storage, restarted before every run",
            BrokerKind::Kafka => {
                "Apache Kafka 4.4.0, one combined KRaft node (JVM -Xmx768m, SerialGC) with a \
                 PLAINTEXT and an SSL listener (rustls-made certificate, PEM keystore), formatted \
                 and started fresh before every run"
            }
            BrokerKind::KafkaCluster => {
                "Apache Kafka 4.4.0 three-node cluster, combined KRaft nodes (each JVM -Xmx768m, SerialGC), \
                 started once for the whole bench; every run creates a fresh topic (replication \
                 factor 3, min.insync.replicas=2), produces with acks=all, and deletes it"
            }
        }
    }

    /// Nodes of the broker.
    pub fn nodes(self) -> usize {
        match self {
            BrokerKind::KafkaCluster => 3,
            _ => 1,
        }
    }

    /// Replication factor of the bench topic.
    pub fn replication(self) -> i32 {
        match self {
            BrokerKind::KafkaCluster => 3,
            _ => 1,
        }
    }

    /// Topic configs of the bench topic (besides partitions and replication).
    pub fn topic_configs(self) -> &'static [(&'static str, &'static str)] {
        match self {
            BrokerKind::KafkaCluster => &[("min.insync.replicas", "2")],
            _ => &[],
        }
    }

    /// Whether one broker serves the whole bench (each run on its own topic).
    pub fn shared(self) -> bool {
        self == BrokerKind::KafkaCluster
    }
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerKind::Tansu => "tansu",
            BrokerKind::Kafka => "kafka",
            BrokerKind::KafkaCluster => "kafka3",
        })
    }
}

impl FromStr for BrokerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tansu" => Ok(BrokerKind::Tansu),
            "kafka" => Ok(BrokerKind::Kafka),
            "kafka3" => Ok(BrokerKind::KafkaCluster),
            other => Err(format!("unknown broker {other:?} (tansu, kafka or kafka3)")),
        }
    }
}

/// The values a path's records carry, each the same generated Orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Avro v1 in the Confluent frame (the pool built once per bench).
    Avro,
    /// Protobuf v1 in the Confluent frame with the message-index list `[0]`.
    Protobuf,
    /// JSON documents of the Order JSON Schema.
    Json,
}

/// One way from the producer to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BenchPath {
    /// Straight to the broker.
    Direct,
    /// Straight to the broker's TLS listener (Kafka only).
    DirectTls,
    /// Through loadgen's raw TCP relay.
    Relay,
    /// Through loadgen's relay reading each request whole before forwarding it (opt-in).
    RelayFrames,
    /// Through loadgen's raw relay run as a process of its own, as a sidecar is (opt-in).
    RelayProcess,
    /// Through schemagate with no policy.
    Proxy,
    /// Through schemagate validating every record as Avro against the registry.
    ProxyValidating,
    /// As `ProxyValidating`, the client speaking plaintext to schemagate and schemagate TLS to
    /// the broker (Kafka only).
    ProxyValidatingTls,
    /// Through tansu's own pass-through proxy.
    Peer,
    /// Straight to the broker with an idempotent producer, 0.1% of the records unframed (the
    /// broker stores them all): the reference for `proxy_idempotent_quarantine`.
    DirectIdempotent,
    /// The same idempotent producer and records through schemagate under `quarantine`: the
    /// bad records go to quarantine and the good ones are forwarded with rewritten sequences.
    ProxyIdempotentQuarantine,
    /// As `ProxyValidating`, the values JSON Orders in the Confluent frame, validated against
    /// the Order JSON Schema (the one `PeerKroxyliciousValidating` enforces).
    ProxyValidatingJson,
    /// As `ProxyValidating`, the values Protobuf Orders in the Confluent frame (message-index
    /// list `[0]` included), validated against the Order `.proto`.
    ProxyValidatingProtobuf,
    /// Through Kroxylicious with no filters (port-per-broker).
    PeerKroxylicious,
    /// Through Kroxylicious' Record Validation filter, every value JSON validated against the
    /// Order JSON Schema (the records are JSON on this path, not Avro).
    PeerKroxyliciousValidating,
}

impl BenchPath {
    /// Every path, in the interleaving order.
    pub const ALL: [BenchPath; 15] = [
        BenchPath::Direct,
        BenchPath::DirectTls,
        BenchPath::Relay,
        BenchPath::RelayFrames,
        BenchPath::RelayProcess,
        BenchPath::Proxy,
        BenchPath::ProxyValidating,
        BenchPath::ProxyValidatingTls,
        BenchPath::Peer,
        BenchPath::DirectIdempotent,
        BenchPath::ProxyIdempotentQuarantine,
        BenchPath::ProxyValidatingJson,
        BenchPath::ProxyValidatingProtobuf,
        BenchPath::PeerKroxylicious,
        BenchPath::PeerKroxyliciousValidating,
    ];

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            BenchPath::Direct => "direct",
            BenchPath::DirectTls => "direct_tls",
            BenchPath::Relay => "relay",
            BenchPath::RelayFrames => "relay_frames",
            BenchPath::RelayProcess => "relay_process",
            BenchPath::Proxy => "proxy",
            BenchPath::ProxyValidating => "proxy_validating",
            BenchPath::ProxyValidatingTls => "proxy_validating_tls",
            BenchPath::Peer => "peer",
            BenchPath::DirectIdempotent => "direct_idempotent",
            BenchPath::ProxyIdempotentQuarantine => "proxy_idempotent_quarantine",
            BenchPath::ProxyValidatingJson => "proxy_validating_json",
            BenchPath::ProxyValidatingProtobuf => "proxy_validating_protobuf",
            BenchPath::PeerKroxylicious => "peer_kroxylicious",
            BenchPath::PeerKroxyliciousValidating => "peer_kroxylicious_validating",
        }
    }

    /// Parses a JSON key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }

    /// Whether the path runs schemagate.
    pub fn runs_schemagate(self) -> bool {
        matches!(
            self,
            BenchPath::Proxy
                | BenchPath::ProxyValidating
                | BenchPath::ProxyValidatingTls
                | BenchPath::ProxyIdempotentQuarantine
                | BenchPath::ProxyValidatingJson
                | BenchPath::ProxyValidatingProtobuf
        )
    }

    /// Whether the path runs Kroxylicious.
    pub fn runs_kroxylicious(self) -> bool {
        matches!(
            self,
            BenchPath::PeerKroxylicious | BenchPath::PeerKroxyliciousValidating
        )
    }

    /// What the record values are: the Avro pool, Protobuf Orders, or JSON Orders (framed
    /// when the path is schemagate's, unframed for Kroxylicious).
    pub fn values(self) -> Values {
        match self {
            BenchPath::PeerKroxyliciousValidating | BenchPath::ProxyValidatingJson => Values::Json,
            BenchPath::ProxyValidatingProtobuf => Values::Protobuf,
            _ => Values::Avro,
        }
    }

    /// One record in this many is bad (unframed), on the idempotent paths.
    pub fn bad_every(self) -> Option<u64> {
        matches!(
            self,
            BenchPath::DirectIdempotent | BenchPath::ProxyIdempotentQuarantine
        )
        .then_some(1000)
    }

    /// Whether the broker must advertise the front port: the relays and tansu's proxy rewrite
    /// no addresses (schemagate does).
    pub(super) fn advertises_front(self) -> bool {
        matches!(
            self,
            BenchPath::Relay | BenchPath::RelayFrames | BenchPath::RelayProcess | BenchPath::Peer
        )
    }

    /// Why `self` cannot run on `broker`, if it cannot.
    pub(super) fn unsupported_on(self, broker: BrokerKind) -> Option<&'static str> {
        match (broker, self) {
            (BrokerKind::Tansu, BenchPath::DirectTls | BenchPath::ProxyValidatingTls) => {
                Some("needs a broker with a TLS listener (--broker kafka)")
            }
            (BrokerKind::Kafka, p) if p.advertises_front() => Some(
                "needs a broker that advertises the front port, and the peer is tansu's own \
                 proxy (--broker tansu or, for the relays, kafka3)",
            ),
            (BrokerKind::KafkaCluster, BenchPath::DirectTls | BenchPath::ProxyValidatingTls) => {
                Some("needs a broker with a TLS listener (--broker kafka)")
            }
            (BrokerKind::KafkaCluster, BenchPath::Peer) => {
                Some("the peer is tansu's own proxy (--broker tansu)")
            }
            _ => None,
        }
    }
}

impl fmt::Display for BenchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_are_distinct() {
        let mut keys: Vec<&str> = BenchPath::ALL.iter().map(|p| p.key()).collect();
        for p in BenchPath::ALL {
            assert_eq!(BenchPath::from_key(p.key()), Some(p));
        }
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), BenchPath::ALL.len());
        assert_eq!(BenchPath::from_key("proxy_validating_proto"), None);
    }

    #[test]
    fn each_format_has_a_validating_schemagate_path() {
        let validating = |v: Values| {
            BenchPath::ALL
                .into_iter()
                .filter(|p| p.runs_schemagate() && *p != BenchPath::Proxy && p.values() == v)
                .map(BenchPath::key)
                .collect::<Vec<_>>()
        };
        assert!(validating(Values::Avro).contains(&"proxy_validating"));
        assert_eq!(validating(Values::Json), ["proxy_validating_json"]);
        assert_eq!(validating(Values::Protobuf), ["proxy_validating_protobuf"]);
        assert_eq!(
            BenchPath::PeerKroxyliciousValidating.values(),
            Values::Json,
            "Kroxylicious validates JSON"
        );
    }

    #[test]
    fn protobuf_path_runs_wherever_the_json_path_does() {
        for broker in [
            BrokerKind::Tansu,
            BrokerKind::Kafka,
            BrokerKind::KafkaCluster,
        ] {
            assert_eq!(
                BenchPath::ProxyValidatingProtobuf.unsupported_on(broker),
                BenchPath::ProxyValidatingJson.unsupported_on(broker),
                "{broker}"
            );
            assert_eq!(
                BenchPath::ProxyValidatingProtobuf.unsupported_on(broker),
                None
            );
        }
        assert!(!BenchPath::ProxyValidatingProtobuf.advertises_front());
        assert_eq!(BenchPath::ProxyValidatingProtobuf.bad_every(), None);
    }
}
