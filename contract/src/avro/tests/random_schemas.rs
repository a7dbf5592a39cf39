//! Random schemas (named types in assorted namespaces, references by simple and full names,
//! unions, collections, defaults): they parse, their canonical form is a fixed point that
//! reads and is read by the original, and apache-avro's datums of them validate.

use proptest::prelude::*;

use super::random_values::{value, Rng};
use super::schema;
use crate::avro::can_read;

const SPACES: &[&str] = &["", "a", "a.b", "c"];

struct SchemaGen {
    rng: Rng,
    /// Completed named types: (namespace, simple name).
    named: Vec<(String, String)>,
    next: usize,
}

impl SchemaGen {
    fn ty(&mut self, depth: usize, space: &str) -> String {
        let pick = if depth >= 3 {
            self.rng.below(2)
        } else {
            self.rng.below(9)
        };
        match pick {
            0 => {
                let p = [
                    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
                ];
                format!("{:?}", p[self.rng.below(p.len())])
            }
            // A null-namespace type is only referred to from the null namespace: Java would find
            // it from elsewhere too (a fallback), but apache-avro and the spec do not.
            1 if self
                .named
                .iter()
                .any(|(ns, _)| !ns.is_empty() || space.is_empty()) =>
            {
                let usable: Vec<(String, String)> = self
                    .named
                    .iter()
                    .filter(|(ns, _)| !ns.is_empty() || space.is_empty())
                    .cloned()
                    .collect();
                let (ns, name) = usable[self.rng.below(usable.len())].clone();
                if ns.is_empty() || (ns == space && self.rng.below(2) == 0) {
                    format!("{name:?}")
                } else {
                    format!("\"{ns}.{name}\"")
                }
            }
            1 => r#"{"type":"long","logicalType":"timestamp-millis"}"#.to_string(),
            2 | 3 => self.record(depth, space),
            4 => {
                let (ns, name, ns_json) = self.name(space);
                self.named.push((ns, name.clone()));
                format!(
                    r#"{{"type":"enum","name":"{name}"{ns_json},"symbols":["A","B","C"],"default":"A"}}"#
                )
            }
            5 => {
                let (ns, name, ns_json) = self.name(space);
                self.named.push((ns, name.clone()));
                let size = self.rng.below(5);
                format!(
                    r#"{{"type":"fixed","name":"{name}"{ns_json},"size":{size},"aliases":["Old{name}"]}}"#
                )
            }
            6 => format!(
                r#"{{"type":"array","items":{}}}"#,
                self.ty(depth + 1, space)
            ),
            7 => format!(r#"{{"type":"map","values":{}}}"#, self.ty(depth + 1, space)),
            _ => {
                // ["null", X] with X neither null nor a union.
                let inner = loop {
                    let t = self.ty(depth + 1, space);
                    if t != "\"null\"" && !t.starts_with('[') {
                        break t;
                    }
                };
                format!(r#"["null",{inner}]"#)
            }
        }
    }

    /// A fresh name, its namespace (inherited or explicit) and the `"namespace"` JSON to write.
    fn name(&mut self, space: &str) -> (String, String, String) {
        self.next += 1;
        let name = format!("T{}", self.next);
        match self.rng.below(3) {
            0 => (space.to_string(), name, String::new()),
            _ => {
                // Not `"namespace": ""` inside another namespace: Java (and we) read it as the
                // null namespace, apache-avro 0.22 as the enclosing one.
                let ns = loop {
                    let ns = SPACES[self.rng.below(SPACES.len())];
                    if !ns.is_empty() || space.is_empty() {
                        break ns;
                    }
                };
                (ns.to_string(), name, format!(r#","namespace":"{ns}""#))
            }
        }
    }

    fn record(&mut self, depth: usize, space: &str) -> String {
        let (ns, name, ns_json) = self.name(space);
        let n = self.rng.below(4);
        let fields: Vec<String> = (0..n)
            .map(|i| {
                let ty = self.ty(depth + 1, &ns);
                let default = match ty.as_str() {
                    t if t.starts_with("[\"null\"") => r#","default":null"#,
                    "\"int\"" | "\"long\"" => r#","default":7"#,
                    "\"string\"" => r#","default":"x""#,
                    _ => "",
                };
                format!(r#"{{"name":"f{i}","type":{ty}{default}}}"#)
            })
            .collect();
        self.named.push((ns, name.clone()));
        format!(
            r#"{{"type":"record","name":"{name}"{ns_json},"fields":[{}]}}"#,
            fields.join(",")
        )
    }
}

pub(super) fn random_schema(seed: u64) -> String {
    let mut g = SchemaGen {
        rng: Rng::new(seed),
        named: Vec::new(),
        next: 0,
    };
    g.record(0, "")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_schemas_round_trip_and_validate_apache_datums(seed in any::<u64>(), vseed in any::<u64>()) {
        let text = random_schema(seed);
        let s = schema(&text);
        let canonical = s.canonical();
        let again = schema(&canonical);
        prop_assert_eq!(again.canonical(), canonical.clone());
        prop_assert!(can_read(&s, &again).is_empty(), "{}", canonical);
        prop_assert!(can_read(&again, &s).is_empty(), "{}", canonical);

        let theirs = match apache_avro::Schema::parse_str(&text) {
            Ok(t) => t,
            Err(e) => panic!("apache-avro rejects {text}: {e}"),
        };
        let v = value(&s, &mut Rng::new(vseed));
        let writer = match apache_avro::writer::datum::GenericDatumWriter::builder(&theirs).build() {
            Ok(w) => w,
            Err(e) => panic!("apache-avro cannot write {text}: {e}"),
        };
        let body = writer.write_value_to_vec(v).unwrap();
        prop_assert_eq!(s.validate(&body), Ok(()));
        prop_assert_eq!(again.validate(&body), Ok(()));
        if !body.is_empty() {
            prop_assert!(s.validate(&body[..body.len() - 1]).is_err());
        }
    }
}
