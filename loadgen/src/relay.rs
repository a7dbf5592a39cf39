//! The raw TCP relay: accepts on one port and copies bytes both ways to an upstream address,
//! rewriting nothing. It is the physical floor for any Kafka proxy: one more hop, no parsing.
//!
//! The framed variant reads each client request whole (its 4-byte size, then the body) before
//! writing it upstream, as any proxy that judges a request must: it measures what storing and
//! forwarding costs by itself, without parsing anything.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running relay; dropping it stops accepting and closes relayed connections.
#[derive(Debug)]
pub struct Relay {
    local: SocketAddr,
    copied: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Starts relaying `listen` → `upstream` on the current tokio runtime.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(listen, upstream, false).await
    }

    /// Like [`Relay::start`], but client requests are read whole before they are forwarded.
    pub async fn start_framed(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(listen, upstream, true).await
    }

    async fn start_with(
        listen: SocketAddr,
        upstream: SocketAddr,
        framed: bool,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let copied = Arc::new(AtomicU64::new(0));
        let counter = copied.clone();
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                connections.spawn(async move {
                    let moved = if framed {
                        pipe_framed(client, upstream).await
                    } else {
                        pipe(client, upstream).await
                    };
                    if let Ok(n) = moved {
                        counter.fetch_add(n, Ordering::Relaxed);
                    }
                });
            }
        });
        Ok(Self {
            local,
            copied,
            accept,
        })
    }

    /// The address the relay listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Bytes copied (both directions) by connections that have closed.
    pub fn bytes_copied(&self) -> u64 {
        self.copied.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        self.accept.abort();
    }
}

/// Copies both ways until both sides close; returns the bytes moved.
async fn pipe(mut client: TcpStream, upstream: SocketAddr) -> std::io::Result<u64> {
    let mut server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (up, down) = tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(up + down)
}

/// Largest request the framed relay holds (Kafka's default `socket.request.max.bytes`).
const MAX_FRAME: usize = 100 * 1024 * 1024;

/// Requests whole, responses as bytes; returns the bytes moved.
async fn pipe_framed(client: TcpStream, upstream: SocketAddr) -> std::io::Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = async move {
        let mut moved = 0u64;
        let mut frame = Vec::new();
        loop {
            let mut size = [0u8; 4];
            match client_read.read_exact(&mut size).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let len = usize::try_from(i32::from_be_bytes(size))
                .ok()
                .filter(|&l| l <= MAX_FRAME)
                .ok_or_else(|| std::io::Error::other("bad frame size"))?;
            frame.clear();
            frame.extend_from_slice(&size);
            frame.resize(4 + len, 0);
            client_read.read_exact(&mut frame[4..]).await?;
            server_write.write_all(&frame).await?;
            moved += frame.len() as u64;
        }
        server_write.shutdown().await?;
        Ok::<u64, std::io::Error>(moved)
    };
    let responses = async move {
        let n = tokio::io::copy(&mut server_read, &mut client_write).await?;
        client_write.shutdown().await?;
        Ok::<u64, std::io::Error>(n)
    };
    let (up, down) = tokio::try_join!(requests, responses)?;
    Ok(up + down)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn copies_bytes_unchanged_both_ways() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
        });
        let relay = Relay::start("127.0.0.1:0".parse().unwrap(), echo_addr)
            .await
            .unwrap();
        let mut c = TcpStream::connect(relay.local_addr()).await.unwrap();
        let payload: Vec<u8> = (0..=255u8).collect();
        c.write_all(&payload).await.unwrap();
        let mut back = vec![0u8; payload.len()];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(back, payload);
        drop(c);
        for _ in 0..100 {
            if relay.bytes_copied() == 512 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(relay.bytes_copied(), 512);
    }

    #[tokio::test]
    async fn the_framed_relay_forwards_a_request_only_once_it_is_whole() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            let mut buf = vec![0u8; 64];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                seen_tx.send(buf[..n].to_vec()).unwrap();
                s.write_all(b"ok").await.unwrap();
            }
        });
        let relay = Relay::start_framed("127.0.0.1:0".parse().unwrap(), server_addr)
            .await
            .unwrap();
        let mut c = TcpStream::connect(relay.local_addr()).await.unwrap();
        // The first half of a 6-byte request: nothing reaches the server yet.
        c.write_all(&[0, 0, 0, 6, b'a', b'b', b'c']).await.unwrap();
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(200), seen_rx.recv()).await;
        assert!(early.is_err(), "a partial request was forwarded: {early:?}");
        c.write_all(b"def").await.unwrap();
        let mut got = Vec::new();
        while got.len() < 10 {
            got.extend(seen_rx.recv().await.unwrap());
        }
        assert_eq!(got, [0, 0, 0, 6, b'a', b'b', b'c', b'd', b'e', b'f']);
        let mut back = [0u8; 2];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ok");
    }
}
