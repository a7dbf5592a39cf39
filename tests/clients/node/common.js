// Shared by the kafkajs client scripts: command-line arguments and checks. A failed check
// exits non-zero with a message on stderr; each script prints its JSON summary last.
'use strict';

// The value after `--NAME` on the command line, or `dflt`.
function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

// Creates topics and waits until every partition has a leader, as seen by a fresh metadata
// request. kafkajs' own `waitForLeaders` is not used: it asks the broker it sent CreateTopics
// to and retries only LEADER_NOT_AVAILABLE, but in KRaft that broker may not have the new
// topic yet and answers UNKNOWN_TOPIC_OR_PARTITION, which kafkajs throws (seen in CI against
// the 3-node cluster). Here both answers mean "not yet" until `timeoutMs`.
// Resolves to true when some topic was created, false when all already existed.
async function createTopics(admin, topics, timeoutMs = 30000) {
  const created = await admin.createTopics({ topics, waitForLeaders: false, timeout: timeoutMs });
  const names = topics.map((t) => t.topic);
  const notYet = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const { topics: seen } = await admin.fetchTopicMetadata({ topics: names });
      const led = seen.length === names.length
        && seen.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (led) return created;
      last = 'a partition without a leader';
    } catch (e) {
      if (!notYet.has(e.type)) throw e;
      last = e.type;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`topics ${names.join(', ')} have no leaders after ${timeoutMs} ms (last: ${last})`);
}

module.exports = { arg, fail, check, createTopics };
