//! Topics of a test's own: a name no other test or earlier run uses, and creating a topic with
//! rdkafka's admin client (on the broker directly, or through the proxy).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

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
/// the admin client bootstrapped from `bootstrap` (`host:port,...`); waits until the broker
/// has created it.
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
    Ok(())
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
