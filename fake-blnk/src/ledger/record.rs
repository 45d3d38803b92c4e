//! What the fake's database holds: transactions and balances, with the fields Blnk returns, and
//! the ids and timestamps it makes.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Applied,
    Inflight,
    Void,
    Rejected,
    /// A queued transaction with a `scheduled_for`: stored so, applied at that time.
    Scheduled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Applied => "APPLIED",
            Status::Inflight => "INFLIGHT",
            Status::Void => "VOID",
            Status::Rejected => "REJECTED",
            Status::Scheduled => "SCHEDULED",
        }
    }
}

/// One stored transaction.
#[derive(Debug, Clone)]
pub struct Txn {
    pub id: String,
    pub parent: String,
    pub reference: String,
    /// As stored: the precise amount over the precision in decimals (Blnk stores its
    /// `AmountString`), read back as a float64.
    pub amount: f64,
    /// What the answer to the request that made it says: the request's own `amount` (1.005
    /// for 1.005 at precision 100, whose precise amount is 101), or, when a `precise_amount`
    /// was given, the decimal amount, with its text in `amount_string`.
    pub answered_amount: f64,
    pub amount_string: Option<String>,
    pub precise: i128,
    /// As applied (`ApplyPrecision` makes 0 into 1): the create answer and the record by id
    /// show it; by reference it reads back as 0.
    pub precision: f64,
    pub currency: String,
    /// Balance ids once resolved; the queued answer shows the request's own (indicators).
    pub source: String,
    pub destination: String,
    pub description: String,
    pub status: Status,
    pub inflight: bool,
    pub skip_queue: bool,
    pub allow_overdraft: bool,
    pub created_at: String,
    pub meta: Map<String, Value>,
    /// The request's dates, as its answer writes them (a stored record reads back none).
    pub dates: Dates,
}

/// `scheduled_for`, `inflight_expiry_date`, `inflight_commit_date` as `ToTransaction` parses
/// them and `MarshalJSON` writes them: in the zone they were written in, Go's zero time when
/// not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dates(pub [String; 3]);

impl Default for Dates {
    fn default() -> Self {
        Dates([ZERO_TIME; 3].map(String::from))
    }
}

impl Dates {
    pub fn of(t: &crate::bind::RecordTransaction) -> Dates {
        let at = |s: &str| crate::gojson::parse_time(s).map_or(ZERO_TIME.to_string(), |t| t.json());
        Dates([
            at(&t.scheduled_for),
            at(&t.inflight_expiry_date),
            at(&t.inflight_commit_date),
        ])
    }
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Txn {
    /// As `GET /transactions/reference/{reference}` returns it: what the database kept, less
    /// the columns that query does not read (`precision`, `hash`).
    pub fn stored(&self) -> Value {
        let mut v = self.common();
        v["precision"] = json!(0);
        v["allow_overdraft"] = json!(false);
        v["skip_queue"] = json!(false);
        v["hash"] = json!("");
        v
    }

    /// As `GET /transactions/{id}` returns it: the record with its precision and hash.
    pub fn by_id(&self) -> Value {
        let mut v = self.stored();
        v["precision"] = go_float(self.precision);
        v["hash"] = json!(hash_of(self));
        v
    }

    /// As `GET /transactions` lists it: the record by id, with its effective date.
    pub fn listed(&self) -> Value {
        let mut v = self.by_id();
        v["effective_date"] = json!(self.created_at);
        v
    }

    /// As the request that made it is answered: what the request said, and a hash.
    pub fn answered(&self) -> Value {
        let mut v = self.common();
        v["amount"] = go_float(self.answered_amount);
        if let Some(text) = &self.amount_string {
            v["amount_string"] = json!(text);
        }
        v["hash"] = json!(hash_of(self));
        v["effective_date"] = json!(self.created_at);
        let [scheduled, expiry, commit] = &self.dates.0;
        v["scheduled_for"] = json!(scheduled);
        v["inflight_expiry_date"] = json!(expiry);
        v["inflight_commit_date"] = json!(commit);
        v
    }

    fn common(&self) -> Value {
        json!({
            "precise_amount": self.precise,
            "amount": go_float(self.amount),
            "precision": go_float(self.precision),
            "overdraft_limit": 0,
            "transaction_id": self.id,
            "parent_transaction": self.parent,
            "source": self.source,
            "destination": self.destination,
            "reference": self.reference,
            "currency": self.currency,
            "description": self.description,
            "status": self.status.as_str(),
            "allow_overdraft": self.allow_overdraft,
            "inflight": self.inflight,
            "skip_queue": self.skip_queue,
            "atomic": false,
            "created_at": self.created_at,
            "scheduled_for": ZERO_TIME,
            "inflight_expiry_date": ZERO_TIME,
            "inflight_commit_date": ZERO_TIME,
            "meta_data": if self.meta.is_empty() { Value::Null } else { Value::Object(self.meta.clone()) },
        })
    }
}

/// A float64 as Go's `encoding/json` writes it: an integral value without a fraction.
pub fn go_float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return json!(f as i64);
    }
    json!(f)
}

/// A stand-in for Blnk's content hash: the same request content gives the same value.
fn hash_of(t: &Txn) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&t.reference, t.precise, &t.currency, &t.description).hash(&mut h);
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        h.finish(),
        !h.finish(),
        h.finish().rotate_left(17),
        h.finish() ^ 0x5bd1e995
    )
}

/// One balance.
#[derive(Debug, Clone, Default)]
pub struct Balance {
    pub id: String,
    pub ledger_id: String,
    pub indicator: String,
    pub currency: String,
    pub balance: i128,
    pub credit: i128,
    pub debit: i128,
    pub inflight_balance: i128,
    pub inflight_credit: i128,
    pub inflight_debit: i128,
    pub version: u64,
    pub created_at: String,
}

impl Balance {
    pub fn render(&self) -> Value {
        json!({
            "balance": self.balance,
            "version": self.version,
            "inflight_balance": self.inflight_balance,
            "credit_balance": self.credit,
            "inflight_credit_balance": self.inflight_credit,
            "debit_balance": self.debit,
            "inflight_debit_balance": self.inflight_debit,
            "ledger_id": self.ledger_id,
            "identity_id": "",
            "balance_id": self.id,
            "indicator": self.indicator,
            "currency": self.currency,
            "created_at": self.created_at,
            "inflight_expires_at": ZERO_TIME,
            "meta_data": null,
            "track_fund_lineage": false,
            "allocation_strategy": "FIFO",
        })
    }
}

/// Ids shaped like Blnk's (`txn_` + a UUID v4), from a per-ledger generator.
#[derive(Debug)]
pub struct Ids(u64);

impl Default for Ids {
    fn default() -> Self {
        Ids::new()
    }
}

impl Ids {
    pub fn new() -> Ids {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let here = &now as *const u64 as u64;
        Ids(now ^ here.rotate_left(32) ^ u64::from(std::process::id()))
    }

    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    pub fn with_prefix(&mut self, prefix: &str) -> String {
        format!("{prefix}_{}", self.uuid())
    }
}

pub fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// Go's `%.2f` of a precise amount in its currency, as Blnk's messages print it.
pub fn money(currency: &str, precise: i128, precision: f64) -> String {
    let precision = if precision > 0.0 { precision } else { 1.0 };
    format!("{currency}{:.2}", precise as f64 / precision)
}
