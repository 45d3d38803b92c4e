//! Which texts Go's `(*time.Time).UnmarshalJSON` accepts (`time/time.go`,
//! `format_rfc3339.go`): `parseStrictRFC3339` tries a strict parser and falls back to
//! `time.Parse(time.RFC3339, s)`, whose extra strictness checks are disabled ("Strict parsing is
//! disabled for now", go.dev/issue/54580). The strict parser accepts a subset of what `Parse`
//! does, so the texts accepted are `Parse`'s, layout `2006-01-02T15:04:05Z07:00`:
//!
//! - year: four digits; month `01`-`12`; day two digits, valid for the month and year;
//! - `T` (upper case only); hour one or two digits, 0-23 (`15` is `stdHour`, not zero-padded);
//! - minute and second two digits each, 0-59; then, optionally, `.` or `,` and one or more digits;
//! - `Z` (upper case only), or `+hh:mm` / `-hh:mm` with two digits each, `hh` up to 24 and `mm` up
//!   to 60 (`Parse` allows both);
//! - nothing after.

/// Whether Go's `time.Time` reads `s` (the bytes between the JSON string's quotes).
pub(super) fn go_accepts(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let Some(year) = fixed(b, &mut i, 4) else {
        return false;
    };
    let date = (|| {
        let month = lit(b, &mut i, b'-').and_then(|_| fixed(b, &mut i, 2))?;
        let day = lit(b, &mut i, b'-').and_then(|_| fixed(b, &mut i, 2))?;
        Some((month, day))
    })();
    let Some((month, day)) = date else {
        return false;
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return false;
    }
    let clock = (|| {
        lit(b, &mut i, b'T')?;
        let hour = hour(b, &mut i)?;
        let minute = lit(b, &mut i, b':').and_then(|_| fixed(b, &mut i, 2))?;
        let second = lit(b, &mut i, b':').and_then(|_| fixed(b, &mut i, 2))?;
        Some((hour, minute, second))
    })();
    let Some((hour, minute, second)) = clock else {
        return false;
    };
    if hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    zone(&b[i..])
}

/// `Z`, or `±hh:mm` (hh <= 24, mm <= 60), and nothing after it.
fn zone(b: &[u8]) -> bool {
    match b {
        [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let (mut i, mut j) = (0, 0);
            match (fixed(&[*h1, *h2], &mut i, 2), fixed(&[*m1, *m2], &mut j, 2)) {
                (Some(h), Some(m)) => h <= 24 && m <= 60,
                _ => false,
            }
        }
        _ => false,
    }
}

/// Exactly `n` digits at `b[*i..]`.
fn fixed(b: &[u8], i: &mut usize, n: usize) -> Option<u32> {
    let digits = b.get(*i..*i + n)?;
    let mut v = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(d - b'0');
    }
    *i += n;
    Some(v)
}

/// `getnum(value, false)`: one digit, or two when a second follows.
fn hour(b: &[u8], i: &mut usize) -> Option<u32> {
    if b.get(*i + 1).is_some_and(u8::is_ascii_digit) {
        fixed(b, i, 2)
    } else {
        fixed(b, i, 1)
    }
}

fn lit(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    (b.get(*i) == Some(&c)).then(|| *i += 1)
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::go_accepts;

    #[test]
    fn rfc3339_as_go_reads_it() {
        for ok in [
            "2024-01-01T00:00:00Z",
            "2024-02-29T23:59:59.123456789Z",
            "2024-01-01T00:00:00.1234567891234+01:00",
            "2024-01-01T00:00:00-05:30",
            "0000-01-01T00:00:00Z",
            // What Parse allows beyond RFC 3339.
            "2024-01-01T1:00:00Z",
            "2024-01-01T00:00:00,5Z",
            "2024-01-01T00:00:00+24:60",
        ] {
            assert!(go_accepts(ok), "{ok}");
        }
        for bad in [
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01 00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+25:00",
            "2024-01-01T00:00:00+01:61",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00Z ",
            "+024-01-01T00:00:00Z",
            "24-01-01T00:00:00Z",
            "2024-1-01T00:00:00Z",
            "2024-01-01T001:00:00Z",
            "",
        ] {
            assert!(!go_accepts(bad), "{bad}");
        }
    }
}
