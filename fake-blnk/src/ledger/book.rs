//! The fake's database: transactions (the reference is a unique index), balances (made on first
//! use of an `@indicator`, as Blnk's general ledger does), the holds of inflight transactions,
//! and the queued inflight actions (Blnk deduplicates those while they wait).

use std::collections::{HashMap, HashSet};

use super::record::{now, Balance, Ids, Txn};

/// What is left of an inflight transaction's hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub held: i128,
    pub committed: i128,
    pub voided: bool,
}

impl Hold {
    pub fn remaining(&self) -> i128 {
        self.held - self.committed
    }
}

pub struct Book {
    txns: HashMap<String, Txn>,
    refs: HashMap<String, String>,
    order: Vec<String>,
    balances: HashMap<String, Balance>,
    indicators: HashMap<(String, String), String>,
    pub holds: HashMap<String, Hold>,
    /// Inflight ids with a commit or void waiting in the queue (asynq's task id dedupe).
    pub queued_actions: HashSet<String>,
    pub ids: Ids,
    pub ledgers: Vec<serde_json::Value>,
}

/// Blnk's message for a transfer the source cannot pay.
pub const INSUFFICIENT: &str = "insufficient funds in source balance";

impl Book {
    pub fn new() -> Book {
        Book {
            txns: HashMap::new(),
            refs: HashMap::new(),
            order: Vec::new(),
            balances: HashMap::new(),
            indicators: HashMap::new(),
            holds: HashMap::new(),
            queued_actions: HashSet::new(),
            ids: Ids::new(),
            ledgers: vec![serde_json::json!({
                "ledger_id": "general_ledger_id",
                "name": "General Ledger",
                "created_at": now(),
                "meta_data": {},
            })],
        }
    }

    /// Stores a transaction unless its reference is taken (the unique index refuses it).
    pub fn insert(&mut self, t: Txn) -> bool {
        if self.refs.contains_key(&t.reference) {
            return false;
        }
        self.refs.insert(t.reference.clone(), t.id.clone());
        self.order.push(t.id.clone());
        self.txns.insert(t.id.clone(), t);
        true
    }

    pub fn reference_used(&self, reference: &str) -> bool {
        self.refs.contains_key(reference)
    }

    pub fn get(&self, id: &str) -> Option<&Txn> {
        self.txns.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Txn> {
        self.txns.get_mut(id)
    }

    pub fn by_ref(&self, reference: &str) -> Option<&Txn> {
        self.refs.get(reference).and_then(|id| self.txns.get(id))
    }

    /// Every transaction, oldest first.
    pub fn all(&self) -> impl Iterator<Item = &Txn> {
        self.order.iter().filter_map(|id| self.txns.get(id))
    }

    /// The balance a transaction names: an existing `bln_` id, or an `@indicator` in the
    /// transaction's currency, made on first use.
    pub fn resolve(&mut self, who: &str, currency: &str) -> Result<String, String> {
        if self.balances.contains_key(who) {
            return Ok(who.to_string());
        }
        if !who.starts_with('@') {
            return Err(format!("Balance with ID '{who}' not found"));
        }
        let key = (who.to_string(), currency.to_string());
        if let Some(id) = self.indicators.get(&key) {
            return Ok(id.clone());
        }
        let id = self.ids.with_prefix("bln");
        let balance = Balance {
            id: id.clone(),
            ledger_id: "general_ledger_id".into(),
            indicator: who.to_string(),
            currency: currency.to_string(),
            created_at: now(),
            ..Balance::default()
        };
        self.balances.insert(id.clone(), balance);
        self.indicators.insert(key, id.clone());
        Ok(id)
    }

    pub fn balance(&self, id: &str) -> Option<&Balance> {
        self.balances.get(id)
    }

    pub fn indicator(&self, indicator: &str, currency: &str) -> Option<&Balance> {
        self.indicators
            .get(&(indicator.to_string(), currency.to_string()))
            .and_then(|id| self.balances.get(id))
    }

    /// Whether `src` holds `amount` beyond what it has on hold.
    pub fn can_pay(&self, src: &str, amount: i128) -> bool {
        self.balances
            .get(src)
            .is_some_and(|b| b.balance - b.inflight_debit >= amount)
    }

    /// Moves `amount` from `src` to `dst`, or holds it (inflight). Refused, changing nothing,
    /// when the source cannot pay and may not overdraw.
    pub fn transfer(
        &mut self,
        (src, dst): (&str, &str),
        amount: i128,
        allow_overdraft: bool,
        inflight: bool,
    ) -> Result<(), String> {
        if !self.balances.contains_key(src) {
            return Err(format!("Balance with ID '{src}' not found"));
        }
        if !allow_overdraft && !self.can_pay(src, amount) {
            return Err(INSUFFICIENT.into());
        }
        if !self.balances.contains_key(dst) {
            return Err(format!("Balance with ID '{dst}' not found"));
        }
        self.update(src, |b| match inflight {
            true => {
                b.inflight_debit += amount;
                b.inflight_balance -= amount;
            }
            false => {
                b.debit += amount;
                b.balance -= amount;
            }
        });
        self.update(dst, |b| match inflight {
            true => {
                b.inflight_credit += amount;
                b.inflight_balance += amount;
            }
            false => {
                b.credit += amount;
                b.balance += amount;
            }
        });
        Ok(())
    }

    /// Settles `amount` of a hold: committed (it moves) or voided (it is released).
    pub fn settle(&mut self, (src, dst): (&str, &str), amount: i128, commit: bool) {
        self.update(src, |b| {
            b.inflight_debit -= amount;
            b.inflight_balance += amount;
            if commit {
                b.debit += amount;
                b.balance -= amount;
            }
        });
        self.update(dst, |b| {
            b.inflight_credit -= amount;
            b.inflight_balance -= amount;
            if commit {
                b.credit += amount;
                b.balance += amount;
            }
        });
    }

    fn update(&mut self, id: &str, f: impl FnOnce(&mut Balance)) {
        if let Some(b) = self.balances.get_mut(id) {
            f(b);
            b.version += 1;
        }
    }
}

impl Default for Book {
    fn default() -> Self {
        Book::new()
    }
}
