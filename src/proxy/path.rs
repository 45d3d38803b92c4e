//! The request path, normalised once, then used both to decide and to forward.
//!
//! Authorisation (exempt routes, client-key scopes) must judge the very string Blnk will route
//! on, never a different spelling of it. So the gateway rewrites the path into one canonical form
//! and forwards that form:
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, and remaining
//!   percent-escapes have their hex digits upper-cased (RFC 3986 section 6.2.2);
//! - an encoded `/` or `\` (`%2F`, `%5C`), a raw `\`, a NUL or any control byte is refused: no
//!   Blnk route has one, and they are the classic ways to make two parsers disagree;
//! - empty segments (`//`) are removed, and `.` and `..` segments resolved (never above the root).
//!
//! The query string is forwarded untouched.

use http::uri::PathAndQuery;

use crate::error::Reject;
use crate::limits::MAX_PATH_BYTES;

/// The canonical origin-form target for `pq`, or why it is refused.
pub fn normalise(pq: Option<&PathAndQuery>) -> Result<PathAndQuery, Reject> {
    let Some(pq) = pq else {
        return Ok(PathAndQuery::from_static("/"));
    };
    let path = pq.path();
    if !path.starts_with('/') {
        // Asterisk-form (`OPTIONS *`) or anything else that is not a path.
        return Err(Reject::BadPath);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(Reject::BadPath);
    }
    if is_canonical(path) {
        return Ok(pq.clone());
    }
    let decoded = decode_unreserved(path)?;
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || (decoded.ends_with('/') && !segments.is_empty()) {
        out.push('/');
    }
    if let Some(q) = pq.query() {
        out.push('?');
        out.push_str(q);
    }
    PathAndQuery::try_from(out).map_err(|_| Reject::BadPath)
}

/// The fast path: most SDK paths need no rewriting at all.
fn is_canonical(path: &str) -> bool {
    let b = path.as_bytes();
    !b.iter()
        .any(|c| matches!(c, b'%' | b'\\') || c.is_ascii_control())
        && !path.contains("//")
        && !path.split('/').any(|s| s == "." || s == "..")
}

fn decode_unreserved(path: &str) -> Result<String, Reject> {
    let b = path.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' || c.is_ascii_control() {
            return Err(Reject::BadPath);
        }
        if c != b'%' {
            out.push(c as char);
            i += 1;
            continue;
        }
        let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex)) else {
            return Err(Reject::BadPath);
        };
        let byte = h * 16 + l;
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else if matches!(byte, b'/' | b'\\') || byte.is_ascii_control() {
            return Err(Reject::BadPath);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(h)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(l)]));
        }
        i += 3;
    }
    Ok(out)
}

fn hex(c: &u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<String, Reject> {
        normalise(Some(&PathAndQuery::try_from(s).unwrap())).map(|p| p.as_str().to_string())
    }

    #[test]
    fn canonical_paths_pass_unchanged() {
        for p in [
            "/",
            "/ledgers",
            "/ledgers/ldg_1?limit=10&offset=0",
            "/balances/indicator/@world/currency/USD",
            "/search/ledgers",
        ] {
            assert_eq!(n(p).unwrap(), p);
        }
    }

    #[test]
    fn dot_segments_slashes_and_encodings_resolve_to_one_form() {
        assert_eq!(n("/ledgers/../hooks").unwrap(), "/hooks");
        assert_eq!(n("/ledgers/%2e%2e/hooks").unwrap(), "/hooks");
        assert_eq!(n("/ledgers/%2E%2E/hooks").unwrap(), "/hooks");
        assert_eq!(n("//health").unwrap(), "/health");
        assert_eq!(n("/./health").unwrap(), "/health");
        assert_eq!(n("/%68ealth").unwrap(), "/health");
        assert_eq!(n("/../../ledgers").unwrap(), "/ledgers");
        assert_eq!(n("/ledgers/").unwrap(), "/ledgers/");
        assert_eq!(n("/ledgers//x/?q=%2F..").unwrap(), "/ledgers/x/?q=%2F..");
        assert_eq!(n("/identities/id%40x").unwrap(), "/identities/id%40x");
        assert_eq!(n("/a%3fb").unwrap(), "/a%3Fb");
    }

    #[test]
    fn parser_confusion_is_refused() {
        for p in [
            "/ledgers%2F..%2Fhooks",
            "/ledgers%2fx",
            "/a%5Cb",
            "/a%00b",
            "/a%zz",
            "/a%2",
        ] {
            assert_eq!(n(p), Err(Reject::BadPath), "{p}");
        }
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for p in ["/a/./b/../c//d/", "/%7euser/%41", "/x/%2e/y"] {
            let once = n(p).unwrap();
            assert_eq!(n(&once).unwrap(), once, "{p}");
        }
    }
}
