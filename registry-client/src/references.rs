//! Transitive resolution of schema references into dependency order.
//!
//! A schema's references name `(subject, version)` pairs whose schemas may themselves have
//! references. The parser wants every one of them, each before the schemas that use it.
//! Resolution is a depth-first walk with an explicit stack, bounded in count and depth, that
//! refuses cycles; anything missing or unbounded makes the referring schema unusable.

use std::collections::HashSet;
use std::future::Future;

use contract::{ResolvedReference, SchemaReference};

use crate::error::RegistryError;

/// A referenced schema as fetched from the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReferencedSchema {
    /// Its text.
    pub(crate) schema: String,
    /// Its own references.
    pub(crate) references: Vec<SchemaReference>,
}

/// Bounds on one resolution.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most distinct referenced schemas fetched.
    pub(crate) max_references: usize,
    /// Longest chain from the root schema.
    pub(crate) max_depth: usize,
}

struct Frame {
    reference: SchemaReference,
    fetched: ReferencedSchema,
    next_child: usize,
}

type Key = (String, i32);

fn key(r: &SchemaReference) -> Key {
    (r.subject.clone(), r.version)
}

fn unusable(reason: String) -> RegistryError {
    RegistryError::InvalidSchema { reason }
}

/// Resolves `roots` (a schema's direct references) and everything they reference, in
/// dependency order. `fetch` answers `GET /subjects/{subject}/versions/{version}`.
pub(crate) async fn resolve<F, Fut>(
    roots: &[SchemaReference],
    limits: Limits,
    fetch: F,
) -> Result<Vec<ResolvedReference>, RegistryError>
where
    F: Fn(SchemaReference) -> Fut,
    Fut: Future<Output = Result<ReferencedSchema, RegistryError>>,
{
    let mut order = Vec::new();
    let mut names = HashSet::new();
    let mut done: HashSet<Key> = HashSet::new();
    let mut on_path: HashSet<Key> = HashSet::new();
    let mut fetched_count = 0usize;
    let mut stack: Vec<Frame> = Vec::new();
    let mut pending_roots = roots.iter();

    loop {
        let next = match stack.last_mut() {
            Some(frame) => match frame.fetched.references.get(frame.next_child) {
                Some(child) => {
                    frame.next_child += 1;
                    Some(child.clone())
                }
                None => {
                    if let Some(finished) = stack.pop() {
                        let k = key(&finished.reference);
                        on_path.remove(&k);
                        done.insert(k);
                        if names.insert(finished.reference.name.clone()) {
                            order.push(ResolvedReference {
                                name: finished.reference.name,
                                schema: finished.fetched.schema,
                            });
                        }
                    }
                    continue;
                }
            },
            None => match pending_roots.next() {
                Some(root) => Some(root.clone()),
                None => return Ok(order),
            },
        };
        let Some(reference) = next else { continue };
        let k = key(&reference);
        if done.contains(&k) {
            continue;
        }
        if on_path.contains(&k) {
            return Err(unusable(format!(
                "reference cycle through subject {:?} version {}",
                reference.subject, reference.version
            )));
        }
        if stack.len() >= limits.max_depth {
            return Err(unusable(format!(
                "references nest deeper than {}",
                limits.max_depth
            )));
        }
        fetched_count += 1;
        if fetched_count > limits.max_references {
            return Err(unusable(format!(
                "more than {} references",
                limits.max_references
            )));
        }
        let fetched = fetch(reference.clone()).await.map_err(|e| match e {
            RegistryError::NotFound { message, .. } => unusable(format!(
                "reference {:?} (subject {:?} version {}) not found: {message}",
                reference.name, reference.subject, reference.version
            )),
            other => other,
        })?;
        on_path.insert(k);
        stack.push(Frame {
            reference,
            fetched,
            next_child: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Missing;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn r(name: &str, subject: &str, version: i32) -> SchemaReference {
        SchemaReference {
            name: name.into(),
            subject: subject.into(),
            version,
        }
    }

    struct Store {
        schemas: HashMap<Key, ReferencedSchema>,
        fetches: AtomicUsize,
    }

    impl Store {
        fn new(entries: &[(&str, i32, &[SchemaReference])]) -> Self {
            let schemas = entries
                .iter()
                .map(|(s, v, refs)| {
                    (
                        (s.to_string(), *v),
                        ReferencedSchema {
                            schema: format!("{s}@{v}"),
                            references: refs.to_vec(),
                        },
                    )
                })
                .collect();
            Store {
                schemas,
                fetches: AtomicUsize::new(0),
            }
        }

        async fn fetch(&self, r: SchemaReference) -> Result<ReferencedSchema, RegistryError> {
            self.fetches.fetch_add(1, Ordering::Relaxed);
            self.schemas
                .get(&(r.subject.clone(), r.version))
                .cloned()
                .ok_or(RegistryError::NotFound {
                    what: Missing::Version,
                    error_code: 40402,
                    message: "Version not found.".into(),
                })
        }
    }

    const LIMITS: Limits = Limits {
        max_references: 16,
        max_depth: 4,
    };

    fn names(order: &[ResolvedReference]) -> Vec<&str> {
        order.iter().map(|r| r.schema.as_str()).collect()
    }

    #[tokio::test]
    async fn diamond_resolves_dependencies_first_and_fetches_each_once() {
        // root -> a, b; a -> c; b -> c
        let c = r("c.proto", "c", 1);
        let a = r("a.proto", "a", 1);
        let b = r("b.proto", "b", 2);
        let store = Store::new(&[
            ("a", 1, std::slice::from_ref(&c)),
            ("b", 2, std::slice::from_ref(&c)),
            ("c", 1, &[]),
        ]);
        let order = resolve(&[a, b], LIMITS, |x| store.fetch(x))
            .await
            .expect("resolvable");
        assert_eq!(names(&order), ["c@1", "a@1", "b@2"]);
        assert_eq!(order[0].name, "c.proto");
        assert_eq!(store.fetches.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn no_references_means_no_requests() {
        let store = Store::new(&[]);
        let order = resolve(&[], LIMITS, |x| store.fetch(x)).await;
        assert_eq!(order, Ok(vec![]));
        assert_eq!(store.fetches.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn cycles_are_refused() {
        let a = r("a", "a", 1);
        let b = r("b", "b", 1);
        let store = Store::new(&[
            ("a", 1, std::slice::from_ref(&b)),
            ("b", 1, std::slice::from_ref(&a)),
        ]);
        let err = resolve(&[a], LIMITS, |x| store.fetch(x)).await;
        assert!(
            matches!(err, Err(RegistryError::InvalidSchema { reason }) if reason.contains("cycle"))
        );
    }

    #[tokio::test]
    async fn depth_and_count_are_bounded() {
        let chain: Vec<SchemaReference> = (0..10).map(|i| r(&format!("n{i}"), "s", i)).collect();
        let entries: Vec<(&str, i32, Vec<SchemaReference>)> = (0..10)
            .map(|i| {
                (
                    "s",
                    i,
                    chain.get(i as usize + 1).cloned().into_iter().collect(),
                )
            })
            .collect();
        let borrowed: Vec<(&str, i32, &[SchemaReference])> = entries
            .iter()
            .map(|(s, v, refs)| (*s, *v, refs.as_slice()))
            .collect();
        let store = Store::new(&borrowed);
        let err = resolve(&chain[..1], LIMITS, |x| store.fetch(x)).await;
        assert!(
            matches!(err, Err(RegistryError::InvalidSchema { reason }) if reason.contains("deeper"))
        );

        let wide: Vec<SchemaReference> = (0..20).map(|i| r(&format!("w{i}"), "w", i)).collect();
        let entries: Vec<(&str, i32, &[SchemaReference])> =
            (0..20).map(|i| ("w", i, &[][..])).collect();
        let store = Store::new(&entries);
        let err = resolve(&wide, LIMITS, |x| store.fetch(x)).await;
        assert!(
            matches!(err, Err(RegistryError::InvalidSchema { reason }) if reason.contains("more than"))
        );
        assert_eq!(store.fetches.load(Ordering::Relaxed), LIMITS.max_references);
    }

    #[tokio::test]
    async fn missing_reference_makes_the_schema_unusable_but_outages_stay_transient() {
        let store = Store::new(&[]);
        let err = resolve(&[r("x", "gone", 1)], LIMITS, |x| store.fetch(x)).await;
        assert!(
            matches!(err, Err(RegistryError::InvalidSchema { reason }) if reason.contains("not found"))
        );

        let down = resolve(&[r("x", "s", 1)], LIMITS, |_| async {
            Err::<ReferencedSchema, _>(RegistryError::Unavailable {
                endpoint: "/subjects/{subject}/versions/{version}",
                reason: "connection refused".into(),
                elapsed: std::time::Duration::ZERO,
            })
        })
        .await;
        assert!(matches!(down, Err(e) if e.is_transient()));
    }
}
