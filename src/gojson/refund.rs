//! The optional body of `POST /refund-transaction/{id}`, bound as Blnk binds it into its
//! `refundTransactionRequest` (`api/transactions.go`): an empty body (Go's `io.EOF`, which Blnk
//! checks for) means no options; any other bind error is Blnk's 400.

use std::borrow::Cow;

use super::bind::{self, fields};
use super::error::Unreadable;

/// A refund's options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refund<'a> {
    pub skip_queue: bool,
    pub dry_run: bool,
    pub description: Cow<'a, str>,
}

fields!(RefundField {
    SkipQueue = "skip_queue",
    DryRun = "dry_run",
    MetaData = "meta_data",
    Description = "description",
});

/// The body of `POST /refund-transaction/{id}`, as Blnk reads it: empty (or only whitespace) is
/// the defaults; `meta_data` is type-checked and dropped.
pub fn refund(body: &[u8]) -> Result<Refund<'_>, Unreadable> {
    let bound = bind::body(body, |entries, r: &mut Refund<'_>| {
        for (key, v) in entries {
            let Some((field, name)) = RefundField::of(key) else {
                continue;
            };
            match field {
                RefundField::SkipQueue => bind::boolean(v, &mut r.skip_queue, name)?,
                RefundField::DryRun => bind::boolean(v, &mut r.dry_run, name)?,
                RefundField::MetaData => bind::check_map(v, name)?,
                RefundField::Description => bind::string(v, &mut r.description, name)?,
            }
        }
        Ok(())
    });
    match bound {
        Err(Unreadable::Empty) => Ok(Refund::default()),
        other => other,
    }
}
