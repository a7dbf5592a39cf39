//! Cost of reading request frames the way every connection does (`proxy::frame::read_frame`):
//! the size prefix, then a body buffer that grows as bytes arrive. This is the path the
//! first-read-buffer size changes (docs/RELIABILITY.md, idle connections), so it is measured
//! before and after such a change, on three frame sizes and two sources:
//!
//! - `slice`: every byte already there (a reader over memory): the buffer logic alone;
//! - `duplex`: a writer task and an in-process pipe with a 64 KiB window, so a large frame
//!   arrives in pieces, as from a socket.
//!
//! Run: `cargo bench -p proxy --bench frame_read`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use proxy::frame::{read_frame, FrameLimits};
use tokio::io::AsyncWriteExt;

const LIMITS: FrameLimits = FrameLimits {
    max_frame_bytes: 100 << 20,
    stall_timeout: Duration::from_secs(30),
};

/// `count` frames of `size` bytes each, size-prefixed.
fn wire(size: usize, count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity((size + 4) * count);
    for i in 0..count {
        out.extend_from_slice(&(size as i32).to_be_bytes());
        out.extend((0..size).map(|j| ((i + j) % 251) as u8));
    }
    out
}

fn frames(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("read_frame");
    g.measurement_time(Duration::from_secs(4));
    // (frame size, frames per iteration): about 1 MiB per iteration.
    for (size, count) in [(200usize, 4096usize), (16 << 10, 64), (1 << 20, 1)] {
        let bytes = wire(size, count);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("slice", size), &bytes, |b, bytes| {
            b.iter(|| {
                rt.block_on(async {
                    let mut r = &bytes[..];
                    let mut n = 0;
                    while let Some(f) = read_frame(&mut r, LIMITS).await.expect("frame") {
                        n += black_box(f).len();
                    }
                    assert_eq!(n, size * count);
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("duplex", size), &bytes, |b, bytes| {
            b.iter(|| {
                rt.block_on(async {
                    let (mut w, mut r) = tokio::io::duplex(64 << 10);
                    let data = bytes.clone();
                    let writer = tokio::spawn(async move {
                        w.write_all(&data).await.expect("write");
                    });
                    let mut n = 0;
                    while let Some(f) = read_frame(&mut r, LIMITS).await.expect("frame") {
                        n += black_box(f).len();
                    }
                    writer.await.expect("writer");
                    assert_eq!(n, size * count);
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
