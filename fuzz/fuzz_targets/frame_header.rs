//! The request frame reader (size cap, truncation) on a stream of bytes, and the header peek,
//! header length and Produce `acks` readers on every frame it yields.
#![no_main]

use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;
use proxy::frame::{read_frame, FrameLimits};
use proxy::header::{produce_acks, request_header_len, response_correlation_id, RequestHeaderPeek};

const LIMITS: FrameLimits = FrameLimits {
    max_frame_bytes: 1 << 16,
    stall_timeout: Duration::from_secs(1),
};

fuzz_target!(|data: &[u8]| {
    let mut stream = data;
    schemagate_fuzz::runtime().block_on(async {
        while let Ok(Some(frame)) = read_frame(&mut stream, LIMITS).await {
            assert!(frame.len() <= LIMITS.max_frame_bytes);
            let _ = response_correlation_id(&frame);
            let Ok(peek) = RequestHeaderPeek::parse(&frame) else {
                continue;
            };
            if let Ok(len) = request_header_len(&frame, peek.api_key, peek.api_version) {
                assert!(len <= frame.len(), "header length {len} past the frame");
            }
            if peek.api_key == ApiKey::Produce {
                let _ = produce_acks(&frame, peek.api_version);
            }
        }
    });
});
