//! Topics of a test's own: a name no other test or earlier run uses, and creating a topic with
//! rdkafka's admin client (on the broker directly, or through the proxy).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use crate::kafka::metadata;
use crate::HarnessError;

/// How long the broker may take to create a topic.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// A topic (or group, or subject) name of this test's own: `name`, the process id and a clock
/// reading, so that a rerun against the same cluster never meets an earlier run's records or
/// committed offsets.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Creates `topic` with `partitions` partitions, replicated as `replication` says, through
/// the admin client bootstrapped from `bootstrap` (`host:port,...`); returns once every
/// broker serves it (each partition has a leader in every broker's metadata).
pub fn create(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication: TopicReplication<'_>,
) -> Result<(), HarnessError> {
    let failed = |e: &dyn std::fmt::Display| {
        HarnessError::io(
            format!("creating topic {topic}"),
            std::io::Error::other(e.to_string()),
        )
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| failed(&format!("admin client: {e}")))?;
    let new = NewTopic::new(topic, partitions, replication);
    let options = AdminOptions::new().operation_timeout(Some(CREATE_TIMEOUT));
    let results = futures::executor::block_on(admin.create_topics([&new], &options))
        .map_err(|e| failed(&e))?;
    for result in results {
        result.map_err(|(_, e)| failed(&e))?;
    }
    wait_until_served(bootstrap, topic, partitions).map_err(|e| failed(&e))
}

/// Waits until every broker the first reachable `bootstrap` address lists knows `topic` with
/// `partitions` partitions, each with a leader: the controller answers CreateTopics before
/// every broker has the new metadata, and a tool asked right away may hear "unknown topic".
fn wait_until_served(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let served = |addr: SocketAddr| {
        metadata::fetch(addr, Duration::from_secs(5)).is_ok_and(|view| {
            let parts = view.topic(topic);
            parts.len() == usize::try_from(partitions).unwrap_or(0)
                && parts.iter().all(|p| p.leader >= 0)
        })
    };
    let deadline = Instant::now() + CREATE_TIMEOUT;
    let mut last = String::from("no bootstrap address answered Metadata");
    while Instant::now() < deadline {
        let view = bootstrap
            .split(',')
            .filter_map(|a| a.trim().to_socket_addrs().ok()?.next())
            .find_map(|addr| metadata::fetch(addr, Duration::from_secs(5)).ok());
        if let Some(view) = view {
            let nodes: Vec<SocketAddr> = view
                .brokers
                .iter()
                .filter_map(|(_, host, port)| {
                    let port = u16::try_from(*port).ok()?;
                    (host.as_str(), port).to_socket_addrs().ok()?.next()
                })
                .collect();
            let waiting: Vec<SocketAddr> = nodes.into_iter().filter(|a| !served(*a)).collect();
            if waiting.is_empty() {
                return Ok(());
            }
            last = format!("brokers {waiting:?} do not serve it yet");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("created, but after {CREATE_TIMEOUT:?}: {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unique_name_is_the_name_then_the_process_id_then_the_clock() {
        let name = unique("orders");
        let parts: Vec<&str> = name.splitn(3, '-').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert_eq!(parts[0], "orders");
        assert_eq!(parts[1], std::process::id().to_string());
        assert!(parts[2].parse::<u32>().is_ok(), "{name}");
    }
}
