//! Metadata v4 (not flexible; racks, cluster id, `allow_auto_topic_creation`): how the harness
//! knows a Kafka node is ready (every node listed) and where partition leaders are,
//! without linking a Kafka client into the harness.

use std::net::SocketAddr;
use std::time::Duration;

use super::wire::{self, Reader};

/// The Metadata API key and the version this module speaks (v4: not flexible, has racks,
/// cluster id and `allow_auto_topic_creation`).
const API_KEY_METADATA: i16 = 3;
const API_VERSION: i16 = 4;

/// What one node said about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// The live brokers: (node id, host, port), in the order the node listed them.
    pub brokers: Vec<(i32, String, i32)>,
    /// The active controller's id, or -1.
    pub controller_id: i32,
    /// Every partition of every topic the node knows.
    pub partitions: Vec<PartitionView>,
}

/// One partition in a [`ClusterView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    /// The topic.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// Its leader's node id, or -1.
    pub leader: i32,
    /// The replica node ids.
    pub replicas: Vec<i32>,
    /// The in-sync replica node ids.
    pub isr: Vec<i32>,
}

impl ClusterView {
    /// The node ids of the live brokers, sorted.
    pub fn broker_ids(&self) -> Vec<i32> {
        let mut ids: Vec<i32> = self.brokers.iter().map(|b| b.0).collect();
        ids.sort_unstable();
        ids
    }

    /// The partitions of `topic`, by partition index.
    pub fn topic(&self, topic: &str) -> Vec<&PartitionView> {
        let mut parts: Vec<&PartitionView> = self
            .partitions
            .iter()
            .filter(|p| p.topic == topic)
            .collect();
        parts.sort_by_key(|p| p.partition);
        parts
    }

    /// Partitions whose in-sync set is smaller than their replica set, or that have no leader.
    pub fn under_replicated(&self) -> Vec<&PartitionView> {
        self.partitions
            .iter()
            .filter(|p| p.leader < 0 || p.isr.len() < p.replicas.len())
            .collect()
    }
}

/// Asks the node at `addr` for the metadata of every topic.
pub fn fetch(addr: SocketAddr, timeout: Duration) -> std::io::Result<ClusterView> {
    // topics = null (all), allow_auto_topic_creation = false
    let body = [0xff, 0xff, 0xff, 0xff, 0];
    parse(&wire::call(
        addr,
        API_KEY_METADATA,
        API_VERSION,
        &body,
        timeout,
    )?)
}

/// Parses a Metadata v4 answer (after the correlation id).
fn parse(body: &[u8]) -> std::io::Result<ClusterView> {
    let mut r = Reader::new(body);
    let _throttle_ms = r.i32()?;
    let brokers = (0..r.count(10)?)
        .map(|_| {
            let id = r.i32()?;
            let host = r.string()?;
            let port = r.i32()?;
            let _rack = r.string()?;
            Ok((id, host, port))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let _cluster_id = r.string()?;
    let controller_id = r.i32()?;
    let mut partitions = Vec::new();
    for _ in 0..r.count(9)? {
        let _error = r.i16()?;
        let topic = r.string()?;
        let _internal = r.i8()?;
        for _ in 0..r.count(18)? {
            let _error = r.i16()?;
            let partition = r.i32()?;
            let leader = r.i32()?;
            let replicas = r.ids()?;
            let isr = r.ids()?;
            partitions.push(PartitionView {
                topic: topic.clone(),
                partition,
                leader,
                replicas,
                isr,
            });
        }
    }
    Ok(ClusterView {
        brokers,
        controller_id,
        partitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Metadata v4 answer with two brokers and one topic of one partition.
    fn golden() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0i32.to_be_bytes()); // throttle
        b.extend_from_slice(&2i32.to_be_bytes()); // brokers
        for (id, port) in [(2i32, 9093i32), (1, 9092)] {
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(&9i16.to_be_bytes());
            b.extend_from_slice(b"127.0.0.1");
            b.extend_from_slice(&port.to_be_bytes());
            b.extend_from_slice(&(-1i16).to_be_bytes()); // rack null
        }
        b.extend_from_slice(&2i16.to_be_bytes());
        b.extend_from_slice(b"id"); // cluster id
        b.extend_from_slice(&1i32.to_be_bytes()); // controller
        b.extend_from_slice(&1i32.to_be_bytes()); // topics
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&1i16.to_be_bytes());
        b.extend_from_slice(b"t");
        b.push(0);
        b.extend_from_slice(&1i32.to_be_bytes()); // partitions
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&2i32.to_be_bytes()); // leader
        for ids in [&[2i32, 1][..], &[2][..]] {
            b.extend_from_slice(&(ids.len() as i32).to_be_bytes());
            for id in ids {
                b.extend_from_slice(&id.to_be_bytes());
            }
        }
        b
    }

    #[test]
    fn a_golden_answer_parses() {
        let view = parse(&golden()).map_err(|e| e.to_string());
        let view = view.as_ref().expect("golden bytes parse");
        assert_eq!(view.broker_ids(), vec![1, 2]);
        assert_eq!(view.controller_id, 1);
        let t = view.topic("t");
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].leader, t[0].replicas.clone()), (2, vec![2, 1]));
        assert_eq!(
            view.under_replicated().len(),
            1,
            "isr [2] < replicas [2, 1]"
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = golden();
        for end in 0..full.len() {
            assert!(parse(&full[..end]).is_err(), "prefix of {end} bytes parsed");
        }
    }

    #[test]
    fn a_hostile_count_is_refused_before_reserving() {
        let mut b = Vec::new();
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        let err = parse(&b).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("array count"), "{err}");
    }
}
