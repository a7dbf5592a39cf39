"""Valid Order events through an enforcing proxy arrive unchanged and deserialize.

Confluent's serializer for --format (avro: AvroSerializer, auto-registering; protobuf:
ProtobufSerializer with the .proto text registered first and use.latest.version; json:
JSONSerializer) frames --records Order events. They are produced as bytes through the proxy
(--bootstrap) to a topic whose policy requires valid values, read back, and checked:
- every record was acknowledged, none failed;
- key, value, headers and timestamp on the topic are byte-identical to what was sent, in order;
- the matching Confluent deserializer, with its own registry client (so the writer schema comes
  from the registry, not the producer's cache), reads back exactly the original event;
- nothing was quarantined.
"""
import argparse
import time

from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

import enforce_common as ec
from common import check, summary


def codec(fmt, producer_sr, consumer_sr, topic):
    """(event(i), serialize(obj), deserialize(bytes)) for one format."""
    ctx = SerializationContext(topic, MessageField.VALUE)
    if fmt == "avro":
        ser = AvroSerializer(producer_sr, ec.schema_text("order.avsc"))
        de = AvroDeserializer(consumer_sr)
        return ec.avro_order, lambda o: ser(o, ctx), lambda b: de(b, ctx)
    if fmt == "json":
        ser = JSONSerializer(ec.schema_text("order.schema.json"), producer_sr)
        de = JSONDeserializer(None, schema_registry_client=consumer_sr)
        return ec.order, lambda o: ser(o, ctx), lambda b: de(b, ctx)
    Order, LineItem = ec.proto_classes()
    producer_sr.register_schema(f"{topic}-value", Schema(ec.schema_text("order.proto"), "PROTOBUF"))
    ser = ProtobufSerializer(Order, producer_sr, {"auto.register.schemas": False, "use.latest.version": True})
    de = ProtobufDeserializer(Order, {}, schema_registry_client=consumer_sr)
    return (lambda i: ec.proto_order(i, Order, LineItem)), lambda o: ser(o, ctx), lambda b: de(b, ctx)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--format", required=True, choices=["avro", "protobuf", "json"])
    ap.add_argument("--topic", required=True)
    ap.add_argument("--records", type=int, default=500)
    a = ap.parse_args()
    t0 = time.time()
    ec.create_topics(a.bootstrap, [a.topic], partitions=3)
    event, serialize, deserialize = codec(a.format, ec.registry(a.registry), ec.registry(a.registry), a.topic)

    sender = ec.Sender(a.bootstrap, **{"compression.type": "lz4"})
    originals = {}
    for i in range(a.records):
        obj = event(i)
        value = serialize(obj)
        check(value[0] == 0 and len(value) > 5, f"{a.format} serializer did not frame record {i}")
        headers = [("trace", f"t-{i}".encode()), ("dup", b"1"), ("dup", b"2")]
        rec = sender.send(a.topic, i % 3, f"acct-{i % 11}".encode(), value, headers, tag=i,
                          timestamp=ec.BASE_TS + i)
        originals[id(rec)] = obj
    sender.flush()
    failed = sender.failed()
    check(not failed, f"{len(failed)} records failed, first {failed[0]['tag'] if failed else None}: "
                      f"{failed[0]['err'] if failed else None}")

    got = ec.read_topic(a.bootstrap, a.topic)
    check(len(got) == a.records, f"{len(got)} records on {a.topic}, {a.records} sent")
    by_place = {(r["partition"], r["offset"]): r for r in got}
    schema_ids = set()
    for rec in sender.sent:
        stored = by_place.get((rec["partition"], rec["offset"]))
        check(stored is not None, f"record {rec['tag']} acked at {rec['partition']}@{rec['offset']} is not there")
        for field in ("key", "value", "headers", "timestamp"):
            check(stored[field] == rec[field],
                  f"record {rec['tag']}: {field} changed: sent {rec[field]!r}, stored {stored[field]!r}")
        back = deserialize(stored["value"])
        check(back == originals[id(rec)],
              f"record {rec['tag']}: deserialized {back!r}, produced {originals[id(rec)]!r}")
        schema_ids.add(int.from_bytes(stored["value"][1:5], "big"))
    quarantined = ec.read_topic(a.bootstrap, f"{a.topic}.quarantine")
    check(not quarantined, f"{len(quarantined)} valid records were quarantined")
    summary(format=a.format, records=len(got), acked=len(sender.acked()), schema_ids=sorted(schema_ids),
            quarantined=len(quarantined), seconds=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
