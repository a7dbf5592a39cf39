//! The `_schemas` log record parser and the state it builds: records as alternating key and
//! value lines (an empty value line is a tombstone) applied in order to one registry state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry::record::LogRecord;
use registry::state::State;

fuzz_target!(|data: &[u8]| {
    let mut state = State::default();
    let mut lines = data.split(|b| *b == b'\n');
    while let Some(key) = lines.next() {
        let value = lines.next().filter(|v| !v.is_empty());
        if let Some(record) = LogRecord::decode(key, value) {
            state.apply(&record);
        }
    }
});
