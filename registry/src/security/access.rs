//! What each endpoint asks for, and whether a caller has it.
//!
//! | endpoint | needs |
//! |---|---|
//! | `GET /`, `GET /schemas/types`, `GET /config`, `GET /mode` | any principal |
//! | `GET /subjects` | any principal; the list shows only subjects it may READ |
//! | `GET /subjects/{s}/...`, `POST /subjects/{s}` (lookup), `POST /compatibility/subjects/{s}/...`, `GET /config/{s}`, `GET /mode/{s}` | READ on `s` |
//! | `POST /subjects/{s}/versions`, `DELETE /subjects/{s}[/versions/{v}]` | WRITE on `s` |
//! | the deletes with `?permanent=true`, `PUT\|DELETE /config/{s}`, `PUT\|DELETE /mode/{s}` | ADMIN on `s` |
//! | `PUT\|DELETE /config`, `PUT /mode` | ADMIN on `*` |
//! | `GET /schemas/ids/{id}[/schema\|/versions\|/subjects]` | READ on at least one subject holding `id` (lists show only those) |
//!
//! Without a permissions file nothing is checked per subject: reads are open to anyone, and
//! when any credential is configured, writes (WRITE and ADMIN above) need a valid one.

use axum::http::Method;

use super::authenticate::Caller;
use super::permissions::{Permissions, Role};

/// What one request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Anything any principal may do.
    Any,
    /// A role on one subject.
    Subject(Role, String),
    /// A role on every subject (the global config and mode).
    Global(Role),
    /// Reading the schema with this id.
    Schema(i32),
}

/// The access a request asks for, as a bounded metric label.
#[derive(
    Clone, Copy, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelValue,
)]
#[allow(non_camel_case_types)]
pub enum Access {
    /// READ (and the global reads).
    read,
    /// WRITE.
    write,
    /// ADMIN.
    admin,
}

impl Action {
    /// What the endpoint `template` (axum's matched path) with `method` asks for, given the
    /// path's `subject` and `id` and whether `?permanent=true` is set.
    pub fn of(
        method: &Method,
        template: &str,
        subject: Option<&str>,
        id: Option<&str>,
        permanent: bool,
    ) -> Self {
        let on = |role: Role| match subject {
            Some(s) => Action::Subject(role, s.to_owned()),
            // Every template naming a subject has one; without it, be strict.
            None => Action::Global(Role::Admin),
        };
        let changes = matches!(*method, Method::PUT | Method::DELETE);
        match template {
            "/" | "/schemas/types" | "/subjects" => Action::Any,
            "/config" | "/mode" if changes => Action::Global(Role::Admin),
            "/config" | "/mode" => Action::Any,
            "/config/{subject}" | "/mode/{subject}" if changes => on(Role::Admin),
            "/subjects/{subject}/versions" if *method == Method::POST => on(Role::Write),
            "/subjects/{subject}" | "/subjects/{subject}/versions/{version}"
                if *method == Method::DELETE =>
            {
                on(if permanent { Role::Admin } else { Role::Write })
            }
            t if t.starts_with("/schemas/ids/{id}") => {
                // An id that is not a number names no schema; the handler answers 404.
                Action::Schema(id.and_then(|i| i.parse().ok()).unwrap_or(0))
            }
            _ if changes => on(Role::Admin),
            _ => on(Role::Read),
        }
    }

    /// The role asked for, as a metric label.
    pub fn access(&self) -> Access {
        match self {
            Action::Subject(Role::Write, _) | Action::Global(Role::Write) => Access::write,
            Action::Subject(Role::Admin, _) | Action::Global(Role::Admin) => Access::admin,
            _ => Access::read,
        }
    }

    /// True for WRITE and ADMIN: what the audit log records even when allowed.
    pub fn changes_state(&self) -> bool {
        self.access() != Access::read
    }

    /// The subject named in the path, if any.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Action::Subject(_, s) => Some(s),
            _ => None,
        }
    }
}

/// How requests are checked.
pub enum Mode {
    /// No credential configured: everything is open, as before security existed.
    Open,
    /// Credentials but no permissions file: reads are open, writes need a valid credential.
    WritesNeedPrincipal,
    /// A permissions file: every request needs a valid credential and the role it asks for.
    Permissions,
}

/// The answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Allowed,
    /// 401: no credential, or one that proved nothing.
    Unauthenticated,
    /// 403, with Confluent's message.
    Denied(String),
}

/// Decides one request. `subjects_of` lists the subjects holding a schema id (deleted versions
/// included); `permissions` is the file in force when `mode` is [`Mode::Permissions`].
pub fn decide(
    mode: &Mode,
    permissions: Option<&Permissions>,
    caller: &Caller,
    action: &Action,
    subjects_of: impl FnOnce(i32) -> Vec<String>,
) -> Decision {
    let principal = match (mode, caller) {
        (Mode::Open, _) => return Decision::Allowed,
        (Mode::WritesNeedPrincipal, _) if !action.changes_state() => return Decision::Allowed,
        (Mode::WritesNeedPrincipal, Caller::Known(_)) => return Decision::Allowed,
        (_, Caller::Known(p)) => p,
        (_, Caller::Anonymous | Caller::Refused(_)) => return Decision::Unauthenticated,
    };
    let Some(perms) = permissions else {
        return Decision::Denied("no permissions are in force".into());
    };
    let allowed = match action {
        Action::Any => true,
        Action::Subject(role, subject) => perms.allows(principal, *role, subject),
        Action::Global(role) => perms.global_role(principal).is_some_and(|r| r >= *role),
        Action::Schema(id) => {
            let holders = subjects_of(*id);
            // An id nobody holds: the handler answers "not found", which tells nothing.
            holders.is_empty()
                || holders
                    .iter()
                    .any(|s| perms.allows(principal, Role::Read, s))
        }
    };
    if allowed {
        return Decision::Allowed;
    }
    Decision::Denied(match action {
        Action::Subject(role, subject) => {
            format!(
                "User is denied operation {} on Subject: {subject}",
                role.operation()
            )
        }
        Action::Global(role) => format!(
            "User is denied operation {} on the global config and mode",
            role.operation()
        ),
        Action::Schema(id) => format!("User is denied operation Read on Schema: {id}"),
        Action::Any => "User is denied".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::principal::{AuthFailure, Principal};

    const PERMS: &str = r#"
[[grant]]
principals = ["ci"]
role = "WRITE"
subjects = ["*"]

[[grant]]
principals = ["orders"]
role = "READ"
subjects = ["orders-*"]

[[grant]]
principals = ["root"]
role = "ADMIN"
subjects = ["*"]
"#;

    fn known(name: &str) -> Caller {
        Caller::Known(Principal::new(name, vec![]))
    }

    fn act(method: Method, template: &str, permanent: bool) -> Action {
        Action::of(
            &method,
            template,
            Some("orders-value"),
            Some("7"),
            permanent,
        )
    }

    #[test]
    fn endpoints_ask_for_the_documented_role() {
        let s = |r| Action::Subject(r, "orders-value".into());
        let cases = [
            (Method::GET, "/subjects", false, Action::Any),
            (Method::GET, "/config", false, Action::Any),
            (Method::PUT, "/config", false, Action::Global(Role::Admin)),
            (
                Method::DELETE,
                "/config",
                false,
                Action::Global(Role::Admin),
            ),
            (Method::PUT, "/mode", false, Action::Global(Role::Admin)),
            (
                Method::GET,
                "/subjects/{subject}/versions",
                false,
                s(Role::Read),
            ),
            (
                Method::POST,
                "/subjects/{subject}/versions",
                false,
                s(Role::Write),
            ),
            (Method::POST, "/subjects/{subject}", false, s(Role::Read)),
            (Method::DELETE, "/subjects/{subject}", false, s(Role::Write)),
            (Method::DELETE, "/subjects/{subject}", true, s(Role::Admin)),
            (
                Method::DELETE,
                "/subjects/{subject}/versions/{version}",
                true,
                s(Role::Admin),
            ),
            (
                Method::POST,
                "/compatibility/subjects/{subject}/versions/{version}",
                false,
                s(Role::Read),
            ),
            (Method::GET, "/config/{subject}", false, s(Role::Read)),
            (Method::PUT, "/config/{subject}", false, s(Role::Admin)),
            (Method::DELETE, "/mode/{subject}", false, s(Role::Admin)),
            (Method::GET, "/schemas/ids/{id}", false, Action::Schema(7)),
            (
                Method::GET,
                "/schemas/ids/{id}/versions",
                false,
                Action::Schema(7),
            ),
        ];
        for (method, template, permanent, want) in cases {
            assert_eq!(
                act(method.clone(), template, permanent),
                want,
                "{method} {template}"
            );
        }
        assert!(act(Method::POST, "/subjects/{subject}/versions", false).changes_state());
        assert!(!act(Method::POST, "/subjects/{subject}", false).changes_state());
    }

    #[test]
    fn without_permissions_reads_are_open_and_writes_need_a_principal() {
        let write = act(Method::POST, "/subjects/{subject}/versions", false);
        let read = act(Method::GET, "/subjects/{subject}/versions", false);
        let refused = Caller::Refused(AuthFailure::BadPassword);
        let none = |_| Vec::new();
        for caller in [Caller::Anonymous, refused.clone(), known("x")] {
            assert_eq!(
                decide(&Mode::Open, None, &caller, &write, none),
                Decision::Allowed
            );
            let m = Mode::WritesNeedPrincipal;
            assert_eq!(decide(&m, None, &caller, &read, none), Decision::Allowed);
        }
        let m = Mode::WritesNeedPrincipal;
        assert_eq!(
            decide(&m, None, &known("x"), &write, none),
            Decision::Allowed
        );
        assert_eq!(
            decide(&m, None, &refused, &write, none),
            Decision::Unauthenticated
        );
        assert_eq!(
            decide(&m, None, &Caller::Anonymous, &write, none),
            Decision::Unauthenticated
        );
    }

    #[test]
    fn permissions_decide_per_subject_and_per_schema_id() {
        let perms = Permissions::parse(PERMS, "t").unwrap();
        let m = Mode::Permissions;
        let d = |caller: &Caller, action: &Action, holders: Vec<&str>| {
            let holders: Vec<String> = holders.into_iter().map(String::from).collect();
            decide(&m, Some(&perms), caller, action, |_| holders)
        };
        let write = act(Method::POST, "/subjects/{subject}/versions", false);
        let read = act(Method::GET, "/subjects/{subject}/versions", false);
        assert_eq!(d(&known("ci"), &write, vec![]), Decision::Allowed);
        assert_eq!(
            d(&known("orders"), &write, vec![]),
            Decision::Denied("User is denied operation Write on Subject: orders-value".into())
        );
        assert_eq!(d(&known("orders"), &read, vec![]), Decision::Allowed);
        assert_eq!(
            d(&Caller::Anonymous, &read, vec![]),
            Decision::Unauthenticated
        );
        assert!(matches!(
            d(&known("stranger"), &read, vec![]),
            Decision::Denied(_)
        ));
        assert_eq!(
            d(&known("stranger"), &Action::Any, vec![]),
            Decision::Allowed
        );

        let global = Action::Global(Role::Admin);
        assert!(matches!(
            d(&known("ci"), &global, vec![]),
            Decision::Denied(_)
        ));
        assert_eq!(d(&known("root"), &global, vec![]), Decision::Allowed);

        let schema = Action::Schema(7);
        assert_eq!(
            d(
                &known("orders"),
                &schema,
                vec!["payments-value", "orders-key"]
            ),
            Decision::Allowed
        );
        assert_eq!(
            d(&known("orders"), &schema, vec!["payments-value"]),
            Decision::Denied("User is denied operation Read on Schema: 7".into())
        );
        assert_eq!(
            d(&known("orders"), &schema, vec![]),
            Decision::Allowed,
            "unknown id: 404 follows"
        );
    }
}
