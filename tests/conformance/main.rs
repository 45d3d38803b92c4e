//! The conformance suite: every behaviour of Blnk the gateway relies on, as a request and the
//! answer Blnk gives, checked against any Blnk given by URL and key, and in CI against the fake
//! (`fake-blnk`), so the fake the gateway's tests use is held to what Blnk really does.
//!
//! ```sh
//! cargo test --test conformance                        # against a fake, one per check
//! BLNK_CONFORMANCE_URL=http://127.0.0.1:5001 BLNK_CONFORMANCE_KEY="$(cat blnk.key)" \
//!     cargo test --test conformance                    # against a running Blnk in secure mode
//! ```
//!
//! Each module is one area of docs/blnk.md: `secure` (section 3), `transactions` and `binding`
//! (section 6, the queued and synchronous paths and how a body is read), `inflight`, `refunds`,
//! `bulk` (section 6), `headers` (sections 1 and 5). A check that needs to stop the fake's queue
//! runs only against the fake and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binding;
mod bulk;
mod headers;
mod inflight;
mod records;
mod refunds;
mod secure;
mod support;
mod transactions;
