"""The librdkafka producer of the idempotent-quarantine proof (confluent-kafka,
enable.idempotence=true, acks=all).

Sends --count records paced at --rate per second; the key of record i is its decimal index, the
value a framed Avro string ("good-i") under --schema-id, except for the indexes in --bad-file,
whose value is unframed ("bad-i"). librdkafka's log (with debug=eos, the idempotence state
machine) goes to stderr, where the test looks for OUT_OF_ORDER_SEQUENCE_NUMBER, fencing and
fatal errors; error_cb reports go there too. The last stdout line is the JSON summary.
"""
import argparse
import json
import logging
import struct
import sys
import time

from confluent_kafka import KafkaException, Producer


def value(i, schema_id, bad):
    if bad:
        return f"bad-{i}".encode()
    text = f"good-{i}".encode()
    return b"\x00" + struct.pack(">I", schema_id) + bytes([len(text) << 1]) + text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--bad-file", required=True)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--schema-id", type=int, default=1)
    a = ap.parse_args()
    with open(a.bad_file) as f:
        bad = {int(line) for line in f if line.strip()}

    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format="[librdkafka] %(message)s")
    log = logging.getLogger("librdkafka")

    def on_error(err):
        print(f"[error_cb] {err.name()} fatal={err.fatal()}: {err.str()}", file=sys.stderr, flush=True)

    producer = Producer(
        {
            "bootstrap.servers": a.bootstrap,
            "client.id": "sg-librdkafka-seqload",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "debug": "eos",
            "error_cb": on_error,
        },
        logger=log,
    )
    acked, failed, failed_indexes, errors = 0, 0, [], {}

    def report(err, msg):
        nonlocal acked, failed
        if err is None:
            acked += 1
            return
        failed += 1
        failed_indexes.append(int(msg.key()))
        errors[err.name()] = errors.get(err.name(), 0) + 1

    start = time.monotonic()
    stopped = None
    for i in range(a.count):
        wait = start + i / a.rate - time.monotonic()
        if wait > 0.001:
            time.sleep(wait)
        try:
            while True:
                try:
                    producer.produce(a.topic, key=str(i).encode(), value=value(i, a.schema_id, i in bad), on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.05)
        except KafkaException as e:
            # A fatal producer error: the rest is never sent; report it, do not crash.
            stopped = i
            print(f"[seq_load] producer stopped at record {i}: fatal: {e}", file=sys.stderr, flush=True)
            break
        producer.poll(0)
    try:
        left = producer.flush(180)
    except (KafkaException, SystemError) as e:
        # confluent-kafka raises from flush() once the producer is in a fatal state.
        print(f"[seq_load] flush failed: fatal: {e}", file=sys.stderr, flush=True)
        left = -1
    if stopped is not None:
        unsent = a.count - stopped
        failed += unsent
        errors["_FATAL_UNSENT"] = unsent
        failed_indexes.extend(range(stopped, a.count))
    failed_indexes.sort()
    print(json.dumps({"client": "librdkafka", "sent": a.count, "acked": acked, "failed": failed,
                      "unflushed": left, "failed_indexes": failed_indexes, "errors": errors}), flush=True)


if __name__ == "__main__":
    main()
