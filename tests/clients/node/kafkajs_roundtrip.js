// kafkajs: admin (createTopics, describeCluster), produce with none/gzip/snappy, consume in a
// consumer group with commits. Exits non-zero on any mismatch; prints a JSON summary last.
// Usage: node kafkajs_roundtrip.js --bootstrap HOST:PORT [--records N] [--topic T]
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');

const { arg, fail, createTopics } = require('./common');

const CODECS = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy };
const PARTITIONS = 3;

function record(tag, i) {
  return {
    key: i % 97 === 3 ? null : Buffer.from(`${tag}-key-${i % 20}`),
    value: Buffer.from(`${tag}|${i}|` + 'xyz'.repeat(i % 300)),
    // kafkajs takes an array of values for a repeated header key.
    headers: { dup: [Buffer.from('first'), Buffer.from(`second-${i}`)], seq: Buffer.from(String(i)) },
  };
}

async function main() {
  const bootstrap = arg('bootstrap');
  const perCodec = Number(arg('records', '300'));
  const topic = arg('topic', 'kafkajs');
  if (!bootstrap) fail('--bootstrap is required');
  const t0 = Date.now();
  const kafka = new Kafka({ clientId: 'sg-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN, retry: { retries: 8 } });

  const admin = kafka.admin();
  await admin.connect();
  await createTopics(admin, [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }]);
  const cluster = await admin.describeCluster();
  const brokers = cluster.brokers.map((b) => `${b.host}:${b.port}`).sort();
  await admin.disconnect();

  const expected = new Map(); // "partition:offset" -> {key, value, seq}
  for (const [name, codec] of Object.entries(CODECS)) {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    for (let start = 0; start < perCodec; start += 100) {
      const messages = [];
      for (let i = start; i < Math.min(start + 100, perCodec); i++) messages.push(record(`kjs-${name}`, i));
      const meta = await producer.send({ topic, compression: codec, acks: -1, messages });
      // One send() may span partitions; kafkajs reports each partition's base offset. Match the
      // records to offsets after consuming, by their unique (tag, seq) values instead.
      if (!meta.every((m) => m.errorCode === 0)) fail(`produce errors: ${JSON.stringify(meta)}`);
      for (const m of messages) expected.set(m.value.toString(), m);
    }
    await producer.disconnect();
  }

  const consumer = kafka.consumer({ groupId: `${topic}-group`, sessionTimeout: 6000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const seen = new Map();
  const lastOffset = new Map();
  let resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  await consumer.run({
    autoCommit: true, // commits after each batch; checked through admin.fetchOffsets below
    eachMessage: async ({ partition, message }) => {
      const off = Number(message.offset);
      if (lastOffset.has(partition) && off <= lastOffset.get(partition)) fail(`partition ${partition}: offset ${off} after ${lastOffset.get(partition)}`);
      lastOffset.set(partition, off);
      const v = message.value.toString();
      if (seen.has(v)) fail(`record delivered twice: ${v.slice(0, 40)}`);
      seen.set(v, message);
      if (seen.size === expected.size) resolveDone();
    },
  });
  const timer = setTimeout(() => fail(`timed out: ${seen.size}/${expected.size} consumed`), 90000);
  await done;
  clearTimeout(timer);
  await consumer.disconnect();

  for (const [v, sent] of expected) {
    const got = seen.get(v);
    if (!got) fail(`missing record ${v.slice(0, 40)}`);
    const sameKey = (sent.key === null && got.key === null) || (sent.key && got.key && sent.key.equals(got.key));
    if (!sameKey) fail(`key differs for ${v.slice(0, 40)}`);
    const dup = got.headers.dup;
    if (!Array.isArray(dup) || dup.length !== 2 || !dup[0].equals(sent.headers.dup[0]) || !dup[1].equals(sent.headers.dup[1])) {
      fail(`duplicate headers differ for ${v.slice(0, 40)}: ${JSON.stringify(got.headers)}`);
    }
    if (!got.headers.seq.equals(sent.headers.seq)) fail(`header seq differs for ${v.slice(0, 40)}`);
  }
  const admin2 = kafka.admin();
  await admin2.connect();
  const committed = await admin2.fetchOffsets({ groupId: `${topic}-group`, topics: [topic] });
  await admin2.disconnect();
  const committedTotal = committed[0].partitions.reduce((n, p) => n + Number(p.offset), 0);
  console.log(JSON.stringify({ records: seen.size, brokers, committed_total: committedTotal, seconds: (Date.now() - t0) / 1000 }));
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
