//! The shares of a split transaction, as Blnk computes them (`CalculateDistributionsPrecise`,
//! `model/transaction.go`), in exact decimals (shopspring/decimal's arithmetic, [`Decimal`]):
//!
//! - a total of 0 gives every identifier 0; a total of exactly 1 minor unit goes to the first
//!   share, every other identifier 0;
//! - fixed shares first, in order: `precise_distribution` (an integer in minor units) or the
//!   `distribution` read as a float, its shortest decimal times the precision (not rounded);
//!   one of 0 is skipped (no leg), one above what is left refused;
//! - then percentages: the total times the percentage's shortest decimal over 100 (16 places,
//!   not rounded further), a positive one below 1 minor unit made 0; more than 100% in all, or
//!   fixed shares above the total, refused; the percentages' shortfall from their exact total
//!   (only where some were made 0) added to the largest;
//! - every share truncated to an integer (`BigInt`), what is left (less the percentages'
//!   unrounded amounts) to the `"left"` share, and whatever the sum still misses added to the
//!   largest share.
//!
//! Blnk keys shares by identifier in a Go map: a repeated identifier keeps one share (the
//! last written), and the legs come out in the map's random order, as do ties for "the
//! largest". The fake takes identifiers in the order they first appear: one of Blnk's orders.

use std::cmp::Ordering;

use super::precise::Decimal;
use crate::bind::Distribution;

/// Shares by identifier, in the order each was first written.
struct Shares<V>(Vec<(String, V)>);

impl<V> Default for Shares<V> {
    fn default() -> Self {
        Shares(Vec::new())
    }
}

impl<V: Clone> Shares<V> {
    fn set(&mut self, id: &str, v: V) {
        match self.0.iter_mut().find(|(k, _)| k == id) {
            Some((_, old)) => *old = v,
            None => self.0.push((id.to_string(), v)),
        }
    }

    fn has(&self, id: &str) -> bool {
        self.0.iter().any(|(k, _)| k == id)
    }
}

fn is_left(d: &Distribution) -> bool {
    d.distribution == "left" || d.precise_distribution == "left"
}

fn is_percentage(d: &Distribution) -> bool {
    d.distribution.ends_with('%')
}

/// Go's `strconv.ParseFloat(s, 64)` where it succeeds with a finite value. (Go also reads
/// hexadecimal floats, and `Inf`/`NaN`, on which Blnk's `NewFromFloat` panics: both refused
/// here.)
fn go_float(s: &str) -> Option<f64> {
    let digits = s.trim_start_matches(['+', '-']);
    if digits.starts_with("0x") || digits.starts_with("0X") {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Each identifier's precise amount, in the order the identifiers first appear; or Blnk's
/// reason (without its "failed to split transaction: ").
pub fn shares(
    total: i128,
    precision: i64,
    dists: &[Distribution],
) -> Result<Vec<(String, i128)>, String> {
    let mut result: Shares<i128> = Shares::default();
    let first = |id: &str| dists.iter().position(|d| d.identifier == id);
    let ordered = |r: Shares<i128>| {
        let mut v = r.0;
        v.sort_by_key(|(id, _)| first(id));
        v
    };
    if total == 0 || (total == 1 && !dists.is_empty()) {
        for (i, d) in dists.iter().enumerate() {
            result.set(&d.identifier, if i == 0 { total } else { 0 });
        }
        return Ok(ordered(result));
    }
    let total_d = Decimal::from_i128(total);
    let mut left = total_d.clone();
    let precision = Decimal::from_i128(i128::from(precision));
    let (mut fixed, mut fixed_total) = (Shares::default(), Decimal::zero());
    for d in dists.iter().filter(|d| !is_left(d) && !is_percentage(d)) {
        let amount = if !d.precise_distribution.is_empty() {
            let n = d.precise_distribution.parse::<i64>().map_err(|_| {
                "invalid precise_distribution format: must be an integer value in minor units"
            })?;
            Decimal::from_i128(i128::from(n))
        } else if !d.distribution.is_empty() {
            let f = go_float(&d.distribution).ok_or("invalid fixed amount format")?;
            Decimal::from_f64(f).mul(&precision)
        } else {
            Decimal::zero()
        };
        if amount.is_zero() {
            continue;
        }
        if amount.compare(&left) == Ordering::Greater {
            return Err("fixed amount exceeds remaining transaction amount".into());
        }
        fixed_total = fixed_total.add(&amount);
        left = left.sub(&amount);
        fixed.set(&d.identifier, amount);
    }
    let (hundred, one) = (Decimal::from_i128(100), Decimal::from_i128(1));
    let (mut percent, mut percent_total) = (Shares::default(), Decimal::zero());
    for d in dists.iter().filter(|d| !is_left(d) && is_percentage(d)) {
        let text = &d.distribution[..d.distribution.len() - 1];
        let p = Decimal::from_f64(go_float(text).ok_or("invalid percentage format")?);
        percent_total = percent_total.add(&p);
        let raw = total_d.mul(&p).div_100();
        let small = raw.is_positive() && raw.compare(&one) == Ordering::Less;
        percent.set(&d.identifier, if small { Decimal::zero() } else { raw });
    }
    if percent_total.compare(&hundred) == Ordering::Greater
        || fixed_total.compare(&total_d) == Ordering::Greater
    {
        return Err("total distributions exceed 100% or total amount".into());
    }
    if !percent.0.is_empty() {
        let target = total_d.mul(&percent_total).div_100();
        let current = percent.0.iter().fold(Decimal::zero(), |s, (_, a)| s.add(a));
        let diff = target.sub(&current);
        if !diff.is_zero() {
            if let Some(i) = largest(percent.0.iter().map(|(_, a)| a.clone())) {
                percent.0[i].1 = percent.0[i].1.add(&diff);
            }
        }
    }
    let whole = |d: &Decimal| {
        d.big_int().unwrap_or(if d.is_positive() {
            i128::MAX
        } else {
            i128::MIN
        })
    };
    for (id, a) in &fixed.0 {
        result.set(id, whole(a));
    }
    for (id, a) in &percent.0 {
        result.set(id, whole(a));
        left = left.sub(a);
    }
    if let Some(d) = dists.iter().find(|d| is_left(d)) {
        if result.has(&d.identifier) {
            return Err("multiple identifiers with 'left' distribution".into());
        }
        result.set(&d.identifier, whole(&left));
    }
    let sum = result
        .0
        .iter()
        .fold(0i128, |s, (_, a)| s.saturating_add(*a));
    if sum != total {
        if let Some(i) = largest(result.0.iter().map(|(_, a)| Decimal::from_i128(*a))) {
            result.0[i].1 = result.0[i].1.saturating_add(total.saturating_sub(sum));
        }
    }
    Ok(ordered(result))
}

/// The first strictly largest of positive amounts (Blnk starts from 0 and takes `>`).
fn largest(amounts: impl Iterator<Item = Decimal>) -> Option<usize> {
    let mut best: Option<(usize, Decimal)> = None;
    for (i, a) in amounts.enumerate() {
        let floor = best.as_ref().map_or_else(Decimal::zero, |(_, b)| b.clone());
        if a.compare(&floor) == Ordering::Greater {
            best = Some((i, a));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(identifier: &str, distribution: &str) -> Distribution {
        Distribution {
            identifier: identifier.into(),
            distribution: distribution.into(),
            ..Distribution::default()
        }
    }

    fn split(total: i128, precision: i64, ds: &[Distribution]) -> Vec<(String, i128)> {
        shares(total, precision, ds).unwrap()
    }

    fn v(pairs: &[(&str, i128)]) -> Vec<(String, i128)> {
        pairs.iter().map(|(k, a)| (k.to_string(), *a)).collect()
    }

    /// Each checked against Blnk's own `CalculateDistributionsPrecise` (v0.15.2-47, go1.26),
    /// the first two also on a running Blnk (the balances each leg moved).
    #[test]
    fn shares_are_truncated_and_the_rest_goes_to_the_largest() {
        // 33.35% of 1000 is 333.5: 333, left 666.5 is 666, the missing 1 to the largest.
        assert_eq!(
            split(1000, 100, &[d("a", "33.35%"), d("b", "left")]),
            v(&[("a", 333), ("b", 667)])
        );
        // 10.004 at precision 100 is 1000.4: 1000; left 999.6 is 999; the 1 to a.
        assert_eq!(
            split(2000, 100, &[d("a", "10.004"), d("b", "left")]),
            v(&[("a", 1001), ("b", 999)])
        );
        assert_eq!(
            split(10000, 100, &[d("a", "60%"), d("b", "left")]),
            v(&[("a", 6000), ("b", 4000)])
        );
        // Fixed 2.25 is 2 (its .25 still counted off what is left), 12.5% 124; c takes 871
        // and the 2 the sum misses.
        assert_eq!(
            split(999, 1, &[d("a", "12.5%"), d("b", "2.25"), d("c", "left")]),
            v(&[("a", 124), ("b", 2), ("c", 873)])
        );
        // Three equal largest shares: Blnk's map order picks one; the fake the first.
        assert_eq!(
            split(
                1001,
                100,
                &[d("a", "33.33%"), d("b", "33.33%"), d("c", "33.34%")]
            ),
            v(&[("a", 335), ("b", 333), ("c", 333)])
        );
        // One minor unit goes to the first; every other identifier gets 0.
        assert_eq!(
            split(1, 100, &[d("a", "50%"), d("b", "50%")]),
            v(&[("a", 1), ("b", 0)])
        );
    }

    #[test]
    fn refusals_are_blnk_s() {
        let err = |total, ds: &[Distribution]| shares(total, 100, ds).unwrap_err();
        assert_eq!(
            err(2000, &[d("a", "150%")]),
            "total distributions exceed 100% or total amount"
        );
        assert_eq!(err(2000, &[d("a", " 50%")]), "invalid percentage format");
        assert_eq!(err(2000, &[d("a", "x")]), "invalid fixed amount format");
        assert_eq!(
            err(2000, &[d("a", "30"), d("b", "left")]),
            "fixed amount exceeds remaining transaction amount"
        );
        assert_eq!(
            err(2000, &[d("a", "50%"), d("a", "left")]),
            "multiple identifiers with 'left' distribution"
        );
        let mut p = d("a", "");
        p.precise_distribution = "1.5".into();
        assert_eq!(
            err(2000, &[p]),
            "invalid precise_distribution format: must be an integer value in minor units"
        );
    }

    #[test]
    fn precise_distributions_zero_shares_and_repeated_identifiers() {
        let mut p = d("a", "7");
        p.precise_distribution = "1234".into();
        assert_eq!(
            split(2000, 100, &[p, d("b", "left")]),
            v(&[("a", 1234), ("b", 766)])
        );
        // A fixed share of 0 has no leg.
        assert_eq!(
            split(2000, 100, &[d("a", "0"), d("b", "left")]),
            v(&[("b", 2000)])
        );
        // One identifier twice keeps one share: the second 50% is the one written, and the
        // shortfall to the 100% asked goes to it.
        assert_eq!(
            split(2000, 100, &[d("a", "50%"), d("a", "50%")]),
            v(&[("a", 2000)])
        );
        // A percentage below one minor unit is 0, its part added to the largest.
        assert_eq!(
            split(1000, 100, &[d("a", "0.05%"), d("b", "99.95%")]),
            v(&[("a", 0), ("b", 1000)])
        );
    }
}
