"""The registry stops mid-stream: cached schemas keep flowing, uncached ones wait, nothing is
quarantined by mistake.

Driven together with the Rust test through files in --signal-dir:
1. register Order v1 (id A) and a compatible v2 (id B) under e2e-outage-value; frame every
   record now, so this client needs no registry later; produce records with id A to
   partition 0 (the proxy caches A); write `warm`;
2. wait for `registry-down` (the test has killed the registry);
3. produce more id-A records: all acknowledged while the registry is down;
4. produce id-B records (never seen by the proxy) to partition 1 and write `uncached-sent`;
   while they are retried, produce id-A records to partition 0 again: acknowledged, and
   not one id-B record is acknowledged before the registry is back;
5. wait for `registry-up` (written just before the restart); every id-B record is then
   acknowledged (librdkafka retried them);
6. the topic holds every record, byte-identical; the quarantine topic holds none.
"""
import argparse
import json
import os
import time

from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

import enforce_common as ec
from common import check, summary

TOPIC = "e2e-outage"


def wait_for(signal_dir, name, timeout_s=120):
    path = os.path.join(signal_dir, name)
    deadline = time.time() + timeout_s
    while not os.path.exists(path):
        check(time.time() < deadline, f"no '{name}' signal from the test after {timeout_s} s")
        time.sleep(0.05)


def signal(signal_dir, name):
    with open(os.path.join(signal_dir, name), "w", encoding="utf-8") as f:
        f.write(str(time.time()))


def v2_text():
    schema = json.loads(ec.schema_text("order.avsc"))
    schema["fields"].append({"name": "gift_wrap", "type": "boolean", "default": False})
    return json.dumps(schema)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--signal-dir", required=True)
    ap.add_argument("--records", type=int, default=50)
    a = ap.parse_args()
    t0 = time.time()
    n = a.records
    ec.create_topics(a.bootstrap, [TOPIC], partitions=2)
    sr = ec.registry(a.registry)
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    v1 = AvroSerializer(sr, ec.schema_text("order.avsc"))
    v2 = AvroSerializer(sr, v2_text())
    cached = [v1(ec.avro_order(i), ctx) for i in range(3 * n)]
    uncached = [v2(dict(ec.avro_order(i), gift_wrap=bool(i % 2)), ctx) for i in range(n)]
    id_a, id_b = (int.from_bytes(x[0][1:5], "big") for x in (cached, uncached))
    check(id_a != id_b, f"v1 and v2 share id {id_a}")

    s = ec.Sender(a.bootstrap, **{"linger.ms": 20, "message.timeout.ms": 120000, "client.id": "e2e-outage"})

    def send(part, values, tag, first):
        return [s.send(TOPIC, part, f"{tag}-{first + i}".encode(), v, [("phase", tag.encode())], tag=f"{tag}-{first + i}")
                for i, v in enumerate(values)]

    warm = send(0, cached[:n], "warm", 0)
    s.flush()
    check(not s.failed(), f"warm-up records failed: {[str(r['err']) for r in s.failed()][:3]}")
    signal(a.signal_dir, "warm")

    wait_for(a.signal_dir, "registry-down")
    down_at = time.time()
    during = send(0, cached[n:2 * n], "cached-down", n)
    s.flush(30)
    check(all(r["err"] is None for r in during),
          f"cached-id records failed while the registry was down: {[str(r['err']) for r in during if r['err']][:3]}")

    waiting = send(1, uncached, "uncached", 0)
    s.producer.poll(0.5)
    signal(a.signal_dir, "uncached-sent")
    beside = send(0, cached[2 * n:], "cached-beside", 2 * n)
    deadline = time.time() + 30
    while not all(r["done"] for r in beside):
        check(time.time() < deadline, "cached-id records sent beside the waiting ones were not acknowledged in 30 s")
        s.producer.poll(0.1)
    check(all(r["err"] is None for r in beside), f"cached-id records failed: {[str(r['err']) for r in beside][:3]}")

    while not os.path.exists(os.path.join(a.signal_dir, "registry-up")):
        early = [r["tag"] for r in waiting if r["done"]]
        check(not early, f"uncached-id records were answered while the registry was down: {early[:5]} "
                         f"({[str(r['err']) for r in waiting if r['done']][:2]})")
        check(time.time() < down_at + 120, "no 'registry-up' signal from the test after 120 s")
        s.producer.poll(0.05)
    up_at = time.time()
    s.flush(110)
    failed = [r for r in waiting if r["err"] is not None]
    check(not failed, f"{len(failed)} uncached-id records failed after the registry returned: {failed[0]['err'] if failed else ''}")

    stored = ec.read_topic(a.bootstrap, TOPIC)
    by_key = {r["key"]: r for r in stored}
    everything = warm + during + beside + waiting
    check(len(stored) == len(everything), f"{TOPIC} holds {len(stored)} records, {len(everything)} were acknowledged")
    for rec in everything:
        got = by_key.get(rec["key"])
        check(got is not None and (got["value"], got["headers"], got["partition"]) ==
              (rec["value"], rec["headers"], rec["partition"]), f"{rec['tag']} is not stored as sent")
    quarantined = ec.read_topic(a.bootstrap, f"{TOPIC}.quarantine")
    check(not quarantined, f"{len(quarantined)} records were quarantined during the outage")
    summary(acked=len(s.acked()), on_topic=len(stored), quarantined=len(quarantined), cached_while_down=len(during) + len(beside),
            uncached=len(waiting), id_a=id_a, id_b=id_b, down_for_s=round(up_at - down_at, 1),
            seconds=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
