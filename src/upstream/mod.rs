//! The pool of HTTP/1.1 connections to Blnk, and how their failures are classified.
//!
//! A connection is checked out for one exchange and comes back to the pool when the response
//! body has been read to its end ([`UpstreamBody`] hands it back), so no task is spawned per
//! request to watch for that. Idle connections are reused newest first (the warmest), dropped
//! when Blnk closed them, and closed after `UPSTREAM_POOL_IDLE_TIMEOUT`; at most
//! `UPSTREAM_POOL_MAX_IDLE` are kept. At most `gateway.limits.upstream_max_connections` are open
//! at once, idle or busy (a permit lives as long as the connection's task): a request that finds
//! none free waits for one to come back or close, up to `upstream_connect_timeout`, then gets 503
//! `GATEWAY_UPSTREAM_BUSY`.
//!
//! A request that may have been written is never sent again. hyper hands a request back only if
//! not a byte of it was written, which happens when a pooled connection turns out closed (Blnk
//! closed it while idle); only then is it sent on another connection, which Blnk cannot tell from
//! a first attempt. Everything else fails to the caller, which answers 502 or 504 (see `error`);
//! a POST that may have reached Blnk is never sent twice (docs/blnk.md section 6).

mod client;
mod dial;
mod pool;

pub use self::client::UpstreamClient;
pub use self::pool::{UpstreamBody, UpstreamResponse};
