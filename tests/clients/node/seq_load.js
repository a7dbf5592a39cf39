// The kafkajs producer of the idempotent-quarantine proof (idempotent: true, acks=-1).
//
// Sends --count records paced at --rate per second in small sends (one in flight, as kafkajs
// requires of an idempotent producer), each send to one partition (chunk k to partition
// k % --partitions): a kafkajs send that spans partitions on several brokers lost records
// when a leader died mid-send, straight to the brokers too (7 or 8 acknowledged records
// missing in 3 of 3 leader-kill runs without the proxy, each time one partition's share of
// one send); with one partition per send, 2 of 2 such runs lost nothing. The key of record i is its decimal index, the value a
// framed Avro string ("good-i") under --schema-id, except for the indexes in --bad-file, whose
// value is unframed ("bad-i"). kafkajs' log (info level and up) goes to stderr, where the test
// looks for OUT_OF_ORDER_SEQUENCE_NUMBER, fencing and fatal errors. The last stdout line is
// the JSON summary.
'use strict';

const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

function args() {
  const out = { count: 20000, rate: 2000, 'schema-id': 1, partitions: 3 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['bootstrap', 'topic', 'bad-file']) {
    if (!out[k]) {
      console.error('usage: seq_load.js --bootstrap HOST:PORT --topic T --bad-file F [--count N] [--rate R] [--schema-id ID]');
      process.exit(2);
    }
  }
  return out;
}

function value(i, schemaId, bad) {
  if (bad) return Buffer.from(`bad-${i}`);
  const text = Buffer.from(`good-${i}`);
  const head = Buffer.alloc(6);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(schemaId, 1);
  head.writeUInt8(text.length << 1, 5);
  return Buffer.concat([head, text]);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const a = args();
  const count = Number(a.count);
  const rate = Number(a.rate);
  const schemaId = Number(a['schema-id']);
  const partitions = Number(a.partitions);
  const bad = new Set(fs.readFileSync(a['bad-file'], 'utf8').split('\n').filter((l) => l.trim()).map(Number));
  const logCreator = () => ({ level, log }) => {
    const { message, ...extra } = log;
    console.error(`[kafkajs ${level}] ${message} ${JSON.stringify(extra)}`);
  };
  const kafka = new Kafka({
    clientId: 'sg-kafkajs-seqload',
    brokers: a.bootstrap.split(','),
    logLevel: logLevel.INFO,
    logCreator,
    retry: { retries: 30, maxRetryTime: 5000 },
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  // Under load node can still be connecting when the proxy is killed (5 s in): kafkajs then
  // rejects connect() with KafkaJSConnectionClosedError instead of retrying it, so retry here.
  for (let attempt = 1; ; attempt++) {
    try {
      await producer.connect();
      break;
    } catch (e) {
      if (attempt >= 30) throw e;
      console.error(`[seq_load] connect attempt ${attempt} failed: ${e.name}: ${e.message}`);
      await sleep(500);
    }
  }
  let acked = 0;
  const failedIndexes = [];
  const errors = {};
  const chunk = Math.max(1, Math.floor(rate / 50));
  const start = Date.now();
  for (let i = 0; i < count; i += chunk) {
    const due = start + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
    const messages = [];
    for (let j = i; j < Math.min(count, i + chunk); j++) {
      messages.push({ key: String(j), value: value(j, schemaId, bad.has(j)), partition: (i / chunk) % partitions });
    }
    try {
      await producer.send({ topic: a.topic, acks: -1, messages });
      acked += messages.length;
    } catch (e) {
      for (const m of messages) failedIndexes.push(Number(m.key));
      const kind = e.type || e.name || 'Error';
      errors[kind] = (errors[kind] || 0) + messages.length;
      console.error(`[seq_load] send failed: ${kind}: ${e.message}`);
    }
  }
  // Every send is settled: a disconnect that fails (a connection the proxy's restart closed
  // answers it with KafkaJSConnectionClosedError) changes no count, so it is logged, not fatal.
  const disconnected = producer.disconnect().catch((e) => console.error(`[seq_load] disconnect failed: ${e.message}`));
  await Promise.race([disconnected, sleep(10000)]);
  const failed = count - acked;
  console.log(JSON.stringify({ client: 'kafkajs', sent: count, acked, failed, failed_indexes: failedIndexes, errors }));
  // A producer that failed may leave retry timers behind: the summary is out, so leave.
  process.exit(0);
}

// kafkajs can reject a request's promise that nothing awaits when the proxy is killed under
// it (KafkaJSConnectionClosedError from Socket.onEnd, seen in a proxy-kill run with no send
// failing): Node would end the process there. Every send is awaited and counted by its own
// outcome, so such a stray rejection is logged and the run goes on.
process.on('unhandledRejection', (e) => {
  console.error(`[seq_load] unhandled rejection inside kafkajs: ${e && e.name}: ${e && e.message}`);
});

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
