//! Blnk's request structs (`api/model/transaction.go`), bound from a [`Go`] tree with the rules
//! of `encoding/json` (see `gojson`): each field takes every key that folds to its name, in
//! order; `null` leaves a scalar and clears a pointer, slice or map; a wrong type fails the bind.

use serde_json::{Map, Value};

use crate::gojson::{decode_first, folds_to, Go};

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
    pub sources: Vec<Distribution>,
    pub destinations: Vec<Distribution>,
    pub meta_data: Option<Map<String, Value>>,
}

/// A split's share: a percentage (`"60%"`), a fixed amount (`"20"`) or `"left"`.
#[derive(Debug, Clone, Default)]
pub struct Distribution {
    pub identifier: String,
    pub distribution: String,
}

/// `BulkTransactionRequest`; an item written `null` is `None` (Blnk: "is required").
#[derive(Debug, Default)]
pub struct BulkRequest {
    pub transactions: Vec<Option<RecordTransaction>>,
    pub inflight: bool,
    pub atomic: bool,
    pub run_async: bool,
    pub skip_queue: bool,
    pub dry_run: bool,
}

/// `InflightUpdate`, and one item of a bulk commit (`transaction_id` set).
#[derive(Debug, Default, Clone)]
pub struct InflightUpdate {
    pub transaction_id: String,
    pub status: String,
    pub amount: f64,
    pub precise_amount: Option<i128>,
    pub skip_queue: bool,
    pub dry_run: bool,
}

/// `BulkInflightCommitRequest` and `BulkInflightVoidRequest` in one.
#[derive(Debug, Default)]
pub struct BulkInflight {
    pub transactions: Vec<InflightUpdate>,
    pub transaction_ids: Vec<String>,
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
                Go::Str(s) => *into = s.clone(),
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

    /// A slice: each array replaces the last; `null` clears it.
    fn array(&self, name: &'a str) -> Bound<Option<&'a [Go]>> {
        let mut out = None;
        for v in self.each(name) {
            match v {
                Go::Arr(items) => out = Some(items.as_slice()),
                Go::Null => out = None,
                other => return Err(mismatch(other, "slice", name)),
            }
        }
        Ok(out)
    }

    /// `map[string]interface{}`: objects merge into it, `null` clears it.
    fn map(&self, name: &'a str, into: &mut Option<Map<String, Value>>) -> Bound<()> {
        for v in self.each(name) {
            match v {
                Go::Obj(fields) => {
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

fn kind(v: &Go) -> &'static str {
    match v {
        Go::Null => "null",
        Go::Bool(_) => "bool",
        Go::Num(_) => "number",
        Go::Str(_) => "string",
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

/// An `interface{}` value: numbers become float64, a repeated key keeps its last value.
fn to_value(v: &Go) -> Value {
    match v {
        Go::Null => Value::Null,
        Go::Bool(b) => Value::Bool(*b),
        Go::Num(n) => n
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Go::Str(s) => Value::String(s.clone()),
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
    for name in [
        "balance_id",
        "scheduled_for",
        "inflight_expiry_date",
        "inflight_commit_date",
    ] {
        f.string(name, &mut String::new())?;
    }
    t.sources = distributions(f, "sources")?;
    t.destinations = distributions(f, "destinations")?;
    f.map("meta_data", &mut t.meta_data)
}

fn distributions(f: &Fields, name: &'static str) -> Bound<Vec<Distribution>> {
    let Some(items) = f.array(name)? else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|item| {
            let mut d = Distribution::default();
            if let Some(fields) = Fields::of(item)? {
                fields.string("identifier", &mut d.identifier)?;
                fields.string("distribution", &mut d.distribution)?;
                fields.string("precise_distribution", &mut String::new())?;
                fields.string("transaction_id", &mut String::new())?;
            }
            Ok(d)
        })
        .collect()
}

pub fn record_transaction(body: &[u8]) -> Bound<RecordTransaction> {
    bind(body, record)
}

pub fn bulk(body: &[u8]) -> Bound<BulkRequest> {
    bind(body, |f, b: &mut BulkRequest| {
        if let Some(items) = f.array("transactions")? {
            b.transactions = items
                .iter()
                .map(|item| match Fields::of(item)? {
                    None => Ok(None),
                    Some(fields) => {
                        let mut t = RecordTransaction::default();
                        record(&fields, &mut t)?;
                        Ok(Some(t))
                    }
                })
                .collect::<Bound<_>>()?;
        }
        f.boolean("inflight", &mut b.inflight)?;
        f.boolean("atomic", &mut b.atomic)?;
        f.boolean("run_async", &mut b.run_async)?;
        f.boolean("skip_queue", &mut b.skip_queue)?;
        f.boolean("dry_run", &mut b.dry_run)
    })
}

fn inflight_fields(f: &Fields, u: &mut InflightUpdate) -> Bound<()> {
    f.string("transaction_id", &mut u.transaction_id)?;
    f.string("status", &mut u.status)?;
    f.float("amount", &mut u.amount)?;
    f.big_int("precise_amount", &mut u.precise_amount)?;
    f.boolean("skip_queue", &mut u.skip_queue)?;
    f.boolean("dry_run", &mut u.dry_run)
}

pub fn inflight_update(body: &[u8]) -> Bound<InflightUpdate> {
    bind(body, inflight_fields)
}

pub fn bulk_inflight(body: &[u8]) -> Bound<BulkInflight> {
    bind(body, |f, b: &mut BulkInflight| {
        if let Some(items) = f.array("transactions")? {
            b.transactions = items
                .iter()
                .map(|item| {
                    let mut u = InflightUpdate::default();
                    if let Some(fields) = Fields::of(item)? {
                        inflight_fields(&fields, &mut u)?;
                    }
                    Ok(u)
                })
                .collect::<Bound<_>>()?;
        }
        if let Some(ids) = f.array("transaction_ids")? {
            b.transaction_ids = ids
                .iter()
                .map(|v| match v {
                    Go::Str(s) => Ok(s.clone()),
                    Go::Null => Ok(String::new()),
                    other => Err(mismatch(other, "string", "transaction_ids")),
                })
                .collect::<Bound<_>>()?;
        }
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
