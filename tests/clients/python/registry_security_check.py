#!/usr/bin/env python3
"""Confluent's Python Schema Registry client against a secured `schemagate registry`
(TLS, basic auth, bearer JWTs, the "writes from CI only" permissions of
examples/registry-permissions.toml).

Usage: registry_security_check.py REGISTRY_URL CA_FILE WRONG_CA_FILE
Environment: SG_CI_USER_INFO (ci-pipeline:password), SG_SVC_USER_INFO (svc-orders:password),
SG_CI_TOKEN (a valid JWT naming ci-pipeline), SG_EXPIRED_TOKEN (an expired one),
SG_RUN (a suffix keeping subjects apart between runs).
Exits non-zero on the first failed assertion; the last line is a JSON summary.
"""
import json
import os
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from common import check, summary
from registry_client_check import ORDER_V1, ORDER_V2_OK as ORDER_V2

PAYMENT = json.dumps({"type": "record", "name": "Payment", "namespace": "shop", "fields": [
    {"name": "id", "type": "long"}]})


def basic(url, ca, user_info):
    return SchemaRegistryClient({"url": url, "ssl.ca.location": ca, "basic.auth.user.info": user_info})


def bearer(url, ca, token):
    # STATIC_TOKEN is how Confluent's clients send a token they got elsewhere; the logical
    # cluster is required by the client (Confluent Cloud routing), and ignored by schemagate.
    return SchemaRegistryClient({"url": url, "ssl.ca.location": ca,
                                 "bearer.auth.credentials.source": "STATIC_TOKEN",
                                 "bearer.auth.token": token,
                                 "bearer.auth.logical.cluster": "lsrc-local"})


def refused(call, status, code, what):
    try:
        call()
    except SchemaRegistryError as e:
        check(e.http_status_code == status and e.error_code == code,
              f"{what}: HTTP {e.http_status_code} error {e.error_code} ({e.error_message})")
        return e.error_message
    check(False, f"{what}: the call was not refused")
    return None


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, ca, wrong_ca = sys.argv[1:]
    run = os.environ["SG_RUN"]
    orders, payments = f"orders-{run}-value", f"payments-{run}-value"
    ci = basic(url, ca, os.environ["SG_CI_USER_INFO"])
    svc = basic(url, ca, os.environ["SG_SVC_USER_INFO"])

    # CI registers, through Confluent's serializer (auto-registration) and directly.
    ctx = SerializationContext(f"orders-{run}", MessageField.VALUE)
    framed = AvroSerializer(ci, ORDER_V1)({"id": 1, "item": "tea"}, ctx)
    order_id = int.from_bytes(framed[1:5], "big")
    check(framed[0] == 0 and order_id > 0, f"CI registered {orders} through the Avro serializer (id {order_id})")
    payment_id = ci.register_schema(payments, Schema(PAYMENT, "AVRO"))
    check(payment_id > 0, f"CI registered {payments} (id {payment_id})")

    # The orders service reads its own subject and deserializes, but cannot write.
    latest = svc.get_latest_version(orders)
    check(latest.schema_id == order_id, "svc-orders reads the latest version of its subject")
    record = AvroDeserializer(svc)(framed, ctx)
    check(record == {"id": 1, "item": "tea"}, "svc-orders deserializes with the writer schema fetched by id")
    msg = refused(lambda: svc.register_schema(orders, Schema(ORDER_V2, "AVRO")), 403, 40301,
                  "svc-orders registering is refused with 403")
    check("Write" in msg and orders in msg, f"the 403 names the operation and subject: {msg}")
    # ... and cannot read another team's subject, by name or by id.
    refused(lambda: svc.get_latest_version(payments), 403, 40301, "svc-orders cannot read payments")
    refused(lambda: svc.get_schema(payment_id), 403, 40301, "svc-orders cannot fetch the payments schema by id")
    subjects = svc.get_subjects()
    check(orders in subjects and payments not in subjects, f"svc-orders lists only what it may read ({len(subjects)})")

    # Bearer tokens: CI's token registers version 2; an expired token is 401.
    v2 = bearer(url, ca, os.environ["SG_CI_TOKEN"]).register_schema(orders, Schema(ORDER_V2, "AVRO"))
    check(v2 != order_id, f"CI's bearer token registers version 2 (id {v2})")
    refused(lambda: bearer(url, ca, os.environ["SG_EXPIRED_TOKEN"]).get_subjects(), 401, 401,
            "an expired token is refused with 401")
    # No credential at all, and a wrong password, are 401 too.
    refused(lambda: SchemaRegistryClient({"url": url, "ssl.ca.location": ca}).get_subjects(), 401, 401,
            "no credential is refused with 401")
    refused(lambda: basic(url, ca, "svc-orders:wrong").get_subjects(), 401, 401,
            "a wrong password is refused with 401")

    # A client trusting another CA refuses the registry's certificate.
    try:
        basic(url, wrong_ca, os.environ["SG_CI_USER_INFO"]).get_subjects()
        check(False, "a client trusting another CA must not connect")
    except SchemaRegistryError as e:
        check(False, f"the handshake should fail before any HTTP answer: {e}")
    except Exception as e:  # requests/httpx raise their own TLS errors
        text = str(e)
        check("CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text,
              f"a client trusting another CA fails the handshake ({type(e).__name__})")
    print("all registry security checks passed")
    summary(order_id=order_id, payment_id=payment_id, v2=v2)


if __name__ == "__main__":
    main()
