//! `POST /refund-transaction/{id}`: the reversal of an applied transaction, recorded under the
//! fixed reference `<id>_refund`, so a transaction is refunded at most once.
//!
//! As Blnk does (`transaction_refunds.go`; seen on a real Blnk): a second refund of a refunded
//! transaction is 409 `GEN_CONFLICT`; the default queued refund is answered 201 `QUEUED` before
//! it is stored, so a retry inside that window passes the check and gets a 201 for a refund
//! whose insert the unique reference then drops. `skip_queue` refunds at once.
//! Not modelled: Blnk's `refund:<id>` lock, which answers 423 `GEN_RESOURCE_LOCKED` to a second
//! refund sent while the first is being processed (the fake processes each under one lock).

use std::sync::Arc;

use serde_json::{json, Value};

use super::book::Book;
use super::post::Refusal;
use super::record::{now, Dates, Status, Txn};
use super::Ledger;
use crate::bind::RefundRequest;
use crate::reply::Reply;

pub fn refund(ledger: &Arc<Ledger>, id: &str, r: RefundRequest) -> Reply {
    let prepared = prepare(&mut ledger.book(), id, &r);
    let refund = match prepared {
        Ok(t) => t,
        Err((404, code, m)) => return Reply::error(404, code, &m),
        Err((status, code, m)) => {
            return Reply::error(
                status,
                code,
                &format!("error occurred during processing: [{m}]"),
            )
        }
    };
    if r.dry_run {
        return Reply::ok(
            json!({"dry_run": true, "would_apply": true, "reference": refund.reference}),
        );
    }
    let mut answer = refund.answered();
    answer["amount_string"] = json!(format!("{}", refund.amount));
    if r.skip_queue {
        let mut book = ledger.book();
        let mut applied = refund;
        applied.status = Status::Applied;
        answer["status"] = json!("APPLIED");
        if let Err(m) = record(&mut book, applied) {
            return Reply::error(
                409,
                "GEN_CONFLICT",
                &format!("error occurred during processing: [{m}]"),
            );
        }
        return Reply::created(answer);
    }
    let l = ledger.clone();
    ledger.queue.submit(
        move || {
            let mut book = l.book();
            let stored = book.insert(refund.clone());
            drop(book);
            stored.then_some((l, refund.id))
        },
        |(l, id): (Arc<Ledger>, String)| {
            let mut book = l.book();
            if let Some(t) = book.get(&id).cloned() {
                let _ = book.transfer((&t.source, &t.destination), t.precise, true, false);
                if let Some(t) = book.get_mut(&id) {
                    t.status = Status::Applied;
                }
            }
        },
    );
    Reply::created(answer)
}

/// The refund of `id`: the applied transaction reversed, or why there is none.
pub fn prepare(book: &mut Book, id: &str, r: &RefundRequest) -> Result<Txn, Refusal> {
    let original = refundable(book, id).ok_or((
        404,
        "TXN_NOT_FOUND",
        "no transaction to refund".to_string(),
    ))?;
    // Named after the transaction that moved the money: a queued parent's `_q` child.
    let reference = format!("{}_refund", original.id);
    if book.reference_used(&reference) {
        let m = format!("transaction {} has already been refunded", original.id);
        return Err((409, "GEN_CONFLICT", m));
    }
    let mut meta = original.meta.clone();
    if let Some(extra) = &r.meta_data {
        meta.extend(extra.clone());
    }
    Ok(Txn {
        id: book.ids.with_prefix("txn"),
        parent: original.id.clone(),
        reference,
        source: original.destination.clone(),
        destination: original.source.clone(),
        description: if r.description.is_empty() {
            original.description.clone()
        } else {
            r.description.clone()
        },
        status: Status::Queued,
        created_at: now(),
        meta,
        allow_overdraft: true,
        answered_amount: original.amount,
        amount_string: None,
        dates: Dates::default(),
        ..original
    })
}

/// What a refund of `id` reverses: the transaction itself once applied, or the applied `_q`
/// child of a queued one.
fn refundable(book: &Book, id: &str) -> Option<Txn> {
    let t = book.get(id)?;
    if t.status == Status::Applied {
        return Some(t.clone());
    }
    book.all()
        .find(|c| c.parent == id && c.status == Status::Applied && c.reference.ends_with("_q"))
        .cloned()
}

/// Stores and applies a refund now.
pub fn record(book: &mut Book, refund: Txn) -> Result<Value, String> {
    let (src, dst, amount) = (
        refund.source.clone(),
        refund.destination.clone(),
        refund.precise,
    );
    let answer = refund.answered();
    let parent = refund.parent.clone();
    if !book.insert(refund) {
        return Err(format!("transaction {parent} has already been refunded"));
    }
    let _ = book.transfer((&src, &dst), amount, true, false);
    Ok(answer)
}
