//! The legs of a transaction: itself, or one per identifier of a split's destinations (or
//! sources), with the share Blnk computes for it ([`split`]: `"60%"`, a fixed amount,
//! `"left"`), numbered `<reference>_<n>` on the queued path and `<reference>-<n>` with
//! `skip_queue`; and the record each leg becomes.

use serde_json::{json, Value};

use super::book::Book;
use super::post::Refusal;
use super::precise;
use super::precise::to_decimal;
use super::record::{now, Dates, Status, Txn};
use super::split;
use crate::bind::{Distribution, RecordTransaction};

/// One leg of a transaction: who pays whom how much, under which reference.
pub struct Leg {
    pub id: String,
    pub reference: String,
    pub source: String,
    pub destination: String,
    pub precise: i128,
}

/// The legs of `t`: itself, or one per source or destination of a split.
pub fn legs(
    book: &mut Book,
    t: &RecordTransaction,
    id: &str,
    sep: char,
) -> Result<Vec<Leg>, Refusal> {
    let total = precise(t.amount, t.precision, t.precise_amount);
    if t.sources.is_empty() && t.destinations.is_empty() {
        return Ok(vec![Leg {
            id: id.to_string(),
            reference: t.reference.clone(),
            source: t.source.clone(),
            destination: t.destination.clone(),
            precise: total,
        }]);
    }
    let (split, fixed, from_source) = match t.sources.is_empty() {
        true => (&t.destinations, &t.source, false),
        false => (&t.sources, &t.destination, true),
    };
    let mut out = Vec::new();
    for (n, (identifier, amount)) in shares(t, total, split)?.into_iter().enumerate() {
        let (source, destination) = match from_source {
            true => (identifier, fixed.clone()),
            false => (fixed.clone(), identifier),
        };
        out.push(Leg {
            id: book.ids.with_prefix("txn"),
            reference: format!("{}{sep}{}", t.reference, n + 1),
            source,
            destination,
            precise: amount,
        });
    }
    Ok(out)
}

/// Blnk's split of `total` among `split` (see [`split::shares`]), refused as Blnk refuses it,
/// before anything is queued or stored.
fn shares(
    t: &RecordTransaction,
    total: i128,
    split: &[Distribution],
) -> Result<Vec<(String, i128)>, Refusal> {
    let precision = if t.precision == 0.0 { 1.0 } else { t.precision };
    split::shares(total, precision as i64, split).map_err(|m| {
        (
            400,
            "TXN_VALIDATION_ERROR",
            format!("failed to split transaction: {m}"),
        )
    })
}

/// Whether `t` splits as Blnk would split it: `Err` with Blnk's refusal when not.
pub fn check_split(t: &RecordTransaction) -> Result<(), Refusal> {
    let split = if t.sources.is_empty() {
        &t.destinations
    } else {
        &t.sources
    };
    if split.is_empty() {
        return Ok(());
    }
    shares(t, precise(t.amount, t.precision, t.precise_amount), split).map(|_| ())
}

pub fn base(t: &RecordTransaction, leg: &Leg, parent: &str, status: Status) -> Txn {
    let mut meta = t.meta_data.clone().unwrap_or_default();
    if t.allow_overdraft {
        meta.insert("allow_overdraft".into(), json!(true));
    }
    // `ApplyPrecision`: a precision of 0 is 1; a positive `precise_amount` makes the amount
    // its decimal (and `AmountString`), otherwise the request's amount stays as it was sent.
    let precision = if t.precision == 0.0 { 1.0 } else { t.precision };
    let (text, amount) = to_decimal(leg.precise, precision);
    let given = t.precise_amount.is_some_and(|p| p > 0);
    Txn {
        id: leg.id.clone(),
        parent: parent.to_string(),
        reference: leg.reference.clone(),
        amount,
        answered_amount: if given { amount } else { t.amount },
        amount_string: given.then_some(text),
        precise: leg.precise,
        precision,
        currency: t.currency.clone(),
        source: leg.source.clone(),
        destination: leg.destination.clone(),
        description: t.description.clone(),
        status,
        inflight: t.inflight,
        skip_queue: t.skip_queue,
        allow_overdraft: t.allow_overdraft,
        created_at: now(),
        meta,
        dates: Dates::of(t),
    }
}

/// A split transaction's answer: the parent (never stored) with each leg's id.
pub fn split_answer(t: &RecordTransaction, id: &str, status: Status, legs: &[Leg]) -> Value {
    let parent = Leg {
        id: id.to_string(),
        reference: t.reference.clone(),
        source: t.source.clone(),
        destination: t.destination.clone(),
        precise: precise(t.amount, t.precision, t.precise_amount),
    };
    let mut v = base(t, &parent, "", status).answered();
    // Blnk writes the n-th leg's id into the n-th entry, whichever identifier that leg is
    // for; entries past the last leg keep what the request said.
    let entries = if t.sources.is_empty() {
        &t.destinations
    } else {
        &t.sources
    };
    let parts: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(n, d)| {
            let id = legs.get(n).map_or(&d.transaction_id, |l| &l.id);
            let mut e = json!({"identifier": d.identifier, "distribution": d.distribution, "transaction_id": id});
            if !d.precise_distribution.is_empty() {
                e["precise_distribution"] = json!(d.precise_distribution);
            }
            e
        })
        .collect();
    let key = if t.sources.is_empty() {
        "destinations"
    } else {
        "sources"
    };
    v[key] = Value::Array(parts);
    if let Some(o) = v.as_object_mut() {
        if t.sources.is_empty() {
            o.remove("destination");
        } else {
            o.remove("source");
        }
    }
    v
}
