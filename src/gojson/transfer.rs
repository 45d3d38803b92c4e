//! `POST /transactions` and `POST /transactions/bulk` bodies, bound as Blnk binds them into
//! `RecordTransaction` and `BulkTransactionRequest` (Blnk's `api/model/transaction.go`).
//!
//! Every field of `RecordTransaction` is bound with Go's rules (`bind`), so a body Blnk refuses
//! is refused here; the fields the gateway has no use for (`overdraft_limit`, `description`,
//! `balance_id`, `scheduled_for`, `inflight_expiry_date`, `inflight_commit_date`, `meta_data`,
//! `effective_date`, and a share's `precise_distribution` and `transaction_id`) are type-checked
//! and dropped.

use std::borrow::Cow;

use super::bind::{self, fields, Bound, List};
use super::decode::{Entries, Node, Value};
use super::error::Unreadable;
use super::precise::apply_precision;

/// One transaction as `POST /transactions` carries it, and each item of a bulk request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transfer<'a> {
    pub reference: Cow<'a, str>,
    pub amount: f64,
    pub precision: f64,
    /// `precise_amount` (a `*big.Int`): `None` when absent or `null`.
    pub precise_amount: Option<i128>,
    pub currency: Cow<'a, str>,
    pub source: Cow<'a, str>,
    pub destination: Cow<'a, str>,
    /// A split's sources (`sources`): Blnk then stores one leg per share.
    pub sources: List<Share<'a>>,
    pub destinations: List<Share<'a>>,
    pub skip_queue: bool,
    pub inflight: bool,
    pub dry_run: bool,
    pub allow_overdraft: bool,
    pub atomic: bool,
}

/// One share of a split (`model.Distribution`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Share<'a> {
    pub identifier: Cow<'a, str>,
    /// A percentage (`"60%"`), a fixed amount (`"20"`) or `"left"`.
    pub distribution: Cow<'a, str>,
}

/// `POST /transactions/bulk`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bulk<'a> {
    /// The items; `None` for one written `null` (Blnk answers `transactions[i] is required`).
    pub transactions: List<Option<Transfer<'a>>>,
    pub inflight: bool,
    pub atomic: bool,
    pub run_async: bool,
    pub skip_queue: bool,
    pub dry_run: bool,
}

impl Transfer<'_> {
    /// The amount Blnk moves, in minor units (`ApplyPrecision`; see [`apply_precision`]).
    pub fn precise(&self) -> Result<i128, Unreadable> {
        apply_precision(self.amount, self.precision, self.precise_amount)
    }

    /// Whether Blnk splits the transaction into legs (`sources` or `destinations` given).
    pub fn is_split(&self) -> bool {
        !self.sources.is_empty() || !self.destinations.is_empty()
    }
}

/// The body of `POST /transactions`, as Blnk reads it.
pub fn transfer(body: &[u8]) -> Result<Transfer<'_>, Unreadable> {
    bind::body(body, record)
}

/// The body of `POST /transactions/bulk`, as Blnk reads it.
pub fn bulk(body: &[u8]) -> Result<Bulk<'_>, Unreadable> {
    bind::body(body, |entries, b: &mut Bulk<'_>| {
        for (key, v) in entries {
            let Some((field, name)) = BulkField::of(key) else {
                continue;
            };
            match field {
                BulkField::Transactions => bind::list(v, &mut b.transactions, name, item)?,
                BulkField::Inflight => bind::boolean(v, &mut b.inflight, name)?,
                BulkField::Atomic => bind::boolean(v, &mut b.atomic, name)?,
                BulkField::RunAsync => bind::boolean(v, &mut b.run_async, name)?,
                BulkField::SkipQueue => bind::boolean(v, &mut b.skip_queue, name)?,
                BulkField::DryRun => bind::boolean(v, &mut b.dry_run, name)?,
            }
        }
        Ok(())
    })
}

fields!(BulkField {
    Transactions = "transactions",
    Inflight = "inflight",
    Atomic = "atomic",
    RunAsync = "run_async",
    SkipQueue = "skip_queue",
    DryRun = "dry_run",
});

/// A bulk item (`*RecordTransaction`): `null` sets the pointer nil; an object is bound into the
/// transaction the pointer already holds (see [`List`]), or a new one.
fn item<'a>(v: Value<'_, 'a>, slot: &mut Option<Transfer<'a>>) -> Bound {
    match v.node() {
        Node::Null => *slot = None,
        Node::Obj { .. } => record(v.entries(), slot.get_or_insert_with(Transfer::default))?,
        _ => {
            return Err(Unreadable::WrongType {
                field: "transactions",
            })
        }
    }
    Ok(())
}

fields!(RecordField {
    Amount = "amount",
    Precision = "precision",
    OverdraftLimit = "overdraft_limit",
    PreciseAmount = "precise_amount",
    AllowOverdraft = "allow_overdraft",
    Inflight = "inflight",
    SkipQueue = "skip_queue",
    Atomic = "atomic",
    Source = "source",
    Reference = "reference",
    Destination = "destination",
    Description = "description",
    Currency = "currency",
    BalanceId = "balance_id",
    ScheduledFor = "scheduled_for",
    InflightExpiryDate = "inflight_expiry_date",
    InflightCommitDate = "inflight_commit_date",
    Sources = "sources",
    Destinations = "destinations",
    MetaData = "meta_data",
    EffectiveDate = "effective_date",
    DryRun = "dry_run",
});

/// `RecordTransaction`'s fields from an object's entries, in order.
fn record<'a>(entries: Entries<'_, 'a>, t: &mut Transfer<'a>) -> Bound {
    use RecordField as F;
    for (key, v) in entries {
        let Some((field, name)) = F::of(key) else {
            continue;
        };
        match field {
            F::Amount => bind::float(v, &mut t.amount, name)?,
            F::Precision => bind::float(v, &mut t.precision, name)?,
            F::OverdraftLimit => bind::float(v, &mut 0.0, name)?,
            F::PreciseAmount => bind::big_int(v, &mut t.precise_amount, name)?,
            F::AllowOverdraft => bind::boolean(v, &mut t.allow_overdraft, name)?,
            F::Inflight => bind::boolean(v, &mut t.inflight, name)?,
            F::SkipQueue => bind::boolean(v, &mut t.skip_queue, name)?,
            F::Atomic => bind::boolean(v, &mut t.atomic, name)?,
            F::DryRun => bind::boolean(v, &mut t.dry_run, name)?,
            F::Source => bind::string(v, &mut t.source, name)?,
            F::Reference => bind::string(v, &mut t.reference, name)?,
            F::Destination => bind::string(v, &mut t.destination, name)?,
            F::Currency => bind::string(v, &mut t.currency, name)?,
            F::Description
            | F::BalanceId
            | F::ScheduledFor
            | F::InflightExpiryDate
            | F::InflightCommitDate => bind::check_string(v, name)?,
            F::Sources => bind::list(v, &mut t.sources, name, |v, s| share(v, s, name))?,
            F::Destinations => bind::list(v, &mut t.destinations, name, |v, s| share(v, s, name))?,
            F::MetaData => bind::check_map(v, name)?,
            F::EffectiveDate => bind::check_time(v, name)?,
        }
    }
    Ok(())
}

fields!(ShareField {
    Identifier = "identifier",
    Distribution = "distribution",
    PreciseDistribution = "precise_distribution",
    TransactionId = "transaction_id",
});

/// A `Distribution` (a struct element: `null` leaves it as it was).
fn share<'a>(v: Value<'_, 'a>, s: &mut Share<'a>, list: &'static str) -> Bound {
    let Some(entries) = bind::fields_of(v, list)? else {
        return Ok(());
    };
    for (key, v) in entries {
        let Some((field, name)) = ShareField::of(key) else {
            continue;
        };
        match field {
            ShareField::Identifier => bind::string(v, &mut s.identifier, name)?,
            ShareField::Distribution => bind::string(v, &mut s.distribution, name)?,
            ShareField::PreciseDistribution | ShareField::TransactionId => {
                bind::check_string(v, name)?
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
