"""Shared by the Python client scripts: deterministic records, checks, and the summary line.

Every script exits non-zero with a message on stderr when a check fails, and prints one JSON
object as its last stdout line for the Rust test to assert on.
"""
import json
import sys


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def summary(**fields):
    print(json.dumps(fields), flush=True)


def record(tag, i):
    """The i-th record of a run tagged `tag`: (key, value, headers), all deterministic.

    Values vary in size (0..~1.5 KiB) and compress well; every 997th key and every 1009th value
    is null (a tombstone); headers repeat the key "dup" and carry a null-valued header.
    """
    key = None if i % 997 == 3 else f"{tag}-key-{i % 50}".encode()
    value = None if i % 1009 == 5 else (f"{tag}|{i}|" + "abcdefgh" * (i % 190)).encode()
    headers = [
        ("dup", b"first"),
        ("seq", str(i).encode()),
        ("dup", b"second"),
        ("empty", b""),
        ("dup", f"third-{i}".encode()),
        ("nullable", None),
    ]
    return key, value, headers


def broker_addrs_arg(text):
    """Parses "host:port,host:port" into a set of (host, port)."""
    out = set()
    for part in text.split(","):
        host, _, port = part.rpartition(":")
        out.add((host, int(port)))
    return out
