//! Integration-test harness (skeleton: lands with issue 2).
#![forbid(unsafe_code)]
