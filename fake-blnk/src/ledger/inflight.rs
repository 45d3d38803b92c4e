//! Inflight transactions: `PUT /transactions/inflight/{id}` and the bulk commit and void.
//!
//! As Blnk does (`transaction_inflight.go`, `api/transactions.go`; seen on a real Blnk):
//! - a commit with an `amount` below what is left is partial, recorded as a child with a fresh
//!   reference: the same partial commit sent twice commits twice;
//! - a commit without an amount commits what is left; once nothing is left, any commit or void
//!   is 409 `TXN_ALREADY_COMMITTED`; after a void, 409 `TXN_ALREADY_VOIDED`; more than the
//!   original or than what is left is 400 `TXN_COMMIT_AMOUNT_EXCEEDED`; a negative amount is
//!   400 `GEN_BAD_REQUEST` `commit amount cannot be negative`, and commits nothing;
//! - by default the action is queued: 200 with the still-inflight transaction and `queued:
//!   true`, applied later; while one is queued for a transaction another is 409 `GEN_CONFLICT`;
//! - `skip_queue` applies it now and answers the child; its refusals are wrapped in "error
//!   occurred during processing: [...]";
//! - a bulk item's `precise_amount`, when given, is its amount whatever its sign (0 commits
//!   what is left), and a refused item's result carries the Go error's text and Blnk's
//!   `classifyInflightError` code for it (`NOT_FOUND`, `ALREADY_COMMITTED`, `ALREADY_VOIDED`,
//!   `NOT_INFLIGHT`, `INVALID_AMOUNT`, and `INTERNAL_ERROR` for a negative amount).
//!
//! The id may be the hold itself or the queued parent whose `_q` child holds. Not modelled: a
//! bulk item with `skip_queue` on a queued hold's parent id settles against that parent record
//! in Blnk (its own remaining amount, children under its id); the fake settles the `_q` child.

use std::sync::Arc;

use serde_json::{json, Value};

use super::book::Book;
use super::precise::to_decimal;
use super::record::{money, now, Dates, Status, Txn};
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

/// Which of Blnk's code paths reads the id: they find the hold, and word their refusals,
/// each its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// `PUT` with `skip_queue` (`ProcessTransactionInBatches`): the inflight records under the
    /// id, each settled by `CommitInflightTransaction`/`VoidInflightTransaction`; none is "no
    /// transaction to <action>".
    Now,
    /// `PUT` queued, and each item of a queued bulk (`preValidateInflightAction`): the record
    /// itself, checked before queueing; an exhausted hold "cannot commit", whatever the action.
    Queued,
    /// An item of a bulk with `skip_queue` (`BulkInflightUpdate`): the record itself, settled.
    Bulk,
}

/// Why an action is refused, as the Go error Blnk's code returns.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Why {
    /// `GetTransaction`'s `APIError` (code `NOT_FOUND`).
    NotFound(String),
    NotInflight,
    /// No inflight record under the id (`PUT` with `skip_queue`).
    NoTransaction(Action),
    Voided,
    Committed(Action),
    Negative,
    Exceeded(String),
}

impl Why {
    /// `err.Error()`: what a bulk result's `message` says.
    fn go_error(&self) -> String {
        match self {
            Why::NotFound(id) => format!("NOT_FOUND: Transaction with ID '{id}' not found"),
            Why::NotInflight => "transaction is not in inflight status".into(),
            Why::NoTransaction(a) => format!("no transaction to {}", a.word()),
            Why::Voided => "transaction has already been voided".into(),
            Why::Committed(a) => format!("cannot {}. Transaction already committed", a.word()),
            Why::Negative => "commit amount cannot be negative".into(),
            Why::Exceeded(m) => m.clone(),
        }
    }

    /// The answer to a `PUT` (`respondError` with the not-found upgrade and `GEN_BAD_REQUEST`
    /// by default); `skip_queue` wraps what its workers return.
    fn reply(&self, path: Path) -> Reply {
        let (status, code) = match self {
            Why::NotFound(id) => {
                return Reply::not_found(&format!("Transaction with ID '{id}' not found"))
            }
            Why::NotInflight | Why::NoTransaction(_) => (400, "TXN_NOT_INFLIGHT"),
            Why::Voided => (409, "TXN_ALREADY_VOIDED"),
            Why::Committed(_) => (409, "TXN_ALREADY_COMMITTED"),
            Why::Negative => (400, "GEN_BAD_REQUEST"),
            Why::Exceeded(_) => (400, "TXN_COMMIT_AMOUNT_EXCEEDED"),
        };
        let m = match (path, self) {
            (Path::Now, Why::NoTransaction(_)) | (Path::Queued | Path::Bulk, _) => self.go_error(),
            (Path::Now, _) => format!("error occurred during processing: [{}]", self.go_error()),
        };
        Reply::error(status, code, &m)
    }

    /// A bulk result's `code`: Blnk's `classifyInflightError`, which matches the message.
    fn code(&self) -> &'static str {
        classify(&self.go_error())
    }
}

/// Blnk's `classifyInflightError`, on an error's text, in its order.
fn classify(m: &str) -> &'static str {
    if m.contains("transaction not found")
        || m.contains("no rows in result set")
        || m.contains("not found")
    {
        "NOT_FOUND"
    } else if m.contains("has already been voided") {
        "ALREADY_VOIDED"
    } else if m.contains("Transaction already committed") {
        "ALREADY_COMMITTED"
    } else if m.contains("not in inflight status") {
        "NOT_INFLIGHT"
    } else if m.contains("cannot commit more than") {
        "INVALID_AMOUNT"
    } else if m.contains("failed to acquire lock") {
        "LOCKED"
    } else {
        "INTERNAL_ERROR"
    }
}

/// What an action asks: the `amount` (at the hold's precision) or the `precise_amount`, which
/// wins when given. `PUT` refuses a `precise_amount` of 0 or below before; a bulk commit item
/// uses it as it is (0 commits what is left; below 0 is refused as negative).
#[derive(Debug, Clone, Copy, Default)]
struct Ask {
    amount: f64,
    precise_amount: Option<i128>,
}

impl Ask {
    fn of(u: &InflightUpdate) -> Ask {
        Ask {
            amount: u.amount,
            precise_amount: u.precise_amount,
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
    let ask = Ask::of(&u);
    if u.dry_run {
        if ledger.book().get(id).is_none() {
            return Reply::not_found(&format!("Transaction with ID '{id}' not found"));
        }
        let checked = check(&ledger.book(), id, action, ask, Path::Now);
        return Reply::ok(
            json!({"dry_run": true, "would_apply": checked.is_ok(), "operation": action.word()}),
        );
    }
    if u.skip_queue {
        let mut book = ledger.book();
        return match now_or_refuse(&mut book, id, action, ask, Path::Now) {
            Ok(child) => Reply::ok(child.answered()),
            Err(why) => why.reply(Path::Now),
        };
    }
    match enqueue(ledger, id, action, ask) {
        Ok(parent) => Reply::ok(parent),
        Err(Refused::Why(why)) => why.reply(Path::Queued),
        Err(Refused::AlreadyQueued) => Reply::error(409, "GEN_CONFLICT", ALREADY_QUEUED),
    }
}

/// Blnk's `ErrInflightActionQueued`.
const ALREADY_QUEUED: &str = "a commit or void is already queued for this transaction";

/// Why `enqueue` did not queue.
enum Refused {
    Why(Why),
    AlreadyQueued,
}

/// The hold `id` names, and the precise amount the action settles; or why not, in Blnk's
/// order: the record, voided, nothing left, then the amount.
fn check(
    book: &Book,
    id: &str,
    action: Action,
    ask: Ask,
    path: Path,
) -> Result<(String, i128), Why> {
    let hold_id = match path {
        Path::Now => hold_of(book, id).ok_or(Why::NoTransaction(action))?,
        Path::Queued | Path::Bulk => {
            if book.get(id).is_none() {
                return Err(Why::NotFound(id.to_string()));
            }
            hold_of(book, id).ok_or(Why::NotInflight)?
        }
    };
    let hold = book.holds[&hold_id];
    let txn = book
        .get(&hold_id)
        .ok_or_else(|| Why::NotFound(id.to_string()))?;
    if hold.voided {
        return Err(Why::Voided);
    }
    if hold.remaining() <= 0 {
        return Err(Why::Committed(match path {
            Path::Queued => Action::Commit,
            Path::Now | Path::Bulk => action,
        }));
    }
    if action == Action::Void {
        return Ok((hold_id, hold.remaining()));
    }
    let amount = match ask.precise_amount {
        Some(p) => p,
        None => precise(ask.amount, txn.precision, None),
    };
    let amount = match amount {
        a if a < 0 => return Err(Why::Negative),
        0 => hold.remaining(),
        a => a,
    };
    let show = |p| money(&txn.currency, p, txn.precision);
    if amount > hold.held {
        return Err(Why::Exceeded(format!(
            "cannot commit more than the original transaction amount. Original: {}, Requested: {}",
            show(hold.held),
            show(amount)
        )));
    }
    if amount > hold.remaining() {
        return Err(Why::Exceeded(format!(
            "cannot commit more than the remaining amount. Available: {}, Requested: {}",
            show(hold.remaining()),
            show(amount)
        )));
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
    // `convertPreciseToDecimal` of the amount settled; the record Blnk read back has no
    // overdraft or queue flags, and the child is not inflight.
    let (text, decimal) = to_decimal(amount, child.precision);
    child.amount = decimal;
    child.answered_amount = decimal;
    child.amount_string = Some(text);
    child.allow_overdraft = false;
    child.skip_queue = false;
    child.inflight = false;
    child.dates = Dates::default();
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
    ask: Ask,
    path: Path,
) -> Result<Txn, Why> {
    let (hold_id, amount) = check(book, id, action, ask, path)?;
    let reference = book.ids.with_prefix("ref");
    apply(book, &hold_id, action, amount, reference).ok_or_else(|| Why::NotFound(id.to_string()))
}

/// Queues the action (Blnk's asynq task `inflight-action:<id>`): refused if one is queued.
fn enqueue(ledger: &Arc<Ledger>, id: &str, action: Action, ask: Ask) -> Result<Value, Refused> {
    let (hold_id, parent) = {
        let mut book = ledger.book();
        let (hold_id, _) = check(&book, id, action, ask, Path::Queued).map_err(Refused::Why)?;
        if !book.queued_actions.insert(hold_id.clone()) {
            return Err(Refused::AlreadyQueued);
        }
        // The record as `GetTransaction` reads it, marked queued.
        let mut parent = book.get(id).map(Txn::by_id).unwrap_or(Value::Null);
        parent["queued"] = json!(true);
        (hold_id, parent)
    };
    let (l, id) = (ledger.clone(), id.to_string());
    ledger.queue.later(move || {
        let mut book = l.book();
        book.queued_actions.remove(&hold_id);
        if let Ok((hold_id, amount)) = check(&book, &id, action, ask, Path::Queued) {
            let reference = format!("{id}_{}_act_{}", action.word(), book.ids.uuid());
            let _ = apply(&mut book, &hold_id, action, amount, reference);
        }
    });
    Ok(parent)
}

/// `POST /transactions/inflight/bulk/commit`: each item on its own, 200 with a result per item.
/// An item's `precise_amount`, when given, is the amount whatever its sign.
pub fn bulk_commit(ledger: &Arc<Ledger>, b: BulkCommit) -> Reply {
    let items = b.transactions.into_vec().into_iter().map(|c| {
        let ask = Ask {
            amount: c.amount,
            precise_amount: c.precise_amount,
        };
        (c.transaction_id, ask)
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
    let items = items.map(|id| (id, Ask::default()));
    bulk(
        ledger,
        Action::Void,
        items.collect(),
        b.skip_queue,
        b.dry_run,
    )
}

/// Each item settled now (`skip_queue`), or checked and queued; a refusal is the item's result,
/// with Blnk's `classifyInflightError` code and the Go error's text.
fn bulk(
    ledger: &Arc<Ledger>,
    action: Action,
    items: Vec<(String, Ask)>,
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
    for (id, ask) in items {
        let outcome = if dry_run {
            check(&ledger.book(), &id, action, ask, Path::Bulk)
                .map(|_| json!({"transaction_id": id, "status": "would_apply"}))
        } else if skip_queue {
            now_or_refuse(&mut ledger.book(), &id, action, ask, Path::Bulk)
                .map(|_| json!({"transaction_id": id, "status": "succeeded"}))
        } else {
            match enqueue(ledger, &id, action, ask) {
                Ok(_) => Ok(json!({"transaction_id": id, "status": "queued", "code": "QUEUED"})),
                Err(Refused::AlreadyQueued) => Ok(
                    json!({"transaction_id": id, "status": "queued", "code": "ALREADY_QUEUED", "message": ALREADY_QUEUED}),
                ),
                Err(Refused::Why(why)) => Err(why),
            }
        };
        match outcome {
            Ok(r) => {
                succeeded += 1;
                results.push(r);
            }
            Err(why) => {
                failed += 1;
                results.push(json!({"transaction_id": id, "status": "failed", "code": why.code(), "message": why.go_error()}));
            }
        }
    }
    Reply::ok(json!({"results": results, "succeeded": succeeded, "failed": failed}))
}
