//! The default queued path of `POST /transactions`: answered 201 `QUEUED` now; stored by the
//! queue later (dropped if the reference is taken by then); applied as the `_q` child after
//! that (`APPLIED`, `INFLIGHT`, or `REJECTED` with `meta_data.blnk_rejection_reason`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::legs::{base, legs, split_answer, Leg};
use super::precise;
use super::record::{now, Status};
use super::Ledger;
use crate::bind::RecordTransaction;
use crate::gojson::{parse_time, GoTime};

/// When a queued transaction is to be applied, if it has a `scheduled_for` (Go's zero time
/// counts as none): it is answered and stored `SCHEDULED`, and applied then (asynq's
/// `ProcessIn`; at once for a time past).
fn scheduled(t: &RecordTransaction) -> Option<GoTime> {
    parse_time(&t.scheduled_for).filter(|at| !at.is_zero())
}

/// The queued path: answered now, stored and applied later by the queue.
pub fn queue(ledger: &Arc<Ledger>, t: &RecordTransaction, id: &str, parent: &str) -> Value {
    let status = match scheduled(t) {
        Some(_) => Status::Scheduled,
        None => Status::Queued,
    };
    let mut answer = {
        let mut book = ledger.book();
        let leg = Leg {
            id: id.to_string(),
            reference: t.reference.clone(),
            source: t.source.clone(),
            destination: t.destination.clone(),
            precise: precise(t.amount, t.precision, t.precise_amount),
        };
        let split = !t.sources.is_empty() || !t.destinations.is_empty();
        match split {
            true => match legs(&mut book, t, id, '_') {
                Ok(legs) => split_answer(t, id, status, &legs),
                Err(_) => base(t, &leg, parent, status).answered(),
            },
            false => base(t, &leg, parent, status).answered(),
        }
    };
    answer["meta_data"]["QUEUED_PARENT_TRANSACTION"] = json!(id);
    let (t, id, parent) = (t.clone(), id.to_string(), parent.to_string());
    let l = ledger.clone();
    ledger.queue.submit(
        move || insert_queued(&l, &t, &id, &parent),
        |(l, t, stored): (Arc<Ledger>, RecordTransaction, Vec<String>)| {
            apply_queued(&l, &t, &stored)
        },
    );
    answer
}

/// The background insert: the queued record (or each leg), unless its reference is taken.
fn insert_queued(
    ledger: &Arc<Ledger>,
    t: &RecordTransaction,
    id: &str,
    parent: &str,
) -> Option<(Arc<Ledger>, RecordTransaction, Vec<String>)> {
    let mut book = ledger.book();
    let split = !t.sources.is_empty() || !t.destinations.is_empty();
    let mut legs = legs(&mut book, t, id, '_').ok()?;
    let mut stored = Vec::new();
    for leg in &mut legs {
        let (Ok(src), Ok(dst)) = (
            book.resolve(&leg.source, &t.currency),
            book.resolve(&leg.destination, &t.currency),
        ) else {
            continue;
        };
        (leg.source, leg.destination) = (src, dst);
        let status = match scheduled(t) {
            Some(_) => Status::Scheduled,
            None => Status::Queued,
        };
        let mut txn = base(t, leg, if split { id } else { parent }, status);
        txn.meta
            .insert("QUEUED_PARENT_TRANSACTION".into(), json!(id));
        txn.meta.insert("queue_lane".into(), json!("normal"));
        txn.meta.insert(
            "queue_pair_key".into(),
            json!(format!("{}|{}|{}", leg.source, leg.destination, t.currency)),
        );
        let txn_id = txn.id.clone();
        if book.insert(txn) {
            stored.push(txn_id);
        }
    }
    drop(book);
    (!stored.is_empty()).then(|| (ledger.clone(), t.clone(), stored))
}

/// The worker: each stored record applied as its `_q` child. One scheduled for later is not
/// applied: the fake keeps no timer that long (Blnk applies it at its time).
fn apply_queued(ledger: &Ledger, t: &RecordTransaction, stored: &[String]) {
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    if scheduled(t).is_some_and(|at| at.unix_nanos() > today) {
        return;
    }
    let mut book = ledger.book();
    for id in stored {
        let Some(q) = book.get(id).cloned() else {
            continue;
        };
        let moved = book.transfer(
            (&q.source, &q.destination),
            q.precise,
            t.allow_overdraft,
            t.inflight,
        );
        let mut child = q.clone();
        child.id = book.ids.with_prefix("txn");
        child.parent = q.id.clone();
        child.reference = format!("{}_q", q.reference);
        child.created_at = now();
        child.status = match (&moved, t.inflight) {
            (Err(_), _) => Status::Rejected,
            (Ok(()), true) => Status::Inflight,
            (Ok(()), false) => Status::Applied,
        };
        if let Err(m) = moved {
            child.meta.insert(
                "blnk_rejection_reason".into(),
                json!(format!("failed to apply transaction to balances: {m}")),
            );
        }
        if child.status == Status::Inflight {
            book.holds.insert(
                child.id.clone(),
                super::book::Hold {
                    held: q.precise,
                    committed: 0,
                    voided: false,
                },
            );
        }
        book.insert(child);
    }
}
