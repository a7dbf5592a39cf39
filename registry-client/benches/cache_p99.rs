//! Per-call latency of warm cache lookups, recorded in an HDR histogram over 1M calls.
//! Run: `cargo bench -p registry-client --bench cache_p99`

use std::time::Instant;

use contract::SchemaId;
use hdrhistogram::Histogram;
use registry_client::{RegistryClient, RegistryConfig, Subject};

mod support;

const CALLS: u64 = 1_000_000;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let registry = support::Registry::start().await;
        let (subject, id) = registry.register_order().await;
        let client = RegistryClient::new(RegistryConfig::new(registry.url())).expect("client");
        client.schema(id).await.expect("warm-up fetch");
        client.binding(&subject, id).await.expect("warm-up binding");
        let before = client.registry_requests();

        for (name, which) in [("schema(id)", 0), ("binding(subject, id)", 1)] {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("bounds");
            for _ in 0..CALLS {
                let started = Instant::now();
                lookup(&client, which, &subject, id).await;
                let nanos = started.elapsed().as_nanos() as u64;
                hist.saturating_record(nanos.max(1));
            }
            println!(
                "warm {name:<22} calls={CALLS} mean={:.0}ns p50={}ns p99={}ns p99.9={}ns max={}ns",
                hist.mean(),
                hist.value_at_quantile(0.50),
                hist.value_at_quantile(0.99),
                hist.value_at_quantile(0.999),
                hist.max()
            );
        }
        println!(
            "registry requests during the timed loops: {}",
            client.registry_requests() - before
        );
    });
}

async fn lookup(client: &RegistryClient, which: u8, subject: &Subject, id: SchemaId) {
    if which == 0 {
        std::hint::black_box(client.schema(id).await.expect("cached"));
    } else {
        std::hint::black_box(client.binding(subject, id).await.expect("cached"));
    }
}
