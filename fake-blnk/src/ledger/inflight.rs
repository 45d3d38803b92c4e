//! Inflight transactions: `PUT /transactions/inflight/{id}` and the bulk commit and void.
//!
//! As Blnk does (`transaction_inflight.go`, `api/transactions.go`; seen on a real Blnk):
//! - a commit with an `amount` below what is left is partial, recorded as a child with a fresh
//!   reference: the same partial commit sent twice commits twice;
//! - a commit without an amount commits what is left; once nothing is left, any commit or void
//!   is 409 `TXN_ALREADY_COMMITTED`; after a void, 409 `TXN_ALREADY_VOIDED`; more than the
//!   original or than what is left is 400 `TXN_COMMIT_AMOUNT_EXCEEDED`;
//! - by default the action is queued: 200 with the still-inflight transaction and `queued:
//!   true`, applied later; while one is queued for a transaction another is 409 `GEN_CONFLICT`;
//! - `skip_queue` applies it now and answers the child; its refusals are wrapped in "error
//!   occurred during processing: [...]".
//!
//! The id may be the hold itself (`skip_queue`) or the queued parent whose `_q` child holds.

use std::sync::Arc;

use serde_json::{json, Value};

use super::book::Book;
use super::post::Refusal;
use super::record::{money, now, Status, Txn};
use super::{precise, Ledger};
use crate::bind::{BulkCommit, BulkVoid, InflightUpdate};
use crate::reply::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Commit,
    Void,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        match s {
            "commit" => Some(Action::Commit),
            "void" => Some(Action::Void),
            _ => None,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Action::Commit => "commit",
            Action::Void => "void",
        }
    }
}

pub fn update(ledger: &Arc<Ledger>, id: &str, u: InflightUpdate) -> Reply {
    let Some(action) = Action::parse(&u.status) else {
        return Reply::error(
            400,
            "TXN_INVALID_STATUS_ACTION",
            "status not supported. use either commit or void",
        );
    };
    if matches!(u.precise_amount, Some(p) if p <= 0) {
        return Reply::error(400, "TXN_INVALID_AMOUNT", "precise_amount must be positive");
    }
    if ledger.book().get(id).is_none() {
        return Reply::not_found(&format!("Transaction with ID '{id}' not found"));
    }
    if u.dry_run {
        let checked = check(&ledger.book(), id, action, &u, false);
        return Reply::ok(
            json!({"dry_run": true, "would_apply": checked.is_ok(), "operation": action.word()}),
        );
    }
    if u.skip_queue {
        let mut book = ledger.book();
        return match now_or_refuse(&mut book, id, action, &u) {
            Ok(child) => Reply::ok(child.answered()),
            Err((status, code, m)) => Reply::error(
                status,
                code,
                &format!("error occurred during processing: [{m}]"),
            ),
        };
    }
    match enqueue(ledger, id, action, &u) {
        Ok(parent) => Reply::ok(parent),
        Err((status, code, m)) => Reply::error(status, code, &m),
    }
}

/// The hold `id` names, and the precise amount the action settles. The queued path checks
/// before queueing, and says "cannot commit" whatever the action.
fn check(
    book: &Book,
    id: &str,
    action: Action,
    u: &InflightUpdate,
    queued: bool,
) -> Result<(String, i128), Refusal> {
    let hold_id = hold_of(book, id).ok_or_else(|| {
        (
            400,
            "TXN_NOT_INFLIGHT",
            format!("no transaction to {}", action.word()),
        )
    })?;
    let hold = book.holds[&hold_id];
    let txn = book.get(&hold_id).ok_or_else(|| {
        (
            404,
            "TXN_NOT_FOUND",
            format!("Transaction with ID '{id}' not found"),
        )
    })?;
    if hold.voided {
        return Err((
            409,
            "TXN_ALREADY_VOIDED",
            "transaction has already been voided".into(),
        ));
    }
    if hold.remaining() <= 0 {
        return Err((
            409,
            "TXN_ALREADY_COMMITTED",
            format!(
                "cannot {}. Transaction already committed",
                if queued { "commit" } else { action.word() }
            ),
        ));
    }
    if action == Action::Void {
        return Ok((hold_id, hold.remaining()));
    }
    let amount = match precise(u.amount, txn.precision, u.precise_amount) {
        0 => hold.remaining(),
        a => a,
    };
    let show = |p| money(&txn.currency, p, txn.precision);
    if amount > hold.held {
        return Err((400, "TXN_COMMIT_AMOUNT_EXCEEDED", format!("cannot commit more than the original transaction amount. Original: {}, Requested: {}", show(hold.held), show(amount))));
    }
    if amount > hold.remaining() {
        return Err((
            400,
            "TXN_COMMIT_AMOUNT_EXCEEDED",
            format!(
                "cannot commit more than the remaining amount. Available: {}, Requested: {}",
                show(hold.remaining()),
                show(amount)
            ),
        ));
    }
    Ok((hold_id, amount))
}

/// The inflight record behind `id`: itself, or its `_q` child.
fn hold_of(book: &Book, id: &str) -> Option<String> {
    if book.holds.contains_key(id) {
        return Some(id.to_string());
    }
    book.all()
        .find(|t| t.parent == id && book.holds.contains_key(&t.id))
        .map(|t| t.id.clone())
}

/// Settles `amount` of the hold now, recording the child that says so.
fn apply(
    book: &mut Book,
    hold_id: &str,
    action: Action,
    amount: i128,
    reference: String,
) -> Option<Txn> {
    let mut child = book.get(hold_id).cloned()?;
    let hold = book.holds.get_mut(hold_id).map(|h| {
        match action {
            Action::Commit => h.committed += amount,
            Action::Void => h.voided = true,
        }
        *h
    });
    book.settle(
        (&child.source, &child.destination),
        amount,
        action == Action::Commit,
    );
    if let (Some(h), Some(p)) = (hold, book.get_mut(hold_id)) {
        if h.voided {
            p.status = Status::Void;
        } else if h.remaining() == 0 {
            p.status = Status::Applied;
        }
    }
    child.id = book.ids.with_prefix("txn");
    child.parent = hold_id.to_string();
    child.reference = reference;
    child.precise = amount;
    child.amount = amount as f64
        / if child.precision > 0.0 {
            child.precision
        } else {
            1.0
        };
    child.status = match action {
        Action::Commit => Status::Applied,
        Action::Void => Status::Void,
    };
    child.created_at = now();
    book.insert(child.clone());
    Some(child)
}

fn now_or_refuse(
    book: &mut Book,
    id: &str,
    action: Action,
    u: &InflightUpdate,
) -> Result<Txn, Refusal> {
    let (hold_id, amount) = check(book, id, action, u, false)?;
    let reference = book.ids.with_prefix("ref");
    apply(book, &hold_id, action, amount, reference).ok_or((
        404,
        "TXN_NOT_FOUND",
        format!("Transaction with ID '{id}' not found"),
    ))
}

/// Queues the action (Blnk's asynq task `inflight-action:<id>`): refused if one is queued.
fn enqueue(
    ledger: &Arc<Ledger>,
    id: &str,
    action: Action,
    u: &InflightUpdate,
) -> Result<Value, Refusal> {
    let (hold_id, parent) = {
        let mut book = ledger.book();
        let (hold_id, _) = check(&book, id, action, u, true)?;
        if !book.queued_actions.insert(hold_id.clone()) {
            return Err((
                409,
                "GEN_CONFLICT",
                "a commit or void is already queued for this transaction".into(),
            ));
        }
        let mut parent = book.get(id).map(Txn::stored).unwrap_or(Value::Null);
        parent["precision"] = super::record::go_float(book.get(id).map_or(0.0, |t| t.precision));
        parent["queued"] = json!(true);
        (hold_id, parent)
    };
    let (l, id, u) = (ledger.clone(), id.to_string(), u.clone());
    ledger.queue.later(move || {
        let mut book = l.book();
        book.queued_actions.remove(&hold_id);
        if let Ok((hold_id, amount)) = check(&book, &id, action, &u, true) {
            let reference = format!("{id}_{}_act_{}", action.word(), book.ids.uuid());
            let _ = apply(&mut book, &hold_id, action, amount, reference);
        }
    });
    Ok(parent)
}

/// `POST /transactions/inflight/bulk/commit`: each item on its own, 200 with a result per item.
pub fn bulk_commit(ledger: &Arc<Ledger>, b: BulkCommit) -> Reply {
    let items = b.transactions.into_vec().into_iter().map(|c| {
        let u = InflightUpdate {
            amount: c.amount,
            precise_amount: c.precise_amount,
            ..InflightUpdate::default()
        };
        (c.transaction_id, u)
    });
    bulk(
        ledger,
        Action::Commit,
        items.collect(),
        b.skip_queue,
        b.dry_run,
    )
}

/// `POST /transactions/inflight/bulk/void`: each item on its own, 200 with a result per item.
pub fn bulk_void(ledger: &Arc<Ledger>, b: BulkVoid) -> Reply {
    let items = b.transaction_ids.into_vec().into_iter();
    let items = items.map(|id| (id, InflightUpdate::default()));
    bulk(
        ledger,
        Action::Void,
        items.collect(),
        b.skip_queue,
        b.dry_run,
    )
}

fn bulk(
    ledger: &Arc<Ledger>,
    action: Action,
    items: Vec<(String, InflightUpdate)>,
    skip_queue: bool,
    dry_run: bool,
) -> Reply {
    let what = if action == Action::Commit {
        "transactions"
    } else {
        "transaction_ids"
    };
    if items.is_empty() {
        return Reply::error(400, "TXN_BULK_EMPTY", &format!("{what} cannot be empty"));
    }
    if items.len() > 100 {
        return Reply::error(
            400,
            "TXN_BULK_LIMIT_EXCEEDED",
            &format!("too many {what}; max is 100"),
        );
    }
    let (mut results, mut succeeded, mut failed) = (Vec::new(), 0, 0);
    for (id, item) in items {
        let outcome = if dry_run {
            check(&ledger.book(), &id, action, &item, false)
                .map(|_| json!({"transaction_id": id, "status": "would_apply"}))
        } else if skip_queue {
            now_or_refuse(&mut ledger.book(), &id, action, &item)
                .map(|_| json!({"transaction_id": id, "status": "succeeded"}))
        } else {
            match enqueue(ledger, &id, action, &item) {
                Ok(_) => Ok(json!({"transaction_id": id, "status": "queued", "code": "QUEUED"})),
                Err((409, "GEN_CONFLICT", m)) => Ok(
                    json!({"transaction_id": id, "status": "queued", "code": "ALREADY_QUEUED", "message": m}),
                ),
                Err(e) => Err(e),
            }
        };
        match outcome {
            Ok(r) => {
                succeeded += 1;
                results.push(r);
            }
            Err((_, code, message)) => {
                failed += 1;
                results.push(json!({"transaction_id": id, "status": "failed", "code": code, "message": message}));
            }
        }
    }
    Reply::ok(json!({"results": results, "succeeded": succeeded, "failed": failed}))
}
