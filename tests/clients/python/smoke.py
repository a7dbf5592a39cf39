"""One record through a running stack: used by `scripts/up --smoke`.

Produces one record (with headers) to a fresh topic, consumes it in a consumer group, checks it
is identical, and checks that metadata names only the expected bootstrap address.
"""
import argparse
import time
import uuid

from confluent_kafka import Consumer, Producer

from common import check, summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--upstream", help="the broker behind the proxy: metadata must never name it")
    a = ap.parse_args()
    t0 = time.time()
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    key, value, headers = b"smoke-key", f"hello through schemagate {topic}".encode(), [("dup", b"1"), ("dup", b"2")]

    producer = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=key, value=value, headers=headers)
    check(producer.flush(30) == 0, "the record was not delivered within 30 s")
    brokers = sorted(f"{b.host}:{b.port}" for b in producer.list_topics(timeout=10).brokers.values())
    check(brokers and a.upstream not in brokers, f"metadata names {brokers}, upstream is {a.upstream}")

    consumer = Consumer({"bootstrap.servers": a.bootstrap, "group.id": f"{topic}-group",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([topic])
    deadline = time.time() + 60
    msg = None
    while msg is None or msg.error():
        check(time.time() < deadline, "no record consumed within 60 s")
        msg = consumer.poll(1.0)
    consumer.close()
    check((msg.key(), msg.value(), msg.headers()) == (key, value, headers),
          f"consumed {(msg.key(), msg.value(), msg.headers())}, produced {(key, value, headers)}")
    summary(topic=topic, brokers=brokers, seconds=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
