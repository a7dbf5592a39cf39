// kafkajs through an enforcing proxy (policy `quarantine`): gzip batches of hand-framed Avro
// records with bad ones among them. Registers its schema over the registry's REST API, encodes
// Avro longs by hand, and checks that every record is acknowledged, the good ones are on the
// topic and the bad ones in quarantine with their reason, byte for byte.
// Usage: node enforce_kafkajs.js --bootstrap HOST:PORT --registry URL [--topic T] [--records N]
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const { arg, check, fail, createTopics } = require('./common');

const SCHEMA = { type: 'record', name: 'Tick', namespace: 'schemagate.e2e', fields: [{ name: 'n', type: 'long' }] };

// Avro long: zigzag, then base-128 varint.
function avroLong(n) {
  let z = BigInt(n) >= 0n ? BigInt(n) << 1n : ((-BigInt(n)) << 1n) - 1n;
  const out = [];
  do {
    let b = Number(z & 0x7fn);
    z >>= 7n;
    if (z > 0n) b |= 0x80;
    out.push(b);
  } while (z > 0n);
  return Buffer.from(out);
}
function frame(id, body) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(id, 1);
  return Buffer.concat([head, body]);
}

async function register(registry, subject) {
  const res = await fetch(`${registry}/subjects/${subject}/versions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(SCHEMA) }),
  });
  if (!res.ok) fail(`registering ${subject}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()).id;
}

// Every record of `topic`: at least up to the high watermarks, then until nothing new came
// for 2 s (tansu 0.6 reports a high watermark one past the last batch's base offset).
async function readAll(kafka, admin, topic, groupId) {
  const offsets = await admin.fetchTopicOffsets(topic);
  const want = offsets.reduce((sum, p) => sum + Number(p.high), 0);
  const got = [];
  if (want === 0) return got;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let lastNew = Date.now();
  await consumer.run({
    eachMessage: async ({ message }) => {
      got.push(message);
      lastNew = Date.now();
    },
  });
  const deadline = Date.now() + 60000;
  while (got.length < want || Date.now() - lastNew < 2000) {
    check(Date.now() < deadline, `${topic}: ${got.length}/${want} read in 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await consumer.disconnect();
  return got;
}

async function main() {
  const bootstrap = arg('bootstrap');
  const registry = arg('registry');
  const topic = arg('topic', 'e2e-kafkajs');
  const n = Number(arg('records', '60'));
  check(bootstrap && registry, '--bootstrap and --registry are required');
  const t0 = Date.now();
  const id = await register(registry, `${topic}-value`);
  const kafka = new Kafka({ clientId: 'e2e-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  await createTopics(admin, [{ topic, numPartitions: 1, replicationFactor: 3 }]);

  const bad = {
    'too-short': [Buffer.from([0, 0, 1]), 'too-short'],
    'no-magic-byte': [Buffer.from('{"n": 1}'), 'no-magic-byte'],
    'unknown-schema-id': [frame(999999, avroLong(1)), 'unknown-schema-id'],
    'trailing-bytes': [frame(id, Buffer.concat([avroLong(7), Buffer.from([1, 2])])), 'decode-failed'],
    truncated: [frame(id, Buffer.from([0x80])), 'decode-failed'],
  };
  const messages = [];
  const badNames = Object.keys(bad);
  for (let i = 0; i < n; i++) {
    const headers = { case: Buffer.from(`good-${i}`), dup: [Buffer.from('a'), Buffer.from('b')] };
    messages.push({ key: Buffer.from(`k${i}`), value: frame(id, avroLong(i * 1000003 - 5)), headers });
    if (i % 10 === 4 && badNames.length) {
      const name = badNames.shift();
      messages.push({ key: Buffer.from(`bad-${name}`), value: bad[name][0], headers: { case: Buffer.from(name), dup: [Buffer.from('a'), Buffer.from('b')] } });
    }
  }
  check(badNames.length === 0, 'not every bad record was placed');
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const meta = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages });
  check(meta.every((m) => m.errorCode === 0), `produce errors: ${JSON.stringify(meta)}`);
  await producer.disconnect();
  const acked = messages.length; // one send(), answered without error: every record acknowledged

  const stored = await readAll(kafka, admin, topic, `${topic}-reader`);
  const quarantined = await readAll(kafka, admin, `${topic}.quarantine`, `${topic}-q-reader`);
  const sent = new Map(messages.map((m) => [m.key.toString(), m]));
  for (const m of stored) {
    const s = sent.get(m.key.toString());
    check(s && !m.key.toString().startsWith('bad-'), `unexpected record ${m.key} on ${topic}`);
    check(Buffer.compare(s.value, m.value) === 0, `${m.key}: value changed on ${topic}`);
    const dup = m.headers.dup;
    check(Array.isArray(dup) && dup.map(String).join() === 'a,b', `${m.key}: duplicate headers ${JSON.stringify(dup)}`);
  }
  const reasons = {};
  for (const m of quarantined) {
    const name = m.key.toString().replace(/^bad-/, '');
    check(bad[name], `unexpected record ${m.key} in quarantine`);
    check(Buffer.compare(bad[name][0], m.value) === 0, `${name}: value changed in quarantine`);
    reasons[name] = String(m.headers['schemagate.reason']);
    check(reasons[name] === bad[name][1], `${name}: reason ${reasons[name]}, want ${bad[name][1]}`);
    check(String(m.headers['schemagate.client-id']) === 'e2e-kafkajs', `${name}: client id ${m.headers['schemagate.client-id']}`);
  }
  check(stored.length === n, `${stored.length} records on ${topic}, want ${n}`);
  check(quarantined.length === Object.keys(bad).length, `${quarantined.length} in quarantine`);
  check(acked === stored.length + quarantined.length, `${acked} acknowledged, ${stored.length} + ${quarantined.length} stored`);
  await admin.disconnect();
  console.log(JSON.stringify({ acked, on_topic: stored.length, quarantined: quarantined.length, reasons, seconds: (Date.now() - t0) / 1000 }));
}

main().catch((e) => fail(e.stack || String(e)));
