"""Shared by the enforcement scripts (enforce_*.py): Order events in Avro, Protobuf and JSON,
hand-made Confluent frames, producing with delivery reports, and reading a topic back whole.

The schemas live in schemas/ (order.avsc, order.proto, order.schema.json). The Protobuf message
classes are built at run time from a descriptor written out below, field for field as in
order.proto, so no protoc is needed: the .proto text is what gets registered, the descriptor is
the client's independent reading of it.
"""
import datetime
import io
import json
import os
import time

import fastavro
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from common import check, fail

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
STATUSES = ["PLACED", "PAID", "SHIPPED", "CANCELLED"]
# Record timestamps start at the last whole hour: recent, so the brokers' time-based retention
# (7 days by default, checked every 5 minutes) never deletes a test's records or their
# quarantine copies between producing and reading back. A fixed 2023 value did: the reader
# then waited for offsets the log had dropped (CI, `e2e-proto: timed out reading to the high
# watermarks`, the log start moved to 14 "due to segment deletion").
BASE_TS = (int(time.time()) // 3600 - 1) * 3600 * 1000


def schema_text(name):
    with open(os.path.join(SCHEMA_DIR, name), encoding="utf-8") as f:
        return f.read()


def order(i):
    """The i-th Order event as a plain dict (JSON form: ts in epoch milliseconds)."""
    items = [{"sku": f"SKU-{(i * 7 + n) % 1000:04d}", "qty": 1 + (i + n) % 5, "price_cents": 199 + 37 * n + i % 100}
             for n in range(1 + i % 4)]
    return {
        "order_id": f"ord-{i:06d}",
        "account_id": 10_000 + i * 13,
        "status": STATUSES[i % len(STATUSES)],
        "amount_cents": sum(it["qty"] * it["price_cents"] for it in items),
        "currency": ["EUR", "USD", "GBP"][i % 3],
        "ts": BASE_TS + i * 1000,
        "items": items,
        "customer_email": f"customer{i % 97}@example.com",
        "shipping_address": f"{i % 300} Harbour Road, Unit {i % 17}, Dockside",
        "channel": ["web", "app", "store"][i % 3],
        "priority": i % 3,
        "notes": None if i % 2 else f"leave at door #{i}",
    }


def avro_order(i):
    """The Avro form: ts is a timestamp-millis logical type, read back as an aware datetime."""
    o = order(i)
    o["ts"] = datetime.datetime.fromtimestamp(o["ts"] / 1000, tz=datetime.timezone.utc)
    return o


def avro_bad_enum(body, i):
    """The Avro body of order(i) with its status enum index set to 9 (of 4 symbols). The enum
    follows order_id (string) and account_id (long); fastavro says where."""
    prefix = io.BytesIO()
    fastavro.schemaless_writer(prefix, fastavro.parse_schema({"type": "record", "name": "P", "fields": [
        {"name": "order_id", "type": "string"}, {"name": "account_id", "type": "long"}]}),
        {"order_id": order(i)["order_id"], "account_id": order(i)["account_id"]})
    at = len(prefix.getvalue())
    check(body[at] == 2 * STATUSES.index(order(i)["status"]), "status enum byte not where expected")
    return body[:at] + bytes([2 * 9]) + body[at + 1:]


def proto_classes():
    """(Order, LineItem) message classes from a descriptor that mirrors schemas/order.proto."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="schemagate_e2e_order.proto", package="schemagate.e2e",
                                             syntax="proto3")

    def fields(msg, spec):
        for number, (name, typ, extra) in enumerate(spec, start=1):
            label = F.LABEL_REPEATED if extra.get("repeated") else F.LABEL_OPTIONAL
            field = msg.field.add(name=name, number=number, type=typ, label=label)
            if "type_name" in extra:
                field.type_name = extra["type_name"]

    fields(fdp.message_type.add(name="Order"), [
        ("order_id", F.TYPE_STRING, {}), ("account_id", F.TYPE_INT64, {}),
        ("status", F.TYPE_ENUM, {"type_name": ".schemagate.e2e.Status"}), ("amount_cents", F.TYPE_INT64, {}),
        ("currency", F.TYPE_STRING, {}), ("ts", F.TYPE_INT64, {}),
        ("items", F.TYPE_MESSAGE, {"type_name": ".schemagate.e2e.LineItem", "repeated": True}),
        ("customer_email", F.TYPE_STRING, {}), ("shipping_address", F.TYPE_STRING, {}),
        ("channel", F.TYPE_STRING, {}), ("priority", F.TYPE_INT32, {}), ("notes", F.TYPE_STRING, {}),
    ])
    fields(fdp.message_type.add(name="LineItem"), [
        ("sku", F.TYPE_STRING, {}), ("qty", F.TYPE_INT32, {}), ("price_cents", F.TYPE_INT64, {}),
    ])
    status = fdp.enum_type.add(name="Status")
    for n, name in enumerate(STATUSES):
        status.value.add(name=name, number=n)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    get = lambda n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"schemagate.e2e.{n}"))  # noqa: E731
    return get("Order"), get("LineItem")


def proto_order(i, Order, LineItem):
    o = order(i)
    items = [LineItem(**it) for it in o.pop("items")]
    o["notes"] = o["notes"] or ""
    o["status"] = STATUSES.index(o["status"])
    return Order(items=items, **o)


def frame(schema_id, body):
    """A Confluent frame made by hand: magic 0, 4-byte big-endian id, body."""
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def proto_message_indexes(indexes):
    """The Confluent message-index list, written by the serializer's own encoder."""
    buf = io.BytesIO()
    ProtobufSerializer._encode_varints(buf, indexes)
    return buf.getvalue()


def registry(url):
    """A registry client; SG_REGISTRY_CONF may add settings as a JSON object (credentials,
    `ssl.ca.location`) for a secured registry."""
    conf = {"url": url}
    conf.update(json.loads(os.environ.get("SG_REGISTRY_CONF", "{}")))
    return SchemaRegistryClient(conf)


def create_topics(bootstrap, names, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for topic, fut in admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=3)
                                           for t in names]).items():
        fut.result(timeout=30)
    deadline = time.time() + 30
    while True:
        md = admin.list_topics(timeout=10)
        if all(t in md.topics and len(md.topics[t].partitions) == partitions for t in names):
            return
        check(time.time() < deadline, f"topics not visible in metadata: {sorted(md.topics)}")
        time.sleep(0.2)


class Sender:
    """A producer that remembers every record it sent and what its delivery report said."""

    def __init__(self, bootstrap, **conf):
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, **conf})
        self.sent = []  # dicts: topic, partition, key, value, headers, timestamp, tag, err, offset

    def send(self, topic, partition, key, value, headers, tag, timestamp=None):
        rec = {"topic": topic, "partition": partition, "key": key, "value": value, "headers": headers,
               "timestamp": timestamp, "tag": tag, "err": None, "offset": None, "done": False}

        def on_delivery(err, msg):
            rec["done"] = True
            if err is not None:
                rec["err"] = err
            else:
                rec["offset"] = msg.offset()

        kwargs = {"key": key, "value": value, "headers": headers, "on_delivery": on_delivery}
        if timestamp is not None:
            kwargs["timestamp"] = timestamp
        self.producer.produce(topic, partition=partition, **kwargs)
        self.producer.poll(0)
        self.sent.append(rec)
        return rec

    def flush(self, timeout=60):
        left = self.producer.flush(timeout)
        check(left == 0, f"{left} records still queued after flush({timeout})")
        undone = [r["tag"] for r in self.sent if not r["done"]]
        check(not undone, f"no delivery report for {undone[:5]}")

    def acked(self):
        return [r for r in self.sent if r["err"] is None]

    def failed(self):
        return [r for r in self.sent if r["err"] is not None]


def read_topic(bootstrap, topic, timeout_s=60, idle_s=1.5):
    """Every record on `topic` (all partitions, from the start), or [] when the topic does not
    exist. Each is a dict: partition, offset, key, value, headers, timestamp.

    Reads at least to the high watermarks, then until nothing new came for `idle_s`: tansu
    0.6 reports a high watermark one past the last batch's base offset, not its last record.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(timeout=10)
    if topic not in md.topics or md.topics[topic].error is not None:
        return []
    partitions = sorted(md.topics[topic].partitions)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}-{time.time()}",
                  "enable.auto.commit": False, "enable.partition.eof": False})
    try:
        ends = {}
        for p in partitions:
            _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = high
        want = {p for p, high in ends.items() if high > 0}
        if not want:
            return []
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out = []
        deadline = time.time() + timeout_s
        last_new = time.time()
        while want or time.time() - last_new < idle_s:
            if time.time() >= deadline:
                seen = {p: max((r["offset"] for r in out if r["partition"] == p), default=None) for p in partitions}
                positions = {tp.partition: tp.offset for tp in c.position([TopicPartition(topic, p) for p in partitions])}
                fail(f"{topic}: timed out after {timeout_s} s reading to the high watermarks {ends}: "
                     f"{len(out)} records read, last offset per partition {seen}, positions {positions}, still waiting for {sorted(want)}")
            for msg in c.consume(num_messages=500, timeout=0.3):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    fail(f"{topic}: consumer error {msg.error()}")
                p = msg.partition()
                last_new = time.time()
                out.append({"partition": p, "offset": msg.offset(), "key": msg.key(), "value": msg.value(),
                            "headers": list(msg.headers() or []), "timestamp": msg.timestamp()[1]})
                if msg.offset() + 1 >= ends[p]:
                    want.discard(p)
        places = [(r["partition"], r["offset"]) for r in out]
        check(len(places) == len(set(places)), f"{topic}: a record was read twice")
        return out
    finally:
        c.close()


def header_values(headers, name):
    return [v for k, v in headers if k == name]


def header(headers, name):
    values = header_values(headers, name)
    check(len(values) == 1, f"expected one {name!r} header, got {values} in {headers}")
    return values[0].decode() if values[0] is not None else None


def print_json(obj):
    print(json.dumps(obj, default=str), flush=True)
