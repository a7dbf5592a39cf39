"""The main job's demonstration: register the Order contract, send one valid Order and one
record that breaks the contract through schemagate, and show where each one landed.

usage: demo.py BOOTSTRAP(proxy) REGISTRY_URL SCHEMA_FILE
Exit 0 when the valid record is on `orders` and the bad one is in `orders.quarantine`."""
import json
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def read_one(bootstrap, topic, timeout=30):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"demo-{topic}-{time.time()}",
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    c.subscribe([topic])
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                return m
        return None
    finally:
        c.close()


def main():
    bootstrap, registry_url, schema_file = sys.argv[1:4]
    sr = SchemaRegistryClient({"url": registry_url})
    text = open(schema_file).read()
    schema_id = sr.register_schema("orders-value", Schema(text, "AVRO"))
    print(f"registered the Order contract as subject orders-value, schema id {schema_id}")

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic("orders", 1, 1)]).values():
        try:
            f.result()
        except Exception as e:  # already exists on a re-run
            print(f"  (create topic: {e})")

    order = {"order_id": "o-1001", "account_id": 42, "status": "PAID", "amount_cents": 2599,
             "currency": "EUR", "ts": int(time.time() * 1000),
             "items": [{"sku": "book-17", "qty": 1, "price_cents": 2599}],
             "channel": "web", "coupon": None, "shipping_country": "NL", "gift": False, "note": None}
    ser = AvroSerializer(sr, text, conf={"auto.register.schemas": False, "use.latest.version": True})
    ctx = SerializationContext("orders", MessageField.VALUE)
    bad = json.dumps({"order_id": "o-1002", "amount": "12.50"}).encode()  # a team that forgot the serializer

    delivered = []
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False, "linger.ms": 20})
    p.produce("orders", key=b"o-1001", value=ser(order, ctx), on_delivery=lambda e, m: delivered.append((e, m.key())))
    p.produce("orders", key=b"o-1002", value=bad, on_delivery=lambda e, m: delivered.append((e, m.key())))
    p.flush(30)
    print(f"producer: {sum(1 for e, _ in delivered if e is None)} of 2 records acknowledged by schemagate")

    good = read_one(bootstrap, "orders")
    de = AvroDeserializer(sr)
    ok = good is not None and good.key() == b"o-1001"
    if ok:
        print(f"orders            <- key {good.key().decode()}: {de(good.value(), ctx)}")
    q = read_one(bootstrap, "orders.quarantine")
    quarantined = q is not None and q.key() == b"o-1002" and q.value() == bad
    if quarantined:
        headers = {k: v.decode() for k, v in q.headers() or [] if k.startswith("schemagate.")}
        print(f"orders.quarantine <- key {q.key().decode()}: {q.value().decode()}")
        for k, v in headers.items():
            print(f"                     {k}: {v}")
    if not (ok and quarantined):
        print("demo FAILED: the valid record must be on orders and the bad one in orders.quarantine", file=sys.stderr)
        sys.exit(1)
    print("demo ok: the valid Order flowed, the bad record was quarantined with its reason")


if __name__ == "__main__":
    main()
