//! Criterion benches: warm cache lookups, cache off (every lookup asks the registry), and
//! 1,000 concurrent first lookups of one id (coalesced into one registry request).
//! Run: `cargo bench -p registry-client --bench cache_lookup`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use registry_client::{RegistryClient, RegistryConfig};

mod support;

fn client(url: &str, cache: bool) -> RegistryClient {
    let mut config = RegistryConfig::new(url);
    config.cache.enabled = cache;
    RegistryClient::new(config).expect("client")
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let registry = rt.block_on(support::Registry::start());
    let (subject, id) = rt.block_on(registry.register_order());
    let url = registry.url().to_string();

    let warm = client(&url, true);
    rt.block_on(async {
        warm.schema(id).await.expect("warm-up");
        warm.binding(&subject, id).await.expect("warm-up");
    });
    let mut group = c.benchmark_group("lookup");
    group.bench_function("warm schema(id), cache on", |b| {
        b.to_async(&rt)
            .iter(|| async { warm.schema(id).await.expect("cached") })
    });
    group.bench_function("warm binding(subject, id), cache on", |b| {
        b.to_async(&rt)
            .iter(|| async { warm.binding(&subject, id).await.expect("cached") })
    });
    let cold = client(&url, false);
    group.bench_function("schema(id), cache off", |b| {
        b.to_async(&rt)
            .iter(|| async { cold.schema(id).await.expect("fetched") })
    });
    group.finish();

    let mut group = c.benchmark_group("coalescing");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("1000 concurrent first lookups of one id", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let fresh = client(&url, true);
                let started = Instant::now();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..1000)
                        .map(|_| {
                            let c = fresh.clone();
                            tokio::spawn(async move { c.schema(id).await.map(|s| s.id) })
                        })
                        .collect();
                    for t in tasks {
                        let got = t.await.expect("task").expect("lookup");
                        assert_eq!(got, id);
                    }
                });
                total += started.elapsed();
                assert_eq!(fresh.registry_requests(), 1, "coalescing broke");
            }
            total
        })
    });
    group.finish();
}

criterion_group!(cache, benches);
criterion_main!(cache);
