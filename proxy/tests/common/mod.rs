//! Helpers the proxy's socket tests share: free ports, a proxy started in the background,
//! Produce requests and length-prefixed frames.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};
use proxy::{ProduceInspector, Proxy, ProxyConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A local port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A proxy config in front of `upstream`, with a client and an admin listener on free ports.
pub fn config(upstream: &str) -> ProxyConfig {
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut config = ProxyConfig::new(vec![upstream.to_owned()], listen);
    config.admin = Some(admin);
    config
}

/// Runs a proxy with `config` until the test ends, once `ready` (one of its listeners)
/// accepts connections or two seconds have passed; answers its (client, admin) addresses.
pub async fn spawn(
    config: ProxyConfig,
    inspector: Arc<dyn ProduceInspector>,
    ready: impl FnOnce(&ProxyConfig) -> SocketAddr,
) -> (SocketAddr, SocketAddr) {
    let (listen, admin, ready) = (config.listen, config.admin.unwrap(), ready(&config));
    let proxy = Proxy::new(config, inspector).unwrap();
    tokio::spawn(proxy.run(std::future::pending()));
    for _ in 0..100 {
        if TcpStream::connect(ready).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (listen, admin)
}

/// A Produce v7 request (header v1) with correlation id `corr`.
pub fn produce(corr: i32, client: &'static str, acks: i16) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(7)
        .with_correlation_id(corr)
        .with_client_id(Some(StrBytes::from_static_str(client)))
        .encode(&mut buf, 1)
        .unwrap();
    ProduceRequest::default()
        .with_acks(acks)
        .encode(&mut buf, 7)
        .unwrap();
    buf.freeze()
}

/// The next length-prefixed frame, or `None` if none comes within five seconds.
pub async fn recv<S: AsyncRead + Unpin>(s: &mut S) -> Option<Vec<u8>> {
    let len = tokio::time::timeout(Duration::from_secs(5), s.read_i32())
        .await
        .ok()?
        .ok()?;
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// Whether the peer closes (or breaks) the connection within five seconds.
pub async fn closed<S: AsyncRead + Unpin>(s: &mut S) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// The whole HTTP/1.0 answer of the admin listener to `GET path`.
pub async fn http_get(admin: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(admin).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}
