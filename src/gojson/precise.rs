//! Blnk's precise amount (`model.ApplyPrecision`, `convertDecimalToPrecise`), computed exactly:
//!
//! - a `precise_amount` above zero is the amount in minor units;
//! - otherwise a `precision` of 0 means 1, and the precise amount is
//!   `decimal(FormatFloat(amount, 'f', -1, 64)) × decimal(FormatFloat(precision, 'f', 0, 64))`
//!   rounded to an integer half away from zero (shopspring/decimal `Round(0)`).
//!
//! The amount enters as its shortest round-trip decimal digits, not as its binary value: 1.005
//! (binary 1.00499999999999989...) at precision 100 is 101. Go and Rust agree on those digits
//! except when the binary value lies exactly halfway between the two shortest candidates: Go
//! takes the even one (`ryuFtoaShortest`), Rust's `{}` the upper one (98647591572463.625 is
//! `...463.62` in Go, `...463.63` in Rust). Such a tie needs at least 16 digits; for those the
//! digits are taken from Rust's exact formatting, which rounds half to even, at the shortest
//! length. The precision enters rounded to an integer half to even (`FormatFloat` with 0
//! decimals rounds the exact binary value that way).
//!
//! Blnk's result has any size; the gateway's is an `i128`, and a result beyond it is
//! [`Unreadable::TooLarge`] (a body the gateway refuses rather than misreads). Every result
//! that fits is computed exactly: the amount's digits times the precision in `u128` when that
//! fits (every typical amount), otherwise in a small big integer ([`Big`]), as the amount's
//! digits times the precision's binary mantissa, times powers of 2 and 5.

use std::fmt::Write;

use super::error::Unreadable;

/// Blnk's `ApplyPrecision` for an amount, a precision and an optional `precise_amount`.
pub fn apply_precision(
    amount: f64,
    precision: f64,
    precise_amount: Option<i128>,
) -> Result<i128, Unreadable> {
    if let Some(p) = precise_amount.filter(|p| *p > 0) {
        return Ok(p);
    }
    let (digits, exp10) = shortest_digits(amount);
    if digits == 0 {
        return Ok(0);
    }
    let precision = if precision == 0.0 { 1.0 } else { precision };
    let factor = precision.round_ties_even();
    // Numbers read from JSON are finite; anything else is refused, never guessed at.
    if !factor.is_finite() {
        return Err(Unreadable::TooLarge { field: "precision" });
    }
    let too_large = Unreadable::TooLarge { field: "amount" };
    let magnitude = match fast(digits, exp10, factor.abs()) {
        Some(m) => m,
        None => exact(digits, exp10, factor.abs()).ok_or(too_large)?,
    };
    let magnitude = i128::try_from(magnitude).map_err(|_| too_large)?;
    let negative = (factor < 0.0) != amount.is_sign_negative();
    Ok(if negative { -magnitude } else { magnitude })
}

/// The amount's digits times the precision (an integer below 2^127) in `u128`, then scaled by
/// `10^exp10`; `None` when any step passes `u128`, for [`exact`] to take over.
fn fast(digits: u64, exp10: i32, factor: f64) -> Option<u128> {
    // Every f64 below 2^127 that is an integer converts exactly.
    if factor >= 2f64.powi(127) {
        return None;
    }
    let product = (factor as u128).checked_mul(u128::from(digits))?;
    if product == 0 {
        return Some(0);
    }
    scale(product, exp10)
}

/// `n × 10^exp10` rounded to an integer, half away from zero; `None` past `u128`.
fn scale(n: u128, exp10: i32) -> Option<u128> {
    if exp10 >= 0 {
        return 10u128.checked_pow(exp10.unsigned_abs())?.checked_mul(n);
    }
    // n < 2^128 < 10^39 / 2: dividing by 10^39 or more leaves less than a half.
    let Some(div) = 10u128.checked_pow(exp10.unsigned_abs()) else {
        return Some(0);
    };
    let (q, r) = (n / div, n % div);
    // r < div, and 2r is compared as r >= div - r so that nothing overflows.
    Some(if r >= div - r { q + 1 } else { q })
}

/// `digits × 10^exp10 × factor` (a non-negative integer-valued float) rounded half away from
/// zero, exactly, whatever the sizes; `None` when the result passes `i128::MAX`.
///
/// The factor is `m × 2^e` exactly (its mantissa, or itself below 2^64), so the value is
/// `p × 2^a × 5^b` with `p = digits × m` (below 2^121), `a = e + exp10`, `b = exp10`: a
/// numerator and a denominator made of `p` and those powers, and the rounded quotient
/// `floor((2 num + den) / (2 den))`, where `den` is `2^s × 5^t`: a shift and divisions by
/// powers of 5 that fit a `u64`.
fn exact(digits: u64, exp10: i32, factor: f64) -> Option<u128> {
    let (mantissa, e) = if factor < 2f64.powi(64) {
        (factor as u64, 0)
    } else {
        let bits = factor.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        ((bits & ((1 << 52) - 1)) | 1 << 52, biased - 1075)
    };
    let p = u128::from(digits) * u128::from(mantissa);
    let (a, b) = (e + exp10, exp10);
    let (mut num, mut den) = (Big::from(p), Big::from(1));
    let (s, t) = (a.min(0).unsigned_abs(), b.min(0).unsigned_abs());
    // The result is at least num / den / 2 and below 2 num / den: settle the clear cases by
    // bit length before building large powers (2^a for a precision near 1.8e308 is 1024 bits).
    let bits = 128 - p.leading_zeros() as i64;
    let log2_5 = 2.321_928_094_887_362_f64;
    let estimate = bits as f64 + f64::from(a) + f64::from(b) * log2_5;
    if estimate > 130.0 {
        return None;
    }
    if estimate < -3.0 {
        return Some(0);
    }
    num.shl(a.max(0).unsigned_abs());
    num.mul_pow5(b.max(0).unsigned_abs());
    den.shl(s);
    den.mul_pow5(t);
    num.shl(1);
    num.add(&den);
    num.shr(s + 1);
    num.div_pow5(t);
    num.to_u128().filter(|m| *m <= i128::MAX as u128)
}

/// A non-negative integer in 64-bit limbs, least significant first: the few operations
/// [`exact`] needs, none of them a general division.
struct Big(Vec<u64>);

impl Big {
    fn from(n: u128) -> Big {
        Big(vec![n as u64, (n >> 64) as u64])
    }

    fn shl(&mut self, bits: u32) {
        let (limbs, bits) = ((bits / 64) as usize, bits % 64);
        if bits > 0 {
            let mut carry = 0;
            for l in &mut self.0 {
                let next = *l >> (64 - bits);
                *l = (*l << bits) | carry;
                carry = next;
            }
            self.0.push(carry);
        }
        self.0.splice(0..0, std::iter::repeat_n(0, limbs));
    }

    fn shr(&mut self, bits: u32) {
        let (limbs, bits) = ((bits / 64) as usize, bits % 64);
        self.0.drain(..limbs.min(self.0.len()));
        if bits > 0 {
            let mut carry = 0;
            for l in self.0.iter_mut().rev() {
                let next = *l << (64 - bits);
                *l = (*l >> bits) | carry;
                carry = next;
            }
        }
    }

    fn mul_small(&mut self, k: u64) {
        let mut carry = 0u128;
        for l in &mut self.0 {
            let v = u128::from(*l) * u128::from(k) + carry;
            *l = v as u64;
            carry = v >> 64;
        }
        if carry > 0 {
            self.0.push(carry as u64);
        }
    }

    /// `⌊self / k⌋`, `k` not zero.
    fn div_small(&mut self, k: u64) {
        let mut rem = 0u128;
        for l in self.0.iter_mut().rev() {
            let v = (rem << 64) | u128::from(*l);
            *l = (v / u128::from(k)) as u64;
            rem = v % u128::from(k);
        }
    }

    fn mul_pow5(&mut self, n: u32) {
        for chunk in pow5_chunks(n) {
            self.mul_small(chunk);
        }
    }

    /// `⌊self / 5^n⌋`: floors of floors, as `⌊⌊x / a⌋ / b⌋ = ⌊x / ab⌋`.
    fn div_pow5(&mut self, n: u32) {
        for chunk in pow5_chunks(n) {
            self.div_small(chunk);
        }
    }

    fn add(&mut self, other: &Big) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        let mut carry = false;
        for (i, l) in self.0.iter_mut().enumerate() {
            let (v, c1) = l.overflowing_add(other.0.get(i).copied().unwrap_or(0));
            let (v, c2) = v.overflowing_add(u64::from(carry));
            *l = v;
            carry = c1 || c2;
        }
        if carry {
            self.0.push(1);
        }
    }

    fn to_u128(&self) -> Option<u128> {
        if self.0.iter().skip(2).any(|l| *l != 0) {
            return None;
        }
        let limb = |i: usize| u128::from(self.0.get(i).copied().unwrap_or(0));
        Some(limb(0) | limb(1) << 64)
    }
}

/// `5^n` as factors that fit a `u64` (5^27 is the largest power that does).
fn pow5_chunks(n: u32) -> impl Iterator<Item = u64> {
    let whole = std::iter::repeat_n(5u64.pow(27), (n / 27) as usize);
    whole.chain((n % 27 > 0).then(|| 5u64.pow(n % 27)))
}

/// The shortest decimal digits that read back as `|x|` (Go's choice on ties), as an integer
/// and a power of ten: 1.005 is (1005, -3), 1e21 is (1, 21), 0 is (0, 0).
fn shortest_digits(x: f64) -> (u64, i32) {
    let x = x.abs();
    let mut buf = Buf::default();
    // Writing to a `Buf` cannot fail: 17 digits, a point and an exponent fit.
    let _ = write!(buf, "{x:e}");
    let (digits, len, exp) = parse_exp(buf.text());
    if len >= 16 {
        let mut even = Buf::default();
        let _ = write!(even, "{x:.prec$e}", prec = len - 1);
        if even.text().parse::<f64>() == Ok(x) {
            let (digits, _, exp) = parse_exp(even.text());
            return (digits, exp - (len as i32 - 1));
        }
    }
    (digits, exp - (len as i32 - 1))
}
/// `d.ddde±x` as (digits as an integer, how many digits, x).
fn parse_exp(text: &str) -> (u64, usize, i32) {
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let mut digits = 0u64;
    let mut len = 0;
    for d in mantissa.bytes().filter(u8::is_ascii_digit) {
        digits = digits * 10 + u64::from(d - b'0');
        len += 1;
    }
    (digits, len, exp.parse().unwrap_or(0))
}

/// A stack buffer for one formatted float.
#[derive(Default)]
struct Buf {
    bytes: [u8; 32],
    len: usize,
}

impl Buf {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("0")
    }
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
