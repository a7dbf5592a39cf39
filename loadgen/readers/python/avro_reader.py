"""A Python reader for the lab matrix: confluent-kafka's AvroDeserializer (fastavro), which
fetches each record's writer schema from the registry by its id and resolves it into the
reader schema given. The protocol is described in loadgen/src/lab/readers.rs:

    avro_reader.py --bootstrap B --topic T --registry URL --expect N --job ID=READER.avsc ...

prints {"jobs": [{"writer_id", "reader_schema", "records", "decoded", "errors": {msg: n}}]}.
"""
import argparse
import json
import struct
import sys
import time

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import SerializationContext, MessageField


def read_all(bootstrap, topic, expect):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lab-py-{topic}",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values, deadline = [], time.time() + 60
    while len(values) < expect and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise SystemExit(f"consumer error: {m.error()}")
        values.append(m.value())
    c.close()
    if len(values) < expect:
        raise SystemExit(f"read {len(values)} of {expect} records from {topic}")
    return values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--job", action="append", default=[])
    a = ap.parse_args()
    values = read_all(a.bootstrap, a.topic, a.expect)
    registry = SchemaRegistryClient({"url": a.registry})
    ctx = SerializationContext(a.topic, MessageField.VALUE)
    jobs = []
    for job in a.job:
        writer_id, path = job.split("=", 1)
        writer_id = int(writer_id)
        with open(path) as f:
            reader_schema = f.read()
        deserializer = AvroDeserializer(registry, reader_schema)
        out = {"writer_id": writer_id, "reader_schema": path, "records": 0, "decoded": 0,
               "errors": {}}
        for v in values:
            if len(v) < 5 or struct.unpack(">I", v[1:5])[0] != writer_id:
                continue
            out["records"] += 1
            try:
                deserializer(v, ctx)
                out["decoded"] += 1
            except Exception as e:  # the exact message is the finding
                msg = f"{type(e).__name__}: {e}"
                out["errors"][msg] = out["errors"].get(msg, 0) + 1
        jobs.append(out)
    print(json.dumps({"jobs": jobs}))


if __name__ == "__main__":
    sys.exit(main())
