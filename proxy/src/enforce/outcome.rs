//! [`Outcome`]: what happened to a record, the `outcome` label of `schemagate_records_total`
//! and the counts on a request's `produce` span. A leaf: [`super::metrics`] and
//! [`super::trace`] both count by it.

use prometheus_client::encoding::EncodeLabelValue;

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// Checked and valid; forwarded.
    valid,
    /// Invalid; written to quarantine, not to the topic.
    quarantined,
    /// Refused to the client (invalid, or in a batch that had to be refused whole).
    rejected,
    /// Invalid but forwarded under `audit`, with a copy in quarantine.
    audited,
    /// On a topic whose rule inspects nothing.
    passthrough,
}
