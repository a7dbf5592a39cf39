//! Deciding a request: [`Enforcer`], the [`ProduceInspector`] that applies the policy to every
//! Produce request. It finds each partition's rule, hands the partition to the
//! [`Judge`] ([`super::partition`]) and turns the outcomes into one decision
//! ([`super::answer::decision`]).

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;

use super::answer::{decision, PartitionInput, PartitionOutcome};
use super::outcome::Outcome;
use super::partition::Judge;
use crate::batch;
use crate::inspect::{CloseCause, ProduceDecision, ProduceInspector, ProduceRequestFrame};
use crate::policy::Policy;
use crate::produce_view::TOPIC_ID_FROM;

/// Schema enforcement on the produce path.
pub struct Enforcer {
    policy: Policy,
    judge: Judge,
}

impl Enforcer {
    /// The enforcer of `policy`, with the judge of its partitions.
    pub fn new(policy: Policy, judge: Judge) -> Self {
        Self { policy, judge }
    }

    /// Reads the sequence shifts back from their topic (until it succeeds), then sweeps
    /// expired ones once a minute; spawn it when the proxy starts.
    pub async fn maintain_sequences(self: Arc<Self>) {
        let client = self.judge.quarantine.client_config().clone();
        self.judge.sequences.clone().restore(client).await;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            self.judge.sequences.expire();
        }
    }

    /// Closes the quarantine producer whenever it has been idle for its configured time (see
    /// [`super::quarantine::QuarantineWriter::close_if_idle`]); returns at once if it is kept.
    pub async fn maintain_quarantine(self: Arc<Self>) {
        let Some(every) = self.judge.quarantine.idle_check_every() else {
            return;
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(producer) = self
                .judge
                .quarantine
                .close_if_idle(std::time::Instant::now())
            {
                // Dropping joins librdkafka's threads: not on an async worker.
                let closed = tokio::task::spawn_blocking(move || drop(producer)).await;
                match closed {
                    Ok(()) => tracing::info!("quarantine producer closed: idle"),
                    Err(e) => tracing::warn!(error = %e, "closing the idle quarantine producer"),
                }
            }
        }
    }

    async fn decide(&self, req: &ProduceRequestFrame) -> ProduceDecision {
        let version = req.header.api_version;
        let view = match req.view() {
            Ok(v) => v,
            Err(e) => {
                return ProduceDecision::Close(
                    CloseCause::Malformed,
                    format!("malformed produce request: {e}"),
                )
            }
        };
        let policies: Vec<_> = view
            .topics
            .iter()
            .map(|t| {
                let name = std::str::from_utf8(t.name).ok()?;
                let rule = self.policy.rule_for(name)?;
                if rule.is_off() {
                    // Matched by a rule that inspects nothing: counted, never decoded.
                    let n = t
                        .partitions
                        .iter()
                        .filter_map(|p| p.records)
                        .map(batch::record_count)
                        .sum();
                    self.judge.metrics.count(name, Outcome::passthrough, n);
                    return None;
                }
                Some((name, rule))
            })
            .collect();
        if policies.iter().all(Option::is_none) {
            if version >= TOPIC_ID_FROM {
                // Topic ids cannot be matched against the policy; ApiVersions never offers
                // v13 when enforcing, so only a misbehaving client gets here.
                return ProduceDecision::Close(CloseCause::Unsupported, format!("Produce v{version} names topics by id, which an enforcing proxy does not accept"));
            }
            return ProduceDecision::Forward;
        }
        let started = Instant::now();
        let client_id = client_id(&req.frame);
        let mut outcomes: Vec<Vec<PartitionOutcome>> = Vec::with_capacity(view.topics.len());
        for (topic, policy) in view.topics.iter().zip(&policies) {
            let mut row = Vec::with_capacity(topic.partitions.len());
            for part in &topic.partitions {
                let outcome = match (policy, part.records) {
                    (Some((name, policy)), Some(records)) => {
                        let input = PartitionInput {
                            topic: name,
                            index: part.index,
                            records,
                            policy,
                            client_id,
                        };
                        self.judge.check_partition(&input).await
                    }
                    _ => PartitionOutcome::Forward,
                };
                row.push(outcome);
            }
            outcomes.push(row);
        }
        self.judge
            .metrics
            .validate_seconds
            .observe(started.elapsed().as_secs_f64());
        decision(&view, req, outcomes)
    }
}

/// The request header's client id (bytes 8.. as a classic nullable string in every version).
fn client_id(frame: &[u8]) -> Option<&str> {
    let len = i16::from_be_bytes([*frame.get(8)?, *frame.get(9)?]);
    let len = usize::try_from(len).ok()?;
    std::str::from_utf8(frame.get(10..10 + len)?).ok()
}

impl ProduceInspector for Enforcer {
    fn inspect<'a>(&'a self, request: &'a ProduceRequestFrame) -> BoxFuture<'a, ProduceDecision> {
        Box::pin(super::trace::traced(self.decide(request)))
    }

    fn max_produce_version(&self) -> i16 {
        TOPIC_ID_FROM - 1
    }

    fn not_ready(&self) -> Option<&'static str> {
        (!self.judge.sequences.is_ready()).then_some("sequence shifts not restored yet")
    }
}

#[cfg(test)]
mod tests {
    use super::client_id;

    #[test]
    fn client_id_is_read_within_bounds() {
        let mut frame = vec![0, 0, 0, 3, 0, 0, 0, 1, 0, 2, b'c', b'1'];
        assert_eq!(client_id(&frame), Some("c1"));
        frame.truncate(11);
        assert_eq!(client_id(&frame), None);
        assert_eq!(client_id(&[0, 0, 0, 3, 0, 0, 0, 1, 0xff, 0xff]), None);
    }
}
