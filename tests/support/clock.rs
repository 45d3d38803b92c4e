//! A paused clock for tests on real sockets.
//!
//! Under `#[tokio::test(start_paused = true)]` tokio moves the clock to the next timer whenever
//! the runtime has no task to run and no socket event pending. The gateway, the fake Blnk and the
//! test's clients share that runtime, and bytes written on loopback are normally readable before
//! it goes idle, so the clock waits for them. But the kernel may deliver them late (on a loaded
//! machine its network work waits for CPU time), and a clock that jumps to the next timer at once
//! then fires deadlines early: a client stops reading, or the gateway cuts a connection, before
//! bytes already sent have arrived.
//!
//! [`pace`] bounds the clock instead: it moves by at most [`STEP`] at a time, and only after
//! [`GRACE`] of real time during which it cannot move (tokio does not auto-advance a paused clock
//! while a blocking task runs), so what the kernel holds arrives first. Virtual time then passes
//! a few times faster than real time, not infinitely faster: a delivery late by a millisecond
//! looks late by a few, still far below the deadlines the tests configure.

#![allow(dead_code)]

use std::time::Duration;

/// Real time between two steps, during which the clock cannot move.
pub const GRACE: Duration = Duration::from_millis(1);
/// The most the clock moves after a grace.
pub const STEP: Duration = Duration::from_millis(10);

/// Paces the paused clock of the current test (see the module docs). Call it first in a test
/// declared `#[tokio::test(start_paused = true)]`; the pacing ends with the test's runtime.
pub fn pace() {
    tokio::spawn(async {
        loop {
            let _ = tokio::task::spawn_blocking(|| std::thread::sleep(GRACE)).await;
            // Until this timer fires, the clock may move, but not past it.
            tokio::time::sleep(STEP).await;
        }
    });
}
