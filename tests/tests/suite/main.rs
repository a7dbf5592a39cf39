//! schemagate's integration suite: each test starts its own tansu broker and the real
//! `schemagate proxy` on free ports, then drives a real client through the proxy.
//!
//! Nothing here skips: without `scripts/test`'s environment (`TANSU_BIN`, `SCHEMAGATE_BIN`,
//! `SCHEMAGATE_PYTHON`, `SCHEMAGATE_NODE_MODULES`, `SCHEMAGATE_KCAT`) every test fails and says so.
#![forbid(unsafe_code)]

mod admin;
mod confluent_kafka;
mod deploy;
mod dev_stack;
mod kafka_python;
mod kafkajs;
mod kcat;
mod quarantine_cli;
mod rdkafka_client;
mod schema_gate;
mod support;
