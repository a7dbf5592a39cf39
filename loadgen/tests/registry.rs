//! loadgen's registration against the real registry (`registry` crate, memory store) served
//! over loopback HTTP in this process.

use loadgen::registry::{RegistryClient, RegistryError};
use loadgen::render::Format;
use loadgen::version::SchemaVersion;
use registry::{HttpConfig, StoreConfig};
use tokio::net::TcpListener;

#[tokio::test]
async fn versions_register_in_order_and_refusals_keep_their_status() {
    let store = registry::open(&StoreConfig::Memory)
        .await
        .expect("memory store");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(registry::serve(
        listener,
        store,
        HttpConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let client = RegistryClient::new(&url);
    let versions = [SchemaVersion::V1, SchemaVersion::V2];
    let ids = client
        .register_all("orders-value", Format::Avro, &versions, "NONE")
        .await
        .expect("registered");
    assert_eq!(ids.keys().copied().collect::<Vec<_>>(), versions);
    let again = client
        .register("orders-value", Format::Avro, SchemaVersion::V1)
        .await
        .expect("registered again");
    assert_eq!(Some(&again), ids.get(&SchemaVersion::V1));
    let proto = client
        .register("orders-proto-value", Format::Protobuf, SchemaVersion::V1)
        .await
        .expect("protobuf registered");
    assert!(!ids.values().any(|id| *id == proto));

    // A refusal keeps the registry's status and message (the lab reads them).
    match client.set_compatibility("orders-value", "SIDEWAYS").await {
        Err(RegistryError::Status { status, body, .. }) => {
            assert_eq!(status, 422);
            assert!(!body.is_empty());
        }
        other => panic!("expected a 422: {other:?}"),
    }
    // A URL the client cannot use is reported by the first call.
    let bad = RegistryClient::new("ftp://nowhere")
        .set_compatibility("x", "NONE")
        .await;
    assert!(matches!(bad, Err(RegistryError::Build { .. })), "{bad:?}");

    let _ = stop.send(());
    let _ = server.await;
}
