"""kafka-python (a pure-Python protocol implementation): admin, produce with every codec, consume
in a consumer group, commit. Prints the brokers that its metadata named.
"""
import argparse
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from common import check, record, summary

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--records", type=int, default=300, help="per codec")
    ap.add_argument("--topic", default="kafka-python")
    a = ap.parse_args()
    t0 = time.time()

    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap, client_id="sg-kafka-python-admin")
    admin.create_topics([NewTopic(a.topic, num_partitions=PARTITIONS, replication_factor=3)])
    cluster = admin.describe_cluster()
    admin_brokers = sorted(f"{b['host']}:{b['port']}" for b in cluster["brokers"])
    admin.close()

    expected = {}  # (partition, offset) -> (key, value, headers)
    for codec in CODECS:
        producer = KafkaProducer(bootstrap_servers=a.bootstrap, compression_type=codec, linger_ms=10, acks="all")
        futures = []
        for i in range(a.records):
            key, value, headers = record(f"kp-{codec}", i)
            # kafka-python wants str header keys and bytes values; None is not a header value here.
            headers = [(k, v if v is not None else b"") for k, v in headers]
            futures.append((producer.send(a.topic, key=key, value=value, headers=headers), (key, value, headers)))
        producer.flush(timeout=60)
        for fut, rec in futures:
            md = fut.get(timeout=30)
            check((md.partition, md.offset) not in expected, f"offset reused {(md.partition, md.offset)}")
            expected[(md.partition, md.offset)] = rec
        producer.close()

    consumer = KafkaConsumer(a.topic, bootstrap_servers=a.bootstrap, group_id=f"{a.topic}-group",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=6000, heartbeat_interval_ms=1000)
    received = {}
    deadline = time.time() + 90
    while len(received) < len(expected):
        check(time.time() < deadline, f"timed out: {len(received)}/{len(expected)} consumed")
        for tp, msgs in consumer.poll(timeout_ms=1000).items():
            for m in msgs:
                k = (m.partition, m.offset)
                check(k not in received, f"record delivered twice: {k}")
                received[k] = (m.key, m.value, list(m.headers))
    consumer.commit()
    committed = {p: consumer.committed(TopicPartition(a.topic, p)) for p in range(PARTITIONS)}
    client_brokers = sorted(f"{b.host}:{b.port}" for b in consumer._client.cluster.brokers())
    consumer.close()

    check(set(received) == set(expected), f"missing {set(expected) - set(received)}")
    bad = [k for k in expected if received[k] != expected[k]]
    check(not bad, f"{len(bad)} records differ; first {bad[:1]}: sent {expected.get(bad[0]) if bad else None}, got {received.get(bad[0]) if bad else None}")
    ends = {}
    for p, o in expected:
        ends[p] = max(ends.get(p, 0), o + 1)
    for p, end in ends.items():
        check(committed[p] == end, f"partition {p}: committed {committed[p]}, end {end}")
    summary(records=len(received), brokers=sorted(set(admin_brokers) | set(client_brokers)),
            admin_brokers=admin_brokers, client_brokers=client_brokers, seconds=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
