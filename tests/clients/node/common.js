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

module.exports = { arg, fail, check };
