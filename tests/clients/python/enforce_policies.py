"""The `on_invalid` policies end to end, with Avro Order events and hand-made bad records.

--scenario idempotent  (policy quarantine) an idempotent confluent-kafka producer: a batch with
    one bad record is refused whole with INVALID_RECORD, nothing of it reaches the topic, the
    bad record's copy is in quarantine. kafka-python's idempotent producer shows the message
    the proxy wrote: topic, partition, record index, reason and field path.
--scenario reject      (policy reject) a plain producer: the partition batch holding a bad
    record is refused with INVALID_RECORD, a good batch for another partition of the same
    request is stored, the bad record's copy is in quarantine.
--scenario audit       (policy audit) everything is stored, bad records too, byte-identical;
    copies of the bad ones are in quarantine.
--scenario acks0       (policy quarantine) acks=0: good records reach the topic and bad ones
    quarantine, though the client hears nothing back. (tansu 0.6 answers acks=0 Produce
    requests, which Kafka never does; the proxy then sees an unexpected correlation id and
    closes that client connection, so librdkafka may log a disconnect and reconnect.)
--scenario traced      (policy quarantine) like quarantine, with a W3C traceparent header on every
    record (an instrumented producer): the quarantine copies carry the proxy's own
    schemagate.traceparent; the trace ids of both are in the summary for the test to find in
    the collector's spans.
The summary reports what was sent, acknowledged, stored and quarantined, for the Rust test to
compare with the proxy's metrics.
"""
import argparse
import time

from confluent_kafka import KafkaError
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

import enforce_common as ec
from common import check, summary

CLIENT_ID = "e2e-policies"


class Avro:
    """Good Order frames for `topic` and three bad ones (too-short, unknown id, bad enum)."""

    def __init__(self, sr, topic):
        ctx = SerializationContext(topic, MessageField.VALUE)
        ser = AvroSerializer(sr, ec.schema_text("order.avsc"))
        self.good = lambda i: ser(ec.avro_order(i), ctx)  # noqa: E731
        first = self.good(0)
        self.sid = int.from_bytes(first[1:5], "big")
        body = first[5:]
        self.bad = [
            ("too-short", b"\x00\x01", "too-short"),
            ("unknown-schema-id", ec.frame(999_999, body), "unknown-schema-id"),
            ("enum-out-of-range", ec.frame(self.sid, ec.avro_bad_enum(body, 0)), "decode-failed"),
        ]


def prepare(a, sr, default_topic, partitions=1):
    """The scenario's topic (`--topic`, or `default_topic`), created with `partitions`; its Avro
    records; and the reason the proxy should give each bad one."""
    topic = a.topic or default_topic
    ec.create_topics(a.bootstrap, [topic], partitions=partitions)
    avro = Avro(sr, topic)
    return topic, avro, {t: r for t, _, r in avro.bad}


def sender(a, **conf):
    """A Sender with this script's client id and a 300 ms linger, plus `conf`."""
    return ec.Sender(a.bootstrap, **{"client.id": CLIENT_ID, "linger.ms": 300, **conf})


def headers(tag):
    return [("case", tag.encode()), ("dup", b"1"), ("dup", b"2")]


def send_mixed(sender, topic, avro, goods, partition=0, start=0):
    """`goods` good records with the three bad ones spread among them; returns the records."""
    out = []
    bad = list(avro.bad)
    for i in range(goods):
        out.append(sender.send(topic, partition, f"k{start + i}".encode(), avro.good(start + i),
                               headers(f"good-{start + i}"), tag=f"good-{start + i}", timestamp=ec.BASE_TS + i))
        if i % 4 == 1 and bad:
            tag, value, _ = bad.pop(0)
            out.append(sender.send(topic, partition, f"bad-{tag}".encode(), value, headers(tag), tag=tag,
                                   timestamp=ec.BASE_TS + i))
    return out


def check_quarantine(bootstrap, topic, sent_bad, reasons):
    got = ec.read_topic(bootstrap, f"{topic}.quarantine")
    check(len(got) == len(sent_bad), f"{topic}.quarantine holds {len(got)} records, want {len(sent_bad)}")
    by_key = {r["key"]: r for r in got}
    for rec in sent_bad:
        q = by_key.get(rec["key"])
        check(q is not None, f"{rec['tag']} is not in quarantine")
        check(q["value"] == rec["value"], f"{rec['tag']}: value changed in quarantine")
        check(q["headers"][:len(rec["headers"])] == rec["headers"], f"{rec['tag']}: headers changed in quarantine")
        reason = ec.header(q["headers"], "schemagate.reason")
        check(reason == reasons[rec["tag"]], f"{rec['tag']}: reason {reason}, want {reasons[rec['tag']]}")
        check(ec.header(q["headers"], "schemagate.client-id") == CLIENT_ID, f"{rec['tag']}: client id")
    return len(got)


def idempotent(a, sr):
    topic, avro, reasons = prepare(a, sr, "e2e-idem")
    conf = {"enable.idempotence": True, "acks": "all"}
    first = sender(a, **conf)
    for i in range(20):
        first.send(topic, 0, f"k{i}".encode(), avro.good(i), headers(f"good-{i}"), tag=f"good-{i}")
    first.flush()
    check(not first.failed(), f"good idempotent records failed: {[str(r['err']) for r in first.failed()][:3]}")

    # One batch: 9 good records and one out-of-range enum in the middle.
    second = sender(a, **conf)
    batch = []
    for i in range(20, 30):
        if i == 24:
            tag, value, _ = avro.bad[2]
            batch.append(second.send(topic, 0, b"bad-enum", value, headers(tag), tag=tag))
        batch.append(second.send(topic, 0, f"k{i}".encode(), avro.good(i), headers(f"good-{i}"), tag=f"good-{i}"))
    second.flush()
    check(all(r["err"] is not None for r in batch),
          f"the batch was not refused whole: {sum(r['err'] is None for r in batch)} of {len(batch)} acknowledged")
    # The bad record fails with INVALID_RECORD; librdkafka's idempotence layer fails the rest
    # of the batch with the same code (a plain producer gets _INVALID_DIFFERENT_RECORD).
    codes = {r["tag"]: r["err"].code() for r in batch}
    check(codes["enum-out-of-range"] == KafkaError.INVALID_RECORD, f"the bad record failed with {codes}")
    check(set(codes.values()) <= {KafkaError.INVALID_RECORD, KafkaError._INVALID_DIFFERENT_RECORD},
          f"the batch failed with other codes: {[str(r['err']) for r in batch][:3]}")

    # Does the same producer go on after the refusal? (On tansu librdkafka's epoch bump was
    # fenced; on Apache Kafka, KIP-360 lets it reset its sequence and continue.)
    later = [second.send(topic, 0, f"k{i}".encode(), avro.good(i), headers(f"good-{i}"), tag=f"good-{i}")
             for i in range(30, 40)]
    second.flush()
    later_errors = sorted({str(r["err"]) for r in later if r["err"] is not None})
    later_acked = sum(r["err"] is None for r in later)

    stored = ec.read_topic(a.bootstrap, topic)
    want = [f"k{i}".encode() for i in range(20)] + [r["key"] for r in later if r["err"] is None]
    check(sorted(r["key"] for r in stored) == sorted(want),
          f"{topic} holds {len(stored)} records; want the first 20 good ones and the {later_acked} acknowledged later")
    quarantined = check_quarantine(a.bootstrap, topic, [r for r in batch if r["tag"] == "enum-out-of-range"],
                                   reasons)

    message = kafka_python_idempotent(a, topic, avro)
    summary(scenario="idempotent", acked=len(first.acked()), refused=len(batch), on_topic=len(stored),
            later_acked=later_acked, later_errors=later_errors,
            quarantined=quarantined, error=str(next(r["err"] for r in batch if r["tag"] == "enum-out-of-range")),
            kafka_python_message=message)


def kafka_python_idempotent(a, topic, avro):
    """The same refusal seen by kafka-python, which shows the proxy's per-record message."""
    from kafka import KafkaProducer
    from kafka.errors import InvalidRecordError, KafkaError as PyKafkaError

    p = KafkaProducer(bootstrap_servers=a.bootstrap, enable_idempotence=True, acks="all", linger_ms=300,
                      client_id=CLIENT_ID)
    futures = []
    for i in range(5):
        if i == 3:  # record index 3 of the batch
            futures.append(("bad", p.send(topic, key=b"py-bad", value=avro.bad[2][1], partition=0)))
        futures.append(("good", p.send(topic, key=f"py{i}".encode(), value=avro.good(100 + i), partition=0)))
    p.flush(timeout=30)
    messages = []
    for kind, fut in futures:
        try:
            fut.get(timeout=30)
            check(False, f"kafka-python: a {kind} record of the refused batch was acknowledged")
        except PyKafkaError as e:
            messages.append((kind, type(e).__name__, str(e)))
    p.close(timeout=10)
    bad = [m for m in messages if m[0] == "bad"]
    check(len(bad) == 1 and bad[0][1] == InvalidRecordError.__name__,
          f"kafka-python saw {messages} for the bad record, want InvalidRecordError")
    text = bad[0][2]
    for part in [f"topic {topic}", "partition 0", "record 3", "decode-failed", "status"]:
        check(part in text, f"the error message does not name '{part}': {text}")
    return text


def reject(a, sr):
    topic, avro, reasons = prepare(a, sr, "e2e-reject", partitions=2)
    s = sender(a)
    clean = [s.send(topic, 0, f"c{i}".encode(), avro.good(i), headers(f"clean-{i}"), tag=f"clean-{i}")
             for i in range(10)]
    s.flush()
    check(not s.failed(), "good records were refused")
    # One request: partition 0 gets good records and the three bad ones, partition 1 only good.
    mixed = send_mixed(s, topic, avro, 12, partition=0, start=100)
    other = [s.send(topic, 1, f"o{i}".encode(), avro.good(200 + i), headers(f"other-{i}"), tag=f"other-{i}")
             for i in range(10)]
    s.flush()
    # Each bad record fails with INVALID_RECORD; librdkafka fails the others of the refused
    # batch with INVALID_RECORD or, when it maps record_errors (KIP-467), _INVALID_DIFFERENT_RECORD.
    refused_codes = {KafkaError.INVALID_RECORD, KafkaError._INVALID_DIFFERENT_RECORD}
    for r in mixed:
        want = {KafkaError.INVALID_RECORD} if r["tag"] in reasons else refused_codes
        check(r["err"] is not None and r["err"].code() in want,
              f"{r['tag']} in the refused batch: got {r['err']}, want one of {want}")
    check(all(r["err"] is None for r in other), f"partition 1 batch failed: {[str(r['err']) for r in other][:2]}")
    stored = ec.read_topic(a.bootstrap, topic)
    want = sorted(r["key"] for r in clean + other)
    check(sorted(r["key"] for r in stored) == want, f"{topic} holds {sorted(r['key'] for r in stored)}, want {want}")
    bad = [r for r in mixed if r["tag"] in reasons]
    quarantined = check_quarantine(a.bootstrap, topic, bad, reasons)
    summary(scenario="reject", acked=len(s.acked()), refused=len(mixed), on_topic=len(stored),
            quarantined=quarantined, bad=len(bad), error=str(bad[0]["err"]))


def audit(a, sr):
    topic, avro, reasons = prepare(a, sr, "e2e-audit")
    s = sender(a)
    sent = send_mixed(s, topic, avro, 20)
    s.flush()
    check(not s.failed(), f"audit refused records: {[str(r['err']) for r in s.failed()][:3]}")
    stored = ec.read_topic(a.bootstrap, topic)
    check(len(stored) == len(sent), f"{topic} holds {len(stored)} records, {len(sent)} were sent")
    by_place = {(r["partition"], r["offset"]): r for r in stored}
    for rec in sent:
        got = by_place.get((rec["partition"], rec["offset"]))
        check(got is not None and (got["key"], got["value"], got["headers"]) == (rec["key"], rec["value"], rec["headers"]),
              f"{rec['tag']}: not stored as sent")
    bad = [r for r in sent if r["tag"] in reasons]
    quarantined = check_quarantine(a.bootstrap, topic, bad, reasons)
    summary(scenario="audit", acked=len(s.acked()), on_topic=len(stored), quarantined=quarantined, bad=len(bad))


def acks0(a, sr):
    topic, avro, reasons = prepare(a, sr, "e2e-acks0")
    s = sender(a, acks=0)
    sent = send_mixed(s, topic, avro, 20)
    s.flush()
    check(not s.failed(), "acks=0 records failed locally")
    good = sorted(r["key"] for r in sent if r["tag"] not in reasons)
    bad = [r for r in sent if r["tag"] in reasons]
    deadline = time.time() + 30
    while True:  # nothing tells an acks=0 client when its records land: poll
        stored = ec.read_topic(a.bootstrap, topic)
        qn = len(ec.read_topic(a.bootstrap, f"{topic}.quarantine"))
        if len(stored) >= len(good) and qn >= len(bad):
            break
        check(time.time() < deadline, f"after 30 s {len(stored)}/{len(good)} on {topic}, {qn}/{len(bad)} quarantined")
        time.sleep(0.5)
    check(sorted(r["key"] for r in stored) == good, f"{topic} holds {sorted(r['key'] for r in stored)}, want {good}")
    by_key = {r["key"]: r for r in sent}
    for r in stored:
        check((r["value"], r["headers"]) == (by_key[r["key"]]["value"], by_key[r["key"]]["headers"]),
              f"{r['key']}: not stored as sent")
    quarantined = check_quarantine(a.bootstrap, topic, bad, reasons)
    summary(scenario="acks0", sent=len(sent), on_topic=len(stored), quarantined=quarantined, bad=len(bad))


def traced(a, sr):
    topic, avro, reasons = prepare(a, sr, "e2e-traced")
    s = sender(a)
    producer_traces = {}
    for i in range(10):
        s.send(topic, 0, f"k{i}".encode(), avro.good(i), [("case", b"good")], tag=f"good-{i}")
    for n, (tag, value, _) in enumerate(avro.bad):
        trace = f"{0x5c4e_0000 + n:032x}"
        producer_traces[tag] = trace
        tp = f"00-{trace}-{0xabc0 + n:016x}-01".encode()
        s.send(topic, 0, f"bad-{tag}".encode(), value, [("traceparent", tp)], tag=tag)
    s.flush()
    check(not s.failed(), f"records refused: {[str(r['err']) for r in s.failed()][:3]}")
    stored = ec.read_topic(a.bootstrap, topic)
    check(len(stored) == 10, f"{topic} holds {len(stored)} records, want the 10 good ones")
    bad = [r for r in s.sent if r["tag"] in reasons]
    quarantined = check_quarantine(a.bootstrap, topic, bad, reasons)
    copies = ec.read_topic(a.bootstrap, f"{topic}.quarantine")
    proxy_traceparents = sorted({ec.header(q["headers"], "schemagate.traceparent") or "" for q in copies})
    summary(scenario="traced", acked=len(s.acked()), on_topic=len(stored), quarantined=quarantined,
            bad=len(bad), producer_traces=sorted(producer_traces.values()),
            proxy_traceparents=proxy_traceparents)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--topic", help="the topic to use (default: one named after the scenario)")
    ap.add_argument("--scenario", required=True, choices=["idempotent", "reject", "audit", "acks0", "traced"])
    a = ap.parse_args()
    {"idempotent": idempotent, "reject": reject, "audit": audit, "acks0": acks0,
     "traced": traced}[a.scenario](a, ec.registry(a.registry))


if __name__ == "__main__":
    main()
