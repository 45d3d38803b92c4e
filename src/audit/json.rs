//! The request record's JSON, written by hand: the same bytes `serde_json` writes for it (a unit
//! test in `line` holds the two together), at a fraction of the cost. The profile showed
//! serde's per-field machinery, string escaping through its formatter and the `Display` of the
//! time as the largest part of the gateway's own per-request work. The rare lines (genesis,
//! continue, gap) still go through serde.

use std::time::{SystemTime, UNIX_EPOCH};

/// Fields of one JSON object, written in order into a line buffer.
pub(super) struct Fields<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Fields<'a> {
    /// Starts an object whose `{` is already in `out`.
    pub fn after_brace(out: &'a mut Vec<u8>) -> Self {
        Fields { out, first: true }
    }

    /// `"key":`, with the comma before it when needed. Keys are ASCII names, never escaped.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        string(self.key(key), value);
        self
    }

    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => {
                self.key(key).extend_from_slice(b"null");
                self
            }
        }
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.key(key).extend_from_slice(text);
        self
    }

    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        let mut digits = itoa::Buffer::new();
        self.key(key)
            .extend_from_slice(digits.format(value).as_bytes());
        self
    }

    pub fn opt_u64(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.u64(key, v),
            None => {
                self.key(key).extend_from_slice(b"null");
                self
            }
        }
    }

    /// A time as RFC 3339 in UTC with microseconds, as `humantime::format_rfc3339_micros`.
    pub fn time(&mut self, key: &str, value: SystemTime) -> &mut Self {
        let out = self.key(key);
        out.push(b'"');
        rfc3339_micros(out, value);
        out.push(b'"');
        self
    }

    /// Closes the object.
    pub fn end(&mut self) {
        self.out.push(b'}');
    }
}

/// A JSON string, escaped as serde_json escapes: `"` and `\`, and control characters as their
/// short forms or `\u00XX` (lower-case hex). Everything else, UTF-8 included, as is.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none needs escaping (almost every record's every field).
        if let Some(chunk) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            if !needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any of the eight bytes is a control byte, `"` or `\\` (the classic SWAR tests: a
/// byte below 0x20, and a byte equal to a given one).
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    below(0x20) | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) != 0
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Times before 1970 are written as the epoch (the clock of a
/// running gateway is never there).
fn rfc3339_micros(out: &mut Vec<u8>, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    pad(out, year, 4);
    out.push(b'-');
    pad(out, month, 2);
    out.push(b'-');
    pad(out, day, 2);
    out.push(b'T');
    pad(out, rem / 3600, 2);
    out.push(b':');
    pad(out, rem / 60 % 60, 2);
    out.push(b':');
    pad(out, rem % 60, 2);
    out.push(b'.');
    pad(out, u64::from(since.subsec_micros()), 6);
    out.push(b'Z');
}

/// `n` in decimal, left-padded with zeros to `width` digits.
fn pad(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(n).as_bytes();
    for _ in text.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(text);
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_byte: String = (0u8..0x80).map(char::from).collect();
        every_byte.push_str("é€😀\u{7f}");
        for s in [
            "",
            "plain",
            "/a\"b\\c",
            "\u{0}\u{1f}\n\r\t\u{8}\u{c}",
            &every_byte,
        ] {
            let mut ours = Vec::new();
            string(&mut ours, s);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    proptest::proptest! {
        /// Any string, the special bytes at any offset of the eight-byte steps.
        #[test]
        fn any_string_is_escaped_as_serde_json_escapes_it(
            s in "(\\PC|[\\x00-\\x1f\"\\\\]|[a-z]{1,9}|é|😀){0,40}"
        ) {
            let mut ours = Vec::new();
            string(&mut ours, &s);
            proptest::prop_assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&s).unwrap()
            );
        }
    }

    fn same_as_humantime(t: SystemTime) {
        let mut ours = Vec::new();
        rfc3339_micros(&mut ours, t);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            humantime::format_rfc3339_micros(t).to_string()
        );
    }

    #[test]
    fn times_are_written_as_humantime_writes_them() {
        // 50,000 times from 1970 to beyond 2100, at growing, uneven steps.
        let mut t = UNIX_EPOCH;
        for step in 0..50_000u64 {
            same_as_humantime(t);
            t += Duration::from_micros(86_400_000_000 + step * 7_919_993);
        }
        // The calendar's edges, each at the day's first and last microsecond: leap days of a
        // year divisible by 4 and by 400, the days around 2100's missing leap day, year ends.
        let day = |d: u64| UNIX_EPOCH + Duration::from_secs(d * 86_400);
        for d in [
            0,       // 1970-01-01
            789,     // 1972-02-29
            11_016,  // 2000-02-29
            11_017,  // 2000-03-01
            20_818,  // 2026-12-31
            47_540,  // 2100-02-28
            47_541,  // 2100-03-01
            157_053, // 2399-12-31
            157_113, // 2400-02-29
        ] {
            same_as_humantime(day(d));
            same_as_humantime(day(d + 1) - Duration::from_micros(1));
        }
    }
}
