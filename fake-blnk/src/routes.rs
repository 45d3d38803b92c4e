//! One request, as Blnk's gin router and middleware take it: trailing-slash redirects (before
//! any middleware), secure mode, the body size limit, the routes, and the headers every answer
//! carries.
//!
//! Modelled routes: `GET /`, `/health`, the transaction routes (create, bulk, inflight and bulk
//! inflight, refunds, by id, by reference, the list with `parent_transaction_eq`,
//! `reference_eq` and `status_eq`), ledgers and balances. Blnk's other routes (identities,
//! accounts, hooks, api-keys, search, reconciliation, ...) answer with an echo of the request
//! (`{"method", "target", "body_len"}`, 201 for POST) and the header `x-fake-blnk: unmodelled`,
//! which Blnk never sends. A path Blnk has no route for is gin's `404 page not found`, as is
//! `/metrics` (Blnk serves it only with observability turned on). The fake holds only the master
//! key: Blnk's own scoped API keys are not modelled (any other key is `AUTH_INVALID_API_KEY`).
//! Test hook (not Blnk's): `GET /_fake/bytes/{n}` answers n bytes (at most 64 MiB).

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};
use serde_json::json;

use crate::bind;
use crate::ledger::{bulk, inflight, post, refund, Ledger, Txn};
use crate::reply::{Body, Reply};

/// Blnk's `server.max_request_body_size_mb` default: 5 MiB.
pub const MAX_BODY: usize = 5 << 20;

/// A request as the fake's router sees it.
pub struct Req<'a> {
    pub method: &'a Method,
    /// The path, percent-decoded as gin routes it.
    pub path: &'a str,
    pub query: &'a str,
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub peer: SocketAddr,
}

/// Everything an answer is made of, before the headers.
pub enum Answer {
    Reply(Reply),
    /// gin's trailing-slash redirect: 301 for GET, 307 otherwise.
    Redirect(u16, String),
    Bytes(usize),
}

pub fn route(ledger: &Arc<Ledger>, key: &str, req: &Req) -> Answer {
    let path = req.path;
    if path.len() > 1 && path.ends_with('/') && known(req.method, path.trim_end_matches('/')) {
        let status = if req.method == Method::GET { 301 } else { 307 };
        return Answer::Redirect(status, path.trim_end_matches('/').to_string());
    }
    if !matches!(path, "/" | "/health" | "/metrics") {
        // Blnk reads the first value only (gin's GetHeader).
        let presented = req
            .headers
            .get("x-blnk-key")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if presented.is_empty() {
            let m = "Authentication required. Use X-Blnk-Key header";
            return Answer::Reply(Reply::error(401, "AUTH_MISSING_API_KEY", m));
        }
        if presented != key.as_bytes() {
            return Answer::Reply(Reply::error(401, "AUTH_INVALID_API_KEY", "Invalid API key"));
        }
    }
    if let Some(n) = path.strip_prefix("/_fake/bytes/") {
        return Answer::Bytes(n.parse::<usize>().unwrap_or(0).min(64 << 20));
    }
    Answer::Reply(handle(ledger, req))
}

fn handle(ledger: &Arc<Ledger>, req: &Req) -> Reply {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let body = || read(req.body);
    let malformed = |e: String| Reply::error(400, "GEN_MALFORMED_REQUEST", &e);
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", [""]) => Reply::ok(json!("server running...")),
        ("GET", ["health"]) => Reply::ok(json!({"status": "UP"})),
        ("POST", ["transactions"]) => match body().and_then(bind::record_transaction) {
            Ok(t) => post::post(ledger, t),
            Err(_) => Reply::invalid_input(),
        },
        ("POST", ["transactions", "bulk"]) => match body().and_then(bind::bulk) {
            Ok(b) => bulk::bulk(ledger, b),
            Err(e) => malformed(format!("Invalid request body: {e}")),
        },
        ("PUT", ["transactions", "inflight", id]) => match body().and_then(bind::inflight_update) {
            Ok(u) => inflight::update(ledger, id, u),
            Err(e) => malformed(e),
        },
        ("POST", ["transactions", "inflight", "bulk", "commit"]) => {
            match body().and_then(bind::bulk_commit) {
                Ok(b) => inflight::bulk_commit(ledger, b),
                Err(e) => malformed(e),
            }
        }
        ("POST", ["transactions", "inflight", "bulk", "void"]) => {
            match body().and_then(bind::bulk_void) {
                Ok(b) => inflight::bulk_void(ledger, b),
                Err(e) => malformed(e),
            }
        }
        ("POST", ["refund-transaction", id]) => match body().and_then(bind::refund) {
            Ok(r) => refund::refund(ledger, id, r),
            Err(e) => malformed(e),
        },
        ("GET", ["transactions", "reference", reference]) => {
            match ledger.book().by_ref(reference) {
                Some(t) => Reply::ok(t.stored()),
                None => Reply::not_found(&format!(
                    "Transaction with reference '{reference}' not found"
                )),
            }
        }
        ("GET", ["transactions"]) => Reply::ok(list(ledger, req.query)),
        ("GET", ["transactions", id]) => match ledger.book().get(id) {
            Some(t) => Reply::ok(t.by_id()),
            None => Reply::not_found(&format!("Transaction with ID '{id}' not found")),
        },
        ("GET", ["ledgers"]) => Reply::ok(json!(ledger.book().ledgers)),
        ("POST", ["ledgers"]) => match body().and_then(bind::ledger_name) {
            Ok(name) if !name.is_empty() => create_ledger(ledger, &name),
            Ok(_) => Reply::legacy(400, "GEN_VALIDATION_ERROR", "name: cannot be blank."),
            Err(e) => Reply::legacy(400, "GEN_MALFORMED_REQUEST", &e),
        },
        ("GET", ["balances", "indicator", indicator, "currency", currency]) => {
            match ledger.book().indicator(indicator, currency) {
                Some(b) => Reply::ok(b.render()),
                None => {
                    let m = format!("balance with indicator '{indicator}' not found");
                    Reply::error(404, "BAL_NOT_FOUND", &m)
                }
            }
        }
        ("GET", ["balances", id]) => match ledger.book().balance(id) {
            Some(b) => Reply::ok(b.render()),
            None => Reply::json(
                404,
                serde_json::json!({"error": format!("Balance with ID '{id}' not found"), "error_detail": {"code": "BAL_NOT_FOUND", "message": format!("Balance with ID '{id}' not found"), "details": {}}}),
            ),
        },
        _ if known(req.method, req.path) => echo(req),
        _ => Reply::no_route(),
    }
}

/// The body as a handler's bind sees it through Blnk's `MaxBytesReader`: Go's decoder reads no
/// further than the first JSON value, so only a value that runs past the limit is refused.
fn read(body: &[u8]) -> Result<&[u8], String> {
    if body.len() <= MAX_BODY || crate::gojson::decode_first(&body[..MAX_BODY]).is_ok() {
        return Ok(&body[..body.len().min(MAX_BODY)]);
    }
    Err("http: request body too large".to_string())
}

fn create_ledger(ledger: &Arc<Ledger>, name: &str) -> Reply {
    let mut book = ledger.book();
    let record = json!({"ledger_id": book.ids.with_prefix("ldg"), "name": name, "created_at": crate::ledger::record::now(), "meta_data": null});
    book.ledgers.push(record.clone());
    Reply::created(record)
}

/// `GET /transactions` with Blnk's `field_eq=value` filters this fake knows, newest first.
fn list(ledger: &Arc<Ledger>, query: &str) -> serde_json::Value {
    let mut limit = 20usize;
    let mut offset = 0usize;
    let mut filters: Vec<(&str, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = crate::server::percent_decode(v);
        match k {
            "limit" => limit = v.parse().ok().filter(|n| *n > 0).unwrap_or(20),
            "offset" => offset = v.parse().unwrap_or(0),
            "parent_transaction_eq" | "reference_eq" | "status_eq" => filters.push((k, v)),
            _ => {}
        }
    }
    let book = ledger.book();
    let field = |t: &Txn, k: &str| match k {
        "parent_transaction_eq" => t.parent.clone(),
        "reference_eq" => t.reference.clone(),
        _ => t.status.as_str().to_string(),
    };
    let mut all: Vec<&Txn> = book
        .all()
        .filter(|t| filters.iter().all(|(k, v)| field(t, k) == *v))
        .collect();
    all.reverse();
    json!(all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(Txn::listed)
        .collect::<Vec<_>>())
}

fn echo(req: &Req) -> Reply {
    let status = if req.method == Method::POST { 201 } else { 200 };
    Reply::json(
        status,
        json!({"method": req.method.as_str(), "target": req.target, "body_len": req.body.len()}),
    )
}

/// Whether Blnk has a route for this method and path (`api/api.go`).
fn known(method: &Method, path: &str) -> bool {
    ROUTES
        .iter()
        .any(|(m, pattern)| *m == method.as_str() && matches(pattern, path))
}

fn matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.split('/');
    let mut s = path.split('/');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.starts_with(':') && !b.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// Blnk's routes (`api/api.go`, v0.15), method and pattern.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/health"),
    ("POST", "/ledgers"),
    ("GET", "/ledgers"),
    ("GET", "/ledgers/:id"),
    ("POST", "/ledgers/filter"),
    ("PUT", "/ledgers/:id"),
    ("POST", "/balances"),
    ("GET", "/balances"),
    ("GET", "/balances/:id"),
    ("GET", "/balances/:id/at"),
    ("GET", "/balances/:id/lineage"),
    ("GET", "/balances/indicator/:i/currency/:c"),
    ("POST", "/balances/filter"),
    ("PUT", "/balances/:id/identity"),
    ("POST", "/balances-snapshots"),
    ("POST", "/balance-monitors"),
    ("GET", "/balance-monitors"),
    ("GET", "/balance-monitors/:id"),
    ("PUT", "/balance-monitors/:id"),
    ("DELETE", "/balance-monitors/:id"),
    ("GET", "/balance-monitors/balances/:id"),
    ("POST", "/transactions"),
    ("POST", "/transactions/bulk"),
    ("POST", "/transactions/filter"),
    ("POST", "/transactions/recover"),
    ("POST", "/transactions/inflight/bulk/commit"),
    ("POST", "/transactions/inflight/bulk/void"),
    ("PUT", "/transactions/inflight/:id"),
    ("POST", "/refund-transaction/:id"),
    ("GET", "/transactions"),
    ("GET", "/transactions/:id"),
    ("GET", "/transactions/reference/:r"),
    ("GET", "/transactions/:id/lineage"),
    ("POST", "/identities"),
    ("POST", "/identities/filter"),
    ("POST", "/identities/:id/tokenize"),
    ("POST", "/identities/:id/tokenize/:f"),
    ("POST", "/identities/:id/detokenize"),
    ("GET", "/identities"),
    ("GET", "/identities/:id"),
    ("GET", "/identities/:id/tokenized-fields"),
    ("GET", "/identities/:id/detokenize/:f"),
    ("PUT", "/identities/:id"),
    ("DELETE", "/identities/:id"),
    ("POST", "/accounts"),
    ("POST", "/accounts/filter"),
    ("GET", "/accounts"),
    ("GET", "/accounts/:id"),
    ("GET", "/mocked-account"),
    ("GET", "/backup"),
    ("GET", "/backup-s3"),
    ("POST", "/search/:c"),
    ("POST", "/multi-search"),
    ("POST", "/search/reindex"),
    ("GET", "/search/reindex"),
    ("POST", "/reconciliation/upload"),
    ("POST", "/reconciliation/matching-rules"),
    ("PUT", "/reconciliation/matching-rules/:id"),
    ("DELETE", "/reconciliation/matching-rules/:id"),
    ("POST", "/reconciliation/start"),
    ("POST", "/reconciliation/start-instant"),
    ("GET", "/reconciliation/:id"),
    ("POST", "/:entity/metadata"),
    ("POST", "/hooks"),
    ("GET", "/hooks"),
    ("GET", "/hooks/:id"),
    ("PUT", "/hooks/:id"),
    ("DELETE", "/hooks/:id"),
    ("POST", "/api-keys"),
    ("GET", "/api-keys"),
    ("DELETE", "/api-keys/:id"),
];

/// The headers Blnk's middleware puts on every answer it gives (tollbooth's rate-limit headers,
/// the security headers), with the peer's address and the forwarding headers it saw.
pub fn stamp(headers: &mut HeaderMap, req_headers: &HeaderMap, peer: SocketAddr, body: &Body) {
    let content_type = match body {
        Body::Json(_) => "application/json; charset=utf-8",
        Body::Text(_) => "text/plain",
    };
    for (name, value) in [
        ("cache-control", "no-store"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("content-type", content_type),
        ("ratelimit-limit", "5000000"),
        ("ratelimit-remaining", "10000000"),
        ("ratelimit-reset", "1"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("x-rate-limit-duration", "1"),
        ("x-rate-limit-limit", "5000000.00"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(v) = HeaderValue::from_str(&peer.to_string()) {
        headers.insert("x-rate-limit-request-remote-addr", v);
    }
    if let Some(xff) = req_headers.get("x-forwarded-for") {
        headers.insert("x-rate-limit-request-forwarded-for", xff.clone());
    }
    let https = req_headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    if https {
        headers.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}
