//! Integration tests: the gateway and a fake Blnk on 127.0.0.1:0, real TLS, real sockets.
//! One test binary, so the suite links once.
//!
//! A test that waits for a deadline runs on tokio's paused clock (`start_paused = true`), paced by
//! `support::clock::pace`, so the seconds it waits pass in milliseconds; `support/clock.rs` says
//! why the clock is paced rather than left to jump. That needs everything the test waits for to
//! run on the test's own runtime: tests that wait for a child process, for the file watcher's
//! thread, or that run a multi-thread runtime keep real time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod alerts;
mod audit;
mod cli;
mod clients;
mod cluster;
mod complete;
mod crash;
mod failures;
mod firsthour;
mod forwarding;
mod hostile;
mod idempotency;
mod inject;
mod limits;
mod logs;
mod ops;
mod package;
mod pool;
mod ratelimit;
mod readiness;
mod rotation;
mod upstream_cap;
mod verify;
