//! `POST /transactions/bulk`: up to 10,000 transactions in one request, each with its own
//! reference, under a new `batch_id` per call.
//!
//! As Blnk does (`transaction_bulk.go`, `api/transactions.go`; seen on a real Blnk): the items
//! are validated first (400 naming `transactions[i]`, nothing recorded); then recorded in order.
//! When item n fails (a used reference, a source that cannot pay):
//! - `atomic`: the items before it are refunded (their references stay consumed), and the answer
//!   is the item's error with "All transactions in this batch have been refunded.";
//! - otherwise they stay, and the answer is the item's error (409 for a used reference) with
//!   "Previous transactions were not rolled back.": a refusal after money moved.
//!
//! `run_async` answers 202 and records later; `dry_run` records nothing.

use std::sync::Arc;

use serde_json::json;

use super::book::Book;
use super::post::{duplicate, record_now, validation_errors, Refusal};
use super::record::Status;
use super::refund;
use super::Ledger;
use crate::bind::{BulkRequest, RecordTransaction, RefundRequest};
use crate::reply::Reply;

/// Blnk's `MaxBulkTransactionItems`.
pub const MAX_ITEMS: usize = 10_000;

pub fn bulk(ledger: &Arc<Ledger>, b: BulkRequest) -> Reply {
    if b.transactions.is_empty() {
        return Reply::error(400, "TXN_BULK_EMPTY", "transactions cannot be empty");
    }
    if b.transactions.len() > MAX_ITEMS {
        let m = format!("too many transactions; max is {MAX_ITEMS}");
        return Reply::error(400, "TXN_BULK_LIMIT_EXCEEDED", &m);
    }
    let mut items = Vec::with_capacity(b.transactions.len());
    for (i, item) in b.transactions.iter().enumerate() {
        let refused = |m: String| {
            let body = json!({"errors": m, "error_detail": {"code": "TXN_VALIDATION_ERROR", "message": m, "details": {"index": i}}});
            Reply::json(400, body)
        };
        let Some(t) = item else {
            return refused(format!("transactions[{i}] is required"));
        };
        if let Some(m) = validation_errors(t) {
            return refused(format!("transactions[{i}]: {m}"));
        }
        let mut t = t.clone();
        t.inflight = b.inflight;
        t.skip_queue = b.skip_queue;
        items.push(t);
    }
    if b.dry_run {
        let results: Vec<_> = items
            .iter()
            .map(|t| json!({"reference": t.reference, "would_apply": true}))
            .collect();
        return Reply::ok(json!({"dry_run": true, "would_apply": true, "results": results}));
    }
    let batch = ledger.book().ids.with_prefix("bulk");
    if b.run_async {
        let (l, batch_id) = (ledger.clone(), batch.clone());
        ledger.queue.later(move || {
            let _ = run(&mut l.book(), &items, &batch_id, b.atomic);
        });
        return Reply::json(
            202,
            json!({"message": "Bulk transaction processing started", "batch_id": batch, "status": "processing"}),
        );
    }
    match run(&mut ledger.book(), &items, &batch, b.atomic) {
        Ok(n) => {
            let status = if b.inflight { "inflight" } else { "applied" };
            Reply::created(json!({"batch_id": batch, "status": status, "transaction_count": n}))
        }
        Err((status, code, m)) => Reply::json(
            status,
            json!({"batch_id": batch, "error": m, "error_detail": {"code": code, "message": m, "details": {"batch_id": batch}}}),
        ),
    }
}

/// Records the items in order; on the first failure, refunds the earlier ones if `atomic`.
fn run(
    book: &mut Book,
    items: &[RecordTransaction],
    batch: &str,
    atomic: bool,
) -> Result<usize, Refusal> {
    let mut recorded: Vec<String> = Vec::new();
    for (i, t) in items.iter().enumerate() {
        let mut t = t.clone();
        t.meta_data
            .get_or_insert_with(Default::default)
            .insert("sequence".into(), json!(i + 1));
        let id = book.ids.with_prefix("txn");
        match one(book, &t, &id, batch) {
            Ok(()) => recorded.push(id),
            Err((status, code, m)) => {
                let source = book.resolve(&t.source, &t.currency).unwrap_or_default();
                let destination = book
                    .resolve(&t.destination, &t.currency)
                    .unwrap_or_default();
                let tail = match atomic {
                    true => {
                        for id in &recorded {
                            if let Ok(r) = refund::prepare(book, id, &RefundRequest::default()) {
                                let _ = refund::record(book, r);
                            }
                        }
                        "All transactions in this batch have been refunded."
                    }
                    false => "Previous transactions were not rolled back.",
                };
                let m = format!(
                    "failed to queue transaction {} (Reference: {}, Source: {source}, Destination: {destination}, Amount: {:.2}): {m}. {tail}",
                    i + 1,
                    t.reference,
                    t.amount
                );
                return Err((status, code, m));
            }
        }
    }
    Ok(recorded.len())
}

/// One item: recorded and applied now; on the queued path also given its `_q` child.
fn one(book: &mut Book, t: &RecordTransaction, id: &str, batch: &str) -> Result<(), Refusal> {
    if book.reference_used(&t.reference) {
        return Err(duplicate(&t.reference));
    }
    let mut sync = t.clone();
    sync.skip_queue = true;
    record_now(book, &sync, id, batch)?;
    if !t.skip_queue {
        if let Some(stored) = book.get(id).cloned() {
            let mut child = stored.clone();
            child.id = book.ids.with_prefix("txn");
            child.parent = stored.id.clone();
            child.reference = format!("{}_q", stored.reference);
            if let Some(s) = book.get_mut(id) {
                s.status = Status::Queued;
            }
            book.insert(child);
        }
    }
    Ok(())
}
