//! Integration tests: the gateway and a fake Blnk on 127.0.0.1:0, real TLS, real sockets.
//! One test binary, so the suite links once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod cli;
mod clients;
mod cluster;
mod complete;
mod failures;
mod forwarding;
mod hostile;
mod idempotency;
mod inject;
mod limits;
mod ops;
mod pool;
mod ratelimit;
mod rotation;
mod upstream_cap;
mod verify;
