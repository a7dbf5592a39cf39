//! The mapping from upstream broker (node id) to proxy port.
//!
//! Index rule (deterministic, stable for the life of the process): the brokers found by the
//! first successful metadata fetch get indices 0, 1, 2, ... in ascending node-id order; any
//! broker seen later (by a periodic fetch or in a rewritten response) gets the next free index.
//! An index is never reused or moved, even if its broker disappears. Broker index `i` is served
//! on `listen_port + i`. If a broker's upstream address changes, its index stays and new
//! connections go to the new address.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::mpsc;

/// Why an address could not be mapped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    /// More brokers than the proxy is willing to serve.
    #[error("broker limit of {0} reached")]
    TooManyBrokers(usize),
    /// `listen_port + index` does not fit in a port number.
    #[error("no port left for broker index {0}")]
    PortOverflow(usize),
}

/// One upstream broker the proxy serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSlot {
    /// The broker's node id.
    pub node_id: i32,
    /// Where the broker listens, as `host:port`.
    pub upstream: String,
}

/// Node id to proxy port, shared by every connection.
#[derive(Debug)]
pub struct BrokerMap {
    base_port: u16,
    advertised_host: String,
    max_brokers: usize,
    inner: Mutex<Inner>,
    new_index: mpsc::UnboundedSender<usize>,
}

#[derive(Debug, Default)]
struct Inner {
    by_node: HashMap<i32, usize>,
    slots: Vec<BrokerSlot>,
}

impl BrokerMap {
    /// Creates an empty map; indices assigned later are announced on the returned channel so
    /// a listener can be started for them.
    pub fn new(
        base_port: u16,
        advertised_host: String,
        max_brokers: usize,
    ) -> (Self, mpsc::UnboundedReceiver<usize>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let map = Self {
            base_port,
            advertised_host,
            max_brokers,
            inner: Mutex::new(Inner::default()),
            new_index: tx,
        };
        (map, rx)
    }

    /// The host clients are told to connect to.
    pub fn advertised_host(&self) -> &str {
        &self.advertised_host
    }

    /// The proxy port serving broker index `index`.
    pub fn port_for_index(&self, index: usize) -> Result<u16, MapError> {
        u16::try_from(index)
            .ok()
            .and_then(|i| self.base_port.checked_add(i))
            .ok_or(MapError::PortOverflow(index))
    }

    /// Records the brokers of a full metadata fetch: unknown ones are added in node-id order.
    pub fn observe_all(&self, brokers: &[(i32, String, i32)]) -> Result<(), MapError> {
        let mut sorted: Vec<_> = brokers.iter().collect();
        sorted.sort_by_key(|(id, _, _)| *id);
        for (id, host, port) in sorted {
            self.observe(*id, host, *port)?;
        }
        Ok(())
    }

    /// Records that broker `node_id` listens at `host:port` upstream and returns the proxy
    /// port that serves it.
    pub fn observe(&self, node_id: i32, host: &str, port: i32) -> Result<u16, MapError> {
        let upstream = format!("{host}:{port}");
        let (index, is_new) = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match inner.by_node.get(&node_id).copied() {
                Some(i) => {
                    if let Some(slot) = inner.slots.get_mut(i) {
                        if slot.upstream != upstream {
                            tracing::info!(node_id, %upstream, "broker moved upstream");
                            slot.upstream = upstream;
                        }
                    }
                    (i, false)
                }
                None => {
                    let i = inner.slots.len();
                    if i >= self.max_brokers {
                        return Err(MapError::TooManyBrokers(self.max_brokers));
                    }
                    self.port_for_index(i)?;
                    inner.slots.push(BrokerSlot { node_id, upstream });
                    inner.by_node.insert(node_id, i);
                    (i, true)
                }
            }
        };
        if is_new {
            tracing::info!(
                node_id,
                index,
                port = self.port_for_index(index)?,
                "broker mapped"
            );
            // The receiver lives as long as the proxy; a send error only happens at shutdown.
            let _ = self.new_index.send(index);
        }
        self.port_for_index(index)
    }

    /// The proxy port of a node already known, without learning anything.
    pub fn known_port(&self, node_id: i32) -> Option<u16> {
        let index = {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.by_node.get(&node_id).copied()
        }?;
        self.port_for_index(index).ok()
    }

    /// The upstream broker behind index `index`, if one is known.
    pub fn slot(&self, index: usize) -> Option<BrokerSlot> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.slots.get(index).cloned()
    }

    /// Every broker known so far, by index.
    pub fn slots(&self) -> Vec<BrokerSlot> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.slots.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fetch_sorted_by_node_id_then_append() {
        let (map, mut rx) = BrokerMap::new(9092, "proxy.local".into(), 8);
        map.observe_all(&[
            (3, "b3".into(), 9),
            (1, "b1".into(), 9),
            (2, "b2".into(), 9),
        ])
        .unwrap();
        assert_eq!(map.observe(1, "b1", 9), Ok(9092));
        assert_eq!(map.observe(2, "b2", 9), Ok(9093));
        assert_eq!(map.observe(3, "b3", 9), Ok(9094));
        // A broker that appears later gets the next index even though its id sorts first.
        assert_eq!(map.observe(0, "b0", 9), Ok(9095));
        let announced: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(announced, vec![0, 1, 2, 3]);
        // A moved broker keeps its index.
        assert_eq!(map.observe(2, "b2-new", 19), Ok(9093));
        assert_eq!(map.slot(1).unwrap().upstream, "b2-new:19");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn limits_are_enforced() {
        let (map, _rx) = BrokerMap::new(65534, "h".into(), 2);
        assert_eq!(map.observe(1, "a", 1), Ok(65534));
        assert_eq!(map.observe(2, "a", 1), Ok(65535));
        assert_eq!(map.observe(3, "a", 1), Err(MapError::TooManyBrokers(2)));
        let (map, _rx) = BrokerMap::new(65535, "h".into(), 4);
        assert_eq!(map.observe(1, "a", 1), Ok(65535));
        assert_eq!(map.observe(2, "a", 1), Err(MapError::PortOverflow(1)));
    }
}
