"""One hand-made bad record for each reason, mixed into batches of good ones, under `quarantine`.

Topics e2e-avro, e2e-proto and e2e-json (2 partitions each) hold Order events framed by
Confluent's serializers. Between good records, bad ones are produced by hand:
  too-short, no-magic-byte, unknown-schema-id, subject-mismatch (an id registered under another
  subject), a truncated payload, trailing bytes, an out-of-range enum index (Avro), a bad
  message index (Protobuf), JSON that fails its schema, and (on a topic whose policy declares
  readers = ["latest"]) a writer schema the latest version cannot read.
Each bad record is first checked to really be bad with an independent reader (fastavro,
protobuf, jsonschema), so the proxy is not the only judge. Then:
- every record is acknowledged (quarantine answers success for the bad ones);
- the good records, tombstones included, are on their topic, byte-identical (key, value,
  headers with duplicates and null values, timestamp, partition);
- each bad record is in {topic}.quarantine, byte-identical, its own headers first and then
  exactly the six schemagate.* headers, with the expected reason, source topic and partition,
  schema id and client id, and a detail line;
- acknowledged == records on the topics + records in quarantine, exactly.
"""
import argparse
import io
import json
import time

import fastavro
import jsonschema
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.schema_registry.schema_registry_client import ConfigCompatibilityLevel, ServerConfig
from confluent_kafka.serialization import MessageField, SerializationContext

import enforce_common as ec
from common import check, summary

CLIENT_ID = "e2e-bad-records"
OURS = ["schemagate.reason", "schemagate.detail", "schemagate.topic", "schemagate.partition",
        "schemagate.schema-id", "schemagate.client-id"]
UNKNOWN_ID = 999_999


def must_fail(what, fn):
    try:
        fn()
    except Exception:  # noqa: BLE001 - any failure of the independent reader is the point
        return
    check(False, f"the hand-made bad record '{what}' reads fine with an independent reader")


def avro_cases(sr, other_id):
    topic = "e2e-avro"
    ctx = SerializationContext(topic, MessageField.VALUE)
    text = ec.schema_text("order.avsc")
    ser = AvroSerializer(sr, text)
    parsed = fastavro.parse_schema(json.loads(text))
    good = [ser(ec.avro_order(i), ctx) for i in range(24)]
    sid = int.from_bytes(good[0][1:5], "big")
    body = good[5][5:]

    def read(b):
        buf = io.BytesIO(b)
        fastavro.schemaless_reader(buf, parsed)
        if buf.read():
            raise ValueError("trailing bytes")

    read(body)  # the template itself is good
    bad_enum = ec.avro_bad_enum(body, 5)
    truncated = body[:-9]
    trailing = body + b"\x02\x04"
    for name, b in [("bad enum", bad_enum), ("truncated", truncated), ("trailing", trailing)]:
        must_fail(name, lambda b=b: read(b))
    bad = [
        ("too-short", b"\x00\x00\x01", "too-short", ""),
        ("no-magic-byte", json.dumps(ec.order(1)).encode(), "no-magic-byte", ""),
        ("unknown-schema-id", ec.frame(UNKNOWN_ID, body), "unknown-schema-id", str(UNKNOWN_ID)),
        ("subject-mismatch", ec.frame(other_id, body), "subject-mismatch", str(other_id)),
        ("truncated", ec.frame(sid, truncated), "decode-failed", str(sid)),
        ("trailing-bytes", ec.frame(sid, trailing), "decode-failed", str(sid)),
        ("enum-out-of-range", ec.frame(sid, bad_enum), "decode-failed", str(sid)),
    ]
    return topic, good, bad


def proto_cases(sr):
    topic = "e2e-proto"
    ctx = SerializationContext(topic, MessageField.VALUE)
    Order, LineItem = ec.proto_classes()
    sr.register_schema(f"{topic}-value", Schema(ec.schema_text("order.proto"), "PROTOBUF"))
    ser = ProtobufSerializer(Order, sr, {"auto.register.schemas": False, "use.latest.version": True})
    good = [ser(ec.proto_order(i, Order, LineItem), ctx) for i in range(24)]
    sid = int.from_bytes(good[0][1:5], "big")
    check(good[0][5] == 0, "the serializer's message-index list for Order is not [0]")
    body = good[7][6:]
    Order.FromString(body)  # the template itself is good
    # Message index [5]: the schema has two messages, so no message 5.
    bad_index = ec.frame(sid, ec.proto_message_indexes([5]) + body)
    # Field 7 (items) is length-delimited; a length running past the end cannot parse.
    truncated = body[:-3]
    must_fail("proto truncated", lambda: Order.FromString(truncated))
    bad = [
        ("message-index", bad_index, "decode-failed", str(sid)),
        ("proto-truncated", ec.frame(sid, b"\x00" + truncated), "decode-failed", str(sid)),
        ("proto-no-magic-byte", body, "no-magic-byte", ""),
    ]
    return topic, good, bad


def json_cases(sr):
    topic = "e2e-json"
    ctx = SerializationContext(topic, MessageField.VALUE)
    text = ec.schema_text("order.schema.json")
    ser = JSONSerializer(text, sr)
    good = [ser(ec.order(i), ctx) for i in range(24)]
    sid = int.from_bytes(good[0][1:5], "big")
    wrong = dict(ec.order(3), order_id=12345, status="LOST")
    body = json.dumps(wrong).encode()
    must_fail("json against its schema", lambda: jsonschema.validate(wrong, json.loads(text)))
    bad = [
        ("json-fails-schema", ec.frame(sid, body), "decode-failed", str(sid)),
        ("json-not-json", ec.frame(sid, b"{\"order_id\": "), "decode-failed", str(sid)),
        ("json-short", b"\x00\x00\x00\x00", "too-short", ""),
    ]
    return topic, good, bad, sid


def readers_cases(sr):
    """A topic whose policy declares readers = ["latest"]: the subject's compatibility is NONE,
    and its latest version adds a field without a default, so it cannot read version 1."""
    topic = "e2e-readers"
    subject = f"{topic}-value"
    ctx = SerializationContext(topic, MessageField.VALUE)
    v1_text = ec.schema_text("order.avsc")
    old = AvroSerializer(sr, v1_text)(ec.avro_order(0), ctx)
    sr.set_config(subject, ServerConfig(compatibility=ConfigCompatibilityLevel.NONE))
    v2 = json.loads(v1_text)
    v2["fields"].append({"name": "coupon", "type": "string"})
    ser = AvroSerializer(sr, json.dumps(v2))
    good = [ser(dict(ec.avro_order(i), coupon=f"C{i}"), ctx) for i in range(12)]
    old_id, new_id = int.from_bytes(old[1:5], "big"), int.from_bytes(good[0][1:5], "big")
    check(old_id != new_id, "version 2 did not get its own id")
    bad = [("reader-incompatible", old, "reader-incompatible", str(old_id))]
    return topic, good, bad


def plan(topic, good, bad):
    """Good records with a bad one after every third, plus a tombstone: (tag, value, expect)."""
    out = []
    bad_left = list(bad)
    for i, value in enumerate(good):
        out.append((f"{topic}-good-{i}", value, None))
        if i % 3 == 2 and bad_left:
            tag, value, reason, sid = bad_left.pop(0)
            out.append((tag, value, (reason, sid)))
        if i == 10:
            out.append((f"{topic}-tombstone", None, None))
    check(not bad_left, f"{topic}: not every bad record was placed")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--registry", required=True)
    a = ap.parse_args()
    t0 = time.time()
    sr = ec.registry(a.registry)
    jtopic, jgood, jbad, json_id = json_cases(sr)
    cases = [avro_cases(sr, json_id), proto_cases(sr), (jtopic, jgood, jbad), readers_cases(sr)]
    ec.create_topics(a.bootstrap, [c[0] for c in cases], partitions=2)

    sender = ec.Sender(a.bootstrap, **{"client.id": CLIENT_ID, "linger.ms": 200})
    expect = {}  # key -> (topic, tag, expect)
    for topic, good, bad in cases:
        for n, (tag, value, want) in enumerate(plan(topic, good, bad)):
            key = f"{topic}-k{n}".encode()
            headers = [("case", tag.encode()), ("dup", b"first"), ("dup", b"second"), ("nullable", None),
                       ("dup", f"third-{n}".encode())]
            sender.send(topic, n % 2, key, value, headers, tag=tag, timestamp=ec.BASE_TS + n)
            expect[key] = (topic, tag, want)
    sender.flush()
    failed = sender.failed()
    check(not failed, f"{len(failed)} records failed, first {failed[0]['tag'] if failed else None}: "
                      f"{failed[0]['err'] if failed else None}")
    sent_by_key = {r["key"]: r for r in sender.sent}

    on_topics, in_quarantine, per_topic, reasons, details = 0, 0, {}, {}, {}
    for topic, _, _ in cases:
        stored = ec.read_topic(a.bootstrap, topic)
        quarantined = ec.read_topic(a.bootstrap, f"{topic}.quarantine")
        on_topics += len(stored)
        in_quarantine += len(quarantined)
        want_good = {k for k, (t, _, w) in expect.items() if t == topic and w is None}
        want_bad = {k for k, (t, _, w) in expect.items() if t == topic and w is not None}
        got_good = [r["key"] for r in stored]
        check(sorted(got_good) == sorted(want_good),
              f"{topic}: on the topic {len(got_good)} records, want the {len(want_good)} good ones; "
              f"extra {sorted(set(got_good) - want_good)[:5]}, missing {sorted(want_good - set(got_good))[:5]}")
        for r in stored:
            sent = sent_by_key[r["key"]]
            for field in ("value", "headers", "timestamp", "partition"):
                check(r[field] == sent[field], f"{sent['tag']}: {field} changed on {topic}: "
                                               f"sent {sent[field]!r}, stored {r[field]!r}")
        got_bad = [r["key"] for r in quarantined]
        check(sorted(got_bad) == sorted(want_bad),
              f"{topic}.quarantine holds {sorted(got_bad)}, want {sorted(want_bad)}")
        for r in quarantined:
            sent = sent_by_key[r["key"]]
            reason, sid = expect[r["key"]][2]
            tag = sent["tag"]
            for field in ("value", "timestamp"):
                check(r[field] == sent[field], f"{tag}: {field} changed in quarantine: "
                                               f"sent {sent[field]!r}, stored {r[field]!r}")
            n = len(sent["headers"])
            check(r["headers"][:n] == sent["headers"],
                  f"{tag}: own headers changed in quarantine: sent {sent['headers']}, stored {r['headers'][:n]}")
            check([k for k, _ in r["headers"][n:]] == OURS,
                  f"{tag}: schemagate headers are {[k for k, _ in r['headers'][n:]]}, want {OURS}")
            h = r["headers"][n:]
            got = {k: ec.header(h, k) for k in OURS}
            check(got["schemagate.reason"] == reason, f"{tag}: reason {got['schemagate.reason']}, want {reason}")
            check(got["schemagate.topic"] == topic, f"{tag}: schemagate.topic {got['schemagate.topic']}")
            check(got["schemagate.partition"] == str(sent["partition"]),
                  f"{tag}: schemagate.partition {got['schemagate.partition']}, sent to {sent['partition']}")
            check(got["schemagate.schema-id"] == sid, f"{tag}: schema-id {got['schemagate.schema-id']!r}, want {sid!r}")
            check(got["schemagate.client-id"] == CLIENT_ID, f"{tag}: client-id {got['schemagate.client-id']!r}")
            check(len(got["schemagate.detail"] or "") > 10, f"{tag}: no detail line: {got['schemagate.detail']!r}")
            reasons[tag] = reason
            details[tag] = got["schemagate.detail"]
        per_topic[topic] = {"good": len(want_good), "bad": len(want_bad), "on_topic": len(stored),
                            "quarantined": len(quarantined),
                            "by_reason": {x: sum(1 for k in want_bad if expect[k][2][0] == x)
                                          for x in sorted({expect[k][2][0] for k in want_bad})}}
    for tag, path in [("enum-out-of-range", "Order.status"), ("json-fails-schema", "/order_id"),
                      ("reader-incompatible", "coupon")]:
        check(path in details[tag], f"{tag}: the detail does not name the field {path}: {details[tag]}")
    acked = len(sender.acked())
    check(acked == on_topics + in_quarantine,
          f"{acked} acknowledged, but {on_topics} on the topics + {in_quarantine} in quarantine")
    summary(sent=len(sender.sent), acked=acked, on_topics=on_topics, quarantined=in_quarantine,
            topics=per_topic, reasons=reasons, details=details, seconds=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
