//! # blnk-gateway
//!
//! A TLS-terminating, secure-mode gateway in front of a self-hosted Blnk ledger.
//!
//! # Layout
//! - [`cli`]: the command line (`serve`, `check`, `audit verify`); `main.rs` only calls it.
//! - [`config`]: reads a blnk.json-style file and the environment, validates it into
//!   [`config::Settings`], finds the master key.
//! - [`secret`]: the key type that cannot leak, fingerprints, constant-time comparison.
//! - [`clients`]: scoped client keys for inject mode: the file, the scopes, the decision.
//! - [`keys`]: the current and previous master keys during a rotation, and which Blnk accepts.
//! - [`tls`]: rustls server configuration and the explicit development certificate.
//! - [`state`]: the immutable [`state::Snapshot`] a request reads, swapped whole on reload.
//! - [`server`]: accept loop, connection cap, handshake and connection deadlines, drain.
//! - [`reload`]: file watching, SIGHUP, the rotation's grace timer and probe.
//! - [`proxy`]: the per-request path: authenticate, rate limit, rewrite headers, forward, respond.
//! - [`ratelimit`]: per-client, global and failed-authentication limits (governor's GCRA), capped
//!   in memory, reconfigurable without losing buckets.
//! - [`upstream`]: the pooled HTTP/1.1 client to Blnk and its failure classes.
//! - [`audit`]: the hash-chained audit log of every request: records, the writer task, verify.
//! - [`error`]: every response the gateway makes on its own, in Blnk's error shape.
//! - [`metrics`]: counters and histograms, rendered in Prometheus text format.
//! - [`limits`]: every bound, named, with its default.
//! - [`signal`]: SIGTERM and SIGINT.
//! - [`systemd`]: sd_notify readiness, the watchdog, socket activation.
//! - [`admin`]: the admin listener: `/healthz`, `/readyz`, `/metrics`.

pub mod admin;
pub mod audit;
pub mod cli;
pub mod clients;
pub mod config;
pub mod error;
pub mod hex;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod proxy;
pub mod ratelimit;
pub mod reload;
pub mod secret;
pub mod server;
pub mod signal;
pub mod state;
pub mod systemd;
pub mod tls;
pub mod upstream;

/// Exit status for a configuration that cannot be used (sysexits.h `EX_CONFIG`).
pub const EXIT_CONFIG: u8 = 78;
