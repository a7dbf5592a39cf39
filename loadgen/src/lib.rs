//! loadgen: a deterministic `Order` event fleet and the schemagate benchmark.
//!
//! - [`order`]: the `Order` event and its seeded generator (~512 bytes encoded);
//! - [`version`]: the seven schema versions (v1 plus one per evolution class), whose Avro and
//!   Protobuf texts live in `loadgen/schemas/`;
//! - [`render`]: Avro / Protobuf bodies in the Confluent wire frame, and decoding with a reader;
//! - [`registry`]: registering the versions through a registry's REST API;
//! - [`fleet`]: N producers and M consumers in reader-pinned groups, with a live summary;
//! - [`lab`]: the evolution lab's experiments (`loadgen lab matrix`), JSON for docs/EVOLUTION.md;
//! - [`bench`]: the interleaved path benchmark (direct, relay, proxy, proxy_validating, peer);
//! - [`relay`]: the raw TCP relay used as the physical baseline;
//! - [`produce`]: one paced or flat-out librdkafka producer with delivery latency;
//! - [`process`]: starting and stopping the broker, proxies and registry as child processes;
//! - [`latency`]: histogram summaries shared by fleet and bench.
#![forbid(unsafe_code)]

pub mod bench;
pub mod fleet;
pub mod lab;
pub mod latency;
pub mod order;
pub mod process;
pub mod produce;
pub mod registry;
pub mod relay;
pub mod render;
pub mod version;
