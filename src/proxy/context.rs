//! What is fixed for one request once its head has arrived, in one value ([`Context`]): the
//! gateway, the snapshot in force, the connection's facts, the request id, when it started, and
//! what the request fills in as it goes (its audit entry, its resource). Each stage of the
//! pipeline takes the context, so its signature says only what else it needs.
//!
//! An exchange that may outlive the handler (see `exchange`) takes [`Env`] with it: the gateway
//! and the snapshot, owned.

use std::sync::Arc;

use http::uri::PathAndQuery;
use http::{HeaderValue, Request};
use tokio::time::Instant;

use crate::audit::{Entry, RequestHead};
use crate::conn::ConnInfo;
use crate::gateway::Gateway;
use crate::headers::X_REQUEST_ID;
use crate::route::Resource;
use crate::state::Snapshot;

use super::seen::Seen;

/// The gateway and the snapshot a request loaded at its start, which it uses to the end.
#[derive(Clone)]
pub(super) struct Env {
    pub gw: Arc<Gateway>,
    pub snap: Arc<Snapshot>,
}

/// One request's context (see the module docs).
pub(super) struct Context {
    pub env: Env,
    pub conn: Arc<ConnInfo>,
    /// What the connection's bytes showed beyond the parsed request.
    pub seen: Arc<Seen>,
    pub request_id: HeaderValue,
    pub started: Instant,
    /// The request's audit record, closed by the response body (or by itself when dropped).
    pub entry: Entry,
    /// Blnk's scope resource, once the path is normalised; `Unknown` before.
    pub resource: Resource,
}

impl Context {
    /// The context of a request whose head just arrived: the snapshot in force, the request id
    /// (the client's when it is acceptable), and the audit entry, with the target as the client
    /// sent it (before normalisation).
    pub fn open<B>(
        gw: Arc<Gateway>,
        conn: Arc<ConnInfo>,
        seen: Arc<Seen>,
        req: &Request<B>,
    ) -> Context {
        let started = Instant::now();
        let snap = gw.snapshot();
        let request_id = gw.request_ids.pick(req.headers().get(X_REQUEST_ID));
        let target = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let head = RequestHead {
            method: req.method(),
            version: req.version(),
            target: &target,
            request_id: &request_id,
        };
        let settings = &snap.settings;
        let entry = gw
            .audit
            .begin(&conn, settings.mode, settings.audit.include_query, head);
        Context {
            env: Env { gw, snap },
            conn,
            seen,
            request_id,
            started,
            entry,
            resource: Resource::Unknown,
        }
    }
}
