//! The middleware in front of every route: authenticate, decide, answer 401 or 403 in
//! Confluent's shape or let the request through, and record the [`AccessEvent`].
//!
//! It runs as a route layer, so it sees the matched route template and its path parameters,
//! already percent-decoded, and the table in [`crate::security::access`] is written against
//! the same templates the router uses. Unknown paths never reach it (they are 404 for anyone).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Query, RawPathParams, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::RegistryError;
use crate::security::access::{decide, Action, Decision, Mode};
use crate::security::audit::{AccessEvent, Outcome};
use crate::security::{Caller, Permissions, Principal, Role, Security};
use crate::service::Registry;

/// What the guard needs: the security in force and the state (which subjects hold an id).
#[derive(Clone)]
pub struct GuardState {
    /// The security in force.
    pub security: Arc<Security>,
    /// The registry, for the subjects holding a schema id.
    pub registry: Arc<Registry>,
}

/// Subjects a principal may read, handed to the endpoints that list subjects so they show
/// only those (present only when a permissions file is in force).
#[derive(Clone)]
pub struct ReadableSubjects {
    permissions: Arc<Permissions>,
    principal: Principal,
}

impl ReadableSubjects {
    /// May the principal READ `subject`?
    pub fn allows(&self, subject: &str) -> bool {
        self.permissions
            .allows(&self.principal, Role::Read, subject)
    }
}

/// Keeps what `filter` (when present) allows.
pub fn readable(filter: Option<&ReadableSubjects>, subject: &str) -> bool {
    filter.is_none_or(|f| f.allows(subject))
}

/// The middleware.
pub async fn guard(
    State(g): State<GuardState>,
    matched: MatchedPath,
    params: RawPathParams,
    mut req: Request,
    next: Next,
) -> Response {
    let (mut subject, mut id) = (None, None);
    for (name, value) in &params {
        match name {
            "subject" => subject = Some(value),
            "id" => id = Some(value),
            _ => {}
        }
    }
    let permanent = Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .is_ok_and(|q| super::flag(&q, "permanent"));
    let method = req.method().clone();
    let action = Action::of(&method, matched.as_str(), subject, id, permanent);
    let security = &g.security;
    let caller = match security.mode() {
        Mode::Open => Caller::Anonymous,
        _ => {
            let header = req.headers().get(header::AUTHORIZATION);
            security.authenticator().authenticate(header).await
        }
    };
    let permissions = security.permissions();
    let decision = decide(
        security.mode(),
        permissions.as_deref(),
        &caller,
        &action,
        |id| {
            let mut subjects: Vec<String> = g
                .registry
                .read()
                .versions_of_id(id, true)
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            subjects.dedup();
            subjects
        },
    );
    let principal = match &caller {
        Caller::Known(p) => Some(p.clone()),
        _ => None,
    };
    let reason = match &caller {
        Caller::Refused(e) => Some(e.to_string()),
        _ => None,
    };
    let path = req.uri().path().to_owned();
    let (outcome, response) = match decision {
        Decision::Allowed => {
            if let (Some(permissions), Some(principal)) = (permissions, principal.clone()) {
                req.extensions_mut().insert(ReadableSubjects {
                    permissions,
                    principal,
                });
            }
            (Outcome::allowed, next.run(req).await)
        }
        Decision::Unauthenticated => (
            Outcome::unauthenticated,
            RegistryError::Unauthorized.into_response(),
        ),
        Decision::Denied(message) => (
            Outcome::denied,
            RegistryError::Forbidden(message).into_response(),
        ),
    };
    AccessEvent {
        principal: principal.as_ref().map(|p| p.name.as_str()),
        method: &method,
        path: &path,
        subject: action.subject(),
        access: action.access(),
        outcome,
        status: response.status().as_u16(),
        reason,
    }
    .emit(&security.metrics().access);
    response
}
