//! Blnk sees only complete requests, and every client hears what happened (the ledger-safety
//! issue). Each case asserts what the client got and what the fake Blnk received: nothing (not a
//! request, not a connection), or exactly one complete request.
//!
//! - `h1`: bodies cut off, malformed or slow; the buffer budget; a body on GET; half-closed
//!   clients; early answers to clients that write everything before they read.
//! - `h2`: lengths that disagree with DATA, resets mid-body, malformed fields, ALPN.
//! - `clients`: curl (HTTP/1.1 and HTTP/2) and Python `requests`, the real programs.

mod clients;
mod h1;
mod h2;

use serde_json::{json, Value};

use crate::hostile::{plain, tls_gateway};
use crate::support::gateway::TestGateway;

/// Short body deadline, so a held-open body meets it quickly; the other deadlines stay long.
fn short_body() -> Value {
    json!({"limits": {"body_read_timeout": "300ms"}})
}

/// A POST /transactions head with the right key and the given framing lines.
fn post_head(gw: &TestGateway, id: &str, framing: &str) -> String {
    format!(
        "POST /transactions HTTP/1.1\r\nHost: x\r\nX-Request-Id: {id}\r\nX-Blnk-Key: {}\r\n{framing}\r\n",
        gw.key
    )
}

/// A complete Blnk transaction, which Blnk would act on as soon as it had read it.
const TXN: &str = r#"{"amount":100,"precision":100,"reference":"ref-cl-short","currency":"USD","source":"@world","destination":"@alice","allow_overdraft":true,"description":"test"}"#;

/// A transaction with a reference of its own (one reference is one transaction: a second request
/// with the same one would be a retry, answered by the gateway).
fn txn(reference: &str) -> String {
    crate::support::fake_blnk::transfer(reference, 100)
}
