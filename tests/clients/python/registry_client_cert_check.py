#!/usr/bin/env python3
"""Confluent's Python Schema Registry client against a registry that requires client
certificates (`--tls-client-ca`).

Usage: registry_client_cert_check.py REGISTRY_URL CA_FILE CLIENT_CERT CLIENT_KEY
Environment: SG_CI_USER_INFO (ci-pipeline:password).
With the certificate the client gets through (and still authenticates with basic auth);
without it the handshake fails. The last stdout line is a JSON summary.
"""
import os
import sys

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from common import check, summary


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, ca, cert, key = sys.argv[1:]
    conf = {"url": url, "ssl.ca.location": ca, "basic.auth.user.info": os.environ["SG_CI_USER_INFO"]}
    with_cert = SchemaRegistryClient({**conf, "ssl.certificate.location": cert, "ssl.key.location": key})
    subjects = with_cert.get_subjects()
    check(isinstance(subjects, list), "with a client certificate the registry answers")
    try:
        SchemaRegistryClient(conf).get_subjects()
        check(False, "without a client certificate the registry must not answer")
    except SchemaRegistryError as e:
        check(False, f"the handshake should fail before any HTTP answer: {e}")
    except Exception as e:  # requests/httpx raise their own TLS or connection errors
        print(f"ok: without a client certificate: {type(e).__name__}: {e}")
    print("all client certificate checks passed")
    summary(subjects=len(subjects))


if __name__ == "__main__":
    main()
