//! A broker the proxy cannot reach: the client's connection ends with a reset, as a dead broker
//! refuses it directly, not with an orderly close during its first request, which clients read
//! as a TLS or SASL mistake (franz-go does not retry an EOF on a connection's first read, and
//! failed buffered records that way after a leader kill in `idempotent_quarantine`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::StrBytes;
use schemagate_tests::certs::LOOPBACK;
use schemagate_tests::net;
use schemagate_tests::proxy::Proxy;

use crate::raw_kafka::frame;
use crate::tls::{issue, new_ca, path};

#[test]
fn a_client_of_an_unreachable_broker_gets_a_reset() {
    let proxy = Proxy::start(&[dead_broker()]).unwrap_or_else(|e| panic!("{e}"));
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("schemagate-tests"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    assert_reset(&proxy, &frame(ApiKey::ApiVersions, 3, 1, &request));
}

/// The same on a TLS listener, where the handshake owns the client's stream while the proxy
/// dials the broker: the client's first bytes (the start of a ClientHello) meet a reset too.
#[test]
fn a_tls_client_of_an_unreachable_broker_gets_a_reset() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = new_ca(dir.path(), "proxy-ca");
    let server = issue(&ca, "proxy", LOOPBACK);
    let flags = [
        "--tls-cert".to_owned(),
        path(&server.cert),
        "--tls-key".to_owned(),
        path(&server.key),
    ];
    let proxy = Proxy::start_with(&[dead_broker()], &flags).unwrap_or_else(|e| panic!("{e}"));
    // A TLS record header (handshake, TLS 1.0 framing) and the start of a ClientHello.
    assert_reset(
        &proxy,
        &[0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c],
    );
}

/// An address nothing listens on: every connection to it is refused.
fn dead_broker() -> SocketAddr {
    SocketAddr::from((
        [127, 0, 0, 1],
        net::free_port().unwrap_or_else(|e| panic!("{e}")),
    ))
}

/// Three connections to `proxy`, each sending `bytes` once the proxy has given up on the
/// broker, each ended by a reset.
fn assert_reset(proxy: &Proxy, bytes: &[u8]) {
    for attempt in 0..3 {
        let mut client = TcpStream::connect(proxy.listen()).unwrap_or_else(|e| panic!("{e}"));
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap_or_else(|e| panic!("{e}"));
        // The proxy finds the broker unreachable and closes before the request arrives (the
        // race a real client lost): with an orderly close the request then meets a closed
        // socket and the client reads EOF. (Written at once, the request would sit unread and
        // the kernel would reset the connection on close anyway.)
        std::thread::sleep(Duration::from_millis(500));
        if let Err(e) = client.write_all(bytes) {
            assert!(
                matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                "attempt {attempt}: writing: {e}"
            );
            continue;
        }
        let mut buf = [0u8; 64];
        match client.read(&mut buf) {
            Err(e) => assert_eq!(
                e.kind(),
                ErrorKind::ConnectionReset,
                "attempt {attempt}: {e}"
            ),
            Ok(0) => panic!("attempt {attempt}: an orderly close (EOF), not a reset"),
            Ok(n) => panic!("attempt {attempt}: {n} bytes of answer from an unreachable broker"),
        }
    }
}
