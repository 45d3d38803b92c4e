//! Request bodies read the way Blnk reads them: gin's `ShouldBindJSON`, which is Go's
//! `encoding/json` `Decoder.Decode` into a struct.
//!
//! - Only the first JSON value is read; whatever follows it (a second object, garbage) is never
//!   looked at. An empty body is `EOF`, a cut-off one an error.
//! - Strings: invalid UTF-8 bytes and lone UTF-16 surrogate escapes become U+FFFD, so two
//!   different byte strings can bind to the same reference.
//! - Field names: an object key binds to a struct field whose name equals it, or equals it under
//!   Go's simple case folding (`foldName`): ASCII letters without regard to case, and the two
//!   non-ASCII runes that fold onto ASCII letters, `ſ` (U+017F) onto `s` and the Kelvin sign `K`
//!   (U+212A) onto `k`.
//! - Every key that binds to a field is applied in order, so the last one wins; `null` leaves a
//!   scalar as it was and clears a pointer, slice or map. An array is decoded into the slice the
//!   field already holds, element by element (`bind::Slice`), so a repeated array key keeps
//!   what the earlier array set.
//! - A value of the wrong type for its field fails the whole bind (Blnk answers 400), even one a
//!   later key replaces; unknown keys are ignored whatever they hold.
//! - A number in a `map[string]interface{}` becomes a float64: one beyond its range fails the
//!   bind. A `*time.Time` reads the string's raw literal ([`time_accepts`]), so a string says
//!   whether it was written verbatim.
//!
//! This is the fake's own reading, written from Go's source and checked against Blnk by the
//! conformance suite; the gateway has its own, checked against this fake.

/// A JSON value as Go's decoder sees it. Objects keep every key, in order, duplicates included.
#[derive(Debug, Clone, PartialEq)]
pub enum Go {
    Null,
    Bool(bool),
    /// The number's literal text.
    Num(String),
    /// A string: its text, unquoted as Go unquotes it, and whether that text is the literal's
    /// bytes as they are (no escape, no invalid UTF-8), which a type that reads the raw literal
    /// (`time.Time`) needs.
    Str {
        text: String,
        verbatim: bool,
    },
    Arr(Vec<Go>),
    Obj(Vec<(String, Go)>),
}

/// Decodes the first JSON value of `body`; what follows it is ignored.
pub fn decode_first(body: &[u8]) -> Result<Go, String> {
    let mut p = Parser { b: body, i: 0 };
    p.ws();
    if p.i >= p.b.len() {
        return Err("EOF".into());
    }
    p.value(0)
}

/// Go's `foldName` for a key compared with an ASCII field name.
pub fn folds_to(key: &str, field: &str) -> bool {
    let mut k = key.chars();
    for f in field.chars() {
        let Some(c) = k.next() else { return false };
        let folded = match c {
            'a'..='z' => c.to_ascii_uppercase(),
            '\u{017F}' => 'S',
            '\u{212A}' => 'K',
            c => c,
        };
        if folded != f.to_ascii_uppercase() {
            return false;
        }
    }
    k.next().is_none()
}

/// Whether `(*time.Time).UnmarshalJSON` reads a string literal whose bytes between the quotes
/// are `raw` (it never unescapes them: a string with an escape cannot pass). Go 1.26 tries a
/// strict RFC 3339 reader, then falls back to `time.Parse(time.RFC3339, raw)` with its extra
/// checks disabled (go.dev/issue/54580), which accepts everything the strict one does, so this
/// is `Parse` with the layout `2006-01-02T15:04:05Z07:00`, chunk by chunk (`time/format.go`):
///
/// - `2006`: four digits; `01`, `02`, `04`, `05`: exactly two digits (`getnum` fixed);
/// - `15`: one digit, or two when a second follows (`getnum` not fixed), below 24;
/// - month 1-12, minute and second below 60, the day within the month of that year;
/// - after the seconds, `.` or `,` and at least one digit, any number of them;
/// - `Z07:00`: `Z`, or a sign, two digits, `:`, two digits, hour up to 24 and minute up to 60
///   (Parse's bounds are `>`, not `>=`);
/// - nothing left over; the literal characters (`-`, `T`, `:`) exactly, case included.
pub fn time_accepts(raw: &str) -> bool {
    parse_time(raw).is_some()
}

/// A time as `time.Parse(time.RFC3339, ...)` reads it (see [`time_accepts`]): the wall clock
/// as written, its zone's offset, and the nanoseconds (the first nine digits of a fraction,
/// the rest dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// East of UTC, in seconds.
    offset: i64,
}

impl GoTime {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    pub fn unix_nanos(&self) -> i128 {
        // Days from the civil date (Howard Hinnant's algorithm).
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = if m <= 2 { self.year - 1 } else { self.year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - self.offset;
        i128::from(secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// Go's zero `time.Time` (`IsZero`): 0001-01-01T00:00:00Z, whatever the zone it is
    /// written in.
    pub fn is_zero(&self) -> bool {
        self.unix_nanos() == -62_135_596_800 * 1_000_000_000
    }

    /// As `MarshalJSON` writes it (RFC 3339 with nanoseconds, trailing zeros dropped), in the
    /// zone it was parsed in: `Z` for an offset of 0.
    pub fn json(&self) -> String {
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.nanos > 0 {
            let fraction = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(fraction.trim_end_matches('0'));
        }
        if self.offset == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let minutes = self.offset.abs() / 60;
            out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
        }
        out
    }
}

/// `time.Parse(time.RFC3339, raw)`, as [`time_accepts`] describes it.
pub fn parse_time(raw: &str) -> Option<GoTime> {
    fn digits(s: &[u8], n: usize) -> Option<(u32, &[u8])> {
        let head = s.get(..n)?;
        if !head.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = head.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0'));
        Some((v, &s[n..]))
    }
    fn lit(s: &[u8], c: u8) -> Option<&[u8]> {
        s.strip_prefix(&[c])
    }
    let s = raw.as_bytes();
    let (year, s) = digits(s, 4)?;
    let (month, s) = digits(lit(s, b'-')?, 2)?;
    let (day, s) = digits(lit(s, b'-')?, 2)?;
    let s = lit(s, b'T')?;
    let two = s.get(1).is_some_and(u8::is_ascii_digit);
    let (hour, s) = digits(s, if two { 2 } else { 1 })?;
    let (minute, s) = digits(lit(s, b':')?, 2)?;
    let (second, mut s) = digits(lit(s, b':')?, 2)?;
    let mut nanos = 0;
    if let [b'.' | b',', d, ..] = s {
        if d.is_ascii_digit() {
            s = &s[1..];
            let mut n = 0;
            while let Some(d) = s.first().filter(|d| d.is_ascii_digit()) {
                if n < 9 {
                    nanos = nanos * 10 + u32::from(d - b'0');
                    n += 1;
                }
                s = &s[1..];
            }
            nanos *= 10u32.pow(9 - n);
        }
    }
    let offset = match s {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, _) = digits(&[*h1, *h2], 2)?;
            let (m, _) = digits(&[*m1, *m2], 2)?;
            if h > 24 || m > 60 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let ok = (1..=12).contains(&month)
        && (1..=days).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    ok.then_some(GoTime {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset,
    })
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

/// Go's decoder refuses nesting deeper than this.
const MAX_DEPTH: usize = 10_000;

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        if self.i >= self.b.len() {
            return Err("unexpected EOF".into());
        }
        Err(format!("invalid character at offset {}: {what}", self.i))
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            return true;
        }
        false
    }

    fn value(&mut self, depth: usize) -> Result<Go, String> {
        if depth > MAX_DEPTH {
            return Err("exceeded max depth".into());
        }
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let (text, verbatim) = self.string()?;
                Ok(Go::Str { text, verbatim })
            }
            Some(b't') if self.eat(b"true") => Ok(Go::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Go::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Go::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err("looking for beginning of value"),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Go, String> {
        self.i += 1;
        let mut fields = Vec::new();
        self.ws();
        if self.eat(b"}") {
            return Ok(Go::Obj(fields));
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return self.err("looking for beginning of object key string");
            }
            let (key, _) = self.string()?;
            self.ws();
            if !self.eat(b":") {
                return self.err("after object key");
            }
            let value = self.value(depth + 1)?;
            fields.push((key, value));
            self.ws();
            if self.eat(b",") {
                continue;
            }
            if self.eat(b"}") {
                return Ok(Go::Obj(fields));
            }
            return self.err("after object key:value pair");
        }
    }

    fn array(&mut self, depth: usize) -> Result<Go, String> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat(b"]") {
            return Ok(Go::Arr(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.ws();
            if self.eat(b",") {
                continue;
            }
            if self.eat(b"]") {
                return Ok(Go::Arr(items));
            }
            return self.err("after array element");
        }
    }

    fn number(&mut self) -> Result<Go, String> {
        let start = self.i;
        self.eat(b"-");
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.err("in numeric literal"),
        }
        if self.eat(b".") {
            if !matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
                return self.err("after decimal point in numeric literal");
            }
            self.digits();
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
                return self.err("in exponent of numeric literal");
            }
            self.digits();
        }
        let text = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
        Ok(Go::Num(text))
    }

    fn digits(&mut self) {
        while matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    /// A string literal, unquoted as Go's `unquote` does, and whether it is verbatim: no escape
    /// and no invalid byte in it.
    fn string(&mut self) -> Result<(String, bool), String> {
        self.i += 1;
        let mut out = String::new();
        let mut verbatim = true;
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return self.err("in string literal");
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok((out, verbatim));
                }
                b'\\' => {
                    verbatim = false;
                    self.escape(&mut out)?
                }
                0..=0x1f => return self.err("in string literal"),
                0x20..=0x7f => {
                    out.push(char::from(c));
                    self.i += 1;
                }
                _ => verbatim &= self.utf8(&mut out),
            }
        }
    }

    /// One UTF-8 sequence (true), or U+FFFD for one byte that does not start a valid one (Go's
    /// `utf8.DecodeRune` width 1; false).
    fn utf8(&mut self, out: &mut String) -> bool {
        let rest = &self.b[self.i..];
        let len = match rest[0] {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 0,
        };
        if len > 0 && rest.len() >= len {
            if let Ok(s) = std::str::from_utf8(&rest[..len]) {
                out.push_str(s);
                self.i += len;
                return true;
            }
        }
        out.push('\u{FFFD}');
        self.i += 1;
        false
    }

    fn escape(&mut self, out: &mut String) -> Result<(), String> {
        let Some(&e) = self.b.get(self.i + 1) else {
            return self.err("in string escape code");
        };
        self.i += 2;
        let c = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode(out),
            _ => return self.err("in string escape code"),
        };
        out.push(c);
        Ok(())
    }

    /// After `\u`: a code point, a surrogate pair, or U+FFFD for a lone surrogate (the escape
    /// after a lone high surrogate is read on its own).
    fn unicode(&mut self, out: &mut String) -> Result<(), String> {
        let Some(hi) = self.hex4(self.i) else {
            return self.err("in \\u hexadecimal character escape");
        };
        self.i += 4;
        if (0xd800..0xe000).contains(&hi) {
            if (0xd800..0xdc00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
                if let Some(lo) = self
                    .hex4(self.i + 2)
                    .filter(|l| (0xdc00..0xe000).contains(l))
                {
                    let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                    out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                    self.i += 6;
                    return Ok(());
                }
            }
            out.push('\u{FFFD}');
            return Ok(());
        }
        out.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
        Ok(())
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let s = std::str::from_utf8(self.b.get(at..at + 4)?).ok()?;
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(s, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &[u8]) -> Vec<(String, Go)> {
        match decode_first(s) {
            Ok(Go::Obj(f)) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_first_value_is_read() {
        assert_eq!(obj(br#"{"a":1}{"b":2}"#).len(), 1);
        assert_eq!(obj(br#"{"a":1} garbage"#).len(), 1);
        assert!(decode_first(br#"{"a":1"#).is_err());
        assert_eq!(decode_first(b"  ").unwrap_err(), "EOF");
    }

    fn text(s: &str, verbatim: bool) -> Go {
        Go::Str {
            text: s.into(),
            verbatim,
        }
    }

    #[test]
    fn bad_bytes_and_lone_surrogates_become_replacement_characters() {
        assert_eq!(obj(b"{\"r\":\"a-\xff\"}")[0].1, text("a-\u{FFFD}", false));
        assert_eq!(obj(br#"{"r":"a-\ud800"}"#)[0].1, text("a-\u{FFFD}", false));
        assert_eq!(obj(br#"{"r":"a-\udc00"}"#)[0].1, text("a-\u{FFFD}", false));
        assert_eq!(
            obj(br#"{"r":"\ud83d\ude00\ud800\u0041"}"#)[0].1,
            text("\u{1F600}\u{FFFD}A", false)
        );
        assert_eq!(
            obj("{\"r\":\"a-\u{e9}\"}".as_bytes())[0].1,
            text("a-\u{e9}", true)
        );
        assert_eq!(obj(br#"{"r":"\u0061"}"#)[0].1, text("a", false));
    }

    /// Each checked against Go 1.26's `time.Time` `UnmarshalJSON`.
    #[test]
    fn times_as_go_reads_them() {
        for ok in [
            "2024-01-01T00:00:00Z",
            "2024-02-29T23:59:59.123456789Z",
            "2024-01-01T00:00:00.1234567890123-05:30",
            "0000-01-01T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2024-01-01T1:00:00Z",
            "2024-01-01T00:00:00,5Z",
            "2024-01-01T00:00:00+24:60",
        ] {
            assert!(time_accepts(ok), "{ok}");
        }
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01 00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
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
            "2024-01-01T00:00:00+1:00",
            "2024-01-01T00:00:00Z ",
            "2024-01-01T00:00:00ZZ",
            "+024-01-01T00:00:00Z",
            "2024-1-01T00:00:00Z",
            "2024-01-01T001:00:00Z",
            "2024-01-01T00:0:00Z",
        ] {
            assert!(!time_accepts(bad), "{bad}");
        }
    }

    /// As go1.26's `time.Parse(time.RFC3339, ...)` then `MarshalJSON` write them.
    #[test]
    fn times_are_written_back_in_their_zone() {
        for (raw, json) in [
            (
                "2031-01-02T3:04:05,25+02:00",
                "2031-01-02T03:04:05.25+02:00",
            ),
            ("2032-01-02T03:04:05+00:00", "2032-01-02T03:04:05Z"),
            ("2032-01-02T03:04:05-00:00", "2032-01-02T03:04:05Z"),
            ("2031-01-02T03:04:05-01:30", "2031-01-02T03:04:05-01:30"),
            (
                "2024-02-29T23:59:59.1234567891Z",
                "2024-02-29T23:59:59.123456789Z",
            ),
            ("2024-02-29T23:59:59.000Z", "2024-02-29T23:59:59Z"),
        ] {
            assert_eq!(
                parse_time(raw).map(|t| t.json()).as_deref(),
                Some(json),
                "{raw}"
            );
        }
        let at = |raw| parse_time(raw).unwrap();
        assert_eq!(at("1970-01-01T00:00:00Z").unix_nanos(), 0);
        assert_eq!(at("1970-01-01T01:00:00.5+01:00").unix_nanos(), 500_000_000);
        assert_eq!(
            at("2020-01-02T03:04:05Z").unix_nanos(),
            1_577_934_245_000_000_000
        );
        assert!(at("0001-01-01T00:00:00Z").is_zero());
        assert!(at("0001-01-01T01:00:00+01:00").is_zero());
        assert!(!at("0001-01-01T00:00:00.1Z").is_zero());
    }

    #[test]
    fn names_fold_as_go_folds_them() {
        assert!(folds_to("REFERENCE", "reference"));
        assert!(folds_to("de\u{017F}tinations", "destinations"));
        assert!(folds_to("s\u{212A}ip_queue", "skip_queue"));
        assert!(!folds_to("referenc", "reference"));
        assert!(!folds_to("r\u{00E9}ference", "reference"));
    }
}
