//! What happens once an answer is ready, beyond sending it: a money-moving request's record is
//! made durable first (`durably`), and a guard's idempotency key is given back once the client
//! has its answer (`give_back`; docs/idempotency.md).

use std::sync::Arc;

use http::Response;

use super::context::Context;
use super::keep;
use super::response::ResponseBody;
use crate::gateway::Gateway;
use crate::idempotency::{Claims, Settle};

/// A money-moving request's answer, sent once its record is on disk (group commit, bounded by
/// `AUDIT_DURABLE_TIMEOUT`): a crash after the answer never loses the record of money moved.
pub(super) async fn durably(
    cx: &mut Context,
    res: Response<ResponseBody>,
) -> Response<ResponseBody> {
    let Context {
        env,
        entry,
        started,
        resource,
        ..
    } = cx;
    if let Some(len) = http_body::Body::size_hint(res.body()).exact() {
        entry.count_out(usize::try_from(len).unwrap_or(usize::MAX));
    }
    if let Some(written) = entry.finish_durably() {
        if let Err(e) = written.await {
            tracing::error!(error = %e, "the record of a money-moving request is not on disk yet; the answer goes (the money moved)");
        }
    }
    env.gw.metrics.request(
        env.snap.settings.mode,
        *resource,
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

/// Gives a guard's key back in the background.
pub(super) fn give_back(gw: Arc<Gateway>, mut claims: Claims) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    tokio::spawn(async move {
        if let Some(idem) = &gw.idempotency {
            keep::settle(&gw, idem, &mut claims, Settle::Release).await;
        }
    });
}
