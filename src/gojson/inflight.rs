//! Inflight commit and void bodies, bound as Blnk binds them: `PUT /transactions/inflight/{id}`
//! into `InflightUpdate`, `POST /transactions/inflight/bulk/commit` into
//! `BulkInflightCommitRequest`, `POST /transactions/inflight/bulk/void` into
//! `BulkInflightVoidRequest` (Blnk's `api/model/transaction.go`). Each route has its own struct,
//! so each has its own bind: a commit body's `transaction_ids` is an unknown key, ignored.

use std::borrow::Cow;

use super::bind::{self, fields, Bound, List};
use super::decode::Value;
use super::error::Unreadable;

/// `PUT /transactions/inflight/{id}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InflightUpdate<'a> {
    /// `"commit"` or `"void"` (Blnk compares exactly; anything else is its 400).
    pub status: Cow<'a, str>,
    pub amount: f64,
    /// `precise_amount`: when given it is the amount, and must be above zero.
    pub precise_amount: Option<i128>,
    pub skip_queue: bool,
    pub dry_run: bool,
}

impl InflightUpdate<'_> {
    /// Whether the body names an amount (`amount` other than zero, or any `precise_amount`).
    ///
    /// Blnk commits part of a hold when the resolved amount is above zero and below what is
    /// held; resolving `amount` needs the hold's precision, from Blnk's database, and what is
    /// held is Blnk's. So the gateway knows only this much: without an amount a commit takes
    /// everything left; with one it may be partial, and another commit of the same hold may
    /// follow legitimately.
    pub fn names_amount(&self) -> bool {
        self.amount != 0.0 || self.precise_amount.is_some()
    }

    /// A commit that names an amount: possibly partial (see [`Self::names_amount`]).
    pub fn may_be_partial_commit(&self) -> bool {
        self.status == "commit" && self.names_amount()
    }
}

/// A bulk inflight request: commit items for the commit route, ids for the void route.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkInflight<'a> {
    /// `transactions` of a bulk commit (empty for a void).
    pub commits: List<CommitItem<'a>>,
    /// `transaction_ids` of a bulk void (empty for a commit).
    pub transaction_ids: List<Cow<'a, str>>,
    pub skip_queue: bool,
    pub dry_run: bool,
}

/// One item of a bulk commit (`BulkInflightCommitItem`). Blnk takes `precise_amount` when it is
/// given (any sign), else `amount` at the hold's precision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitItem<'a> {
    pub transaction_id: Cow<'a, str>,
    pub amount: f64,
    pub precise_amount: Option<i128>,
}

fields!(UpdateField {
    Status = "status",
    Amount = "amount",
    PreciseAmount = "precise_amount",
    SkipQueue = "skip_queue",
    DryRun = "dry_run",
});

/// The body of `PUT /transactions/inflight/{id}`, as Blnk reads it.
pub fn inflight_update(body: &[u8]) -> Result<InflightUpdate<'_>, Unreadable> {
    bind::body(body, |entries, u: &mut InflightUpdate<'_>| {
        use UpdateField as F;
        for (key, v) in entries {
            let Some((field, name)) = F::of(key) else {
                continue;
            };
            match field {
                F::Status => bind::string(v, &mut u.status, name)?,
                F::Amount => bind::float(v, &mut u.amount, name)?,
                F::PreciseAmount => bind::big_int(v, &mut u.precise_amount, name)?,
                F::SkipQueue => bind::boolean(v, &mut u.skip_queue, name)?,
                F::DryRun => bind::boolean(v, &mut u.dry_run, name)?,
            }
        }
        Ok(())
    })
}

fields!(CommitField {
    Transactions = "transactions",
    SkipQueue = "skip_queue",
    DryRun = "dry_run",
});

/// The body of `POST /transactions/inflight/bulk/commit`, as Blnk reads it.
pub fn bulk_commit(body: &[u8]) -> Result<BulkInflight<'_>, Unreadable> {
    bind::body(body, |entries, b: &mut BulkInflight<'_>| {
        for (key, v) in entries {
            let Some((field, name)) = CommitField::of(key) else {
                continue;
            };
            match field {
                CommitField::Transactions => bind::list(v, &mut b.commits, name, commit_item)?,
                CommitField::SkipQueue => bind::boolean(v, &mut b.skip_queue, name)?,
                CommitField::DryRun => bind::boolean(v, &mut b.dry_run, name)?,
            }
        }
        Ok(())
    })
}

fields!(ItemField {
    TransactionId = "transaction_id",
    Amount = "amount",
    PreciseAmount = "precise_amount",
});

/// A `BulkInflightCommitItem` (a struct element: `null` leaves it as it was).
fn commit_item<'a>(v: Value<'_, 'a>, c: &mut CommitItem<'a>) -> Bound {
    let Some(entries) = bind::fields_of(v, "transactions")? else {
        return Ok(());
    };
    for (key, v) in entries {
        let Some((field, name)) = ItemField::of(key) else {
            continue;
        };
        match field {
            ItemField::TransactionId => bind::string(v, &mut c.transaction_id, name)?,
            ItemField::Amount => bind::float(v, &mut c.amount, name)?,
            ItemField::PreciseAmount => bind::big_int(v, &mut c.precise_amount, name)?,
        }
    }
    Ok(())
}

fields!(VoidField {
    TransactionIds = "transaction_ids",
    SkipQueue = "skip_queue",
    DryRun = "dry_run",
});

/// The body of `POST /transactions/inflight/bulk/void`, as Blnk reads it.
pub fn bulk_void(body: &[u8]) -> Result<BulkInflight<'_>, Unreadable> {
    bind::body(body, |entries, b: &mut BulkInflight<'_>| {
        for (key, v) in entries {
            let Some((field, name)) = VoidField::of(key) else {
                continue;
            };
            match field {
                // A `[]string` element: `null` leaves it as it was.
                VoidField::TransactionIds => {
                    bind::list(v, &mut b.transaction_ids, name, |v, id| {
                        bind::string(v, id, name)
                    })?
                }
                VoidField::SkipQueue => bind::boolean(v, &mut b.skip_queue, name)?,
                VoidField::DryRun => bind::boolean(v, &mut b.dry_run, name)?,
            }
        }
        Ok(())
    })
}
