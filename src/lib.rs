//! # blnk-gateway
//!
//! A TLS-terminating, secure-mode gateway in front of a self-hosted Blnk ledger.
//!
//! # Layout
//!
//! The modules form layers. A module may use any module of its own layer or of a layer below,
//! never one above; no two modules use each other, and no files form an import cycle. A module
//! directory's children never use their parent (they use their siblings), and its `mod.rs`
//! declares them and re-exports what the crate uses, nothing more, unless the module is one entry
//! point driving its children: then `mod.rs` also holds that entry point with its own types and
//! the functions only it calls (the modules with an entry point in `mod.rs`: `cli::main`,
//! `server::run`, `proxy::handle`). `tests/layers.rs` reads this table and that list and checks
//! the code against both.
//!
//! | layer | modules | owns |
//! |---|---|---|
//! | Edge | `cli`, `app`, `admin`, `pending`, `reload`, `systemd`, `signal` | the process: command line, the one serve path, admin listener, the operator's view of pending keys, reloads, systemd, signals |
//! | Serve | `server` | accept, connection cap, TLS handshake, HTTP/1.1 and HTTP/2 connections, their deadlines, drain |
//! | Pipeline | `proxy`, `rotation`, `gateway`, `upstream`, `keycheck` | one request: screen, authenticate, limit, read the body, forward, answer; a master-key rotation (grace timer, probe loop, sending with either key); the process-wide parts a request uses, and the one way to swap the snapshot; the pool of connections to Blnk; whether Blnk accepts the master key |
//! | State | `state`, `tls` | the live snapshot, and how a new one is built from config (certificates, client keys) and swapped in |
//! | Policy | `clients`, `ratelimit`, `audit`, `keys`, `idempotency` | who may do what, how often, the record of it, and which retries are replays |
//! | Cluster | `cluster` | the Redis several gateways share: its connection, whether it answers, who is alive, subscriptions |
//! | Config | `config`, `secret`, `signing` | file + environment -> validated settings, every problem named; the key types that cannot leak (the master key, the audit signing key) |
//! | Ground | `error`, `limits`, `metrics`, `conn`, `route`, `body`, `mode`, `headers`, `quota`, `crypto`, `request_id`, `x509`, `gojson` | types every layer shares: errors and their answers, bounds, counters, connection facts, routes, request bodies, certificate facts, bodies read as Blnk's Go reads them |
//!
//! Each module's `//!` header says what it owns and what it does not. A module is `pub` only
//! when the binary, the integration tests or the benchmarks use it; the others are `pub(crate)`,
//! so the compiler reports what nothing uses.

pub mod admin;
pub mod app;
pub mod audit;
pub(crate) mod body;
pub mod cli;
pub(crate) mod clients;
pub(crate) mod cluster;
pub mod config;
pub mod conn;
pub(crate) mod crypto;
pub(crate) mod error;
pub mod gateway;
pub mod gojson;
pub(crate) mod headers;
pub(crate) mod idempotency;
pub(crate) mod keycheck;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod mode;
pub(crate) mod pending;
pub mod proxy;
pub mod quota;
pub mod ratelimit;
pub mod reload;
pub mod request_id;
pub(crate) mod rotation;
pub(crate) mod route;
pub mod secret;
pub mod server;
pub(crate) mod signal;
pub mod signing;
pub mod state;
pub mod systemd;
pub(crate) mod tls;
pub(crate) mod upstream;
pub(crate) mod x509;

/// Exit status for a configuration that cannot be used (sysexits.h `EX_CONFIG`).
pub const EXIT_CONFIG: u8 = 78;
