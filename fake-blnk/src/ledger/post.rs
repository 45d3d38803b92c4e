//! `POST /transactions`: validation, a dry run, the synchronous path (`skip_queue`) and the
//! default queued path, for a single transaction or a split one (`sources`/`destinations`).
//!
//! As Blnk does (docs/blnk.md section 6):
//! - `skip_queue`: the reference is checked and the balances moved before the 201 `APPLIED` (or
//!   `INFLIGHT`); a used reference is 409 `TXN_DUPLICATE_REFERENCE`, a source that cannot pay 400
//!   `TXN_INSUFFICIENT_FUNDS`.
//! - queued: 201 `QUEUED` with a fresh `transaction_id` at once; later the transaction is stored
//!   (dropped if its reference is taken: that client holds an id that will never exist), then
//!   applied as the child `<reference>_q` (`APPLIED`, `INFLIGHT`, or `REJECTED` with
//!   `meta_data.blnk_rejection_reason`).
//! - a split transaction is stored only as its legs: `<reference>_<n>` queued, `<reference>-<n>`
//!   with `skip_queue`, numbered in the order given (Blnk's order can vary between calls).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::book::Book;
use super::legs::{base, legs, split_answer};
use super::record::{Status, Txn};
use super::{precise, Ledger};
use crate::bind::RecordTransaction;
use crate::reply::Reply;

/// A refusal: status, code, message.
pub type Refusal = (u16, &'static str, String);

pub fn post(ledger: &Arc<Ledger>, t: RecordTransaction) -> Reply {
    if let Err(reply) = validate(&t) {
        return reply;
    }
    if t.dry_run {
        return dry_run(ledger, &t);
    }
    // Blnk splits before either path: a split it cannot make is refused, queued or not.
    if let Err((status, code, message)) = super::legs::check_split(&t) {
        return Reply::error(status, code, &message);
    }
    let id = ledger.book().ids.with_prefix("txn");
    if t.skip_queue {
        let mut book = ledger.book();
        return match record_now(&mut book, &t, &id, "") {
            Ok(answer) => Reply::created(answer),
            Err((404, _, message)) => Reply::not_found(&message),
            Err((status, code, message)) => Reply::error(status, code, &message),
        };
    }
    Reply::created(super::queued::queue(ledger, &t, &id, ""))
}

/// Blnk's `ValidateRecordTransaction`: every failing field, sorted by name, in one message.
pub fn validate(t: &RecordTransaction) -> Result<(), Reply> {
    validation_errors(t).map_or(Ok(()), |m| {
        Err(Reply::legacy(400, "TXN_VALIDATION_ERROR", &m))
    })
}

pub fn validation_errors(t: &RecordTransaction) -> Option<String> {
    let blank = "cannot be blank";
    let mut errors: Vec<(&str, &str)> = Vec::new();
    let amount = match (t.amount != 0.0, t.precise_amount.is_some()) {
        (true, true) => Some("either amount or precise_amount should be provided, not both"),
        (false, false) => Some("either amount or precise_amount is required"),
        _ if t.amount != 0.0 && significant_digits(t.amount) > 15 => Some(
            "amount has more than 15 significant digits which may cause rounding errors; use precise_amount instead",
        ),
        _ if t.amount < 0.0 => Some("amount cannot be negative"),
        _ if t.precise_amount.is_some_and(|p| p < 0) => Some("precise_amount cannot be negative"),
        _ => None,
    };
    errors.extend(amount.map(|m| ("amount", m)));
    if t.precision.fract() != 0.0 {
        errors.push(("precision", "precision must be an integer value"));
    } else if t.precision < 0.0 {
        errors.push(("precision", "precision cannot be negative"));
    }
    // `validateDateFormat`: the same message for all three.
    for (name, value) in [
        ("scheduled_for", &t.scheduled_for),
        ("inflight_expiry_date", &t.inflight_expiry_date),
        ("inflight_commit_date", &t.inflight_commit_date),
    ] {
        if !value.is_empty() && !crate::gojson::time_accepts(value) {
            errors.push((name, DATE_FORMAT));
        }
    }
    for (name, value) in [
        ("currency", &t.currency),
        ("reference", &t.reference),
        ("description", &t.description),
    ] {
        if value.is_empty() {
            errors.push((name, blank));
        }
    }
    if t.source.is_empty() == t.sources.is_empty() {
        errors.push(("source", "either source or sources is required, not both"));
    }
    if t.destination.is_empty() == t.destinations.is_empty() {
        errors.push((
            "destination",
            "either destination or destinations is required, not both",
        ));
    } else if !t.source.is_empty() && t.source == t.destination {
        errors.push((
            "destination",
            "source and destination cannot be the same balance",
        ));
    }
    errors.sort();
    if errors.is_empty() {
        return None;
    }
    let joined: Vec<String> = errors.iter().map(|(k, m)| format!("{k}: {m}")).collect();
    Some(format!("{}.", joined.join("; ")))
}

/// Blnk's refusal of a `scheduled_for`, `inflight_expiry_date` or `inflight_commit_date` that
/// `time.Parse` does not read with the RFC 3339 layout.
const DATE_FORMAT: &str = "please format the scheduled date as 'YYYY-MM-DDTHH:MM:SS+00:00' (e.g., 2024-04-22T15:28:03+00:00)";

/// The synchronous path: the transaction checked, then stored and applied; or each leg of a
/// split in turn, as Blnk records them one by one, so a leg refused leaves the legs before it
/// applied.
pub fn record_now(
    book: &mut Book,
    t: &RecordTransaction,
    id: &str,
    parent: &str,
) -> Result<Value, Refusal> {
    let split = !t.sources.is_empty() || !t.destinations.is_empty();
    let mut legs = legs(book, t, id, '-')?;
    if split {
        for (n, leg) in legs.iter_mut().enumerate() {
            record_leg(book, t, leg, id).map_err(|(status, code, m)| match status {
                404 => (status, code, m),
                _ => (
                    status,
                    code,
                    format!("failed to record split transaction {n}: {m}"),
                ),
            })?;
        }
        let status = if t.inflight {
            Status::Inflight
        } else {
            Status::Applied
        };
        return Ok(split_answer(t, id, status, &legs));
    }
    let leg = &mut legs[0];
    claim_leg(book, t, leg)?;
    if !t.allow_overdraft && !book.can_pay(&leg.source, leg.precise) {
        return Err(insufficient());
    }
    apply_leg(book, t, leg, parent);
    Ok(book
        .by_ref(&t.reference)
        .map(Txn::answered)
        .unwrap_or(Value::Null))
}

/// A leg's reference is unused and its balances exist (indicators resolved to ids), as Blnk
/// checks both before anything else.
fn claim_leg(
    book: &mut Book,
    t: &RecordTransaction,
    leg: &mut super::legs::Leg,
) -> Result<(), Refusal> {
    if book.reference_used(&leg.reference) {
        return Err(duplicate(&leg.reference));
    }
    leg.source = book
        .resolve(&leg.source, &t.currency)
        .map_err(|m| (404, "TXN_NOT_FOUND", m))?;
    leg.destination = book
        .resolve(&leg.destination, &t.currency)
        .map_err(|m| (404, "TXN_NOT_FOUND", m))?;
    Ok(())
}

/// One leg of a split: checked as `RecordTransaction` checks it (the reference, the balances,
/// a positive amount, the funds), then stored and applied.
fn record_leg(
    book: &mut Book,
    t: &RecordTransaction,
    leg: &mut super::legs::Leg,
    parent: &str,
) -> Result<(), Refusal> {
    claim_leg(book, t, leg)?;
    if leg.precise <= 0 {
        return Err((
            400,
            "TXN_VALIDATION_ERROR",
            "failed to apply transaction to balances: transaction precise amount must be positive"
                .into(),
        ));
    }
    if !t.allow_overdraft && !book.can_pay(&leg.source, leg.precise) {
        return Err(insufficient());
    }
    apply_leg(book, t, leg, parent);
    Ok(())
}

fn insufficient() -> Refusal {
    let m = super::book::INSUFFICIENT;
    (
        400,
        "TXN_INSUFFICIENT_FUNDS",
        format!("failed to apply transaction to balances: {m}"),
    )
}

/// Moves (or holds) a checked leg's amount and stores its record.
fn apply_leg(book: &mut Book, t: &RecordTransaction, leg: &super::legs::Leg, parent: &str) {
    let _ = book.transfer(
        (&leg.source, &leg.destination),
        leg.precise,
        true,
        t.inflight,
    );
    let status = if t.inflight {
        Status::Inflight
    } else {
        Status::Applied
    };
    let txn = base(t, leg, parent, status);
    if t.inflight {
        book.holds.insert(
            txn.id.clone(),
            super::book::Hold {
                held: leg.precise,
                committed: 0,
                voided: false,
            },
        );
    }
    book.insert(txn);
}

/// Blnk's count of an amount's significant digits: `FormatFloat(amount, 'f', -1, 64)` without
/// its point and leading zeros. So an integer's trailing zeros count (1e20 has 21), and so does
/// a negative amount's sign (a leading `-` stops the trimming: -0.5 has 3).
fn significant_digits(amount: f64) -> usize {
    let text = super::precise::go_format(amount).replacen('.', "", 1);
    text.trim_start_matches('0').len()
}

pub fn duplicate(reference: &str) -> Refusal {
    (
        409,
        "TXN_DUPLICATE_REFERENCE",
        format!("transaction validation failed: reference {reference} has already been used"),
    )
}

/// `dry_run`: what would happen, with nothing stored and the reference not consumed.
fn dry_run(ledger: &Ledger, t: &RecordTransaction) -> Reply {
    let mut book = ledger.book();
    let amount = precise(t.amount, t.precision, t.precise_amount);
    let mut balances = Vec::new();
    let mut would_apply = true;
    for (role, who) in [("source", &t.source), ("destination", &t.destination)] {
        let Some(b) = book
            .resolve(who, &t.currency)
            .ok()
            .and_then(|id| book.balance(&id).cloned())
        else {
            continue;
        };
        if role == "source" && !t.allow_overdraft && b.balance - b.inflight_debit < amount {
            would_apply = false;
        }
        balances.push(json!({"balance_id": b.id, "role": role, "currency": b.currency, "current_balance": b.balance.to_string()}));
    }
    let status = if t.inflight { "INFLIGHT" } else { "APPLIED" };
    let mut preview = Map::new();
    preview.insert("dry_run".into(), json!(true));
    preview.insert("would_apply".into(), json!(would_apply));
    preview.insert("status".into(), json!(status));
    preview.insert("reference".into(), json!(t.reference));
    preview.insert("currency".into(), json!(t.currency));
    preview.insert("amount".into(), super::record::go_float(t.amount));
    preview.insert("precise_amount".into(), json!(amount.to_string()));
    preview.insert("precision".into(), super::record::go_float(t.precision));
    preview.insert("balances".into(), Value::Array(balances));
    Reply::ok(Value::Object(preview))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount_error(amount: f64) -> Option<String> {
        let t = RecordTransaction {
            amount,
            currency: "USD".into(),
            reference: "r".into(),
            description: "d".into(),
            source: "@a".into(),
            destination: "@b".into(),
            ..RecordTransaction::default()
        };
        validation_errors(&t)
    }

    /// Blnk's rule, counted as Blnk counts (checked with Go 1.26's FormatFloat).
    #[test]
    fn an_amount_of_more_than_15_significant_digits_is_refused() {
        let refused = Some(
            "amount: amount has more than 15 significant digits which may cause rounding errors; use precise_amount instead.".to_string(),
        );
        for amount in [
            98647591572463.62,
            1e20,
            1e15,
            0.1234567890123456,
            -123456789012345.0,
        ] {
            assert_eq!(amount_error(amount), refused, "{amount}");
        }
        for amount in [123456789012345.0, 1e14, 0.000000000000001, 1.005] {
            assert_eq!(amount_error(amount), None, "{amount}");
        }
        assert_eq!(
            amount_error(-12345678901234.0).as_deref(),
            Some("amount: amount cannot be negative.")
        );
    }
}
