//! Frame capture for the fuzz corpora: when the proxy starts with
//! `SCHEMAGATE_CAPTURE_FRAMES=DIR`, it writes the client requests and upstream responses it
//! sees into DIR in the layouts of the fuzz targets in `fuzz/` (one file per frame), up to
//! [`MAX_FILES`] files. Off (and free) without the variable: it is read once.
//!
//! - `frame_header/`: the request frame with its size prefix, as the frame reader reads it;
//! - `produce_view/`: Produce requests, the version byte first;
//! - `record_batch/`: the records bytes of every partition of a Produce request;
//! - `rewrite_response/`: responses the proxy rewrites, api key and version bytes first.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use kafka_protocol::messages::ApiKey;

use crate::header::{request_header_len, RequestHeaderPeek};
use crate::produce_view::ProduceRequestView;

/// The environment variable naming the capture folder.
pub const ENV: &str = "SCHEMAGATE_CAPTURE_FRAMES";
/// Most files written by one process.
pub const MAX_FILES: usize = 20_000;

struct Capture {
    dir: PathBuf,
    written: AtomicUsize,
}

fn capture() -> Option<&'static Capture> {
    static CAPTURE: OnceLock<Option<Capture>> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            std::env::var_os(ENV).map(|dir| Capture {
                dir: PathBuf::from(dir),
                written: AtomicUsize::new(0),
            })
        })
        .as_ref()
}

impl Capture {
    /// Writes one file under `kind/`, named by the process and a counter; errors are ignored
    /// (a capture is best effort and never affects traffic).
    fn write(&self, kind: &str, parts: &[&[u8]]) {
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        if n >= MAX_FILES {
            return;
        }
        let dir = self.dir.join(kind);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(file_name(&dir, n), parts.concat());
    }
}

fn file_name(dir: &Path, n: usize) -> PathBuf {
    dir.join(format!("{}-{n}", std::process::id()))
}

/// Records a client request frame (body without the size prefix).
pub fn request(header: &RequestHeaderPeek, frame: &[u8]) {
    let Some(c) = capture() else {
        return;
    };
    let size = (frame.len() as u32).to_be_bytes();
    c.write("frame_header", &[&size, frame]);
    if header.api_key != ApiKey::Produce {
        return;
    }
    let version = header.api_version;
    c.write("produce_view", &[&[version as u8], frame]);
    let Ok(offset) = request_header_len(frame, header.api_key, version) else {
        return;
    };
    if let Ok(view) = ProduceRequestView::parse(frame, version, offset) {
        for records in view
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .filter_map(|p| p.records)
        {
            c.write("record_batch", &[records]);
        }
    }
}

/// Records an upstream response frame that the proxy is about to rewrite.
pub fn response(key: ApiKey, version: i16, frame: &[u8]) {
    if let Some(c) = capture() {
        c.write(
            "rewrite_response",
            &[&[key as i16 as u8, version as u8], frame],
        );
    }
}
