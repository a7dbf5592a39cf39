//! The raw TCP relay: accepts on one port and copies bytes both ways to an upstream address,
//! rewriting nothing. It is the physical floor for any Kafka proxy: one more hop, no parsing.

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
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let copied = Arc::new(AtomicU64::new(0));
        let counter = copied.clone();
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                connections.spawn(async move {
                    if let Ok(n) = pipe(client, upstream).await {
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
}
