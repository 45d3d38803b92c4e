//! # fake-blnk
//!
//! A stand-in for Blnk Core that fails the way Blnk fails, for the gateway's tests and for trying
//! the gateway without PostgreSQL and Redis. It serves plain HTTP/1.1, as Blnk does, and models
//! what the gateway's promises depend on, each checked against a real Blnk by the conformance
//! suite (`tests/conformance/` of the gateway's repository; docs/blnk.md lists where the fake
//! still differs on purpose):
//!
//! - secure mode: the exempt routes, the first `X-Blnk-Key` compared with the master key,
//!   Blnk's 401 bodies, the headers Blnk adds (including the ones that leak addresses);
//! - `POST /transactions`: the queued path (201 `QUEUED` before anything is stored, a
//!   configurable delay before the transaction is visible by reference, a duplicate's insert
//!   dropped, the `_q` child), `skip_queue` (409 on a used reference), split legs, `dry_run`;
//! - inflight commit and void, partial commits among them, queued or not; refunds; bulk,
//!   atomic or not; the body size limit;
//! - request bodies bound as Go's `encoding/json` binds them into each route's own struct
//!   ([`gojson`], [`bind`]): repeated arrays, type errors, `meta_data` numbers, `effective_date`;
//! - the precise amount in exact decimals as Blnk computes it ([`mod@ledger::precise`]), and
//!   Blnk's validation of a transaction (15 significant digits at most in `amount`).
//!
//! Layout: [`server`] (connections, recording, test behaviours) -> [`routes`] (router, secure
//! mode, headers) -> [`bind`] (Blnk's request structs) over [`gojson`], and [`ledger`] (the
//! database, the queue, the money-moving routes); [`reply`] is Blnk's answer shapes.

pub mod bind;
pub mod gojson;
pub mod ledger;
pub mod reply;
pub mod routes;
pub mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::Value;
use tokio::net::TcpListener;

pub use self::ledger::Options;
use self::server::State;
pub use self::server::{Behavior, Recorded};

/// A running fake, and what a test can see and change of it.
#[derive(Clone)]
pub struct FakeBlnk {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl FakeBlnk {
    /// On 127.0.0.1, a free port, with the default queue delays.
    pub async fn start(key: &str) -> FakeBlnk {
        Self::start_with(key, Options::default()).await
    }

    pub async fn start_with(key: &str, options: Options) -> FakeBlnk {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("fake Blnk cannot bind 127.0.0.1:0: {e}"),
        };
        Self::serve_with(listener, key, options)
    }

    /// Serves on a listener the caller bound (for restarts on the same port).
    pub fn serve(listener: TcpListener, key: &str) -> FakeBlnk {
        Self::serve_with(listener, key, Options::default())
    }

    pub fn serve_with(listener: TcpListener, key: &str, options: Options) -> FakeBlnk {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let state = State::new(key, ledger::Ledger::new(options));
        server::spawn(listener, state.clone());
        FakeBlnk { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn count(&self) -> usize {
        self.requests().len()
    }

    /// The last request received; panics (a test's failure) when there was none.
    pub fn last(&self) -> Recorded {
        match self.requests().pop() {
            Some(r) => r,
            None => panic!("the fake Blnk received no request"),
        }
    }

    /// Blnk restarted with another master key.
    pub fn set_key(&self, key: &str) {
        *self.state.key.lock().unwrap_or_else(|e| e.into_inner()) = key.to_string();
    }

    /// How the fake answers from now on; `Hold` holds again after an earlier `release`.
    pub fn set_behavior(&self, b: Behavior) {
        if b == Behavior::Hold {
            self.state.released.store(false, Ordering::SeqCst);
        }
        *self
            .state
            .behavior
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = b;
    }

    /// Lets every answer held by `Behavior::Hold` go.
    pub fn release(&self) {
        self.state.release();
    }

    /// Every stored transaction, by reference (queued records, `_q` children, split legs,
    /// inflight actions, refunds), as `GET /transactions/reference/{ref}` returns it.
    pub fn transactions(&self) -> HashMap<String, Value> {
        self.state.ledger.by_reference()
    }

    /// `POST /transactions` requests received (complete or not).
    pub fn transaction_posts(&self) -> usize {
        self.sent("POST", "/transactions")
    }

    /// Requests received with this method for exactly this path (the query aside).
    pub fn sent(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.target.split('?').next() == Some(path))
            .count()
    }

    /// The balance of an `@indicator` in `currency`, in minor units, if it was ever used.
    pub fn balance(&self, indicator: &str, currency: &str) -> Option<i128> {
        self.state.ledger.indicator_balance(indicator, currency)
    }

    /// The queue stores nothing until `release_queue` (Blnk under load: no deadline).
    pub fn hold_queue(&self) {
        self.state.ledger.queue.hold();
    }

    pub fn release_queue(&self) {
        self.state.ledger.queue.release();
    }

    pub fn set_options(&self, options: Options) {
        self.state.ledger.queue.set_options(options);
    }

    /// Waits until everything queued so far has been stored and applied.
    pub async fn settled(&self) {
        self.state.ledger.queue.settled().await;
    }

    /// How many connections have been opened to this fake.
    pub fn accepted_connections(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// How many of those have ended.
    pub fn closed_connections(&self) -> usize {
        self.state.closed.load(Ordering::SeqCst)
    }
}
