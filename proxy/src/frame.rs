//! Length-prefixed Kafka frames: an INT32 size followed by that many bytes.
//!
//! Reading is bounded in three ways: a frame larger than the cap is refused before any of it
//! is buffered, the buffer grows only as bytes actually arrive, and a peer that stops sending
//! in the middle of a frame is dropped after the stall timeout. The body's buffer starts at
//! [`FIRST_STEP`] (or the frame's size, if smaller) and, each time it is full, grows by as much
//! as it holds, never past the frame's size: a peer that announces 100 MiB and sends 5 KiB
//! costs an 8 KiB buffer, and one that sends n bytes at most max(8 KiB, 2n). Waiting for the
//! first byte of a frame has no timeout: idle Kafka connections are normal.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The body buffer's first size, for frames larger than it.
pub const FIRST_STEP: usize = 8 * 1024;

/// How much room to add to a full body buffer holding `len` of `want` bytes: as much as it
/// holds (so a large frame costs log2 reallocations, each after the bytes that pay for it
/// arrived), at least [`FIRST_STEP`], at most what is left.
fn growth(len: usize, want: usize) -> usize {
    want.saturating_sub(len).min(len.max(FIRST_STEP))
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The announced size is above the configured cap.
    #[error("frame of {size} bytes exceeds the cap of {cap} bytes")]
    TooLarge {
        /// Announced size.
        size: u64,
        /// Configured cap.
        cap: usize,
    },
    /// The announced size is negative.
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    /// The peer closed the connection inside a frame.
    #[error("connection closed mid-frame after {got} of {want} bytes")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes announced (4 while still reading the size).
        want: usize,
    },
    /// The peer sent nothing for the stall timeout while inside a frame.
    #[error("peer stalled mid-frame for {0:?}")]
    Stalled(Duration),
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

// The cause is in the message, so not also a `source()` (`#[from]` would make it one).
impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// Limits applied to every frame read.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// Largest frame body accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Longest silence tolerated inside a frame.
    pub stall_timeout: Duration,
}

/// Reads one frame body (without its size prefix). `Ok(None)` means the peer closed cleanly
/// between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    limits: FrameLimits,
) -> Result<Option<Bytes>, FrameError> {
    let mut size = [0u8; 4];
    let first = reader.read(&mut size[..1]).await?;
    if first == 0 {
        return Ok(None);
    }
    let mut got = 1;
    while got < 4 {
        let n = stall_guard(limits.stall_timeout, reader.read(&mut size[got..])).await?;
        if n == 0 {
            return Err(FrameError::Truncated { got, want: 4 });
        }
        got += n;
    }
    let size = i32::from_be_bytes(size);
    let want = usize::try_from(size).map_err(|_| FrameError::NegativeSize(size))?;
    if want > limits.max_frame_bytes {
        return Err(FrameError::TooLarge {
            size: want as u64,
            cap: limits.max_frame_bytes,
        });
    }
    let mut body = Vec::new();
    read_body(reader, want, limits.stall_timeout, &mut body).await?;
    Ok(Some(Bytes::from(body)))
}

/// Reads into `body` until it holds `want` bytes, growing it only when full (see the module
/// documentation); its capacity never exceeds `want`.
async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    want: usize,
    stall_timeout: Duration,
    body: &mut Vec<u8>,
) -> Result<(), FrameError> {
    while body.len() < want {
        if body.len() == body.capacity() {
            body.reserve_exact(growth(body.len(), want));
        }
        let left = want - body.len();
        let mut limited = (&mut *reader).take(left as u64);
        let n = stall_guard(stall_timeout, limited.read_buf(body)).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                got: body.len(),
                want,
            });
        }
    }
    Ok(())
}

async fn stall_guard<F>(timeout: Duration, read: F) -> Result<usize, FrameError>
where
    F: std::future::Future<Output = std::io::Result<usize>>,
{
    match tokio::time::timeout(timeout, read).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(FrameError::Stalled(timeout)),
    }
}

/// Writes one frame: the size prefix, then the body.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &[u8],
) -> std::io::Result<()> {
    let size = i32::try_from(body.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too large"))?
        .to_be_bytes();
    // Size and body in one write where the writer takes both (a buffered writer passes a
    // large frame straight to the socket as one writev); else the size went out alone first.
    let mut sent = 0usize;
    while sent < size.len() {
        let parts = [
            std::io::IoSlice::new(size.get(sent..).unwrap_or_default()),
            std::io::IoSlice::new(body),
        ];
        let n = writer.write_vectored(&parts).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        sent += n;
    }
    writer
        .write_all(body.get(sent - size.len()..).unwrap_or_default())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(max: usize) -> FrameLimits {
        FrameLimits {
            max_frame_bytes: max,
            stall_timeout: Duration::from_millis(100),
        }
    }

    async fn read_all(bytes: Vec<u8>, max: usize) -> Result<Vec<Bytes>, FrameError> {
        let mut r = &bytes[..];
        let mut out = Vec::new();
        while let Some(f) = read_frame(&mut r, limits(max)).await? {
            out.push(f);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"hello").await.unwrap();
        write_frame(&mut wire, b"").await.unwrap();
        assert_eq!(wire[..4], [0, 0, 0, 5]);
        let frames = read_all(wire, 16).await.unwrap();
        assert_eq!(frames, vec![Bytes::from_static(b"hello"), Bytes::new()]);
    }

    /// Takes at most `step` bytes per write (vectored or not), like a congested socket.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        calls: usize,
    }

    impl tokio::io::AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            self.calls += 1;
            std::task::Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.step - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.step {
                    break;
                }
            }
            self.calls += 1;
            std::task::Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn partial_writes_still_give_whole_frames() {
        for step in [1, 2, 3, 4, 5, 7, 100] {
            let mut w = Trickle {
                out: Vec::new(),
                step,
                calls: 0,
            };
            write_frame(&mut w, b"hello world").await.unwrap();
            write_frame(&mut w, b"").await.unwrap();
            let frames = read_all(w.out, 64).await.unwrap();
            assert_eq!(
                frames,
                vec![Bytes::from_static(b"hello world"), Bytes::new()],
                "step {step}"
            );
        }
    }

    #[tokio::test]
    async fn a_buffered_socket_gets_size_and_body_in_one_write() {
        let mut w = tokio::io::BufWriter::with_capacity(
            16,
            Trickle {
                out: Vec::new(),
                step: usize::MAX,
                calls: 0,
            },
        );
        let body = vec![7u8; 100];
        write_frame(&mut w, &body).await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(w.get_ref().calls, 1, "size and body went out separately");
        assert_eq!(w.get_ref().out.len(), 104);
    }

    #[tokio::test]
    async fn oversized_negative_and_truncated_frames_fail() {
        let over = read_all(vec![0, 0, 0, 17], 16).await;
        assert!(matches!(
            over,
            Err(FrameError::TooLarge { size: 17, cap: 16 })
        ));
        let neg = read_all(vec![0xff, 0xff, 0xff, 0xff], 16).await;
        assert!(matches!(neg, Err(FrameError::NegativeSize(-1))));
        let short = read_all(vec![0, 0, 0, 5, 1, 2], 16).await;
        assert!(matches!(
            short,
            Err(FrameError::Truncated { got: 2, want: 5 })
        ));
        let short_size = read_all(vec![0, 0], 16).await;
        assert!(matches!(
            short_size,
            Err(FrameError::Truncated { got: 2, want: 4 })
        ));
    }

    #[tokio::test]
    async fn stall_mid_frame_times_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(&[0, 0, 0, 10, 1, 2]).await.unwrap();
        let res = read_frame(&mut server, limits(1024)).await;
        assert!(matches!(res, Err(FrameError::Stalled(_))));
        drop(client);
    }

    #[tokio::test]
    async fn announced_size_is_not_preallocated() {
        // A peer announcing the full cap and then closing never makes us hold the cap.
        let res = read_all(vec![0x06, 0x40, 0, 0, 1], 100 << 20).await;
        assert!(matches!(res, Err(FrameError::Truncated { got: 1, .. })));
    }

    #[test]
    fn the_buffer_doubles_from_the_first_step_and_stops_at_the_frame() {
        assert_eq!(growth(0, 100), 100);
        assert_eq!(growth(0, 100 << 20), FIRST_STEP);
        assert_eq!(growth(FIRST_STEP, 100 << 20), FIRST_STEP);
        assert_eq!(growth(1 << 20, 100 << 20), 1 << 20);
        assert_eq!(growth(60 << 10, 100 << 10), 40 << 10);
        assert_eq!(growth(5, 5), 0);
    }

    /// A peer that announces the whole cap and sends `sent` bytes before falling silent.
    async fn stalled_after(sent: usize) -> Vec<u8> {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        client.write_all(&vec![7u8; sent]).await.unwrap();
        let mut body = Vec::new();
        let res = read_body(&mut server, 100 << 20, Duration::from_millis(50), &mut body).await;
        assert!(matches!(res, Err(FrameError::Stalled(_))), "{res:?}");
        assert_eq!(body.len(), sent);
        drop(client);
        body
    }

    #[tokio::test]
    async fn a_stalled_giant_frame_holds_only_what_arrived() {
        // What the hostile-clients test sends per connection (4 KiB, then 3 × 1 KiB).
        assert_eq!(stalled_after(7 << 10).await.capacity(), FIRST_STEP);
        assert_eq!(stalled_after(1).await.capacity(), FIRST_STEP);
        for sent in [FIRST_STEP + 1, 20 << 10, 100_000, 700_000] {
            let cap = stalled_after(sent).await.capacity();
            assert!(
                cap >= sent && cap <= 2 * sent,
                "{sent} bytes sent, {cap} held"
            );
        }
    }

    #[tokio::test]
    async fn a_frame_arriving_in_pieces_ends_exactly_at_its_size() {
        for size in [
            1,
            FIRST_STEP - 1,
            FIRST_STEP,
            FIRST_STEP + 1,
            100_000,
            3 << 20,
        ] {
            let (mut client, mut server) = tokio::io::duplex(4096);
            let frame: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let sent = frame.clone();
            let writer = tokio::spawn(async move { client.write_all(&sent).await });
            let mut body = Vec::new();
            read_body(&mut server, size, Duration::from_secs(5), &mut body)
                .await
                .unwrap();
            writer.await.unwrap().unwrap();
            assert_eq!(body.capacity(), size, "grown past the frame");
            assert_eq!(body, frame);
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let _ = rt.block_on(read_all(bytes, 128));
        }
    }
}
