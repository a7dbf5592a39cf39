#!/usr/bin/env python3
"""Confluent's Python Schema Registry client against a Confluent-compatible registry.

Usage: registry_client_check.py REGISTRY_URL
Needs: pip install 'confluent-kafka[avro,json,protobuf,schemaregistry]'
Exits non-zero on the first failed assertion. Subjects are made unique per run, so the script
can run against a registry that already holds data.
"""
import json
import sys
import uuid

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.schema_registry.schema_registry_client import ConfigCompatibilityLevel, ServerConfig
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

RUN = uuid.uuid4().hex[:8]
ORDER_V1 = json.dumps({"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "id", "type": "long"}, {"name": "item", "type": "string"}]})
ORDER_V2_OK = json.dumps({"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "id", "type": "long"}, {"name": "item", "type": "string"},
    {"name": "qty", "type": "int", "default": 1}]})
ORDER_V2_BAD = json.dumps({"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "id", "type": "long"}, {"name": "item", "type": "string"},
    {"name": "priority", "type": "int"}]})


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def client_api(sr):
    subject = f"py-{RUN}-orders-value"
    sid = sr.register_schema(subject, Schema(ORDER_V1, "AVRO"))
    check(isinstance(sid, int) and sid > 0, f"register returns an id ({sid})")
    check(sr.register_schema(subject, Schema(ORDER_V1, "AVRO")) == sid, "re-register returns the same id")
    found = sr.lookup_schema(subject, Schema(ORDER_V1, "AVRO"))
    check(found.schema_id == sid and found.version == 1, "lookup finds version 1 with the id")
    got = sr.get_schema(sid)
    check(json.loads(got.schema_str) == json.loads(ORDER_V1), "get by id returns the schema")
    check(sr.test_compatibility(subject, Schema(ORDER_V2_OK, "AVRO")) is True, "compatible change tests compatible")
    check(sr.test_compatibility(subject, Schema(ORDER_V2_BAD, "AVRO")) is False, "field without default tests incompatible")
    try:
        sr.register_schema(subject, Schema(ORDER_V2_BAD, "AVRO"))
        check(False, "incompatible registration raises")
    except SchemaRegistryError as e:
        check(e.http_status_code == 409, f"incompatible registration raises SchemaRegistryError 409 ({e.http_status_code} {e.error_code})")
    sid2 = sr.register_schema(subject, Schema(ORDER_V2_OK, "AVRO"))
    latest = sr.get_latest_version(subject)
    check(latest.version == 2 and latest.schema_id == sid2 and sid2 != sid, "latest is version 2 with a new id")
    check(sr.get_versions(subject) == [1, 2], "versions are [1, 2]")
    sr.set_config(subject, ServerConfig(compatibility=ConfigCompatibilityLevel.FULL))
    cfg = sr.get_config(subject)
    level = cfg.compatibility_level or cfg.compatibility
    check(str(getattr(level, "value", level)) == "FULL", f"set_config FULL reads back ({level})")
    check(sr.delete_version(subject, 2) == 2, "delete_version soft-deletes version 2")
    check(sr.get_versions(subject) == [1], "version 2 is gone from the list")
    check(sr.delete_subject(subject) == [1], "delete_subject soft-deletes the rest")
    check(sr.delete_subject(subject, permanent=True) == [1, 2], "permanent delete after the soft one")
    try:
        sr.get_versions(subject)
        check(False, "deleted subject is gone")
    except SchemaRegistryError as e:
        check(e.http_status_code == 404 and e.error_code == 40401, "deleted subject answers 40401")


def avro_round_trip(sr, consumer_sr):
    ctx = SerializationContext(f"py-{RUN}-avro", MessageField.VALUE)
    ser = AvroSerializer(sr, ORDER_V1)
    de = AvroDeserializer(consumer_sr)
    record = {"id": 42, "item": "tea"}
    data = ser(record, ctx)
    check(data[0] == 0 and len(data) > 5, "Avro serializer frames with magic byte 0")
    check(de(data, ctx) == record, "Avro round trip")


def json_round_trip(sr, consumer_sr):
    schema = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order",
                         "type": "object", "properties": {"id": {"type": "integer"}, "item": {"type": "string"}},
                         "required": ["id"]})
    ctx = SerializationContext(f"py-{RUN}-json", MessageField.VALUE)
    ser = JSONSerializer(schema, sr)
    de = JSONDeserializer(None, schema_registry_client=consumer_sr)
    record = {"id": 7, "item": "milk"}
    data = ser(record, ctx)
    check(data[0] == 0, "JSON serializer frames with magic byte 0")
    check(de(data, ctx) == record, "JSON round trip")


def order_message_class():
    """An `Order` protobuf message built at run time (no protoc needed)."""
    fdp = descriptor_pb2.FileDescriptorProto(name=f"order_{RUN}.proto", package=f"shop{RUN}", syntax="proto3")
    msg = fdp.message_type.add(name="Order")
    msg.field.add(name="id", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    msg.field.add(name="item", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"shop{RUN}.Order"))


def protobuf_round_trip(sr, consumer_sr):
    """The schema is registered as .proto text (as a CI pipeline would) and the serializer uses
    the latest version; the client fetches it with ?format=serialized (a base64 descriptor)."""
    Order = order_message_class()
    topic = f"py-{RUN}-proto"
    proto = f'syntax = "proto3";\npackage shop{RUN};\n\nmessage Order {{\n  int64 id = 1;\n  string item = 2;\n}}\n'
    sid = sr.register_schema(f"{topic}-value", Schema(proto, "PROTOBUF"))
    ctx = SerializationContext(topic, MessageField.VALUE)
    ser = ProtobufSerializer(Order, sr, {"use.deprecated.format": False,
                                         "auto.register.schemas": False, "use.latest.version": True})
    de = ProtobufDeserializer(Order, {"use.deprecated.format": False})
    de_registry = ProtobufDeserializer(Order, {"use.deprecated.format": False}, schema_registry_client=consumer_sr)
    record = Order(id=9, item="bread")
    data = ser(record, ctx)
    check(data[0] == 0 and int.from_bytes(data[1:5], "big") == sid,
          f"Protobuf serializer frames with magic byte 0 and the registered id {sid}")
    check(de(data, ctx) == record, "Protobuf round trip")
    check(de_registry(data, ctx) == record, "Protobuf round trip with the writer schema fetched from the registry")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sr = SchemaRegistryClient({"url": sys.argv[1]})
    client_api(sr)
    # Consumers have their own client, so writer schemas really come from the registry (the
    # producer's client caches the text it registered).
    consumer_sr = SchemaRegistryClient({"url": sys.argv[1]})
    avro_round_trip(sr, consumer_sr)
    json_round_trip(sr, consumer_sr)
    protobuf_round_trip(sr, consumer_sr)
    print("all python client checks passed")


if __name__ == "__main__":
    main()
