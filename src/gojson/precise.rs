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
//! [`Unreadable::TooLarge`] (a body the gateway refuses rather than misreads), as is a
//! precision of 2^127 or more with an amount other than zero, whatever the product.

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
    // Every f64 below 2^127 in magnitude that is an integer converts exactly. (Numbers read
    // from JSON are finite; a NaN would be refused too.)
    if factor.is_nan() || factor.abs() >= 2f64.powi(127) {
        return Err(Unreadable::TooLarge { field: "precision" });
    }
    let factor = factor as i128;
    let too_large = Unreadable::TooLarge { field: "amount" };
    let product = factor
        .unsigned_abs()
        .checked_mul(u128::from(digits))
        .ok_or(too_large)?;
    if product == 0 {
        return Ok(0);
    }
    let magnitude = scale(product, exp10).ok_or(too_large)?;
    let magnitude = i128::try_from(magnitude).map_err(|_| too_large)?;
    let negative = (factor < 0) != amount.is_sign_negative();
    Ok(if negative { -magnitude } else { magnitude })
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
