//! The routes that can move money, what their bodies say as Blnk reads them (`gojson`: Go's
//! `encoding/json` rules), and from that the key the gateway derives for a request and what to
//! ask Blnk after an unknown outcome.
//!
//! | route | derived key | after an unknown outcome |
//! |---|---|---|
//! | `POST /transactions` | its `reference` (none for `dry_run`) | Blnk's record of the reference (of its first leg for a split), if it is this transfer |
//! | `POST /transactions/bulk` | its items' references, in order | an honest 409: which items took effect is the operator's to read |
//! | `PUT /transactions/inflight/{id}`, a commit with an amount | a guard, unless it has an `Idempotency-Key` | an honest 409: a second commit of the same amount is indistinguishable |
//! | the same, a full commit or a void | none | sent again: Blnk refuses a repeat (409 already committed or voided) |
//! | `POST /transactions/inflight/bulk/commit` with any amount | a guard, unless keyed | an honest 409 |
//! | `POST /transactions/inflight/bulk/void` | none | sent again: Blnk refuses a repeat |
//! | `POST /refund-transaction/{id}` | the transaction refunded (none for `dry_run`) | Blnk's record of the refund, if there is one |
//!
//! A body on these routes that Go would not bind is refused before Blnk sees it (Blnk would
//! answer 400 too): one the gateway could not read the way Blnk does must never go through
//! without its key.

use http::Method;

use crate::body::Buffered;
use crate::error::Reject;
use crate::gojson;

/// The key the gateway derives for a money-moving request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    Reference,
    BulkReferences,
    Refund,
    /// An unkeyed request Blnk would act on twice (a partial commit).
    Guard,
}

/// What the gateway learns from a money-moving request.
#[derive(Debug, Default)]
pub struct Money {
    /// The derived key: its kind and bytes (a guard's bytes are the fingerprint, set later).
    pub key: Option<(Derived, Vec<u8>)>,
    /// What to name it by in the operator's view.
    pub reference: Option<String>,
    pub recovery: Recovery,
}

/// What can be learnt from Blnk when the first request's outcome is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing the gateway can ask: the retry gets an honest 409.
    #[default]
    None,
    /// A transfer: look its reference up, and compare the record with the request.
    Transfer(TransferFacts),
    /// A refund: look up the refund of this transaction.
    Refund { id: String },
    /// Blnk refuses a repeat of this request itself: send it again.
    Repeat,
}

/// What identifies a transfer in Blnk's record (docs/blnk.md section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFacts {
    pub reference: String,
    /// Legs of a split (Blnk stores only them, `<ref>_1` queued, `<ref>-1` with `skip_queue`);
    /// 0 for a single transfer.
    pub legs: usize,
    /// Blnk's precise amount (minor units), as a decimal string.
    pub precise: String,
    pub currency: String,
    /// Source and destination as the request names them (an `@indicator` or a balance id);
    /// `None` for the side a split spreads.
    pub source: Option<String>,
    pub destination: Option<String>,
    /// On Blnk's default queued path (answered before it is stored).
    pub queued: bool,
}

/// Whether a request is on a route that can move money (the table above).
pub fn moves_money(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        (method.as_str(), segments.as_slice()),
        ("POST", ["transactions"])
            | ("POST", ["transactions", "bulk"])
            | ("PUT", ["transactions", "inflight", _])
            | (
                "POST",
                ["transactions", "inflight", "bulk", "commit" | "void"]
            )
            | ("POST", ["refund-transaction", _])
    )
}

/// The money-moving route a request is on, if any, and what its body says.
pub fn of(
    method: &Method,
    path: &str,
    body: &Buffered,
    keyed: bool,
    from_reference: bool,
) -> Result<Money, Reject> {
    if !moves_money(method, path) {
        return Ok(Money::default());
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let unreadable = |e: gojson::Unreadable| {
        tracing::debug!(error = %e, path, "money-moving body refused: Blnk could not bind it either");
        Reject::MoneyBodyUnreadable
    };
    let owned = body.to_vec();
    let bytes = || owned.as_slice();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["transactions"]) => {
            let t = gojson::transfer(bytes()).map_err(unreadable)?;
            Ok(transfer(&t, from_reference))
        }
        ("POST", ["transactions", "bulk"]) => {
            let b = gojson::bulk(bytes()).map_err(unreadable)?;
            Ok(bulk(&b, from_reference))
        }
        ("PUT", ["transactions", "inflight", id]) => {
            let u = gojson::inflight_update(bytes()).map_err(unreadable)?;
            let partial = u.may_be_partial_commit();
            let mut money = guarded(partial && !u.dry_run && !keyed, !partial);
            money.reference = Some((*id).to_string());
            Ok(money)
        }
        ("POST", ["transactions", "inflight", "bulk", "commit"]) => {
            let b = gojson::bulk_commit(bytes()).map_err(unreadable)?;
            let partial = b
                .commits
                .iter()
                .any(|i| i.amount != 0.0 || i.precise_amount.is_some());
            Ok(guarded(partial && !b.dry_run && !keyed, !partial))
        }
        ("POST", ["transactions", "inflight", "bulk", "void"]) => {
            gojson::bulk_void(bytes()).map_err(unreadable)?;
            Ok(guarded(false, true))
        }
        ("POST", ["refund-transaction", id]) => {
            let r = gojson::refund(bytes()).map_err(unreadable)?;
            Ok(match r.dry_run {
                true => Money::default(),
                false => Money {
                    key: Some((Derived::Refund, id.as_bytes().to_vec())),
                    reference: Some((*id).to_string()),
                    recovery: Recovery::Refund {
                        id: (*id).to_string(),
                    },
                },
            })
        }
        _ => Ok(Money::default()),
    }
}

fn transfer(t: &gojson::Transfer, from_reference: bool) -> Money {
    let Ok(precise) = t.precise() else {
        return Money::default();
    };
    let precise = precise.to_string();
    let legs = t.sources.len().max(t.destinations.len());
    let facts = TransferFacts {
        reference: t.reference.to_string(),
        legs,
        precise,
        currency: t.currency.to_string(),
        source: t.sources.is_empty().then(|| t.source.to_string()),
        destination: t.destinations.is_empty().then(|| t.destination.to_string()),
        queued: !t.skip_queue,
    };
    let key = (from_reference && !t.dry_run && !t.reference.is_empty())
        .then(|| (Derived::Reference, t.reference.as_bytes().to_vec()));
    Money {
        key,
        reference: Some(t.reference.to_string()),
        recovery: match t.dry_run {
            true => Recovery::None,
            false => Recovery::Transfer(facts),
        },
    }
}

fn bulk(b: &gojson::Bulk, from_reference: bool) -> Money {
    let refs: Option<Vec<&str>> = b
        .transactions
        .iter()
        .map(|t| {
            t.as_ref()
                .map(|t| t.reference.as_ref())
                .filter(|r| !r.is_empty())
        })
        .collect();
    let refs = refs.filter(|r| !r.is_empty() && !b.dry_run && from_reference);
    let Some(refs) = refs else {
        return Money::default();
    };
    let mut key = Vec::new();
    for r in &refs {
        key.extend_from_slice(r.as_bytes());
        key.push(0);
    }
    Money {
        key: Some((Derived::BulkReferences, key)),
        reference: Some(format!("{} and {} more", refs[0], refs.len() - 1)),
        recovery: Recovery::None,
    }
}

/// A guard when `guard`; `Repeat` recovery when Blnk refuses a repeat itself.
fn guarded(guard: bool, repeat_refused: bool) -> Money {
    Money {
        key: guard.then(|| (Derived::Guard, Vec::new())),
        reference: None,
        recovery: match repeat_refused {
            true => Recovery::Repeat,
            false => Recovery::None,
        },
    }
}
