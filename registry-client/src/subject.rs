//! Subjects and subject versions: the names a registry files schemas under.

use std::fmt;
use std::sync::Arc;

/// A registry subject name, cheap to clone and hash (the proxy keeps one per topic).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject(Arc<str>);

impl Subject {
    /// Wraps a subject name such as `orders-value`.
    pub fn new(name: &str) -> Self {
        Subject(Arc::from(name))
    }

    /// The subject name as the registry spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Subject {
    fn from(name: &str) -> Self {
        Subject::new(name)
    }
}

impl From<String> for Subject {
    fn from(name: String) -> Self {
        Subject(Arc::from(name))
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which version of a subject: a fixed number, or whatever is `latest` right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionSpec {
    /// A registered version number (1, 2, ...).
    Number(i32),
    /// The newest live version; cached only for a short TTL because it moves.
    Latest,
}

impl VersionSpec {
    /// The path segment the REST API expects: the number, or `latest`.
    pub fn path_segment(self) -> String {
        match self {
            VersionSpec::Number(v) => v.to_string(),
            VersionSpec::Latest => "latest".to_string(),
        }
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSpec::Number(v) => write!(f, "{v}"),
            VersionSpec::Latest => f.write_str("latest"),
        }
    }
}

impl std::str::FromStr for VersionSpec {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("latest") {
            return Ok(VersionSpec::Latest);
        }
        s.parse::<i32>().map(VersionSpec::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_spec_parses_numbers_and_latest() {
        assert_eq!("3".parse::<VersionSpec>(), Ok(VersionSpec::Number(3)));
        assert_eq!("LATEST".parse::<VersionSpec>(), Ok(VersionSpec::Latest));
        assert!("three".parse::<VersionSpec>().is_err());
        assert_eq!(VersionSpec::Latest.path_segment(), "latest");
        assert_eq!(VersionSpec::Number(7).path_segment(), "7");
    }

    #[test]
    fn subjects_compare_by_name() {
        let a = Subject::new("orders-value");
        let b: Subject = String::from("orders-value").into();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "orders-value");
        assert_eq!(a.to_string(), "orders-value");
    }
}
