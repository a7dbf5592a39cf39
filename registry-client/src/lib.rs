//! # registry-client — talking to any Confluent-compatible schema registry
//!
//! (Skeleton: the REST client and its caches land with issue 4.)
#![forbid(unsafe_code)]
