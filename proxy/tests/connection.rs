//! The proxy's connection handling, driven over real sockets through `Proxy::run`, with a
//! small scripted broker on the other side (tansu and real clients are exercised by the
//! workspace integration tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use futures::future::BoxFuture;
use kafka_protocol::messages::ApiKey;
use proxy::{ProduceDecision, ProduceInspector, ProduceRequestFrame, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod common;
use common::{closed, free_port, http_get, produce, recv};

/// A broker that answers Metadata v1 with itself as node 1, Produce with acks=0 not at all, and
/// every other request with its
/// correlation id followed by `b"upstream"`, after a short delay so pipelining matters.
async fn scripted_broker() -> SocketAddr {
    scripted_cluster(&[1]).await
}

/// Like [`scripted_broker`], but Metadata lists every node id in `nodes`, all at this address.
async fn scripted_cluster(nodes: &'static [i32]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve_scripted(s, nodes, addr.port()));
        }
    });
    addr
}

/// One scripted broker connection. Like Kafka, it reads requests while earlier ones are still
/// being answered and drops the connection (and the responses it owes) as soon as it sees EOF.
async fn serve_scripted(s: TcpStream, nodes: &'static [i32], port: u16) {
    let (mut rd, mut wr) = s.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            let key = i16::from_be_bytes([req[0], req[1]]);
            let mut resp = BytesMut::new();
            resp.put_slice(&req[4..8]);
            if key == ApiKey::Metadata as i16 {
                resp.put_i32(nodes.len() as i32);
                for node in nodes {
                    resp.put_i32(*node);
                    resp.put_i16(9);
                    resp.put_slice(b"127.0.0.1");
                    resp.put_i32(i32::from(port));
                    resp.put_i16(-1); // rack
                }
                resp.put_i32(1); // controller
                resp.put_i32(0); // topics
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                resp.put_slice(b"upstream");
            }
            if wr.write_i32(resp.len() as i32).await.is_err() || wr.write_all(&resp).await.is_err()
            {
                return;
            }
        }
    });
    while let Ok(len) = rd.read_i32().await {
        let mut req = vec![0u8; len as usize];
        if rd.read_exact(&mut req).await.is_err() {
            break;
        }
        let key = i16::from_be_bytes([req[0], req[1]]);
        let version = i16::from_be_bytes([req[2], req[3]]);
        let answers_acks_zero = req.get(10..15) == Some(&b"tansu"[..]);
        if key == ApiKey::Produce as i16
            && proxy::header::produce_acks(&req, version) == Ok(0)
            && !answers_acks_zero
        {
            continue; // like Kafka: no response for acks=0 (tansu answers; client id "tansu")
        }
        if tx.send(req).is_err() {
            break;
        }
    }
    writer.abort();
}

/// Answers Produce requests from client id `local` itself, forwards the rest.
struct LocalForClientLocal;

impl ProduceInspector for LocalForClientLocal {
    fn inspect<'a>(&'a self, r: &'a ProduceRequestFrame) -> BoxFuture<'a, ProduceDecision> {
        let local = r.frame.get(10..15) == Some(&b"local"[..]);
        let mut resp = BytesMut::new();
        resp.put_i32(r.header.correlation_id);
        resp.put_slice(b"local");
        Box::pin(async move {
            if local {
                ProduceDecision::Respond(resp.freeze())
            } else {
                ProduceDecision::Forward
            }
        })
    }
}

async fn start(inspector: Arc<dyn ProduceInspector>, max_frame: usize) -> (SocketAddr, SocketAddr) {
    start_with(scripted_broker().await, inspector, max_frame).await
}

async fn start_with(
    upstream: SocketAddr,
    inspector: Arc<dyn ProduceInspector>,
    max_frame: usize,
) -> (SocketAddr, SocketAddr) {
    let mut config = common::config(&upstream.to_string());
    config.max_frame_bytes = max_frame;
    config.stall_timeout = Duration::from_millis(300);
    common::spawn(config, inspector, |c| c.listen).await
}

async fn send(s: &mut TcpStream, body: &[u8]) {
    s.write_i32(body.len() as i32).await.unwrap();
    s.write_all(body).await.unwrap();
}

#[tokio::test]
async fn local_responses_keep_request_order_and_acks_zero_gets_none() {
    let (listen, admin) = start(Arc::new(LocalForClientLocal), 1 << 20).await;
    let mut c = TcpStream::connect(listen).await.unwrap();
    // Pipelined: forwarded, local, acks=0 forwarded, forwarded.
    for req in [
        produce(1, "remot", 1),
        produce(2, "local", 1),
        produce(3, "remot", 0),
        produce(4, "remot", -1),
    ] {
        send(&mut c, &req).await;
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(recv(&mut c).await.unwrap());
    }
    let expect = |corr: i32, tail: &[u8]| [&corr.to_be_bytes()[..], tail].concat();
    assert_eq!(
        got,
        vec![
            expect(1, b"upstream"),
            expect(2, b"local"),
            expect(4, b"upstream")
        ]
    );
    // Nothing more arrives for the acks=0 request.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), c.read_u8())
            .await
            .is_err()
    );
    let text = http_get(admin, "/metrics").await;
    assert!(
        text.contains("schemagate_requests_total{api=\"Produce\"} 4"),
        "{text}"
    );
    assert!(text.contains("schemagate_connections 1"), "{text}");
}

#[tokio::test]
async fn a_brokers_answer_to_acks_zero_is_dropped_not_relayed() {
    // tansu answers acks=0 Produce requests, which Kafka never does; the proxy must drop that
    // answer and keep the connection, not take it for the next request's response.
    let (listen, _admin) = start(Arc::new(proxy::PassThrough), 1 << 20).await;
    let mut c = TcpStream::connect(listen).await.unwrap();
    for req in [
        produce(1, "remot", 1),
        produce(2, "tansu", 0),
        produce(3, "tansu", 0),
        produce(4, "remot", -1),
    ] {
        send(&mut c, &req).await;
    }
    let expect = |corr: i32| [&corr.to_be_bytes()[..], b"upstream"].concat();
    assert_eq!(recv(&mut c).await.unwrap(), expect(1));
    assert_eq!(recv(&mut c).await.unwrap(), expect(4));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), c.read_u8())
            .await
            .is_err(),
        "no answer is relayed for acks=0 and the connection stays open"
    );
    send(&mut c, &produce(5, "remot", 1)).await;
    assert_eq!(recv(&mut c).await.unwrap(), expect(5));
}

#[tokio::test]
async fn bad_input_closes_the_connection_with_a_reason() {
    let (listen, admin) = start(Arc::new(proxy::PassThrough), 1024).await;
    // Over the cap.
    let mut c = TcpStream::connect(listen).await.unwrap();
    c.write_all(&[0, 0, 0x10, 0]).await.unwrap();
    assert!(closed(&mut c).await);
    // Unknown api key.
    let mut c = TcpStream::connect(listen).await.unwrap();
    send(&mut c, &[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff]).await;
    assert!(closed(&mut c).await);
    // Garbage shorter than a header.
    let mut c = TcpStream::connect(listen).await.unwrap();
    send(&mut c, &[1, 2, 3]).await;
    assert!(closed(&mut c).await);
    // Stalling mid-frame.
    let mut c = TcpStream::connect(listen).await.unwrap();
    c.write_all(&[0, 0, 0, 100, 0, 3]).await.unwrap();
    assert!(closed(&mut c).await);
    // Truncated frame.
    let mut c = TcpStream::connect(listen).await.unwrap();
    c.write_all(&[0, 0, 0, 100, 0, 3]).await.unwrap();
    c.shutdown().await.unwrap();
    assert!(closed(&mut c).await);
    // A Produce version the proxy does not offer.
    let mut c = TcpStream::connect(listen).await.unwrap();
    let mut v14 = produce(9, "x", 1).to_vec();
    v14[2..4].copy_from_slice(&14i16.to_be_bytes());
    send(&mut c, &v14).await;
    assert!(closed(&mut c).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = http_get(admin, "/metrics").await;
    for (reason, n) in [
        ("frame_too_large", 1),
        ("unsupported_api", 2),
        ("malformed", 1),
        ("stalled", 1),
        ("truncated", 1),
    ] {
        let line = format!("schemagate_connections_closed_total{{reason=\"{reason}\"}} {n}");
        assert!(text.contains(&line), "missing {line} in {text}");
    }
    // The proxy still serves after all that.
    let mut c = TcpStream::connect(listen).await.unwrap();
    send(&mut c, &produce(5, "remot", 1)).await;
    assert_eq!(
        recv(&mut c).await.unwrap(),
        [&5i32.to_be_bytes()[..], b"upstream"].concat()
    );
}

#[tokio::test]
async fn api_versions_above_the_proxy_range_get_kafkas_v0_error() {
    let (listen, _admin) = start(Arc::new(proxy::PassThrough), 1024).await;
    let mut c = TcpStream::connect(listen).await.unwrap();
    let mut req = BytesMut::new();
    req.put_i16(18);
    req.put_i16(9);
    req.put_i32(33);
    req.put_i16(-1);
    send(&mut c, &req).await;
    let resp = recv(&mut c).await.unwrap();
    assert_eq!(resp, [0, 0, 0, 33, 0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4]);
}

#[tokio::test]
async fn sasl_handshake_v0_is_refused_in_the_protocol_not_by_a_dropped_connection() {
    let (listen, _admin) = start(Arc::new(proxy::PassThrough), 1024).await;
    let mut c = TcpStream::connect(listen).await.unwrap();
    let mut req = BytesMut::new();
    req.put_i16(17); // SaslHandshake
    req.put_i16(0);
    req.put_i32(41);
    req.put_i16(-1);
    req.put_i16(5);
    req.put_slice(b"PLAIN");
    send(&mut c, &req).await;
    let resp = recv(&mut c).await.unwrap();
    // correlation id 41, UNSUPPORTED_VERSION (35), no mechanisms.
    assert_eq!(resp, [0, 0, 0, 41, 0, 35, 0, 0, 0, 0]);
}

/// Two consecutive free ports, for a proxy serving two brokers.
fn free_port_pair() -> u16 {
    loop {
        let p = free_port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

#[tokio::test]
async fn every_broker_gets_its_own_port_and_metadata_shows_only_proxy_addresses() {
    let upstream = scripted_cluster(&[7, 3]).await;
    let base = free_port_pair();
    let listen: SocketAddr = format!("127.0.0.1:{base}").parse().unwrap();
    let config = ProxyConfig::new(vec![upstream.to_string()], listen);
    let proxy = Proxy::new(config, Arc::new(proxy::PassThrough)).unwrap();
    tokio::spawn(proxy.run(std::future::pending()));
    // Node 3 sorts first: index 0 on the base port; node 7 on base + 1.
    let mut second = None;
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", base + 1)).await {
            second = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = second.expect("listener for broker index 1");
    let mut req = BytesMut::new();
    req.put_i16(ApiKey::Metadata as i16);
    req.put_i16(1);
    req.put_i32(11);
    req.put_i16(-1);
    req.put_i32(0);
    send(&mut c, &req).await;
    let resp = recv(&mut c).await.unwrap();
    let brokers = proxy::rewrite::metadata::brokers(&resp, 1).unwrap();
    assert_eq!(
        brokers,
        vec![
            (7, "127.0.0.1".to_string(), i32::from(base + 1)),
            (3, "127.0.0.1".to_string(), i32::from(base)),
        ]
    );
    send(&mut c, &produce(12, "remot", 1)).await;
    assert_eq!(
        recv(&mut c).await.unwrap(),
        [&12i32.to_be_bytes()[..], b"upstream"].concat()
    );
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_then_closes() {
    let upstream = scripted_broker().await;
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = ProxyConfig::new(vec![upstream.to_string()], listen);
    let proxy = Proxy::new(config, Arc::new(proxy::PassThrough)).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(proxy.run(async {
        let _ = stop_rx.await;
    }));
    let mut c = loop {
        if let Ok(s) = TcpStream::connect(listen).await {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    send(&mut c, &produce(21, "remot", 1)).await;
    send(&mut c, &produce(22, "remot", 1)).await;
    // Give the proxy a moment to read both requests, then stop it while responses are owed.
    tokio::time::sleep(Duration::from_millis(5)).await;
    stop_tx.send(()).unwrap();
    assert_eq!(
        recv(&mut c).await.unwrap(),
        [&21i32.to_be_bytes()[..], b"upstream"].concat()
    );
    assert_eq!(
        recv(&mut c).await.unwrap(),
        [&22i32.to_be_bytes()[..], b"upstream"].concat()
    );
    assert!(closed(&mut c).await);
    let result = tokio::time::timeout(Duration::from_secs(5), running).await;
    assert!(matches!(result, Ok(Ok(Ok(())))));
    // No new connections after shutdown.
    assert!(TcpStream::connect(listen).await.is_err());
}

/// A broker that answers its first request at once and every later one only after `hold`.
async fn slow_after_first(hold: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut n = 0;
                while let Ok(len) = s.read_i32().await {
                    let mut req = vec![0u8; len as usize];
                    if s.read_exact(&mut req).await.is_err() {
                        return;
                    }
                    if n > 0 {
                        tokio::time::sleep(hold).await;
                    }
                    n += 1;
                    let mut resp = BytesMut::new();
                    resp.put_slice(&req[4..8]);
                    resp.put_slice(b"upstream");
                    if s.write_i32(resp.len() as i32).await.is_err()
                        || s.write_all(&resp).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_answer_is_relayed_at_once_while_later_requests_are_still_pending() {
    let hold = Duration::from_secs(2);
    let (listen, _) = start_with(
        slow_after_first(hold).await,
        Arc::new(proxy::PassThrough),
        1 << 20,
    )
    .await;
    let mut c = TcpStream::connect(listen).await.unwrap();
    // Pipelined: the broker answers the first at once and holds the second.
    send(&mut c, &produce(1, "remot", 1)).await;
    send(&mut c, &produce(2, "remot", 1)).await;
    let started = std::time::Instant::now();
    let first = recv(&mut c).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(first, [&1i32.to_be_bytes()[..], b"upstream"].concat());
    assert!(
        waited < hold / 2,
        "the first answer waited {waited:?}, as long as the broker held the second"
    );
    let second = recv(&mut c).await.unwrap();
    assert_eq!(second, [&2i32.to_be_bytes()[..], b"upstream"].concat());
}
