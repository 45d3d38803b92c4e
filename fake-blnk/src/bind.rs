//! Blnk's request structs (`api/model/transaction.go`), bound from a [`Go`] tree with the rules
//! of `encoding/json` (see `gojson`): each field takes every key that folds to its name, in
//! order; `null` leaves a scalar and clears a pointer, slice or map; a wrong type anywhere fails
//! the bind, even in a value a later key replaces (Go goes on decoding after a type error and
//! returns the first one; gin's bind then fails and Blnk answers 400).
//!
//! A slice field is a [`Slice`]: Go decodes an array into the slice the field already holds,
//! element by element into the old elements, so a repeated array key keeps what the earlier
//! array set and the later one does not.

use std::ops::Deref;

use serde_json::{Map, Value};

use crate::gojson::{decode_first, folds_to, time_accepts, Go};

/// `RecordTransaction`: one transaction as `POST /transactions` and each bulk item carry it.
#[derive(Debug, Clone, Default)]
pub struct RecordTransaction {
    pub amount: f64,
    pub precision: f64,
    pub precise_amount: Option<i128>,
    pub allow_overdraft: bool,
    pub inflight: bool,
    pub skip_queue: bool,
    pub atomic: bool,
    pub dry_run: bool,
    pub source: String,
    pub destination: String,
    pub reference: String,
    pub description: String,
    pub currency: String,
    pub sources: Slice<Distribution>,
    pub destinations: Slice<Distribution>,
    pub meta_data: Option<Map<String, Value>>,
    /// As sent: Blnk checks each against `time.Parse(time.RFC3339, ...)` when not empty.
    pub scheduled_for: String,
    pub inflight_expiry_date: String,
    pub inflight_commit_date: String,
}

/// A split's share: a percentage (`"60%"`), a fixed amount (`"20"`), `"left"`, or a fixed
/// amount in minor units (`precise_distribution`, which wins over a fixed `distribution`).
#[derive(Debug, Clone, Default)]
pub struct Distribution {
    pub identifier: String,
    pub distribution: String,
    pub precise_distribution: String,
    /// As the request gave it; the answer puts each leg's id here.
    pub transaction_id: String,
}

/// `BulkTransactionRequest`; an item written `null` is `None` (Blnk: "is required").
#[derive(Debug, Default)]
pub struct BulkRequest {
    pub transactions: Slice<Option<RecordTransaction>>,
    pub inflight: bool,
    pub atomic: bool,
    pub run_async: bool,
    pub skip_queue: bool,
    pub dry_run: bool,
}

/// `InflightUpdate`: the body of `PUT /transactions/inflight/{id}` (no `transaction_id`: the
/// id is in the path, and a `transaction_id` key is unknown, ignored).
#[derive(Debug, Default, Clone)]
pub struct InflightUpdate {
    pub status: String,
    pub amount: f64,
    pub precise_amount: Option<i128>,
    pub skip_queue: bool,
    pub dry_run: bool,
}

/// `BulkInflightCommitItem`: one item of a bulk commit. Only these three fields: `status`,
/// `skip_queue` or `dry_run` in an item are unknown keys, ignored.
#[derive(Debug, Default, Clone)]
pub struct CommitItem {
    pub transaction_id: String,
    pub amount: f64,
    pub precise_amount: Option<i128>,
}

/// `BulkInflightCommitRequest`: `POST /transactions/inflight/bulk/commit` (a
/// `transaction_ids` key is unknown there, ignored).
#[derive(Debug, Default)]
pub struct BulkCommit {
    pub transactions: Slice<CommitItem>,
    pub skip_queue: bool,
    pub dry_run: bool,
}

/// `BulkInflightVoidRequest`: `POST /transactions/inflight/bulk/void` (a `transactions` key is
/// unknown there, ignored).
#[derive(Debug, Default)]
pub struct BulkVoid {
    pub transaction_ids: Slice<String>,
    pub skip_queue: bool,
    pub dry_run: bool,
}

/// The optional body of `POST /refund-transaction/{id}`.
#[derive(Debug, Default)]
pub struct RefundRequest {
    pub skip_queue: bool,
    pub dry_run: bool,
    pub description: String,
    pub meta_data: Option<Map<String, Value>>,
}

/// A Go slice after binding: its elements, and the elements of its backing array past its
/// length, which a later array decoded into the same field reuses.
///
/// `encoding/json` (`decode.go` `array`) decodes element `i` of an array into element `i` of the
/// backing array when there is one, without zeroing it, growing the array when there is not,
/// then sets the length to the array's. So `"sources":[{"identifier":"x","distribution":"50%"}],
/// "sources":[{"identifier":"y"}]` binds to one share `y` at `50%`; an element written `null`
/// keeps the old element (a struct or a string; a pointer becomes nil); an empty array or
/// `null` starts afresh.
#[derive(Debug, Clone)]
pub struct Slice<T> {
    backing: Vec<T>,
    len: usize,
}

impl<T> Default for Slice<T> {
    fn default() -> Self {
        Slice {
            backing: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Deref for Slice<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.backing[..self.len]
    }
}

impl<'s, T> IntoIterator for &'s Slice<T> {
    type Item = &'s T;
    type IntoIter = std::slice::Iter<'s, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T> From<Vec<T>> for Slice<T> {
    fn from(backing: Vec<T>) -> Self {
        let len = backing.len();
        Slice { backing, len }
    }
}

impl<T> Slice<T> {
    /// The elements, without the rest of the backing array.
    pub fn into_vec(mut self) -> Vec<T> {
        self.backing.truncate(self.len);
        self.backing
    }
}

type Bound<T> = Result<T, String>;

/// The keys of a JSON object, as a struct binds them.
struct Fields<'a>(&'a [(String, Go)]);

impl<'a> Fields<'a> {
    /// The object at the top of `body`; `None` for `null` (Go leaves the struct as it was).
    fn of(value: &'a Go) -> Bound<Option<Fields<'a>>> {
        match value {
            Go::Obj(f) => Ok(Some(Fields(f))),
            Go::Null => Ok(None),
            other => Err(format!("cannot unmarshal {} into a struct", kind(other))),
        }
    }

    fn each(&self, name: &'a str) -> impl Iterator<Item = &'a Go> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| folds_to(k, name))
            .map(|(_, v)| v)
    }

    fn string(&self, name: &'a str, into: &mut String) -> Bound<()> {
        for v in self.each(name) {
            match v {
                Go::Str { text, .. } => *into = text.clone(),
                Go::Null => {}
                other => return Err(mismatch(other, "string", name)),
            }
        }
        Ok(())
    }

    fn boolean(&self, name: &'a str, into: &mut bool) -> Bound<()> {
        for v in self.each(name) {
            match v {
                Go::Bool(b) => *into = *b,
                Go::Null => {}
                other => return Err(mismatch(other, "bool", name)),
            }
        }
        Ok(())
    }

    fn float(&self, name: &'a str, into: &mut f64) -> Bound<()> {
        for v in self.each(name) {
            match v {
                Go::Num(n) => {
                    *into = n
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .ok_or_else(|| format!("number {n} out of range for {name}"))?
                }
                Go::Null => {}
                other => return Err(mismatch(other, "float64", name)),
            }
        }
        Ok(())
    }

    /// `*big.Int`: an integer literal (no fraction, no exponent, no quotes); `null` clears it.
    fn big_int(&self, name: &'a str, into: &mut Option<i128>) -> Bound<()> {
        for v in self.each(name) {
            match v {
                Go::Num(n) => {
                    *into =
                        Some(n.parse::<i128>().map_err(|_| {
                            format!("math/big: cannot unmarshal {n:?} into a *big.Int")
                        })?)
                }
                Go::Null => *into = None,
                other => return Err(mismatch(other, "*big.Int", name)),
            }
        }
        Ok(())
    }

    /// A slice: each array is decoded into the elements the slice already holds (see
    /// [`Slice`]) with `elem`; an empty array or `null` leaves it empty with nothing behind.
    fn slice<T: Default>(
        &self,
        name: &'a str,
        into: &mut Slice<T>,
        elem: impl Fn(&'a Go, &mut T) -> Bound<()>,
    ) -> Bound<()> {
        for v in self.each(name) {
            match v {
                Go::Arr(items) if !items.is_empty() => {
                    for (i, item) in items.iter().enumerate() {
                        if i == into.backing.len() {
                            into.backing.push(T::default());
                        }
                        elem(item, &mut into.backing[i])?;
                    }
                    into.len = items.len();
                }
                Go::Arr(_) | Go::Null => *into = Slice::default(),
                other => return Err(mismatch(other, "slice", name)),
            }
        }
        Ok(())
    }

    /// `*time.Time`: `null` clears it; anything else goes to `UnmarshalJSON` as its raw literal,
    /// which only a string of RFC 3339 without escapes passes (see [`time_accepts`]).
    fn time(&self, name: &'a str) -> Bound<()> {
        for v in self.each(name) {
            match v {
                Go::Null => {}
                Go::Str {
                    text,
                    verbatim: true,
                } if time_accepts(text) => {}
                Go::Str { .. } => {
                    return Err(format!("{name}: parsing time as RFC 3339: cannot parse"))
                }
                _ => {
                    return Err(format!(
                        "{name}: Time.UnmarshalJSON: input is not a JSON string"
                    ))
                }
            }
        }
        Ok(())
    }

    /// `map[string]interface{}`: objects merge into it, `null` clears it. Every number in it,
    /// at any depth, becomes a float64 (`convertNumber`): one beyond float64's range fails.
    fn map(&self, name: &'a str, into: &mut Option<Map<String, Value>>) -> Bound<()> {
        for v in self.each(name) {
            match v {
                Go::Obj(fields) => {
                    in_range(v, name)?;
                    let m = into.get_or_insert_with(Map::new);
                    for (k, v) in fields {
                        m.insert(k.clone(), to_value(v));
                    }
                }
                Go::Null => *into = None,
                other => return Err(mismatch(other, "map", name)),
            }
        }
        Ok(())
    }
}

/// Every number in `v` is a finite float64.
fn in_range(v: &Go, name: &str) -> Bound<()> {
    match v {
        Go::Num(n) if !n.parse::<f64>().is_ok_and(f64::is_finite) => Err(format!(
            "json: cannot unmarshal number {n} into Go struct field .{name} of type float64"
        )),
        Go::Arr(items) => items.iter().try_for_each(|v| in_range(v, name)),
        Go::Obj(fields) => fields.iter().try_for_each(|(_, v)| in_range(v, name)),
        _ => Ok(()),
    }
}

fn kind(v: &Go) -> &'static str {
    match v {
        Go::Null => "null",
        Go::Bool(_) => "bool",
        Go::Num(_) => "number",
        Go::Str { .. } => "string",
        Go::Arr(_) => "array",
        Go::Obj(_) => "object",
    }
}

fn mismatch(v: &Go, want: &str, name: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field .{name} of type {want}",
        kind(v)
    )
}

/// An `interface{}` value: numbers become float64 (checked in range before), a repeated key keeps
/// its last value.
fn to_value(v: &Go) -> Value {
    match v {
        Go::Null => Value::Null,
        Go::Bool(b) => Value::Bool(*b),
        Go::Num(n) => n
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Go::Str { text, .. } => Value::String(text.clone()),
        Go::Arr(items) => Value::Array(items.iter().map(to_value).collect()),
        Go::Obj(fields) => {
            let mut m = Map::new();
            for (k, v) in fields {
                m.insert(k.clone(), to_value(v));
            }
            Value::Object(m)
        }
    }
}

/// Decodes the first value of `body` and binds it with `f` (Blnk's `ShouldBindJSON`).
fn bind<T: Default>(body: &[u8], f: impl Fn(&Fields, &mut T) -> Bound<()>) -> Bound<T> {
    let value = decode_first(body)?;
    let mut out = T::default();
    if let Some(fields) = Fields::of(&value)? {
        f(&fields, &mut out)?;
    }
    Ok(out)
}

fn record(f: &Fields, t: &mut RecordTransaction) -> Bound<()> {
    f.float("amount", &mut t.amount)?;
    f.float("precision", &mut t.precision)?;
    f.big_int("precise_amount", &mut t.precise_amount)?;
    f.boolean("allow_overdraft", &mut t.allow_overdraft)?;
    f.boolean("inflight", &mut t.inflight)?;
    f.boolean("skip_queue", &mut t.skip_queue)?;
    f.boolean("atomic", &mut t.atomic)?;
    f.boolean("dry_run", &mut t.dry_run)?;
    f.string("source", &mut t.source)?;
    f.string("destination", &mut t.destination)?;
    f.string("reference", &mut t.reference)?;
    f.string("description", &mut t.description)?;
    f.string("currency", &mut t.currency)?;
    let mut ignored = 0.0;
    f.float("overdraft_limit", &mut ignored)?;
    f.string("balance_id", &mut String::new())?;
    f.string("scheduled_for", &mut t.scheduled_for)?;
    f.string("inflight_expiry_date", &mut t.inflight_expiry_date)?;
    f.string("inflight_commit_date", &mut t.inflight_commit_date)?;
    f.slice("sources", &mut t.sources, distribution)?;
    f.slice("destinations", &mut t.destinations, distribution)?;
    f.map("meta_data", &mut t.meta_data)?;
    f.time("effective_date")
}

/// A `Distribution` element: an object binds into it, `null` leaves it as it was.
fn distribution(item: &Go, d: &mut Distribution) -> Bound<()> {
    if let Some(fields) = Fields::of(item)? {
        fields.string("identifier", &mut d.identifier)?;
        fields.string("distribution", &mut d.distribution)?;
        fields.string("precise_distribution", &mut d.precise_distribution)?;
        fields.string("transaction_id", &mut d.transaction_id)?;
    }
    Ok(())
}

pub fn record_transaction(body: &[u8]) -> Bound<RecordTransaction> {
    bind(body, record)
}

pub fn bulk(body: &[u8]) -> Bound<BulkRequest> {
    bind(body, |f, b: &mut BulkRequest| {
        f.slice("transactions", &mut b.transactions, bulk_item)?;
        f.boolean("inflight", &mut b.inflight)?;
        f.boolean("atomic", &mut b.atomic)?;
        f.boolean("run_async", &mut b.run_async)?;
        f.boolean("skip_queue", &mut b.skip_queue)?;
        f.boolean("dry_run", &mut b.dry_run)
    })
}

/// A `*RecordTransaction` element: `null` sets the pointer nil; an object binds into the
/// transaction it already points to, or a new one.
fn bulk_item(item: &Go, slot: &mut Option<RecordTransaction>) -> Bound<()> {
    match Fields::of(item)? {
        None => *slot = None,
        Some(fields) => record(&fields, slot.get_or_insert_with(RecordTransaction::default))?,
    }
    Ok(())
}

pub fn inflight_update(body: &[u8]) -> Bound<InflightUpdate> {
    bind(body, |f, u: &mut InflightUpdate| {
        f.string("status", &mut u.status)?;
        f.float("amount", &mut u.amount)?;
        f.big_int("precise_amount", &mut u.precise_amount)?;
        f.boolean("skip_queue", &mut u.skip_queue)?;
        f.boolean("dry_run", &mut u.dry_run)
    })
}

pub fn bulk_commit(body: &[u8]) -> Bound<BulkCommit> {
    bind(body, |f, b: &mut BulkCommit| {
        f.slice("transactions", &mut b.transactions, commit_item)?;
        f.boolean("skip_queue", &mut b.skip_queue)?;
        f.boolean("dry_run", &mut b.dry_run)
    })
}

/// A `BulkInflightCommitItem` element: an object binds into it, `null` leaves it as it was.
fn commit_item(item: &Go, c: &mut CommitItem) -> Bound<()> {
    if let Some(fields) = Fields::of(item)? {
        fields.string("transaction_id", &mut c.transaction_id)?;
        fields.float("amount", &mut c.amount)?;
        fields.big_int("precise_amount", &mut c.precise_amount)?;
    }
    Ok(())
}

pub fn bulk_void(body: &[u8]) -> Bound<BulkVoid> {
    bind(body, |f, b: &mut BulkVoid| {
        // A `string` element: `null` leaves it as it was.
        f.slice("transaction_ids", &mut b.transaction_ids, |v, id| match v {
            Go::Str { text, .. } => {
                id.clone_from(text);
                Ok(())
            }
            Go::Null => Ok(()),
            other => Err(mismatch(other, "string", "transaction_ids")),
        })?;
        f.boolean("skip_queue", &mut b.skip_queue)?;
        f.boolean("dry_run", &mut b.dry_run)
    })
}

/// The refund's body is optional: an empty one (`EOF`) means no options.
pub fn refund(body: &[u8]) -> Bound<RefundRequest> {
    match bind(body, |f, r: &mut RefundRequest| {
        f.boolean("skip_queue", &mut r.skip_queue)?;
        f.boolean("dry_run", &mut r.dry_run)?;
        f.string("description", &mut r.description)?;
        f.map("meta_data", &mut r.meta_data)
    }) {
        Err(e) if e == "EOF" => Ok(RefundRequest::default()),
        other => other,
    }
}

/// `POST /ledgers`: the name, for the fake's ledgers.
pub fn ledger_name(body: &[u8]) -> Bound<String> {
    bind(body, |f, name: &mut String| f.string("name", name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(s: &[Distribution]) -> Vec<(&str, &str)> {
        s.iter()
            .map(|d| (d.identifier.as_str(), d.distribution.as_str()))
            .collect()
    }

    fn record(body: &str) -> RecordTransaction {
        record_transaction(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    /// Each checked on Go 1.26's `encoding/json` with Blnk's structs.
    #[test]
    fn a_repeated_array_is_decoded_into_the_old_elements() {
        let t = record(
            r#"{"sources":[{"identifier":"x","distribution":"50%"}],"sources":[{"identifier":"y"}]}"#,
        );
        assert_eq!(shares(&t.sources), [("y", "50%")]);
        let b = bulk(
            br#"{"transactions":[{"reference":"a","amount":5}],"transactions":[{"currency":"USD"}]}"#,
        )
        .unwrap();
        let t = b.transactions[0].as_ref().unwrap();
        assert_eq!(
            (t.reference.as_str(), t.amount, t.currency.as_str()),
            ("a", 5.0, "USD")
        );
        let v = bulk_void(br#"{"transaction_ids":["a","b"],"transaction_ids":[null]}"#).unwrap();
        assert_eq!(*v.transaction_ids, ["a"]);
    }

    #[test]
    fn the_elements_past_the_length_are_kept_for_the_next_array() {
        let b = bulk(
            br#"{"transactions":[{"reference":"a"},{"reference":"b"}],"transactions":[{"currency":"X"}],"transactions":[{},{},{}]}"#,
        )
        .unwrap();
        let refs: Vec<_> = b
            .transactions
            .iter()
            .map(|t| {
                t.as_ref()
                    .map(|t| (t.reference.as_str(), t.currency.as_str()))
            })
            .collect();
        assert_eq!(refs, [Some(("a", "X")), Some(("b", "")), Some(("", ""))]);
        // Within a reused item too.
        let b = bulk(
            br#"{"transactions":[{"sources":[{"identifier":"a"},{"identifier":"b","distribution":"1"}]}],"transactions":[{"sources":[{"identifier":"c"}]}],"transactions":[{"sources":[{},{}]}]}"#,
        )
        .unwrap();
        let t = b.transactions[0].as_ref().unwrap();
        assert_eq!(shares(&t.sources), [("c", ""), ("b", "1")]);
    }

    #[test]
    fn an_empty_array_or_null_starts_afresh_and_a_null_pointer_element_is_nil() {
        for reset in ["[]", "null"] {
            let body = format!(
                r#"{{"sources":[{{"identifier":"a"}},{{"identifier":"b"}}],"sources":{reset},"sources":[{{}},{{}}]}}"#
            );
            assert_eq!(shares(&record(&body).sources), [("", ""), ("", "")]);
        }
        let b = bulk(
            br#"{"transactions":[{"amount":5},null],"transactions":[null,{"reference":"b"}]}"#,
        )
        .unwrap();
        assert!(b.transactions[0].is_none());
        let t = b.transactions[1].as_ref().unwrap();
        assert_eq!((t.reference.as_str(), t.amount), ("b", 0.0));
    }

    #[test]
    fn a_type_error_in_an_array_a_later_key_replaces_still_fails() {
        for body in [
            r#"{"sources":[5],"sources":[]}"#,
            r#"{"sources":{},"sources":[{"identifier":"a"}]}"#,
            r#"{"sources":[{"identifier":"a"}],"sources":"x","sources":[{}]}"#,
            r#"{"destinations":[{"identifier":5}],"destinations":null}"#,
        ] {
            assert!(record_transaction(body.as_bytes()).is_err(), "{body}");
        }
        assert!(bulk(br#"{"transactions":[{"amount":"5"}],"transactions":null}"#).is_err());
        assert!(bulk_void(br#"{"transaction_ids":[5],"transaction_ids":["a"]}"#).is_err());
        assert!(bulk_commit(br#"{"transactions":[{"amount":"5"}],"transactions":[]}"#).is_err());
    }
}

#[cfg(test)]
mod inflight_tests {
    use super::*;

    /// Each route binds its own struct; a key of another's is unknown there, ignored whatever
    /// it holds (checked on Go 1.26 with Blnk's structs).
    #[test]
    fn each_inflight_route_binds_only_its_own_fields() {
        let u = inflight_update(br#"{"status":"commit","transaction_id":5}"#).unwrap();
        assert_eq!(u.status, "commit");
        let c = bulk_commit(
            br#"{"transactions":[{"transaction_id":"t","status":0,"skip_queue":"x","dry_run":[]}],"transaction_ids":0}"#,
        )
        .unwrap();
        assert_eq!(c.transactions.len(), 1);
        assert_eq!(c.transactions[0].transaction_id, "t");
        assert!(!c.skip_queue && !c.dry_run);
        let v = bulk_void(br#"{"transaction_ids":["t"],"transactions":0}"#).unwrap();
        assert_eq!(*v.transaction_ids, ["t"]);
        // Their own fields are still checked.
        assert!(inflight_update(br#"{"status":5}"#).is_err());
        assert!(bulk_commit(br#"{"transactions":[{"transaction_id":5}]}"#).is_err());
        assert!(bulk_void(br#"{"transaction_ids":[true]}"#).is_err());
    }
}

#[cfg(test)]
mod value_tests {
    use super::*;

    /// Checked on Go 1.26: `convertNumber` fails the bind for a number beyond float64's range,
    /// at any depth of an `interface{}`; one that underflows is 0.
    #[test]
    fn a_meta_data_number_beyond_float64_fails_the_bind() {
        for body in [
            r#"{"meta_data":{"":1e400}}"#,
            r#"{"meta_data":{"a":[{"b":-1e999}]}}"#,
            r#"{"meta_data":{"a":1},"meta_data":{"b":[1e309]}}"#,
        ] {
            assert!(record_transaction(body.as_bytes()).is_err(), "{body}");
            assert!(refund(body.as_bytes()).is_err(), "{body}");
        }
        let t = record_transaction(br#"{"meta_data":{"a":1e-400,"b":1.7976931348623157e308}}"#)
            .unwrap();
        assert_eq!(t.meta_data.unwrap()["a"], serde_json::json!(0.0));
        assert!(bulk(br#"{"transactions":[{"meta_data":{"x":[1e400]}}]}"#).is_err());
    }

    /// Checked on Go 1.26: `*time.Time` gets the raw literal; `null` is nil.
    #[test]
    fn an_effective_date_must_be_rfc3339_as_go_parses_it() {
        for ok in [
            r#"{"effective_date":null}"#,
            r#"{"effective_date":"2024-01-01T00:00:00Z"}"#,
            r#"{"effective_date":"2024-01-01T1:00:00,5+24:60"}"#,
        ] {
            assert!(record_transaction(ok.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            r#"{"effective_date":""}"#,
            r#"{"effective_date":5}"#,
            r#"{"effective_date":true}"#,
            r#"{"effective_date":["2024-01-01T00:00:00Z"]}"#,
            r#"{"effective_date":{}}"#,
            r#"{"effective_date":"2024-02-30T00:00:00Z"}"#,
            r#"{"effective_date":"\u0032024-01-01T00:00:00Z"}"#,
            r#"{"effective_date":"2024-01-01T00:00:00\u002b01:00"}"#,
            r#"{"EFFECTIVE_DATE":"2024-01-01"}"#,
            r#"{"effective_date":"2024-01-01T00:00:00Z","effective_date":"now"}"#,
            r#"{"effective_date":"now","effective_date":null}"#,
        ] {
            assert!(record_transaction(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(bulk(br#"{"transactions":[{"effective_date":""}]}"#).is_err());
        let mut raw = br#"{"effective_date":"2024-01-01T00:00:00Z"#.to_vec();
        raw.extend_from_slice(b"\xff\"}");
        assert!(record_transaction(&raw).is_err());
    }
}
