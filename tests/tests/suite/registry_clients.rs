//! Confluent's own clients against `schemagate registry`: Python's `SchemaRegistryClient` and
//! its Avro, Protobuf and JSON serializers, and Node's `@kafkajs/confluent-schema-registry`.
//! The scripts exit non-zero on the first failed assertion.

use std::time::Duration;

use schemagate_tests::{Broker, ClientRun, Registry};

fn check(run: ClientRun, registry: &Registry, done: &str) {
    let out = run
        .arg(registry.url())
        .timeout(Duration::from_secs(120))
        .run()
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", registry.log_tail()));
    assert!(
        out.stdout.contains(done),
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn confluent_python_client_and_serializers_work_against_the_memory_store() {
    let registry = Registry::start("memory").unwrap_or_else(|e| panic!("{e}"));
    let run = ClientRun::python("registry_client_check.py").unwrap_or_else(|e| panic!("{e}"));
    check(run, &registry, "all python client checks passed");
}

#[test]
fn confluent_python_client_works_against_the_kafka_store() {
    let broker = Broker::shared().unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::start_kafka(&broker).unwrap_or_else(|e| panic!("{e}"));
    let run = ClientRun::python("registry_client_check.py").unwrap_or_else(|e| panic!("{e}"));
    check(run, &registry, "all python client checks passed");
}

#[test]
fn kafkajs_schema_registry_client_registers_encodes_and_decodes() {
    let registry = Registry::start("memory").unwrap_or_else(|e| panic!("{e}"));
    let run = ClientRun::node("registry_client_check.js").unwrap_or_else(|e| panic!("{e}"));
    check(run, &registry, "all node client checks passed");
}
