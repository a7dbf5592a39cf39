"""Scrapes a /metrics URL and parses it with prometheus_client's OpenMetrics parser.

Checks that the content type names OpenMetrics 1.0, that the body parses (the parser is strict:
it needs `# EOF`, and `_total` samples under a counter family), and that every family named
with --counter is a counter with at least one sample. Exits non-zero on the first failure.
With --samples the JSON summary also holds every parsed family: its type and its samples
(`name`, `labels`, `value`), for the caller to check values.
"""

import argparse
import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--counter", action="append", default=[])
    ap.add_argument("--samples", action="store_true")
    args = ap.parse_args()
    with urllib.request.urlopen(args.url, timeout=10) as resp:
        ctype = resp.headers.get("Content-Type", "")
        body = resp.read().decode("utf-8")
    want = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    if ctype != want:
        print(f"content type {ctype!r}, want {want!r}", file=sys.stderr)
        return 1
    families = {f.name: f for f in text_string_to_metric_families(body)}
    for name in args.counter:
        fam = families.get(name)
        if fam is None:
            print(f"no family {name}; families: {sorted(families)}", file=sys.stderr)
            return 1
        if fam.type != "counter" or not fam.samples:
            print(f"{name}: type {fam.type}, {len(fam.samples)} samples", file=sys.stderr)
            return 1
    samples = sum(len(f.samples) for f in families.values())
    summary = {"families": len(families), "samples": samples, "content_type": ctype}
    if args.samples:
        summary["parsed"] = {
            name: {
                "type": fam.type,
                "samples": [
                    {"name": s.name, "labels": dict(s.labels), "value": s.value}
                    for s in fam.samples
                ],
            }
            for name, fam in families.items()
        }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
