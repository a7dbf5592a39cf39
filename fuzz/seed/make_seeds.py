#!/usr/bin/env python3
"""Writes the hand-made seeds of the fuzz corpora that captured traffic cannot give: payloads
under the fixed schemas of fuzz/src/lib.rs (Avro datums encoded by fastavro, Protobuf wire
bytes, JSON documents), schema texts and compatibility pairs from the conformance cases,
registry request bodies and `_schemas` log records.

    make_seeds.py CONFORMANCE_DIR OUT_DIR

Needs fastavro (the test venv has it). Frames, Produce requests, record batches and broker
responses come from real clients instead: see fuzz/README.md ("Seeding from traffic").
"""
import hashlib
import io
import json
import os
import re
import sys
import zlib
import gzip

import fastavro

conformance, out = sys.argv[1], sys.argv[2]
lib = open(os.path.join(os.path.dirname(__file__), "..", "src", "lib.rs")).read()


def fixed(name):
    block = re.search(r"pub const %s: &\[&str\] = &\[(.*?)\n\];" % name, lib, re.S).group(1)
    return [m[1] for m in re.findall(r'r(#+)"(.*?)"\1', block, re.S)]


def put(target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def avro(schema_text, value):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(json.loads(schema_text)), value)
    return buf.getvalue()


AVRO_VALUES = [
    [{"id": 7, "note": None, "price": b"\x01\x00", "tags": ["a", "b"], "attrs": {"k": 1, "d": 2.5, "b": True},
      "state": "PAID", "hash": b"abcd", "at": 1700000000000, "ratio": 0.5,
      "id2": "6a2f41a3-c54c-fce8-32d2-0324e1c32e22"},
     {"id": -1, "note": "n", "price": b"", "tags": [], "attrs": {}, "state": "NEW", "hash": b"\0\0\0\0",
      "at": 0, "ratio": -1.0, "id2": "00000000-0000-0000-0000-000000000000"}],
    [{"v": 1, "next": {"v": 2, "next": None, "kids": []}, "kids": [{"v": 3, "next": None, "kids": []}]}],
    [[{}, {}, {}], []],
    [None, True, 5, 1 << 40, 1.5, b"xy", "text"],
    [{"a": {"b": [1, 2, 3]}}, {}],
]
for i, (text, values) in enumerate(zip(fixed("AVRO"), AVRO_VALUES)):
    for v in values:
        datum = avro(text, v)
        put("validate_avro", bytes([i]) + datum)
        put("validate_avro", bytes([i]) + b"\0\0\0\0\1" + datum)
        put("diff_avro_program", text.encode() + b"\0" + datum)
        put("diff_avro_apache", text.encode() + b"\0" + datum)

# Protobuf wire bytes for Order (message index [0] first: one 0 byte) and Legacy.
PROTOBUF_PAYLOADS = [
    [b"\0" + b"\x08\x96\x01" + b"\x12\x03abc" + b"\x1a\x02\x00\xff" + b"\x22\x03\x01\x02\x03"
     + b"\x2a\x0d\x0a\x01k\x11" + b"\0" * 8 + b"\x32\x04card" + b"\x42\x05\x0a\x03sku"
     + b"\x50\x01" + b"\x58\x03" + b"\x65\x01\x00\x00\x00" + b"\x69" + b"\1" * 8 + b"\x70\x01"
     + b"\x7d\x00\x00\x80\x3f",
     b"\0", b"\x02\x02\x00" + b"\x0a\x00"],
    [b"\0" + b"\x0a\x04name\x10\x05\x1b\x22\x01p\x1c", b"\0\x0a\x00"],
]
for i, payloads in enumerate(PROTOBUF_PAYLOADS):
    for p in payloads:
        put("validate_protobuf", bytes([i]) + p)

JSON_DOCS = [
    [{"id": 1, "note": None, "tags": ["a", "b"], "at": "2024-01-01T00:00:00Z", "price": 1.25,
      "kind": "a", "any": {"n": {"n": {}}}}, {"id": 0}, {"id": -1, "extra": 1}],
    [[1, True, "x"], [2], []],
]
for i, docs in enumerate(JSON_DOCS):
    for d in docs:
        put("validate_json", bytes([i]) + json.dumps(d).encode())

# Schema texts and compatibility pairs from the conformance cases (selector 0 Avro, 1
# Protobuf, 2 JSON, as schemagate_fuzz::schema_type reads it).
for selector, name in [(0, "avro_compat"), (1, "protobuf_compat"), (2, "jsonschema_compat")]:
    cases = json.load(open(os.path.join(conformance, name + ".json")))
    kind = ["AVRO", "PROTOBUF", "JSON"][selector]
    for case in cases:
        texts = [t for t in case["existing"] if isinstance(t, str)] + [case["proposed"]]
        for t in texts:
            put("parse_schema", bytes([selector]) + t.encode())
            body = {"schema": t} if kind == "AVRO" else {"schema": t, "schemaType": kind}
            put("registry_body", b"\0" + json.dumps(body).encode())
            if selector == 0:
                put("diff_avro_program", t.encode() + b"\0")
        if case["existing"] and isinstance(case["existing"][-1], str):
            put("compat", bytes([selector]) + case["existing"][-1].encode() + b"\0" + case["proposed"].encode())
for body in [{"compatibility": "BACKWARD"}, {"compatibilityLevel": "FULL_TRANSITIVE"}, {}]:
    put("registry_body", b"\1" + json.dumps(body).encode())
for body in [{"mode": "READWRITE"}, {"mode": "IMPORT"}]:
    put("registry_body", b"\2" + json.dumps(body).encode())

# `_schemas` records: key line, value line (an empty value line is a tombstone).
LOG = [
    ({"keytype": "SCHEMA", "subject": "orders-value", "version": 1, "magic": 1},
     {"subject": "orders-value", "version": 1, "id": 3, "schema": "\"string\"", "deleted": False}),
    ({"keytype": "SCHEMA", "subject": "orders-value", "version": 2, "magic": 1},
     {"subject": "orders-value", "version": 2, "id": 4, "schemaType": "JSON", "schema": "{}",
      "references": [{"name": "a", "subject": "b", "version": 1}], "deleted": False}),
    ({"keytype": "CONFIG", "subject": None, "magic": 0}, {"compatibilityLevel": "FULL"}),
    ({"keytype": "CONFIG", "subject": "orders-value", "magic": 0}, {"compatibilityLevel": "NONE"}),
    ({"keytype": "MODE", "subject": None, "magic": 0}, {"mode": "READONLY"}),
    ({"keytype": "DELETE_SUBJECT", "subject": "orders-value", "magic": 0}, {"subject": "orders-value", "version": 2}),
    ({"keytype": "CLEAR_SUBJECT", "subject": "orders-value", "magic": 0}, {"subject": "orders-value"}),
    ({"keytype": "NOOP", "magic": 0}, None),
]
lines = []
for key, value in LOG:
    lines += [json.dumps(key), "" if value is None else json.dumps(value)]
    put("schemas_log", ("\n".join(lines)).encode())

# Compressed inputs for the codecs we can make here (gzip; none), selector = codec.
for data in [b"", b"a" * 1000, os.urandom(64)]:
    put("decompress", b"\0" + data)
    put("decompress", b"\1" + gzip.compress(data))
    put("decompress", b"\x11" + zlib.compress(data))

# The structured differential target reads its fields from any bytes.
for n in [8, 32, 128, 512]:
    put("diff_produce_view", os.urandom(n))
