//! [`Enforcer`]: the [`ProduceInspector`] that applies the policy to every Produce request.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use registry_client::RegistryClient;

use super::metrics::{EnforceMetrics, Outcome};
use super::partition::{PartitionInput, PartitionOutcome};
use super::produce_response::{local_response, merge};
use super::quarantine::QuarantineWriter;
use super::resolve::{reader_verdicts, ReaderVerdicts};
use super::sequence_store::SequenceStore;
use crate::batch::{self, BatchLimits};
use crate::inspect::{
    CloseCause, MergeError, ProduceDecision, ProduceInspector, ProduceRequestFrame,
};
use crate::policy::Policy;
use crate::produce_view::{PartitionEdit, ProduceRequestView, TOPIC_ID_FROM};

/// Schema enforcement on the produce path.
pub struct Enforcer {
    pub(super) policy: Policy,
    pub(super) client: RegistryClient,
    pub(super) quarantine: QuarantineWriter,
    pub(super) verdicts: ReaderVerdicts,
    pub(super) limits: BatchLimits,
    pub(super) metrics: EnforceMetrics,
    pub(super) sequences: Arc<SequenceStore>,
}

impl Enforcer {
    /// Builds the enforcer from its parts.
    pub fn new(
        policy: Policy,
        client: RegistryClient,
        quarantine: QuarantineWriter,
        limits: BatchLimits,
        metrics: EnforceMetrics,
        sequences: Arc<SequenceStore>,
    ) -> Self {
        Self {
            policy,
            client,
            quarantine,
            verdicts: reader_verdicts(),
            limits,
            metrics,
            sequences,
        }
    }

    /// Reads the sequence shifts back from their topic (until it succeeds), then sweeps
    /// expired ones once a minute; spawn it when the proxy starts.
    pub async fn maintain_sequences(self: Arc<Self>) {
        let client = self.quarantine.client_config().clone();
        self.sequences.clone().restore(client).await;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            self.sequences.expire();
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
                    self.metrics.count(name, Outcome::passthrough, n);
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
                        self.check_partition(&input).await
                    }
                    _ => PartitionOutcome::Forward,
                };
                row.push(outcome);
            }
            outcomes.push(row);
        }
        self.metrics
            .validate_seconds
            .observe(started.elapsed().as_secs_f64());
        decision(&view, req, outcomes)
    }
}

/// Turns per-partition outcomes into one decision: the original bytes when nothing changed,
/// a local response when nothing is forwarded, else a rebuilt request and a merge.
fn decision(
    view: &ProduceRequestView<'_>,
    req: &ProduceRequestFrame,
    outcomes: Vec<Vec<PartitionOutcome>>,
) -> ProduceDecision {
    let all = || outcomes.iter().flatten();
    if all().all(|o| *o == PartitionOutcome::Forward) {
        return ProduceDecision::Forward;
    }
    let locals: Vec<_> = all()
        .filter_map(|o| match o {
            PartitionOutcome::Local(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    let version = req.header.api_version;
    if locals.len() == all().count() {
        return match local_response(req.header.correlation_id, version, &locals) {
            Ok(b) => ProduceDecision::Respond(b),
            Err(e) => ProduceDecision::Close(CloseCause::Inspector, e.to_string()),
        };
    }
    let request = view.encode(|t, p| match &outcomes[t][p] {
        PartitionOutcome::Forward => PartitionEdit::Keep,
        PartitionOutcome::Replace(b) => PartitionEdit::Replace(b.clone()),
        PartitionOutcome::Local(_) => PartitionEdit::Drop,
    });
    ProduceDecision::ForwardModified {
        request,
        merge: Box::new(move |broker| {
            merge(broker, version, &locals).map_err(|e| MergeError(e.to_string()))
        }),
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
        (!self.sequences.is_ready()).then_some("sequence shifts not restored yet")
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
