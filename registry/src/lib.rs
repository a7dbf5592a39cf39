//! # registry — a Confluent-compatible schema registry server
//!
//! (Skeleton: the REST surface and the Kafka-backed store land with issue 3.)
#![forbid(unsafe_code)]
