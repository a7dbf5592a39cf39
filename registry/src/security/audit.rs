//! The audit trail: one structured log line (target `schemagate::audit`) for every request that
//! changes state or is refused, and a counter of every checked request by outcome. Both come
//! from one [`AccessEvent`], so the log and the metric never disagree.

use axum::http::Method;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::access::Access;

/// How a request ended, as far as access goes.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// The request was let through (its own status may still be an error).
    allowed,
    /// 403: the principal lacks the role.
    denied,
    /// 401: no valid credential.
    unauthenticated,
}

/// Labels of `schemagate_registry_access_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccessLabels {
    /// The role asked for.
    pub access: Access,
    /// How it ended.
    pub outcome: Outcome,
}

/// One checked request.
#[derive(Debug)]
pub struct AccessEvent<'a> {
    /// The principal, if one was proved.
    pub principal: Option<&'a str>,
    /// The HTTP method.
    pub method: &'a Method,
    /// The request path.
    pub path: &'a str,
    /// The subject the path names, if any.
    pub subject: Option<&'a str>,
    /// The role asked for.
    pub access: Access,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// Why a credential was refused, if it was.
    pub reason: Option<String>,
}

impl AccessEvent<'_> {
    /// Counts the event, and logs it when it changed state or was refused.
    pub fn emit(&self, counter: &Family<AccessLabels, Counter>) {
        counter
            .get_or_create(&AccessLabels {
                access: self.access,
                outcome: self.outcome,
            })
            .inc();
        if self.outcome == Outcome::allowed && self.access == Access::read {
            return;
        }
        let principal = self.principal.unwrap_or("-");
        let subject = self.subject.unwrap_or("-");
        let reason = self.reason.as_deref().unwrap_or("-");
        tracing::info!(
            target: "schemagate::audit",
            principal,
            method = %self.method,
            path = self.path,
            subject,
            access = ?self.access,
            outcome = ?self.outcome,
            status = self.status,
            reason,
            "registry access"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_counted_by_access_and_outcome() {
        let counter = Family::<AccessLabels, Counter>::default();
        let event = |access, outcome| AccessEvent {
            principal: Some("ci"),
            method: &Method::POST,
            path: "/subjects/orders-value/versions",
            subject: Some("orders-value"),
            access,
            outcome,
            status: 200,
            reason: None,
        };
        event(Access::write, Outcome::allowed).emit(&counter);
        event(Access::write, Outcome::allowed).emit(&counter);
        event(Access::read, Outcome::denied).emit(&counter);
        let get = |access, outcome| {
            counter
                .get_or_create(&AccessLabels { access, outcome })
                .get()
        };
        assert_eq!(get(Access::write, Outcome::allowed), 2);
        assert_eq!(get(Access::read, Outcome::denied), 1);
        assert_eq!(get(Access::read, Outcome::allowed), 0);
    }
}
