//! CreateAcls v1: the harness grants a principal what a test needs (as a super user, on a
//! node's internal listener), the way `kafka-acls.sh --add` would.

use std::net::SocketAddr;
use std::time::Duration;

use super::wire::{self, Reader};

const API_KEY_CREATE_ACLS: i16 = 30;
const API_VERSION: i16 = 1;

/// What an ACL is about (Kafka's `ResourceType` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// A topic (2).
    Topic,
    /// A consumer group (3).
    Group,
    /// The cluster (4), named `kafka-cluster`.
    Cluster,
}

/// An operation (Kafka's `AclOperation` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// ALL (2).
    All,
    /// READ (3).
    Read,
    /// WRITE (4).
    Write,
    /// CREATE (5).
    Create,
    /// DESCRIBE (8).
    Describe,
    /// IDEMPOTENT_WRITE (12).
    IdempotentWrite,
}

/// One ALLOW rule: `principal` may do `operation` on resources named `name` (a prefix when
/// `prefixed`), from any host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// `User:alice`.
    pub principal: String,
    /// What kind of resource.
    pub resource: Resource,
    /// Its name, or a name prefix.
    pub name: String,
    /// Whether `name` is a prefix.
    pub prefixed: bool,
    /// What is allowed.
    pub operation: Operation,
}

impl Acl {
    /// `principal` may `operation` the resource `name` (literal).
    pub fn allow(principal: &str, resource: Resource, name: &str, operation: Operation) -> Self {
        Self {
            principal: principal.to_owned(),
            resource,
            name: name.to_owned(),
            prefixed: false,
            operation,
        }
    }

    /// As [`allow`](Acl::allow), for every resource whose name starts with `prefix`.
    pub fn allow_prefix(
        principal: &str,
        resource: Resource,
        prefix: &str,
        operation: Operation,
    ) -> Self {
        Self {
            prefixed: true,
            ..Self::allow(principal, resource, prefix, operation)
        }
    }
}

fn encode(acls: &[Acl]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(acls.len() as i32).to_be_bytes());
    for acl in acls {
        body.push(match acl.resource {
            Resource::Topic => 2,
            Resource::Group => 3,
            Resource::Cluster => 4,
        });
        wire::put_string(&mut body, &acl.name);
        body.push(if acl.prefixed { 4 } else { 3 }); // PREFIXED / LITERAL
        wire::put_string(&mut body, &acl.principal);
        wire::put_string(&mut body, "*");
        body.push(match acl.operation {
            Operation::All => 2,
            Operation::Read => 3,
            Operation::Write => 4,
            Operation::Create => 5,
            Operation::Describe => 8,
            Operation::IdempotentWrite => 12,
        });
        body.push(3); // ALLOW
    }
    body
}

/// Creates `acls` through the node at `addr`; any per-ACL error fails the call.
pub fn create(addr: SocketAddr, acls: &[Acl], timeout: Duration) -> std::io::Result<()> {
    let answer = wire::call(
        addr,
        API_KEY_CREATE_ACLS,
        API_VERSION,
        &encode(acls),
        timeout,
    )?;
    let mut r = Reader::new(&answer);
    let _throttle_ms = r.i32()?;
    for acl in acls.iter().take(r.count(4)?) {
        let code = r.i16()?;
        let message = r.string()?;
        if code != 0 {
            return Err(std::io::Error::other(format!(
                "CreateAcls refused {acl:?}: error {code} {message}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acl_encodes_as_create_acls_v1() {
        let acl = Acl::allow_prefix("User:a", Resource::Topic, "t", Operation::Write);
        let mut want = vec![0, 0, 0, 1, 2, 0, 1, b't', 4, 0, 6];
        want.extend_from_slice(b"User:a");
        want.extend_from_slice(&[0, 1, b'*', 4, 3]);
        assert_eq!(encode(&[acl]), want);
    }
}
