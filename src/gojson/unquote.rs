//! A JSON string literal as Go reads it: the scanner's rules for what may appear in it
//! (`scanner.go` `stateInString`: no byte below 0x20, escapes `\" \\ \/ \b \f \n \r \t \uXXXX`
//! only) and `unquoteBytes` (`decode.go`) for what it becomes:
//!
//! - each byte that does not start a valid UTF-8 sequence (`utf8.DecodeRune` of width 1) becomes
//!   U+FFFD, one per byte;
//! - `\uXXXX` is that code point; a high surrogate escape followed by a low surrogate escape is
//!   the pair's character; any other surrogate escape becomes U+FFFD, and an escape after a lone
//!   high surrogate is then read on its own.
//!
//! So two different byte strings can name one reference (`"r-\xff"` and `"r-\ud800"` are both
//! `r-\u{FFFD}`), which is why the gateway must key on the unquoted text.

use std::borrow::Cow;

use super::error::Unreadable;

/// The string literal whose opening quote is at `b[start]`: its text and the index after its
/// closing quote. Borrowed from `b` when no escape and no invalid byte had to be replaced.
pub(super) fn string(b: &[u8], start: usize) -> Result<(Cow<'_, str>, usize), Unreadable> {
    let first = start + 1;
    let end = run_end(b, first);
    if b.get(end) == Some(&b'"') {
        if let Ok(text) = std::str::from_utf8(&b[first..end]) {
            return Ok((Cow::Borrowed(text), end + 1));
        }
    }
    let mut out = String::with_capacity(end - first + 8);
    let mut i = first;
    loop {
        let end = run_end(b, i);
        push_replacing(&mut out, &b[i..end]);
        i = end;
        match b.get(i) {
            Some(b'"') => return Ok((Cow::Owned(out), i + 1)),
            Some(b'\\') => i = escape(b, i, &mut out)?,
            Some(_) => return Err(Unreadable::Syntax { at: i }),
            None => return Err(Unreadable::Truncated),
        }
    }
}

/// The end of the run of plain bytes from `i`: the next quote, backslash or control byte.
fn run_end(b: &[u8], i: usize) -> usize {
    b[i.min(b.len())..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map_or(b.len(), |n| i + n)
}

/// Appends `raw`, each byte of an invalid UTF-8 sequence replaced by one U+FFFD.
///
/// Rust reports an invalid sequence as its maximal valid prefix (`error_len`: a lead byte and the
/// continuation bytes that could follow it). Go's `DecodeRune` rejects the lead byte alone, then
/// each continuation byte alone (none can start a sequence), so Go writes one U+FFFD per byte of
/// that prefix.
pub(super) fn push_replacing(out: &mut String, raw: &[u8]) {
    let mut rest = raw;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                return;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(&String::from_utf8_lossy(valid));
                let bad = e.error_len().unwrap_or(after.len());
                for _ in 0..bad {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
                rest = &after[bad..];
            }
        }
    }
}

/// The escape whose backslash is at `b[i]`, appended to `out`; returns the index after it.
fn escape(b: &[u8], i: usize, out: &mut String) -> Result<usize, Unreadable> {
    let c = match b.get(i + 1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => return unicode(b, i, out),
        Some(_) => return Err(Unreadable::Syntax { at: i + 1 }),
        None => return Err(Unreadable::Truncated),
    };
    out.push(c);
    Ok(i + 2)
}

/// `\uXXXX` at `b[i]`, and the low half of a surrogate pair after it if there is one.
fn unicode(b: &[u8], i: usize, out: &mut String) -> Result<usize, Unreadable> {
    let unit = hex4(b, i + 2)?;
    if !(0xD800..0xE000).contains(&unit) {
        out.push(char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER));
        return Ok(i + 6);
    }
    // Go's getu4 on what follows: a well-formed `\uXXXX` or nothing. A malformed one is left for
    // the next round, which refuses it.
    let low = match (b.get(i + 6..i + 8), hex4(b, i + 8)) {
        (Some(br"\u"), Ok(low)) => Some(low),
        _ => None,
    };
    match low {
        Some(low) if (0xD800..0xDC00).contains(&unit) && (0xDC00..0xE000).contains(&low) => {
            let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
            Ok(i + 12)
        }
        _ => {
            out.push(char::REPLACEMENT_CHARACTER);
            Ok(i + 6)
        }
    }
}

/// Four hex digits at `b[at..]`.
fn hex4(b: &[u8], at: usize) -> Result<u32, Unreadable> {
    let mut n = 0;
    for i in at..at + 4 {
        let d = match b.get(i) {
            Some(&c @ b'0'..=b'9') => c - b'0',
            Some(&c @ b'a'..=b'f') => c - b'a' + 10,
            Some(&c @ b'A'..=b'F') => c - b'A' + 10,
            Some(_) => return Err(Unreadable::Syntax { at: i }),
            None => return Err(Unreadable::Truncated),
        };
        n = n * 16 + u32::from(d);
    }
    Ok(n)
}
