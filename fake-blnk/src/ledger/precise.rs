//! Blnk's precise amount (`model.ApplyPrecision`, `convertDecimalToPrecise`) in exact decimal
//! arithmetic:
//!
//! - a `precise_amount` above zero is the amount in minor units;
//! - otherwise (a `precision` of 0 meaning 1) the amount is written as Go's
//!   `strconv.FormatFloat(amount, 'f', -1, 64)` writes it, the precision as
//!   `FormatFloat(precision, 'f', 0, 64)`, both read as decimals (shopspring/decimal), multiplied,
//!   and rounded to an integer half away from zero (`Round(0)`).
//!
//! So the amount enters as its shortest round-trip decimal, not its binary value: 1.005 (binary
//! 1.00499999999999989...) at precision 100 is 101, where multiplying the floats gives 100.
//!
//! This is the fake's own computation, by a different route from the gateway's: every value is
//! expanded into its exact decimal digits (`Dec`), and the shortest decimal is found by the
//! rule Go's `FormatFloat` follows (Dragonbox in Go 1.26): the fewest significant digits that
//! lie within the float's rounding interval (its ends included when the binary mantissa is even,
//! the lower half-gap halved at a power of two), the nearest of those to the float, and on an
//! exact tie the one ending in an even digit (98647591572463.625 is `...463.62`). The precision
//! enters as its exact binary value rounded to an integer half to even (Go's fixed formatting).

use std::cmp::Ordering;

/// A non-negative decimal: `digits` (least significant first, no zero at either end; empty for
/// zero) times `10^exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dec {
    digits: Vec<u8>,
    exp: i32,
}

impl Dec {
    fn zero() -> Dec {
        Dec {
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// `10^exp`.
    fn unit(exp: i32) -> Dec {
        Dec {
            digits: vec![1],
            exp,
        }
    }

    fn from_u128(mut n: u128) -> Dec {
        let mut digits = Vec::new();
        while n > 0 {
            digits.push((n % 10) as u8);
            n /= 10;
        }
        Dec { digits, exp: 0 }.normalized()
    }

    /// `c × 2^f`, exactly: `c × 2^f` for `f >= 0`, else `c × 5^-f × 10^f`.
    fn binary(c: u128, f: i32) -> Dec {
        let mut d = Dec::from_u128(c);
        let (base, chunk) = if f >= 0 { (2u64, 30) } else { (5, 13) };
        let mut left = f.unsigned_abs();
        while left > 0 {
            let n = left.min(chunk);
            d.mul_small(base.pow(n));
            left -= n;
        }
        if f < 0 {
            d.exp += f;
        }
        d.normalized()
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The power of ten of the leading digit.
    fn lead(&self) -> i32 {
        self.digits.len() as i32 - 1 + self.exp
    }

    fn digit_at(&self, pos: i32) -> u8 {
        usize::try_from(pos - self.exp)
            .ok()
            .and_then(|i| self.digits.get(i).copied())
            .unwrap_or(0)
    }

    /// Without zeros at either end.
    fn normalized(mut self) -> Dec {
        while self.digits.last() == Some(&0) {
            self.digits.pop();
        }
        let low = self.digits.iter().take_while(|d| **d == 0).count();
        self.digits.drain(..low);
        self.exp += low as i32;
        if self.digits.is_empty() {
            self.exp = 0;
        }
        self
    }

    fn mul_small(&mut self, k: u64) {
        let mut carry = 0u64;
        for d in &mut self.digits {
            let v = u64::from(*d) * k + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            self.digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }

    /// Both as digit vectors at the lower of the two exponents.
    fn aligned(&self, other: &Dec) -> (Vec<u8>, Vec<u8>, i32) {
        let exp = self.exp.min(other.exp);
        let pad = |d: &Dec| {
            let mut v = vec![0; (d.exp - exp) as usize];
            v.extend_from_slice(&d.digits);
            v
        };
        (pad(self), pad(other), exp)
    }

    fn compare(&self, other: &Dec) -> Ordering {
        if self.is_zero() || other.is_zero() {
            return self.is_zero().cmp(&other.is_zero()).reverse();
        }
        let by_lead = self.lead().cmp(&other.lead());
        if by_lead != Ordering::Equal {
            return by_lead;
        }
        let (a, b, _) = self.aligned(other);
        a.len()
            .cmp(&b.len())
            .then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }

    fn add(&self, other: &Dec) -> Dec {
        let (a, b, exp) = self.aligned(other);
        let mut digits = Vec::with_capacity(a.len().max(b.len()) + 1);
        let mut carry = 0;
        for i in 0..a.len().max(b.len()) {
            let v = a.get(i).unwrap_or(&0) + b.get(i).unwrap_or(&0) + carry;
            digits.push(v % 10);
            carry = v / 10;
        }
        digits.push(carry);
        Dec { digits, exp }.normalized()
    }

    /// `self - other`, for `self >= other`.
    fn sub(&self, other: &Dec) -> Dec {
        let (a, b, exp) = self.aligned(other);
        let mut digits = Vec::with_capacity(a.len());
        let mut borrow = 0;
        for (i, &d) in a.iter().enumerate() {
            let take = b.get(i).unwrap_or(&0) + borrow;
            borrow = u8::from(d < take);
            digits.push(d + 10 * borrow - take);
        }
        Dec { digits, exp }.normalized()
    }

    fn mul(&self, other: &Dec) -> Dec {
        if self.is_zero() || other.is_zero() {
            return Dec::zero();
        }
        let mut acc = vec![0u32; self.digits.len() + other.digits.len() + 1];
        for (i, &a) in self.digits.iter().enumerate() {
            for (j, &b) in other.digits.iter().enumerate() {
                acc[i + j] += u32::from(a) * u32::from(b);
            }
            // Carry as we go so no cell overflows.
            for k in 0..acc.len() - 1 {
                acc[k + 1] += acc[k] / 10;
                acc[k] %= 10;
            }
        }
        Dec {
            digits: acc.into_iter().map(|d| d as u8).collect(),
            exp: self.exp + other.exp,
        }
        .normalized()
    }

    /// The digits from `10^pos` up (the rest dropped).
    fn truncated(&self, pos: i32) -> Dec {
        let cut = usize::try_from(pos - self.exp).unwrap_or(0);
        if cut >= self.digits.len() {
            return Dec::zero();
        }
        Dec {
            digits: self.digits[cut..].to_vec(),
            exp: self.exp.max(pos),
        }
        .normalized()
    }

    /// Rounded to an integer: half away from zero when `even` is false, half to even when true.
    fn round(&self, even: bool) -> Dec {
        if self.exp >= 0 {
            return self.clone();
        }
        let whole = self.truncated(0);
        let half = Dec {
            digits: vec![5],
            exp: -1,
        };
        let up = match self.sub(&whole).compare(&half) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => !even || whole.digit_at(0) % 2 == 1,
        };
        if up {
            whole.add(&Dec::unit(0))
        } else {
            whole
        }
    }

    /// An integer's value, if it fits.
    fn to_u128(&self) -> Option<u128> {
        let mut v: u128 = 0;
        for &d in self.digits.iter().rev() {
            v = v.checked_mul(10)?.checked_add(u128::from(d))?;
        }
        for _ in 0..self.exp {
            v = v.checked_mul(10)?;
        }
        Some(v)
    }

    /// `self / d` and the remainder, both integers (exponents of 0 or more), `d` not zero:
    /// long division, one digit at a time.
    fn div_rem(&self, d: &Dec) -> (Dec, Dec) {
        let mut q = Vec::new();
        let mut r = Dec::zero();
        let width = self.lead().max(0);
        for pos in (0..=width).rev() {
            r.mul_small(10);
            r.exp = if r.is_zero() { 0 } else { r.exp };
            r = r.add(&Dec {
                digits: vec![self.digit_at(pos)],
                exp: 0,
            });
            let mut n = 0;
            while r.compare(d) != Ordering::Less {
                r = r.sub(d);
                n += 1;
            }
            q.push(n);
        }
        q.reverse();
        (Dec { digits: q, exp: 0 }.normalized(), r)
    }

    /// Shifted by a power of ten.
    fn times_ten_to(&self, n: i32) -> Dec {
        if self.is_zero() {
            return Dec::zero();
        }
        Dec {
            digits: self.digits.clone(),
            exp: self.exp + n,
        }
    }

    /// As shopspring's `String` writes it: every digit, no exponent, `0` for zero.
    fn text(&self) -> String {
        let digits: String = self
            .digits
            .iter()
            .rev()
            .map(|d| char::from(b'0' + d))
            .collect();
        let point = digits.len() as i32 + self.exp;
        if self.is_zero() {
            "0".to_string()
        } else if self.exp >= 0 {
            let mut out = digits;
            out.extend(std::iter::repeat_n('0', self.exp as usize));
            out
        } else if point > 0 {
            let (whole, fraction) = digits.split_at(point as usize);
            format!("{whole}.{fraction}")
        } else {
            let zeros: String = std::iter::repeat_n('0', point.unsigned_abs() as usize).collect();
            format!("0.{zeros}{digits}")
        }
    }
}

/// The binary mantissa and exponent of a finite, non-negative `x`: `x = m × 2^e`; and whether
/// its rounding interval is taken as narrower below (a normal power of two: Go's Dragonbox takes
/// it so for the smallest normal too, whose neighbours are equally far).
fn decompose(x: f64) -> (u128, i32, bool) {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = u128::from(bits & ((1u64 << 52) - 1));
    if biased == 0 {
        return (fraction, -1074, false);
    }
    (fraction | 1 << 52, biased - 1075, fraction == 0)
}

/// `FormatFloat(|x|, 'f', -1, 64)` as a decimal: the shortest decimal that reads back as `x`,
/// nearest to it, ties to an even last digit.
fn shortest(x: f64) -> Dec {
    let (m, e, closer_below) = decompose(x.abs());
    let value = Dec::binary(m, e);
    if value.is_zero() {
        return value;
    }
    let above = Dec::binary(2 * m + 1, e - 1);
    let below = if closer_below {
        Dec::binary(4 * m - 1, e - 2)
    } else {
        Dec::binary(2 * m - 1, e - 1)
    };
    let ends_in = m % 2 == 0;
    let inside = |c: &Dec| match (c.compare(&below), c.compare(&above)) {
        (Ordering::Greater, Ordering::Less) => true,
        (Ordering::Equal, _) | (_, Ordering::Equal) => ends_in,
        _ => false,
    };
    let top = value.lead();
    let mut n = 1;
    loop {
        let pos = top - n + 1;
        let down = value.truncated(pos);
        if down == value {
            return down;
        }
        let up = down.add(&Dec::unit(pos));
        match (inside(&down), inside(&up)) {
            (true, false) => return down,
            (false, true) => return up,
            (true, true) => {
                return match value.sub(&down).compare(&up.sub(&value)) {
                    Ordering::Less => down,
                    Ordering::Greater => up,
                    Ordering::Equal if down.digit_at(pos) % 2 == 0 => down,
                    Ordering::Equal => up,
                }
            }
            (false, false) => n += 1,
        }
    }
}

/// Go's `strconv.FormatFloat(x, 'f', -1, 64)`: the shortest decimal, without an exponent.
pub fn go_format(x: f64) -> String {
    let sign = if x.is_sign_negative() { "-" } else { "" };
    format!("{sign}{}", shortest(x).text())
}

/// Blnk's `convertPreciseToDecimal`: the precise amount over the precision in decimals
/// (shopspring/decimal: the precision as `NewFromFloat` reads it, its shortest decimal; `Div`
/// to 16 decimal places, half away from zero), as its text (`AmountString`, which Blnk stores
/// as the amount) and as the float64 nearest it (`Float64`, the answer's `amount`). A
/// precision of 0 is 1, as `ApplyPrecision` sets it first.
pub fn to_decimal(precise: i128, precision: f64) -> (String, f64) {
    let precision = if precision == 0.0 { 1.0 } else { precision };
    let divisor = shortest(precision);
    // Both as integers: precise x 10^(16 - e) over the divisor's digits x 10^0, or precise
    // over digits x 10^(e - 16).
    let places = 16 - divisor.exp;
    let mut numerator = Dec::from_u128(precise.unsigned_abs()).times_ten_to(places.max(0));
    let divisor = divisor.times_ten_to(-divisor.exp + (-places).max(0));
    let (mut q, r) = numerator.div_rem(&divisor);
    numerator = r.add(&r);
    if numerator.compare(&divisor) != Ordering::Less {
        q = q.add(&Dec::unit(0));
    }
    let q = q.times_ten_to(-16).normalized();
    let negative = !q.is_zero() && ((precise < 0) != precision.is_sign_negative());
    let text = format!("{}{}", if negative { "-" } else { "" }, q.text());
    let value = text.parse().unwrap_or(0.0);
    (text, value)
}

/// A signed decimal with shopspring/decimal's arithmetic, for the split of a transaction
/// (`CalculateDistributionsPrecise`): exact sums and products, division (by 100 only) to 16
/// places half away from zero, and `BigInt`'s truncation toward zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    magnitude: Dec,
}

impl Decimal {
    pub fn zero() -> Decimal {
        Decimal::from_i128(0)
    }

    pub fn from_i128(n: i128) -> Decimal {
        Decimal {
            negative: n < 0,
            magnitude: Dec::from_u128(n.unsigned_abs()),
        }
        .tidy()
    }

    /// `NewFromFloat`: a finite float's shortest decimal.
    pub fn from_f64(x: f64) -> Decimal {
        Decimal {
            negative: x < 0.0,
            magnitude: shortest(x),
        }
        .tidy()
    }

    /// Zero has no sign.
    fn tidy(mut self) -> Decimal {
        self.magnitude = self.magnitude.normalized();
        self.negative &= !self.magnitude.is_zero();
        self
    }

    pub fn is_zero(&self) -> bool {
        self.magnitude.is_zero()
    }

    pub fn is_positive(&self) -> bool {
        !self.negative && !self.is_zero()
    }

    pub fn neg(&self) -> Decimal {
        Decimal {
            negative: !self.negative,
            magnitude: self.magnitude.clone(),
        }
        .tidy()
    }

    pub fn add(&self, other: &Decimal) -> Decimal {
        if self.negative == other.negative {
            return Decimal {
                negative: self.negative,
                magnitude: self.magnitude.add(&other.magnitude),
            }
            .tidy();
        }
        match self.magnitude.compare(&other.magnitude) {
            Ordering::Less => Decimal {
                negative: other.negative,
                magnitude: other.magnitude.sub(&self.magnitude),
            },
            _ => Decimal {
                negative: self.negative,
                magnitude: self.magnitude.sub(&other.magnitude),
            },
        }
        .tidy()
    }

    pub fn sub(&self, other: &Decimal) -> Decimal {
        self.add(&other.neg())
    }

    pub fn mul(&self, other: &Decimal) -> Decimal {
        Decimal {
            negative: self.negative != other.negative,
            magnitude: self.magnitude.mul(&other.magnitude),
        }
        .tidy()
    }

    /// `Div(NewFromInt(100))`: shopspring's `DivRound` to 16 places, half away from zero.
    pub fn div_100(&self) -> Decimal {
        let exact = self.magnitude.times_ten_to(-2);
        let kept = exact.truncated(-16);
        let rest = exact.sub(&kept);
        let magnitude = if rest.compare(&Dec::unit(-17).times_five()) == Ordering::Less {
            kept
        } else {
            kept.add(&Dec::unit(-16))
        };
        Decimal {
            negative: self.negative,
            magnitude,
        }
        .tidy()
    }

    /// `BigInt`: the integer part, toward zero; `None` past `i128`.
    pub fn big_int(&self) -> Option<i128> {
        let whole = i128::try_from(self.magnitude.truncated(0).to_u128()?).ok()?;
        Some(if self.negative { -whole } else { whole })
    }

    pub fn compare(&self, other: &Decimal) -> Ordering {
        let d = self.sub(other);
        match (d.is_zero(), d.negative) {
            (true, _) => Ordering::Equal,
            (false, true) => Ordering::Less,
            (false, false) => Ordering::Greater,
        }
    }
}

impl Dec {
    fn times_five(&self) -> Dec {
        let mut d = self.clone();
        d.mul_small(5);
        d.normalized()
    }
}

/// Blnk's `ApplyPrecision` for an amount, a precision and an optional `precise_amount`, exactly;
/// `None` when the result does not fit in an `i128` (Blnk's has any size).
pub fn apply_precision(amount: f64, precision: f64, precise: Option<i128>) -> Option<i128> {
    if let Some(p) = precise.filter(|p| *p > 0) {
        return Some(p);
    }
    let precision = if precision == 0.0 { 1.0 } else { precision };
    let (m, e, _) = decompose(precision.abs());
    let factor = Dec::binary(m, e).round(true);
    let product = shortest(amount).mul(&factor).round(false);
    let magnitude = i128::try_from(product.to_u128()?).ok()?;
    let negative = amount.is_sign_negative() != precision.is_sign_negative();
    Some(if negative { -magnitude } else { magnitude })
}

/// [`apply_precision`] for the fake's ledger, whose balances are `i128`: a result beyond it is
/// held at `i128::MAX` or `i128::MIN` (Blnk would store the exact number).
pub fn precise(amount: f64, precision: f64, precise: Option<i128>) -> i128 {
    apply_precision(amount, precision, precise).unwrap_or(
        if amount.is_sign_negative() != precision.is_sign_negative() {
            i128::MIN
        } else {
            i128::MAX
        },
    )
}

// The ties below are exact binary values, written out in full.
#[cfg(test)]
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;

    fn p(amount: f64, precision: f64) -> i128 {
        apply_precision(amount, precision, None).unwrap()
    }

    fn text(d: &Dec) -> String {
        let digits: String = d
            .digits
            .iter()
            .rev()
            .map(|d| char::from(b'0' + d))
            .collect();
        format!("{digits}e{}", d.exp)
    }

    /// Go's `FormatFloat(x, 'f', -1, 64)`, as digits and an exponent.
    #[test]
    fn the_shortest_decimal_is_go_s() {
        for (x, want) in [
            (1.005, "1005e-3"),
            (0.1, "1e-1"),
            (100.0, "1e2"),
            (5e-324, "5e-324"),
            (f64::MAX, "17976931348623157e292"),
            (2.2250738585072014e-308, "22250738585072014e-324"),
            (1e23, "1e23"),
            (9007199254740993.0, "9007199254740992e0"),
            // Exact ties between two 17-digit candidates: the even one (Rust's `{}` takes the
            // upper: ...463.63 and ...872.3).
            (98647591572463.625, "9864759157246362e-2"),
            (2117498871357872.25, "21174988713578722e-1"),
        ] {
            assert_eq!(text(&shortest(x)), want, "{x:e}");
        }
    }

    /// Against Blnk's own `convertDecimalToPrecise` (go1.26, shopspring/decimal v1.4.0).
    #[test]
    fn the_amount_enters_as_its_shortest_decimal() {
        assert_eq!(p(1.005, 100.0), 101);
        assert_eq!(p(0.1, 100.0), 10);
        assert_eq!(p(19.99, 100.0), 1999);
        assert_eq!(p(1e-7, 100.0), 0);
        assert_eq!(p(1e-7, 1e7), 1);
        assert_eq!(p(123456789.123, 1e9), 123_456_789_123_000_000);
        assert_eq!(p(98647591572463.625, 100.0), 9_864_759_157_246_362);
        assert_eq!(p(2117498871357872.25, 10.0), 21_174_988_713_578_722);
        // The float product would be 100: 1.00499999999999989... x 100.
        assert_eq!((1.005f64 * 100.0).round(), 100.0);
    }

    #[test]
    fn rounding_is_half_away_from_zero_and_the_precision_half_to_even() {
        assert_eq!(p(2.5, 1.0), 3);
        assert_eq!(p(-2.5, 1.0), -3);
        assert_eq!(p(-1.005, 100.0), -101);
        assert_eq!(p(0.49, 1.0), 0);
        assert_eq!(p(12.5, 0.0), 13);
        assert_eq!(p(12.5, 2.5), 25);
        assert_eq!(p(12.5, 3.5), 50);
        assert_eq!(p(12.5, 0.5), 0);
        assert_eq!(p(12.5, -100.0), -1250);
        assert_eq!(p(0.0, 100.0), 0);
        assert_eq!(p(-0.0, 100.0), 0);
    }

    #[test]
    fn go_formats_floats_without_an_exponent() {
        for (x, want) in [
            (1.005, "1.005"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1e21, "1000000000000000000000"),
            (-1.5e-7, "-0.00000015"),
            (0.5, "0.5"),
            (120.0, "120"),
            (98647591572463.625, "98647591572463.62"),
        ] {
            assert_eq!(go_format(x), want);
        }
    }

    /// Against shopspring/decimal v1.4.0's `Div`, `String` and `Float64` (run with go1.26).
    #[test]
    fn the_decimal_amount_is_the_precise_amount_over_the_precision_to_16_places() {
        for (precise, precision, text, value) in [
            (101, 100.0, "1.01", 1.01),
            (100, 100.0, "1", 1.0),
            (7, 0.0, "7", 7.0),
            (50, 100.0, "0.5", 0.5),
            // 16 places, the last rounded half away from zero: 2/3 is ...6667, whose float64
            // (0.66666666666666674...) is not 2.0 / 3.0 (0.66666666666666663...).
            (2, 3.0, "0.6666666666666667", 0.6666666666666667),
            (1, 3.0, "0.3333333333333333", 0.3333333333333333),
            (-2, 3.0, "-0.6666666666666667", -0.6666666666666667),
            (1, 1e20, "0", 0.0),
            (5, 1e17, "0.0000000000000001", 1e-16),
            (
                i128::MAX,
                100.0,
                "1701411834604692317316873037158841057.27",
                1.7014118346046924e36,
            ),
            (123, 1e30, "0", 0.0),
            (10i128.pow(30), 1e30, "1", 1.0),
            (15, 1e17, "0.0000000000000002", 2e-16),
            (7, 123456789.0, "0.0000000567000005", 5.67000005e-8),
        ] {
            let (t, v) = to_decimal(precise, precision);
            assert_eq!((t.as_str(), v), (text, value), "{precise} / {precision}");
        }
        assert_ne!(0.6666666666666667, 2.0 / 3.0);
    }

    #[test]
    fn a_positive_precise_amount_is_the_amount() {
        assert_eq!(apply_precision(1.005, 100.0, Some(5)), Some(5));
        assert_eq!(apply_precision(1.005, 100.0, Some(-5)), Some(101));
        assert_eq!(apply_precision(1.005, 100.0, Some(0)), Some(101));
    }

    #[test]
    fn large_values_are_exact_and_beyond_i128_are_none() {
        assert_eq!(p(1e20, 100.0), 10i128.pow(22));
        assert_eq!(p(1e38, 1.0), 10i128.pow(38));
        assert_eq!(p(0.0, 1e300), 0);
        assert_eq!(p(1e300, 0.4), 0);
        // 1e300's exact binary value is not a power of ten: 1e-300 x it is 1.0000...0525, so 1.
        assert_eq!(p(1e-300, 1e300), 1);
        assert_eq!(apply_precision(1e30, 1e10, None), None);
        assert_eq!(apply_precision(1.0, 1e300, None), None);
        assert_eq!(precise(1e30, 1e10, None), i128::MAX);
        assert_eq!(precise(-1e30, 1e10, None), i128::MIN);
    }
}
