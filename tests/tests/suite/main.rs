//! schemagate's integration suite: each test starts its own tansu broker and the real
//! `schemagate proxy` on free ports, then drives a real client through the proxy.
//!
//! Nothing here skips: without `scripts/test`'s environment (`TANSU_BIN`, `SCHEMAGATE_BIN`,
//! `SCHEMAGATE_PYTHON`, `SCHEMAGATE_NODE_MODULES`, `SCHEMAGATE_KCAT`, `SCHEMAGATE_GO_CLIENTS`)
//! every test fails and says so.
#![forbid(unsafe_code)]

mod admin;
mod confluent_kafka;
mod deploy;
mod dev_stack;
mod enforce_bad_records;
mod enforce_kafkajs;
mod enforce_outage;
mod enforce_policies;
mod enforce_roundtrip;
mod enforce_support;
mod go_clients;
mod kafka_python;
mod kafkajs;
mod kcat;
mod quarantine_cli;
mod rdkafka_client;
mod registry_clients;
mod schema_gate;
mod support;
