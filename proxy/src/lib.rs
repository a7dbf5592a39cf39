//! # proxy — the schemagate sidecar
//!
//! (Skeleton: the transparent proxy lands with issue 2.)
#![forbid(unsafe_code)]
pub mod batch;
pub mod enforce;
pub mod policy;
