//! Datum validation against handcrafted bytes: what passes, what fails, and the path it names.

use super::{schema, ORDER};

/// Zigzag varint of a long, as Avro writes it.
pub(super) fn long(v: i64) -> Vec<u8> {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    let mut out = Vec::new();
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
    out
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut out = long(s.len() as i64);
    out.extend_from_slice(s);
    out
}

fn item(sku: &str, qty: i64, price: i64) -> Vec<u8> {
    [string(sku.as_bytes()), long(qty), long(price)].concat()
}

/// The pieces of an `Order` datum, field by field, so a test can spoil one.
fn order_fields() -> Vec<Vec<u8>> {
    let items = [
        long(3),
        item("A-1", 1, 100),
        item("B-2", 2, 250),
        item("C-3", 7, 5),
        long(0),
    ]
    .concat();
    vec![
        string(b"ord-1"),                                        // order_id
        long(42),                                                // account_id
        long(1),                                                 // status = PAID
        long(1205),                                              // amount_cents
        string(b"EUR"),                                          // currency
        long(1_700_000_000_000),                                 // ts
        items,                                                   // items
        [long(1), string(b"a@b.c")].concat(),                    // customer_email = string
        string(b"1 Main St"),                                    // shipping_address
        long(0),                                                 // coupon = null
        vec![1],                                                 // gift = true
        [long(1), string(b"k"), string(b"v"), long(0)].concat(), // attributes
    ]
}

fn with(field: usize, bytes: Vec<u8>) -> Vec<u8> {
    let mut fields = order_fields();
    fields[field] = bytes;
    fields.concat()
}

fn error(schema_text: &str, body: &[u8]) -> (String, String) {
    match schema(schema_text).validate(body) {
        Ok(()) => panic!("{body:02x?} should not validate under {schema_text}"),
        Err(e) => (e.path, e.reason),
    }
}

fn order_error(body: &[u8]) -> (String, String) {
    error(ORDER, body)
}

#[test]
fn golden_item_datum() {
    let s = schema(
        r#"{"type":"record","name":"Item","fields":[{"name":"sku","type":"string"},
            {"name":"qty","type":"int"},{"name":"price_cents","type":"long"}]}"#,
    );
    // sku "ab", qty 3, price -1
    s.validate(&[0x04, b'a', b'b', 0x06, 0x01]).unwrap();
}

#[test]
fn a_well_formed_order_validates() {
    schema(ORDER).validate(&order_fields().concat()).unwrap();
}

#[test]
fn errors_name_the_field_path() {
    let bad_qty = [
        long(3),
        item("A-1", 1, 100),
        item("B-2", 2, 250),
        item("C-3", 1 << 33, 5),
        long(0),
    ]
    .concat();
    let (path, reason) = order_error(&with(6, bad_qty));
    assert_eq!(path, "Order.items[2].qty");
    assert!(reason.contains("does not fit 32 bits"), "{reason}");

    let (path, reason) = order_error(&with(2, long(3)));
    assert_eq!(path, "Order.status");
    assert!(reason.contains("enum index 3 out of range"), "{reason}");

    let (path, reason) = order_error(&with(4, string(b"E\xffR")));
    assert_eq!(path, "Order.currency");
    assert!(reason.contains("UTF-8"), "{reason}");

    let (path, reason) = order_error(&with(0, long(-1)));
    assert_eq!(path, "Order.order_id");
    assert!(reason.contains("negative"), "{reason}");

    let (path, reason) = order_error(&with(0, long(10_000)));
    assert_eq!(path, "Order.order_id");
    assert!(reason.contains("data ends inside a string"), "{reason}");

    let (path, reason) = order_error(&with(9, long(2)));
    assert_eq!(path, "Order.coupon");
    assert!(reason.contains("union branch index 2"), "{reason}");

    let (path, reason) = order_error(&with(10, vec![2]));
    assert_eq!(path, "Order.gift");
    assert!(reason.contains("neither 0 nor 1"), "{reason}");

    let bad_value = [long(1), string(b"k"), string(b"\xc3"), long(0)].concat();
    let (path, _) = order_error(&with(11, bad_value));
    assert_eq!(path, "Order.attributes[\"k\"]");

    let bad_key = [
        long(2),
        string(b"k"),
        string(b"v"),
        string(b"\xc3"),
        string(b"v"),
        long(0),
    ]
    .concat();
    let (path, _) = order_error(&with(11, bad_key));
    assert_eq!(path, "Order.attributes[1]");
}

#[test]
fn trailing_and_missing_bytes_are_errors() {
    let mut body = order_fields().concat();
    body.push(0);
    let (path, reason) = order_error(&body);
    assert_eq!(path, "Order");
    assert_eq!(reason, "1 trailing byte(s) after a complete datum");

    let body = order_fields().concat();
    let (path, reason) = order_error(&body[..body.len() - 1]);
    assert_eq!(path, "Order.attributes");
    assert!(reason.contains("data ends inside a varint"), "{reason}");

    let (path, _) = error(r#""int""#, &[]);
    assert_eq!(path, "$");
    schema(r#""null""#).validate(&[]).unwrap();
}

#[test]
fn sized_blocks_are_checked() {
    let two = [item("A", 1, 1), item("B", 2, 2)].concat();
    let sized = [long(-2), long(two.len() as i64), two.clone(), long(0)].concat();
    schema(ORDER).validate(&with(6, sized)).unwrap();

    let wrong = [long(-2), long(two.len() as i64 - 1), two.clone(), long(0)].concat();
    let (path, reason) = order_error(&with(6, wrong));
    assert_eq!(path, "Order.items");
    assert!(reason.contains("block says it holds"), "{reason}");

    let huge = [long(1 << 40), two].concat();
    let (path, reason) = order_error(&with(6, huge));
    assert_eq!(path, "Order.items");
    assert!(reason.contains("claims"), "{reason}");

    let (_, reason) = order_error(&with(6, [long(i64::MIN), long(0)].concat()));
    assert!(reason.contains("out of range"), "{reason}");
}

#[test]
fn items_of_zero_bytes_are_capped() {
    let nulls = r#"{"type":"array","items":"null"}"#;
    schema(nulls)
        .validate(&[long(5), long(0)].concat())
        .unwrap();
    let (path, reason) = error(nulls, &[long(1 << 30), long(0)].concat());
    assert_eq!(path, "$");
    assert!(reason.contains("empty items"), "{reason}");
}

#[test]
fn varints_are_bounded() {
    // 11-byte long and 6-byte int.
    let (_, reason) = error(
        r#""long""#,
        &[
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ],
    );
    assert!(reason.contains("longer than 64 bits"), "{reason}");
    let (_, reason) = error(r#""int""#, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    assert!(reason.contains("longer than 5 bytes"), "{reason}");
    schema(r#""long""#).validate(&long(i64::MIN)).unwrap();
    schema(r#""int""#)
        .validate(&long(i64::from(i32::MIN)))
        .unwrap();
}

#[test]
fn nesting_is_bounded() {
    let list = r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#;
    let chain = |n: usize| {
        let mut body = Vec::new();
        for _ in 0..n {
            body.extend([0x02, 0x02]); // v = 1, next = branch 1 (Node)
        }
        body.extend([0x02, 0x00]); // v = 1, next = null
        body
    };
    schema(list).validate(&chain(50)).unwrap();
    let (path, reason) = error(list, &chain(500));
    assert!(path.starts_with("Node.next.next.next"), "{path}");
    assert!(reason.contains("nesting deeper than"), "{reason}");
}
