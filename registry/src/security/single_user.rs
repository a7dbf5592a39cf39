//! `--basic-auth USER:PASSWORD`: the one user given on the command line (the registry's first
//! form of auth, kept for compatibility; a credentials file holds many users, hashed).

/// One user and password.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    user: String,
    password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BasicAuth({}:***)", self.user)
    }
}

impl BasicAuth {
    /// Parses `user:password` (the password may itself contain colons).
    pub fn parse(s: &str) -> Option<Self> {
        let (user, password) = s.trim().split_once(':')?;
        (!user.is_empty()).then(|| BasicAuth {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    /// The user's name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Are these our user and password? (Compared in constant time.)
    pub fn admits(&self, user: &str, password: &str) -> bool {
        // Both comparisons run, so the time does not tell which one failed.
        let user_ok = constant_time_eq(user.as_bytes(), self.user.as_bytes());
        let password_ok = constant_time_eq(password.as_bytes(), self.password.as_bytes());
        user_ok & password_ok
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_credentials() {
        let a = BasicAuth::parse("alice:s3:cret").unwrap();
        assert!(a.admits("alice", "s3:cret"));
        assert!(!a.admits("alice", "wrong"));
        assert!(!a.admits("bob", "s3:cret"));
        assert_eq!(format!("{a:?}"), "BasicAuth(alice:***)");
        assert!(BasicAuth::parse("nocolon").is_none());
        assert!(BasicAuth::parse(":pw").is_none());
    }
}
