// kafkajs authenticating with SASL (plain, scram-sha-256, scram-sha-512, oauthbearer with Kafka's
// unsecured JWT) through the proxy, which forwards SASL to the broker unchanged.
//
// Usage: node sasl_client.js --bootstrap HOST:PORT --topic T --mechanism PLAIN|SCRAM-SHA-256|
//   SCRAM-SHA-512|OAUTHBEARER --user U --password P [--security-protocol SASL_PLAINTEXT|SASL_SSL]
//   [--ca-file PEM] [--records N] [--seconds S]
//
// Creates T, produces N records with acks=all, optionally keeps producing one record every
// ~0.5 s for S seconds on the same producer (KIP-368 re-authentication), then reads T back in a
// fresh consumer group and checks that every acknowledged record came back. A denied client is
// an outcome, not a crash: the summary's error_kind is "authentication", "authorization" or
// "other" and the exit status is 0; non-zero means a harness bug. Progress goes to stderr, the
// JSON summary is the last stdout line.
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const fs = require('fs');
const net = require('net');
const tls = require('tls');
const crypto = require('crypto');
const { Kafka, logLevel } = require('kafkajs');
const { createTopics } = require('./common');

const WAIT_MS = 30000;
const MECHANISMS = { PLAIN: 'plain', 'SCRAM-SHA-256': 'scram-sha-256', 'SCRAM-SHA-512': 'scram-sha-512', OAUTHBEARER: 'oauthbearer' };

function log(msg) {
  console.error(`[sasl-kafkajs] ${msg}`);
}

function usage(msg) {
  console.error(`${msg}\nusage: node sasl_client.js --bootstrap HOST:PORT --topic T --mechanism ${Object.keys(MECHANISMS).join('|')} --user U --password P [--security-protocol SASL_PLAINTEXT|SASL_SSL] [--ca-file PEM] [--records N] [--seconds S]`);
  process.exit(2);
}

function parseArgs(argv) {
  const known = ['bootstrap', 'topic', 'mechanism', 'user', 'password', 'security-protocol', 'ca-file', 'records', 'seconds'];
  const a = { password: '', 'security-protocol': 'SASL_PLAINTEXT', records: '100', seconds: '0' };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !known.includes(name) || i + 1 >= argv.length) usage(`bad option ${argv[i]}`);
    a[name] = argv[i + 1];
  }
  for (const r of ['bootstrap', 'topic', 'mechanism', 'user']) if (!a[r]) usage(`--${r} is required`);
  if (!MECHANISMS[a.mechanism]) usage(`unknown mechanism ${a.mechanism}`);
  if (!['SASL_PLAINTEXT', 'SASL_SSL'].includes(a['security-protocol'])) usage('--security-protocol is SASL_PLAINTEXT or SASL_SSL');
  if (a['security-protocol'] === 'SASL_SSL' && !a['ca-file']) usage('SASL_SSL needs --ca-file');
  a.records = Number(a.records);
  a.seconds = Number(a.seconds);
  if (!(a.records >= 1) || !(a.seconds >= 0)) usage('--records must be positive, --seconds not negative');
  return a;
}

// Kafka's unsecured OAUTHBEARER token: {"alg":"none"}, the claims, an empty signature.
function unsecuredJwt(sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none' })}.${b64({ sub, iat: now, exp: now + 3600, scope: '' })}.`;
}

class Denied extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

// The error_kind of a kafkajs error, looking through the errors it wraps.
function kindOf(e) {
  const seen = new Set();
  const stack = [e];
  while (stack.length) {
    const x = stack.pop();
    if (!x || typeof x !== 'object' || seen.has(x)) continue;
    seen.add(x);
    if (x.name === 'KafkaJSSASLAuthenticationError' || x.type === 'SASL_AUTHENTICATION_FAILED') return 'authentication';
    if (/_AUTHORIZATION_FAILED$/.test(x.type || '')) return 'authorization';
    stack.push(x.cause, x.originalError, ...(Array.isArray(x.errors) ? x.errors : []));
  }
  return 'other';
}

function messageOf(e) {
  const parts = [];
  for (let x = e, n = 0; x && n < 5; x = x.cause || x.originalError, n++) parts.push(`${x.name || 'Error'}: ${x.message}`);
  return parts.join('; caused by ');
}

// Bounds a step: a denied client must not hang.
async function bounded(what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Denied('other', `${what}: no answer in ${WAIT_MS} ms`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch (e) {
    if (e instanceof Denied) throw e;
    throw new Denied(kindOf(e), `${what}: ${messageOf(e)}`);
  } finally {
    clearTimeout(timer);
  }
}

// One Kafka instance with its own counters: sockets connected, and SASL authentications
// completed (from kafkajs' debug log). An authentication beyond one per connection is a
// KIP-368 re-authentication on an open connection.
function client(a, name) {
  const counts = { connects: 0, authentications: 0 };
  const sasl = { mechanism: MECHANISMS[a.mechanism] };
  if (a.mechanism === 'OAUTHBEARER') {
    // A fresh token for every authentication, re-authentications included.
    sasl.oauthBearerProvider = async () => ({ value: unsecuredJwt(a.user) });
  } else {
    sasl.username = a.user;
    sasl.password = a.password;
  }
  const ssl = a['security-protocol'] === 'SASL_SSL'
    // Trust only the CA file; Node checks the IP SAN against the address (no servername for IPs).
    ? { ca: [fs.readFileSync(a['ca-file'])], rejectUnauthorized: true }
    : false;
  const socketFactory = ({ host, port, ssl: sslOpts, onConnect }) => {
    const connected = () => {
      counts.connects++;
      onConnect();
    };
    const socket = sslOpts
      ? tls.connect(Object.assign({ host, port }, !net.isIP(host) ? { servername: host } : {}, sslOpts), connected)
      : net.connect({ host, port }, connected);
    socket.setKeepAlive(true, 60000);
    return socket;
  };
  const logCreator = () => ({ level, log: entry }) => {
    if (/authentication successful|SASL SCRAM SHA\d+ successful/i.test(entry.message)) counts.authentications++;
    if (level <= logLevel.WARN || process.env.SG_KAFKAJS_DEBUG) console.error(`[kafkajs ${name}] ${entry.message} ${entry.error || ''}`);
  };
  const kafka = new Kafka({
    clientId: `sg-kafkajs-sasl-${name}`,
    brokers: [a.bootstrap],
    ssl,
    sasl,
    socketFactory,
    logLevel: logLevel.DEBUG,
    logCreator,
    connectionTimeout: 10000,
    authenticationTimeout: 10000,
    // kafkajs re-authenticates when (time since authenticating + this threshold) reaches the
    // broker's session lifetime. Its default, 10000 ms, is not below the test broker's
    // connections.max.reauth.ms=10000, so kafkajs would re-authenticate before every request;
    // the broker answers the second back-to-back re-authentication's SaslHandshake with
    // ILLEGAL_SASL_STATE ("Request is not valid given the current SASL state"), directly as
    // through the proxy. 2 s before expiry is what a client would use against a short lifetime.
    reauthenticationThreshold: 2000,
    requestTimeout: 15000,
    retry: { retries: 3, maxRetryTime: 5000 },
  });
  return { kafka, counts };
}

async function run(a, out) {
  const tag = crypto.randomBytes(4).toString('hex');
  const { kafka: adminKafka } = client(a, 'admin');
  const admin = adminKafka.admin();
  await bounded('connecting the admin client', admin.connect());
  try {
    const created = await bounded(`creating ${a.topic}`,
      createTopics(admin, [{ topic: a.topic, numPartitions: 1 }], WAIT_MS));
    log(`topic ${a.topic} ${created ? 'created' : 'already there'}`);
  } finally {
    await admin.disconnect();
  }

  const acked = new Set();
  const { kafka: pKafka, counts } = client(a, 'producer');
  const producer = pKafka.producer({ allowAutoTopicCreation: true });
  await bounded('connecting the producer', producer.connect());
  try {
    const batch = [];
    for (let i = 0; i < a.records; i++) batch.push({ value: `b|${tag}|${i}` });
    out.produced += batch.length;
    await bounded('producing', producer.send({ topic: a.topic, acks: -1, messages: batch }));
    for (const m of batch) acked.add(m.value);
    out.acked += batch.length;
    log(`batch: ${out.acked} of ${out.produced} acknowledged`);
    if (a.seconds > 0) {
      const c0 = { ...counts };
      const end = Date.now() + a.seconds * 1000;
      for (let i = 0; Date.now() < end; i++) {
        const value = `t|${tag}|${i}`;
        out.produced++;
        out.timed_produced++;
        await bounded(`producing timed record ${i}`, producer.send({ topic: a.topic, acks: -1, messages: [{ value }] }));
        acked.add(value);
        out.acked++;
        out.timed_acked++;
        await new Promise((r) => setTimeout(r, 500));
      }
      out.timed_connects = counts.connects - c0.connects;
      out.timed_authentications = counts.authentications - c0.authentications;
      log(`timed phase: ${out.timed_acked} of ${out.timed_produced} acknowledged, ${out.timed_connects} new connections, ${out.timed_authentications} authentications`);
    }
  } finally {
    out.producer_connects = counts.connects;
    out.producer_authentications = counts.authentications;
    out.reauthentications = counts.authentications - counts.connects;
    out.reauthentications_known = true;
    await producer.disconnect();
  }

  const { kafka: cKafka } = client(a, 'consumer');
  const consumer = cKafka.consumer({ groupId: `${a.topic}-${tag}`, sessionTimeout: 10000, heartbeatInterval: 1000 });
  try {
    await bounded('connecting the consumer', consumer.connect());
    await bounded('subscribing', consumer.subscribe({ topics: [a.topic], fromBeginning: true }));
    const seen = new Set();
    let crashed;
    const done = new Promise((resolve, reject) => {
      crashed = reject;
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          const v = message.value && message.value.toString();
          if (acked.has(v) && !seen.has(v)) {
            seen.add(v);
            out.consumed++;
            if (seen.size === acked.size) resolve();
          }
        },
      }).catch(reject);
    });
    // A retriable error (COORDINATOR_LOAD_IN_PROGRESS on a fresh cluster under load, seen in
    // CI) crashes the consumer with restart=true after its retries, and kafkajs restarts it:
    // only a crash it does not restart from is a failure.
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart) {
        log(`consumer crashed and restarts: ${e.payload.error && e.payload.error.message}`);
      } else {
        crashed(e.payload.error);
      }
    });
    await bounded('consuming', done).catch((e) => {
      if (e.kind === 'other' && /no answer/.test(e.message)) {
        throw new Denied('other', `consuming: ${seen.size} of ${acked.size} records read back in ${WAIT_MS} ms`);
      }
      throw e;
    });
    log(`read back ${seen.size} records`);
  } finally {
    await consumer.disconnect().catch(() => {});
  }
  if (out.acked !== out.produced) throw new Denied('other', `acked ${out.acked} of ${out.produced}`);
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const out = {
    client: 'kafkajs', mechanism: a.mechanism, topic: a.topic, security_protocol: a['security-protocol'],
    produced: 0, acked: 0, consumed: 0, timed_produced: 0, timed_acked: 0,
    producer_connects: null, timed_connects: null, reauthentications: null, reauthentications_known: false,
    ok: false, error_kind: null, error: null,
  };
  try {
    await run(a, out);
    out.ok = true;
  } catch (e) {
    const kind = e instanceof Denied ? e.kind : kindOf(e);
    out.error_kind = kind;
    out.error = e instanceof Denied ? e.message : messageOf(e);
    log(`FAIL (${kind}): ${out.error}`);
  }
  out.seconds = (Date.now() - t0) / 1000;
  log(`${a.mechanism}: ok ${out.ok}, produced ${out.produced}, acked ${out.acked}, consumed ${out.consumed}, reauthentications ${out.reauthentications}`);
  console.log(JSON.stringify(out));
  // Sockets or timers of a failed client must not keep the process alive.
  process.exit(0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
