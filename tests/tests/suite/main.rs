//! schemagate's integration suite: each test starts the real `schemagate proxy` (and registry)
//! on free ports in front of the run's shared three-node Apache Kafka cluster, keeps to topics
//! of its own, and drives a real client through the proxy. Tests that break a cluster (kill,
//! restart) start their own.
//!
//! Nothing here skips: without `scripts/test`'s environment (`SCHEMAGATE_KAFKA_LIBS`,
//! `SCHEMAGATE_KAFKA_BOOTSTRAP`, `SCHEMAGATE_BIN`, `SCHEMAGATE_PYTHON`, `SCHEMAGATE_NODE_MODULES`,
//! `SCHEMAGATE_KCAT`, `SCHEMAGATE_JAVA_CLASSPATH`, `SCHEMAGATE_GO_CLIENTS`) every test fails and
//! says so.
#![forbid(unsafe_code)]

mod admin;
mod cli_errors;
mod cluster;
mod cluster_workload;
mod confluent_kafka;
mod deploy;
mod dev_stack;
mod docs_links;
mod enforce_bad_records;
mod enforce_kafkajs;
mod enforce_outage;
mod enforce_policies;
mod enforce_roundtrip;
mod enforce_support;
mod fuzz_seeds;
mod go_clients;
mod hostile_clients;
mod idempotent_quarantine;
mod java_clients;
mod kafka_python;
mod kafkajs;
mod kcat;
mod kip951;
mod lab;
mod observability;
mod quarantine_cli;
mod quarantine_idle;
mod raw_kafka;
mod rdkafka_client;
mod read_back;
mod references;
mod registry_clients;
mod registry_security;
mod reliability;
mod sasl_acl;
mod sasl_clients;
mod schema_gate;
mod support;
mod tls;
mod tls_config;
mod tls_downstream;
mod unreachable_broker;
