//! Cost of "does this payload validate under the writer schema" for a ~512-byte JSON Order.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use contract::json::JsonSchema;

const ORDER: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["order_id", "account_id", "status", "amount_cents", "currency", "ts", "items"],
  "properties": {
    "order_id": {"type": "string", "maxLength": 64},
    "account_id": {"type": "string"},
    "status": {"enum": ["NEW", "PAID", "SHIPPED"]},
    "amount_cents": {"type": "integer", "minimum": 0},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "ts": {"type": "integer"},
    "note": {"type": "string"},
    "gift": {"type": "boolean"},
    "items": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["sku", "qty", "price_cents"],
        "properties": {
          "sku": {"type": "string"},
          "qty": {"type": "integer", "minimum": 1},
          "price_cents": {"type": "integer"}
        }
      }
    }
  }
}"#;

fn order_body(items: usize) -> Vec<u8> {
    let items: Vec<String> = (0..items)
        .map(|i| {
            format!(
                r#"{{"sku":"SKU-{i:06}-XL","qty":{},"price_cents":{}}}"#,
                i + 1,
                1999 + i
            )
        })
        .collect();
    format!(
        r#"{{"order_id":"ord-000123456789","account_id":"acct-42-abcdef","status":"PAID","amount_cents":1234567,"currency":"EUR","ts":1763000000000,"note":"leave at the door","gift":true,"items":[{}]}}"#,
        items.join(",")
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let schema = JsonSchema::parse(ORDER, &[]).expect("schema compiles");
    let body = order_body(7);
    schema.validate(&body).expect("valid payload");
    let mut group = c.benchmark_group("validate_json");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("order_{}_bytes", body.len()), |b| {
        b.iter(|| schema.validate(black_box(&body)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
