//! Whether Blnk accepts the master key the gateway sends: the probe that asks it, the verdict
//! `/readyz` and `blnk_gateway_upstream_key_accepted` report, and the evidence forwarded
//! requests give for free.
//!
//! Blnk learns its key only when it starts, so after Blnk moves to a new key (or is started with
//! another one) every request that needs the key gets Blnk's 401 while `/health` still says UP.
//! The gateway finds out two ways:
//! - **the probe** (`GET /ledgers?limit=1` with the key; `rotation`'s probe loop asks it too):
//!   Blnk answers 401 to a key it does not hold and anything else to one it does. `/readyz` asks
//!   at most once per `KEY_CHECK_INTERVAL` and never twice at once, so readiness polling is never
//!   a request to Blnk per call;
//! - **forwarded requests**: a run of `KEY_MISMATCH_RUN` 401s to the master key means Blnk
//!   rejects it (logged as a likely key mismatch, at most once per `KEY_MISMATCH_LOG_INTERVAL`),
//!   and any other answer means it accepts it. A request pays two relaxed loads for this.
//!
//! A change of verdict is logged once (ERROR when Blnk starts rejecting the key). This module
//! decides nothing about requests; `/readyz` (in `admin`) reports what it knows.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use http::{HeaderValue, Method, Request, StatusCode};
use tokio::time::Instant;

use crate::body::RequestBody;
use crate::headers::X_BLNK_KEY;
use crate::limits::{KEY_CHECK_INTERVAL, KEY_MISMATCH_LOG_INTERVAL, KEY_MISMATCH_RUN};
use crate::secret::Fingerprint;
use crate::state::Snapshot;
use crate::upstream::UpstreamClient;

/// A cheap authenticated read that Blnk answers 401 to a key it does not hold.
const PROBE_PATH: &str = "/ledgers?limit=1";

/// What Blnk said about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not asked yet, or Blnk did not answer.
    Unknown,
    Accepted,
    /// Blnk answered 401: it holds another key.
    Rejected,
}

/// The verdict for the master key in force, shared by `/readyz`, `/metrics` and the proxy.
#[derive(Debug, Default)]
pub struct KeyCheck {
    /// Mirrors `seen.verdict == Rejected`, for the metric and the request path.
    rejected: AtomicBool,
    /// 401s in a row to the master key, from forwarded requests.
    run: AtomicU32,
    seen: Mutex<Seen>,
    /// Held while a probe is out, so concurrent `/readyz` calls share one.
    probing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Seen {
    verdict: Option<Verdict>,
    /// The key the verdict is about; a reload with another key makes it stale.
    key: Option<Fingerprint>,
    at: Option<Instant>,
    run_logged_at: Option<Instant>,
}

impl KeyCheck {
    /// Blnk's verdict on the key the gateway sends now: the one known, or a fresh probe when it
    /// is older than `KEY_CHECK_INTERVAL` or about another key (unless a probe is already out).
    pub async fn verdict(&self, upstream: &UpstreamClient, snap: &Snapshot) -> Verdict {
        let (fingerprint, keys) = in_force(snap, Instant::now());
        if let Some(v) = self.fresh(&fingerprint) {
            return v;
        }
        let Ok(_probing) = self.probing.try_lock() else {
            return self.known(&fingerprint);
        };
        let mut verdict = Verdict::Unknown;
        for key in keys {
            verdict = probe(upstream, snap, &key).await;
            if verdict != Verdict::Rejected {
                break;
            }
        }
        self.record(verdict, &fingerprint, "probe");
        verdict
    }

    /// Blnk's answer to a forwarded request that carried the gateway's current key.
    pub fn observe(&self, status: StatusCode, snap: &Snapshot) {
        if status == StatusCode::UNAUTHORIZED {
            let run = self
                .run
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_add(1))
                })
                .map_or(u32::MAX, |n| n.saturating_add(1));
            if run >= KEY_MISMATCH_RUN {
                self.mismatch_run(run, snap.keys.current.fingerprint());
            }
        } else if self.run.load(Ordering::Relaxed) != 0 || self.rejected.load(Ordering::Relaxed) {
            self.run.store(0, Ordering::Relaxed);
            self.record(
                Verdict::Accepted,
                snap.keys.current.fingerprint(),
                "forwarded request",
            );
        }
    }

    /// For `/metrics`: `upstream_key_accepted` now.
    pub fn gauge(&self) -> Accepted {
        Accepted(!self.rejected.load(Ordering::Relaxed))
    }

    /// What is known about `key` when it was learned (or asked, unanswered) within the interval.
    fn fresh(&self, key: &Fingerprint) -> Option<Verdict> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let recent = seen.at.is_some_and(|at| at.elapsed() < KEY_CHECK_INTERVAL);
        (recent && seen.key.as_ref() == Some(key)).then(|| seen.verdict.unwrap_or(Verdict::Unknown))
    }

    fn known(&self, key: &Fingerprint) -> Verdict {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.verdict {
            Some(v) if seen.key.as_ref() == Some(key) => v,
            _ => Verdict::Unknown,
        }
    }

    /// Records a verdict; logs a change. Returns true when it changed.
    fn record(&self, verdict: Verdict, key: &Fingerprint, how: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.key.as_ref() != Some(key) {
            // Another key: nothing known about it yet.
            seen.key = Some(*key);
            seen.verdict = None;
            self.rejected.store(false, Ordering::Relaxed);
        }
        let before = seen.verdict;
        // Asked, answered or not: the next probe waits for the interval either way.
        seen.at = Some(Instant::now());
        if verdict == Verdict::Unknown {
            return false;
        }
        seen.verdict = Some(verdict);
        self.rejected
            .store(verdict == Verdict::Rejected, Ordering::Relaxed);
        if before == Some(verdict) {
            return false;
        }
        match verdict {
            Verdict::Rejected => {
                seen.run_logged_at = Some(Instant::now());
                tracing::error!(key_fingerprint = %key, seen_by = how, "Blnk rejects the gateway's master key (401), a likely key mismatch: Blnk holds another key, so every request that needs the key fails; /readyz reports not ready until Blnk and the gateway hold the same key");
            }
            Verdict::Accepted if before == Some(Verdict::Rejected) => {
                tracing::info!(key_fingerprint = %key, seen_by = how, "Blnk accepts the gateway's master key again; ready");
            }
            _ => {
                tracing::debug!(key_fingerprint = %key, seen_by = how, "Blnk accepts the gateway's master key")
            }
        }
        true
    }

    /// A run of 401s to the master key: Blnk rejects it. Logged at most once per interval.
    fn mismatch_run(&self, run: u32, key: &Fingerprint) {
        if self.record(Verdict::Rejected, key, "requests answered 401 in a row") {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let due = seen
            .run_logged_at
            .is_none_or(|at| at.elapsed() >= KEY_MISMATCH_LOG_INTERVAL);
        if due {
            seen.run_logged_at = Some(Instant::now());
            tracing::error!(key_fingerprint = %key, requests_in_a_row = run, "likely key mismatch: Blnk keeps answering 401 to the gateway's master key");
        }
    }
}

/// `upstream_key_accepted` at one moment: false while Blnk is known to reject the key.
#[derive(Debug, Clone, Copy)]
pub struct Accepted(bool);

impl prometheus_client::collector::Collector for Accepted {
    fn encode(
        &self,
        mut e: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        crate::metrics::gauge(
            &mut e,
            "upstream_key_accepted",
            "0 while Blnk answers 401 to the gateway's master key (a probe or a run of forwarded requests), else 1.",
            i64::from(self.0),
        )
    }
}

/// The fingerprint of the key sent to Blnk now, and the keys to probe: that one and, while Blnk
/// may hold either during a rotation, the other.
fn in_force(snap: &Snapshot, now: Instant) -> (Fingerprint, Vec<HeaderValue>) {
    let keys = &snap.keys;
    let (which, value) = keys.upstream_key(now);
    let fingerprint = match (which, &keys.previous) {
        (crate::keys::Which::Previous, Some(p)) => *p.key.fingerprint(),
        _ => *keys.current.fingerprint(),
    };
    let mut probe = vec![value.clone()];
    if keys.upstream_uncertain(now) {
        probe.extend(keys.other_upstream_key(which, now).map(|(_, v)| v.clone()));
    }
    (fingerprint, probe)
}

/// One probe with `key`: Rejected on 401, Accepted on any other answer, Unknown without one.
pub async fn probe(upstream: &UpstreamClient, snap: &Snapshot, key: &HeaderValue) -> Verdict {
    let target = &snap.settings.upstream;
    let uri = format!("{}://{}{PROBE_PATH}", target.scheme, target.authority);
    let Ok(mut req) = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(RequestBody::empty())
    else {
        return Verdict::Unknown;
    };
    req.headers_mut()
        .insert(http::header::HOST, target.host.clone());
    req.headers_mut().insert(X_BLNK_KEY, key.clone());
    match upstream.send(req, snap.settings.limits.upstream()).await {
        Ok(res) if res.status() == StatusCode::UNAUTHORIZED => Verdict::Rejected,
        Ok(_) => Verdict::Accepted,
        Err(_) => Verdict::Unknown,
    }
}
