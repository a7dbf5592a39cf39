//! Cost of "does this payload decode under the writer schema" for a ~512-byte Protobuf Order.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use prost::Message as _;
use prost_reflect::{DynamicMessage, Value};

use contract::protobuf::ProtobufSchema;

const ORDER: &str = r#"
syntax = "proto3";
package shop;
message Order {
  string order_id = 1;
  string account_id = 2;
  Status status = 3;
  int64 amount_cents = 4;
  string currency = 5;
  int64 ts = 6;
  repeated LineItem items = 7;
  string note = 8;
  bool gift = 9;
  double weight = 10;
  fixed32 region = 11;
  repeated int32 tags = 12;
  message LineItem {
    string sku = 1;
    int32 qty = 2;
    int64 price_cents = 3;
  }
  enum Status { NEW = 0; PAID = 1; }
}
"#;

/// An Order with `n` line items, framed with the message-index list `[0]`.
fn order_body(schema: &ProtobufSchema, n: usize) -> Vec<u8> {
    let desc = schema.file().messages().next().expect("Order");
    let item = desc.child_messages().next().expect("LineItem");
    let mut m = DynamicMessage::new(desc);
    m.set_field_by_name("order_id", Value::String("ord-000123456789".into()));
    m.set_field_by_name("account_id", Value::String("acct-42-abcdef".into()));
    m.set_field_by_name("status", Value::EnumNumber(1));
    m.set_field_by_name("amount_cents", Value::I64(1_234_567));
    m.set_field_by_name("currency", Value::String("EUR".into()));
    m.set_field_by_name("ts", Value::I64(1_763_000_000_000));
    m.set_field_by_name(
        "note",
        Value::String("leave at the door, ring twice".into()),
    );
    m.set_field_by_name("gift", Value::Bool(true));
    m.set_field_by_name("weight", Value::F64(2.5));
    m.set_field_by_name("region", Value::U32(7));
    m.set_field_by_name("tags", Value::List(vec![Value::I32(1), Value::I32(300)]));
    let items = (0..n)
        .map(|i| {
            let mut it = DynamicMessage::new(item.clone());
            it.set_field_by_name("sku", Value::String(format!("SKU-{i:06}-XL-BLUE")));
            it.set_field_by_name("qty", Value::I32(i as i32 + 1));
            it.set_field_by_name("price_cents", Value::I64(1999 + i as i64));
            Value::Message(it)
        })
        .collect();
    m.set_field_by_name("items", Value::List(items));
    let mut body = vec![0u8];
    body.extend(m.encode_to_vec());
    body
}

fn bench(c: &mut Criterion) {
    let schema = ProtobufSchema::parse(ORDER, &[]).expect("schema compiles");
    let body = order_body(&schema, 15);
    schema.validate(&body).expect("valid payload");
    let mut group = c.benchmark_group("validate_protobuf");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("order_{}_bytes", body.len()), |b| {
        b.iter(|| schema.validate(black_box(&body)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
