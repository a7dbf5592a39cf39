//! Per-subject permissions from a TOML file, turned once into a runtime form.
//!
//! ```toml
//! [groups]
//! ci = ["ci-pipeline"]              # principal names: basic-auth users or a JWT's claim
//!
//! [[grant]]
//! groups = ["ci"]                   # and/or principals = ["alice"]
//! role = "WRITE"                    # READ | WRITE | ADMIN, each including the ones before
//! subjects = ["*"]                  # exact names, or prefixes ending in `*`
//! ```
//!
//! A principal's role on a subject is the highest role of every grant that names it (directly
//! or through a group, from this file or from its token) and matches the subject. Nothing is
//! granted by default.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use toml::Spanned;

use super::principal::Principal;

/// What a principal may do on a subject; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Read versions, look schemas up, test compatibility, read the subject's config and mode.
    Read,
    /// Register versions and soft-delete them.
    Write,
    /// Permanent deletes and the subject's config and mode; on `*`, the global config and mode.
    Admin,
}

impl Role {
    /// The operation named in a 403, as Confluent names them.
    pub fn operation(self) -> &'static str {
        match self {
            Role::Read => "Read",
            Role::Write => "Write",
            Role::Admin => "Admin",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    grant: Vec<Spanned<RawGrant>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    #[serde(default)]
    principals: Vec<Spanned<String>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    role: Role,
    subjects: Vec<Spanned<String>>,
}

/// Which subjects a grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectPattern {
    /// Every subject, and the registry's global config and mode (`*`).
    All,
    /// Subjects starting with this (`orders-*`).
    Prefix(String),
    /// This subject only.
    Exact(String),
}

impl SubjectPattern {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("a subject pattern must not be empty".into());
        }
        let (body, prefix) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err(format!(
                "subject pattern {text:?}: `*` may only end a pattern (a prefix)"
            ));
        }
        Ok(match (prefix, body.is_empty()) {
            (true, true) => SubjectPattern::All,
            (true, false) => SubjectPattern::Prefix(body.to_owned()),
            (false, _) => SubjectPattern::Exact(body.to_owned()),
        })
    }

    fn matches(&self, subject: &str) -> bool {
        match self {
            SubjectPattern::All => true,
            SubjectPattern::Prefix(p) => subject.starts_with(p.as_str()),
            SubjectPattern::Exact(s) => s == subject,
        }
    }
}

/// One grant: who, what role, on which subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    principals: HashSet<String>,
    groups: HashSet<String>,
    role: Role,
    subjects: Vec<SubjectPattern>,
}

/// A permissions file that cannot be used: the registry refuses to start, a reload keeps the
/// previous permissions.
#[derive(Debug, thiserror::Error)]
pub enum PermissionsError {
    /// The file could not be read.
    #[error("cannot read permissions file {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error (in the message, not a `source()`, so a chain prints it once).
        cause: std::io::Error,
    },
    /// The TOML is malformed, a field is unknown or wrong.
    #[error("permissions file {path}, line {line}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line of the problem.
        line: usize,
        /// One human line.
        reason: String,
    },
}

/// The grants of a permissions file, and the groups it defines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Group name → its members.
    members: BTreeMap<String, HashSet<String>>,
    grants: Vec<Grant>,
}

impl Permissions {
    /// Parses permissions text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PermissionsError> {
        let invalid = |offset: Option<usize>, reason: String| PermissionsError::Invalid {
            path: origin.to_owned(),
            line: offset.map_or(1, |o| line_of(text, o)),
            reason,
        };
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| invalid(e.span().map(|s| s.start), e.message().to_owned()))?;
        let mut members = BTreeMap::new();
        for (group, names) in raw.groups {
            let mut set = HashSet::new();
            for name in names {
                if name.get_ref().is_empty() {
                    return Err(invalid(Some(name.span().start), "empty member name".into()));
                }
                set.insert(name.into_inner());
            }
            members.insert(group, set);
        }
        let mut grants = Vec::with_capacity(raw.grant.len());
        for spanned in raw.grant {
            let at = spanned.span().start;
            let g = spanned.into_inner();
            if g.principals.is_empty() && g.groups.is_empty() {
                return Err(invalid(
                    Some(at),
                    "a grant needs `principals` or `groups`".into(),
                ));
            }
            if g.subjects.is_empty() {
                return Err(invalid(Some(at), "a grant needs `subjects`".into()));
            }
            for group in &g.groups {
                if !members.contains_key(group.get_ref()) {
                    // A group may also come from a token's groups claim; a typo here would
                    // silently grant nothing, so it must at least be declared (maybe empty).
                    return Err(invalid(
                        Some(group.span().start),
                        format!(
                            "group {:?} is not declared under [groups] (declare it, even as [], if its members come from tokens)",
                            group.get_ref()
                        ),
                    ));
                }
            }
            let subjects = g
                .subjects
                .iter()
                .map(|s| {
                    SubjectPattern::parse(s.get_ref()).map_err(|e| invalid(Some(s.span().start), e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            grants.push(Grant {
                principals: g.principals.into_iter().map(Spanned::into_inner).collect(),
                groups: g.groups.into_iter().map(Spanned::into_inner).collect(),
                role: g.role,
                subjects,
            });
        }
        Ok(Self { members, grants })
    }

    /// Is `principal` (with the groups its token carries) in `group`?
    fn in_group(&self, principal: &Principal, group: &str) -> bool {
        principal.groups.iter().any(|g| g == group)
            || self
                .members
                .get(group)
                .is_some_and(|m| m.contains(&principal.name))
    }

    fn names(&self, grant: &Grant, principal: &Principal) -> bool {
        grant.principals.contains(&principal.name)
            || grant.groups.iter().any(|g| self.in_group(principal, g))
    }

    /// The highest role `principal` holds on `subject`, if any.
    pub fn role_on(&self, principal: &Principal, subject: &str) -> Option<Role> {
        self.grants
            .iter()
            .filter(|g| g.subjects.iter().any(|p| p.matches(subject)))
            .filter(|g| self.names(g, principal))
            .map(|g| g.role)
            .max()
    }

    /// The highest role `principal` holds on every subject at once (a grant on `*`): what the
    /// global config and mode ask for.
    pub fn global_role(&self, principal: &Principal) -> Option<Role> {
        self.grants
            .iter()
            .filter(|g| g.subjects.contains(&SubjectPattern::All))
            .filter(|g| self.names(g, principal))
            .map(|g| g.role)
            .max()
    }

    /// May `principal` hold at least `role` on `subject`?
    pub fn allows(&self, principal: &Principal, role: Role, subject: &str) -> bool {
        self.role_on(principal, subject).is_some_and(|r| r >= role)
    }
}

/// The 1-based line of byte `offset` in `text` (toml's spans fall on character boundaries).
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const CI_ONLY: &str = include_str!("../../../examples/registry-permissions.toml");

    fn p(name: &str) -> Principal {
        Principal::new(name, Vec::new())
    }

    #[test]
    fn the_example_gives_writes_to_ci_only() {
        let perms = Permissions::parse(CI_ONLY, "example").unwrap();
        let ci = p("ci-pipeline");
        assert!(perms.allows(&ci, Role::Write, "orders-value"));
        assert!(perms.allows(&ci, Role::Write, "payments-value"));
        assert!(!perms.allows(&ci, Role::Admin, "orders-value"));
        assert_eq!(perms.global_role(&ci), Some(Role::Write));

        let orders = p("svc-orders");
        assert!(perms.allows(&orders, Role::Read, "orders-value"));
        assert!(!perms.allows(&orders, Role::Write, "orders-value"));
        assert!(!perms.allows(&orders, Role::Read, "payments-value"));
        assert_eq!(perms.global_role(&orders), None);

        let admin = p("registry-admin");
        assert_eq!(perms.global_role(&admin), Some(Role::Admin));
        assert_eq!(perms.role_on(&p("stranger"), "orders-value"), None);
    }

    #[test]
    fn patterns_are_exact_names_or_prefixes() {
        let text = r#"
[groups]
team = []

[[grant]]
principals = ["a"]
role = "READ"
subjects = ["orders-*", "payments-value"]

[[grant]]
groups = ["team"]
role = "ADMIN"
subjects = ["orders-value"]
"#;
        let perms = Permissions::parse(text, "t").unwrap();
        let a = p("a");
        assert!(perms.allows(&a, Role::Read, "orders-"));
        assert!(perms.allows(&a, Role::Read, "orders-key"));
        assert!(perms.allows(&a, Role::Read, "payments-value"));
        assert!(!perms.allows(&a, Role::Read, "payments-value2"));
        assert!(!perms.allows(&a, Role::Read, "order"));
        // The group comes from the token: the highest role wins.
        let b = Principal::new("b", vec!["team".into()]);
        assert_eq!(perms.role_on(&b, "orders-value"), Some(Role::Admin));
        assert_eq!(perms.role_on(&b, "orders-key"), None);
        assert_eq!(
            perms.global_role(&b),
            None,
            "ADMIN on one subject is not global"
        );
    }

    #[test]
    fn errors_carry_the_line() {
        let cases = [
            ("[[grant]]\nprincipals = [\"a\"]\nrole = \"OWNER\"\nsubjects = [\"*\"]\n", 3, "OWNER"),
            ("[[grant]]\nprincipals = [\"a\"]\nrole = \"READ\"\nsubject = [\"*\"]\n", 4, "subject"),
            ("[[grant]]\nprincipals = [\"a\"]\nrole = \"READ\"\nsubjects = [\"a*b\"]\n", 4, "may only end"),
            ("\n\n[[grant]]\nrole = \"READ\"\nsubjects = [\"x\"]\n", 3, "principals"),
            ("[[grant]]\nprincipals = [\"a\"]\nrole = \"READ\"\nsubjects = []\n", 1, "subjects"),
            ("[groups]\nci = [\"x\"]\n[[grant]]\ngroups = [\"cj\"]\nrole = \"READ\"\nsubjects = [\"x\"]\n", 4, "not declared"),
            ("[groups]\nci = [\"\"]\n", 2, "empty member"),
            ("[owners]\n", 1, "owners"),
        ];
        for (text, line, needle) in cases {
            let e = Permissions::parse(text, "perm.toml")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("perm.toml, line {line}:")) && e.contains(needle),
                "{text:?} → {e}"
            );
        }
    }

    #[test]
    fn an_empty_file_grants_nothing() {
        let perms = Permissions::parse("", "t").unwrap();
        assert_eq!(perms.role_on(&p("a"), "x"), None);
        assert_eq!(perms, Permissions::default());
    }
}
