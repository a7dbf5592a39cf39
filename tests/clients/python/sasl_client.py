"""confluent-kafka (librdkafka) authenticating with SASL through the proxy.

    sasl_client.py --bootstrap HOST:PORT --topic T --mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512|OAUTHBEARER
                   --user U --password P [--security-protocol SASL_PLAINTEXT|SASL_SSL] [--ca-file PEM]
                   [--records N] [--seconds S]

Creates T, produces N records with acks=all, optionally keeps producing one record every ~0.5 s
for S seconds on the same producer (KIP-368 re-authentication), then reads T back from the start
and checks that every acknowledged record came back. OAUTHBEARER uses librdkafka's unsecured JWT
(sasl.oauthbearer.config=principal=U). A denied client is an outcome, not a crash: the summary
classifies it in error_kind ("authentication", "authorization", "other") and the exit status is
0; a non-zero exit means a harness bug.

librdkafka retries a failed authentication forever, so every wait is bounded (WAIT seconds) and
the authentication error is taken from error_cb.
"""
import argparse
import json
import logging
import re
import sys
import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from common import summary

WAIT = 30.0
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]

AUTHENTICATION = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
AUTHORIZATION = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
                 KafkaError.GROUP_AUTHORIZATION_FAILED}


def log(msg):
    print(f"[sasl-python] {msg}", file=sys.stderr, flush=True)


class Denied(Exception):
    """The run stopped on a classified error."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def kind_of(err):
    """error_kind of a KafkaError."""
    if err.code() in AUTHENTICATION:
        return "authentication"
    if err.code() in AUTHORIZATION:
        return "authorization"
    return "other"


class Errors:
    """error_cb target. librdkafka retries a failed authentication (and a failed TLS
    handshake) forever, so the caller stops waiting once one is reported: the first
    authentication/authorization error, or a TLS error (_SSL, kind "other"). Other errors are
    kept so that a timeout can say what was going on."""

    def __init__(self):
        self.first = None
        self.last_other = None
        self.lock = threading.Lock()

    def __call__(self, err):
        log(f"error_cb: {err}")
        # A connection torn down in the middle of an authentication (seen when a consumer
        # closes its coordinator connection) is reported as an authentication error with
        # "Broker transport failure" in it; that is no verdict on the credentials.
        if "Broker transport failure" in err.str():
            return
        with self.lock:
            if self.first is None and (kind_of(err) != "other" or err.code() == KafkaError._SSL):
                self.first = err
            else:
                self.last_other = err

    def check(self):
        with self.lock:
            if self.first is not None:
                raise Denied(kind_of(self.first), self.first.str())

    def context(self):
        """The last unclassified error, for a timeout's message."""
        with self.lock:
            return f" (last error: {self.last_other.str()})" if self.last_other is not None else ""


class Stats:
    """stats_cb target: the producer's connection count (summed `connects` of its brokers)."""

    def __init__(self):
        self.connects = None

    def __call__(self, text):
        brokers = json.loads(text).get("brokers", {})
        self.connects = sum(b.get("connects", 0) for b in brokers.values() if b.get("nodeid", -1) >= 0)


class Reauth(logging.Handler):
    """Logger for the producer (run with debug=security): counts KIP-368 re-authentications
    that completed, per broker thread, from librdkafka's debug lines ("Auth in state REAUTH"
    starts one, "Received session lifetime N ms from broker" ends a successful one), and passes
    warnings and errors on to stderr as librdkafka would."""

    THREAD = re.compile(r"\[thrd:([^\]]+)\]")

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.reauthenticating = set()
        self.completed = 0

    def emit(self, record):
        msg = record.getMessage()
        m = self.THREAD.search(msg)
        thread = m.group(1) if m else ""
        if "Auth in state REAUTH" in msg:
            self.reauthenticating.add(thread)
        elif "Received session lifetime" in msg and thread in self.reauthenticating:
            self.reauthenticating.discard(thread)
            self.completed += 1
            log(f"re-authenticated ({thread})")
        if record.levelno >= logging.WARNING:
            print(f"%{record.levelname} {msg}", file=sys.stderr, flush=True)

    def logger(self):
        lg = logging.getLogger("sasl-python-producer")
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
        lg.addHandler(self)
        return lg


def config(a, errors, **extra):
    c = {
        "bootstrap.servers": a.bootstrap,
        "client.id": "sg-python-sasl",
        "security.protocol": a.security_protocol,
        "sasl.mechanism": a.mechanism,
        "error_cb": errors,
    }
    if a.mechanism == "OAUTHBEARER":
        # librdkafka's built-in unsecured token ({"alg":"none"}, sub=principal, 1 h lifetime).
        c["enable.sasl.oauthbearer.unsecure.jwt"] = True
        c["sasl.oauthbearer.config"] = f"principal={a.user}"
    else:
        c["sasl.username"] = a.user
        c["sasl.password"] = a.password
    if a.security_protocol == "SASL_SSL":
        # Trust only the given CA; the broker's certificate names 127.0.0.1 in its IP SANs, so
        # hostname verification (librdkafka's default, "https") stays on.
        c["ssl.ca.location"] = a.ca_file
        c["ssl.endpoint.identification.algorithm"] = "https"
    c.update(extra)
    return c


def wait_future(client, fut, errors, what):
    """Waits for an admin future, polling the client so that error_cb is served."""
    deadline = time.monotonic() + WAIT
    while not fut.done():
        client.poll(0.05)
        errors.check()
        if time.monotonic() > deadline:
            raise Denied("other", f"{what}: no answer in {WAIT:.0f}s{errors.context()}")
    try:
        return fut.result()
    except KafkaException as e:
        err = e.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return None
        errors.check()
        raise Denied(kind_of(err), f"{what}: {err.str()}")


def create_topic(a):
    errors = Errors()
    admin = AdminClient(config(a, errors))
    futs = admin.create_topics([NewTopic(a.topic, num_partitions=1, replication_factor=-1)],
                               request_timeout=WAIT, operation_timeout=WAIT)
    wait_future(admin, futs[a.topic], errors, f"creating topic {a.topic}")
    log(f"topic {a.topic} created")


def run(a, out):
    create_topic(a)
    errors = Errors()
    stats = Stats()
    reauth = Reauth()
    producer = Producer(config(a, errors, **{
        "debug": "security",
        "logger": reauth.logger(),
        "acks": "all",
        "message.timeout.ms": int(WAIT * 1000),
        "statistics.interval.ms": 1000,
        "stats_cb": stats,
    }))
    tag = uuid.uuid4().hex[:8]
    acked = set()
    failed = []

    def on_delivery(err, msg):
        if err is not None:
            failed.append(err)
        else:
            acked.add(msg.value().decode())
            out["acked"] += 1
            if msg.value().startswith(b"t|"):
                out["timed_acked"] += 1

    def flush(what):
        deadline = time.monotonic() + WAIT
        while len(producer) > 0:
            producer.poll(0.1)
            errors.check()
            if failed:
                raise Denied(kind_of(failed[0]), f"{what}: {failed[0].str()}")
            if time.monotonic() > deadline:
                raise Denied("other", f"{what}: {len(producer)} records unacknowledged after {WAIT:.0f}s"
                                      f"{errors.context()}")
        if failed:
            raise Denied(kind_of(failed[0]), f"{what}: {failed[0].str()}")

    for i in range(a.records):
        producer.produce(a.topic, value=f"b|{tag}|{i}".encode(), on_delivery=on_delivery)
        out["produced"] += 1
    flush("producing")
    log(f"batch: {out['acked']} of {out['produced']} acknowledged")

    if a.seconds:
        # Stats arrive every second; wait for one so the connection count is a real one.
        producer.poll(1.2)
        c0 = stats.connects
        end = time.monotonic() + a.seconds
        i = 0
        while time.monotonic() < end:
            producer.produce(a.topic, value=f"t|{tag}|{i}".encode(), on_delivery=on_delivery)
            out["produced"] += 1
            out["timed_produced"] += 1
            flush(f"producing timed record {i}")
            producer.poll(0.5)
            i += 1
        producer.poll(1.2)
        if c0 is not None and stats.connects is not None:
            out["timed_connects"] = stats.connects - c0
        log(f"timed phase: {out['timed_acked']} of {out['timed_produced']} acknowledged, "
            f"{out['timed_connects']} new connections, {reauth.completed} re-authentications so far")
    producer.flush(1)
    producer.poll(0)  # serves the last log lines
    out["producer_connects"] = stats.connects
    out["reauthentications"] = reauth.completed
    out["reauthentications_known"] = True

    errors = Errors()
    consumer = Consumer(config(a, errors, **{
        "group.id": f"{a.topic}-{tag}",
        "enable.auto.commit": False,
    }))
    try:
        md = consumer.list_topics(a.topic, timeout=WAIT)
        parts = sorted(md.topics[a.topic].partitions)
        consumer.assign([TopicPartition(a.topic, p, -2) for p in parts])  # -2: beginning
        seen = set()
        deadline = time.monotonic() + WAIT
        while len(seen) < len(acked):
            errors.check()
            if time.monotonic() > deadline:
                raise Denied("other", f"consuming: {len(seen)} of {len(acked)} records read back in "
                                      f"{WAIT:.0f}s{errors.context()}")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise Denied(kind_of(msg.error()), f"consuming: {msg.error().str()}")
            v = msg.value().decode()
            if v in acked and v not in seen:
                seen.add(v)
                out["consumed"] += 1
    except KafkaException as e:
        errors.check()
        raise Denied(kind_of(e.args[0]), f"consuming: {e.args[0].str()}")
    finally:
        consumer.close()
    log(f"read back {out['consumed']} records")
    if out["acked"] != out["produced"]:
        raise Denied("other", f"acked {out['acked']} of {out['produced']} produced")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--mechanism", required=True, choices=MECHANISMS)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", default="")
    ap.add_argument("--security-protocol", default="SASL_PLAINTEXT", choices=["SASL_PLAINTEXT", "SASL_SSL"])
    ap.add_argument("--ca-file")
    ap.add_argument("--records", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=0)
    a = ap.parse_args()
    if a.security_protocol == "SASL_SSL" and not a.ca_file:
        ap.error("SASL_SSL needs --ca-file")
    t0 = time.time()
    out = {
        "client": "confluent-kafka", "mechanism": a.mechanism, "topic": a.topic,
        "security_protocol": a.security_protocol,
        "produced": 0, "acked": 0, "consumed": 0, "timed_produced": 0, "timed_acked": 0,
        "producer_connects": None, "timed_connects": None,
        # Re-authentications completed on the producer's connections (from its debug log).
        "reauthentications": None, "reauthentications_known": False,
        "ok": False, "error_kind": None, "error": None,
    }
    try:
        run(a, out)
        out["ok"] = True
    except Denied as e:
        out["error_kind"], out["error"] = e.kind, str(e)
        log(f"FAIL ({e.kind}): {e}")
    except KafkaException as e:
        out["error_kind"], out["error"] = kind_of(e.args[0]), e.args[0].str()
        log(f"FAIL ({out['error_kind']}): {out['error']}")
    out["seconds"] = round(time.time() - t0, 1)
    log(f"{a.mechanism}: ok {out['ok']}, produced {out['produced']}, acked {out['acked']}, "
        f"consumed {out['consumed']}, error_kind {out['error_kind']}")
    summary(**out)


if __name__ == "__main__":
    main()
