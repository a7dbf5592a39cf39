//! Reader/writer compatibility: Java's verdicts, every problem reported with its path.

use super::{reference, schema};
use crate::avro::{can_read, AvroSchema};
use crate::verdict::Incompatibility;

fn check(reader: &str, writer: &str) -> Vec<String> {
    can_read(&schema(reader), &schema(writer))
        .iter()
        .map(Incompatibility::to_string)
        .collect()
}

fn rec(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"Order","namespace":"shop","fields":[{fields}]}}"#)
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let writer = rec(r#"{"name":"id","type":"string"},
           {"name":"status","type":{"type":"enum","name":"Status","symbols":["PLACED","PAID","SHIPPED"]}},
           {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[{"name":"qty","type":"long"}]}}},
           {"name":"note","type":["null","string"]}"#);
    let reader = rec(r#"{"name":"id","type":"string"},
           {"name":"status","type":{"type":"enum","name":"Status","symbols":["PLACED","PAID"]}},
           {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[{"name":"qty","type":"int"}]}}},
           {"name":"note","type":"string"},
           {"name":"priority","type":"int"}"#);
    let found = check(&reader, &writer);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(
        found[0].starts_with("Order.status: reader enum Status lacks writer symbol(s) [SHIPPED]")
    );
    assert!(found[1].starts_with("Order.items[].qty: reader type int cannot read writer type long"));
    assert!(found[2].starts_with(
        "Order.note: writer union branch 0 (null): reader type string cannot read writer type null"
    ));
    assert_eq!(
        found[3],
        "Order.priority: reader field has no default and the writer has no such field — data written without it has no value"
    );
    // The other direction reads fine: removing a symbol, narrowing a union, dropping a field.
    assert!(check(&writer, &reader).is_empty());
}

#[test]
fn promotions_follow_java() {
    let ok = [
        ("long", "int"),
        ("float", "int"),
        ("float", "long"),
        ("double", "int"),
        ("double", "long"),
        ("double", "float"),
        ("string", "bytes"),
        ("bytes", "string"),
    ];
    for (r, w) in ok {
        assert!(
            check(&format!("{r:?}"), &format!("{w:?}")).is_empty(),
            "{r} reads {w}"
        );
    }
    let bad = [
        ("int", "long"),
        ("long", "float"),
        ("float", "double"),
        ("int", "string"),
        ("boolean", "int"),
        ("null", "int"),
    ];
    for (r, w) in bad {
        let found = check(&format!("{r:?}"), &format!("{w:?}"));
        assert_eq!(found.len(), 1, "{r} reads {w}: {found:?}");
        assert!(found[0].starts_with("$: reader type"), "{found:?}");
    }
}

#[test]
fn names_ignore_namespaces_and_honour_reader_aliases() {
    let a = r#"{"type":"record","name":"x.R","fields":[{"name":"f","type":"int"}]}"#;
    let b = r#"{"type":"record","name":"y.R","fields":[{"name":"f","type":"int"}]}"#;
    assert!(check(a, b).is_empty());
    let renamed = r#"{"type":"record","name":"x.S","fields":[{"name":"f","type":"int"}]}"#;
    let found = check(renamed, a);
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("a rename needs an alias"), "{found:?}");
    let aliased = r#"{"type":"record","name":"x.S","aliases":["R"],"fields":[{"name":"g","aliases":["f"],"type":"int"}]}"#;
    assert!(check(aliased, a).is_empty());
    // Aliases are the reader's only: the writer's aliases do not help.
    assert_eq!(check(a, aliased).len(), 2);
    // Enum and fixed aliases too.
    let e1 = r#"{"type":"enum","name":"E","symbols":["A"]}"#;
    let e2 = r#"{"type":"enum","name":"F","aliases":["E"],"symbols":["A"]}"#;
    assert!(check(e2, e1).is_empty());
    let f1 = r#"{"type":"fixed","name":"H","size":4}"#;
    let f2 = r#"{"type":"fixed","name":"G","aliases":["H"],"size":8}"#;
    let found = check(f2, f1);
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("sizes must be equal"), "{found:?}");
}

#[test]
fn an_enum_default_accepts_unknown_symbols() {
    let writer = r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#;
    let reader = r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#;
    assert!(check(reader, writer).is_empty());
    let strict = r#"{"type":"enum","name":"E","symbols":["B","A"]}"#;
    assert_eq!(check(strict, writer).len(), 1);
}

#[test]
fn unions_follow_java() {
    // Writer union: every branch must be readable; reader union: some branch must read.
    assert!(check(r#"["null","long","string"]"#, r#"["int","null"]"#).is_empty());
    let found = check(r#"["null","string"]"#, r#"["null","string","long"]"#);
    assert_eq!(
        found,
        ["$: writer union branch 2 (long) has no reader union branch that can read it"]
    );
    let found = check(r#"["null","string"]"#, r#""int""#);
    assert_eq!(
        found,
        ["$: reader union has no branch that can read writer type int"]
    );
    assert!(check(r#""long""#, r#"["int","long"]"#).is_empty());
    assert_eq!(check(r#""int""#, r#"["int","long"]"#).len(), 1);
}

#[test]
fn recursive_schemas_terminate() {
    let list = |ty: &str| {
        format!(
            r#"{{"type":"record","name":"Node","fields":[{{"name":"v","type":"{ty}"}},{{"name":"next","type":["null","Node"]}}]}}"#
        )
    };
    assert!(check(&list("long"), &list("int")).is_empty());
    let found = check(&list("int"), &list("long"));
    assert!(found[0].starts_with("Node.v: reader type int"), "{found:?}");
}

#[test]
fn referenced_types_take_part() {
    let item_v1 = r#"{"type":"record","name":"Item","fields":[{"name":"qty","type":"int"}]}"#;
    let item_v2 = r#"{"type":"record","name":"Item","fields":[{"name":"qty","type":"int"},{"name":"sku","type":"string"}]}"#;
    let order = r#"{"type":"record","name":"Order","fields":[{"name":"item","type":"Item"}]}"#;
    let old = AvroSchema::parse(order, &[reference("Item", item_v1)]).unwrap();
    let new = AvroSchema::parse(order, &[reference("Item", item_v2)]).unwrap();
    let found = can_read(&new, &old);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, "Order.item.sku");
}

#[test]
fn recursion_with_coprime_cycles_terminates() {
    // Reader cycle of 2 records, writer cycle of 3: pairs repeat only after 6 steps.
    let cycle = |names: &[&str]| {
        let mut text = String::from("\"X\"");
        for (i, n) in names.iter().enumerate().rev() {
            let next = if i + 1 == names.len() {
                names[0].to_string()
            } else {
                text.clone()
            };
            let next = if i + 1 == names.len() {
                format!("{next:?}")
            } else {
                next
            };
            text = format!(
                r#"{{"type":"record","name":"{n}","fields":[{{"name":"v","type":"int"}},{{"name":"next","type":["null",{next}]}}]}}"#
            );
        }
        text
    };
    let reader = cycle(&["A", "B"]);
    let writer = cycle(&["A", "B", "C"]);
    // Names differ along the way (B vs C, ...), so it is incompatible, and it terminates.
    assert!(!check(&reader, &writer).is_empty());
    assert!(check(&reader, &reader).is_empty());
}

#[test]
fn every_schema_reads_itself_and_its_canonical_form() {
    for text in super::validate_props::SCHEMAS {
        let s = schema(text);
        let again = schema(&s.canonical());
        assert_eq!(again.canonical(), s.canonical());
        assert!(can_read(&s, &s).is_empty(), "{text}");
        assert!(can_read(&s, &again).is_empty(), "{text}");
        assert!(can_read(&again, &s).is_empty(), "{text}");
    }
}
