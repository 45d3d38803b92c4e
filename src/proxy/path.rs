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
    // Bytes, not chars: a raw UTF-8 sequence is copied as it is (and stays valid UTF-8).
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' || c.is_ascii_control() {
            return Err(Reject::BadPath);
        }
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex)) else {
            return Err(Reject::BadPath);
        };
        let byte = h * 16 + l;
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte);
        } else if matches!(byte, b'/' | b'\\') || byte.is_ascii_control() {
            return Err(Reject::BadPath);
        } else {
            out.push(b'%');
            out.push(b"0123456789ABCDEF"[usize::from(h)]);
            out.push(b"0123456789ABCDEF"[usize::from(l)]);
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| Reject::BadPath)
}

fn hex(c: &u8) -> Option<u8> {
    char::from(*c).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<String, Reject> {
        normalise(Some(&PathAndQuery::try_from(s).unwrap())).map(|p| p.as_str().to_string())
    }

    #[test]
    fn raw_utf8_survives_a_rewrite() {
        // PathAndQuery refuses raw non-ASCII, but the decoder must not garble it either.
        assert_eq!(decode_unreserved("/é%40").unwrap(), "/é%40");
        assert_eq!(decode_unreserved("/é%61").unwrap(), "/éa");
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

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Pieces that make paths interesting: separators, dot segments plain and
        /// percent-encoded, escapes that are decoded, kept or refused, broken escapes, names.
        ///
        /// Raw non-ASCII is left out: `decode_unreserved` pushes each byte as a `char`, so on the
        /// slow path `/é//x` becomes `/Ã©/x` (reported; add `"é"` here once that is fixed).
        const PIECES: &[&str] = &[
            "/", "/", "/", "//", ".", "..", "%2e", "%2E", "%2e%2E", "a", "B", "ledgers", "health",
            "-", "_", "~", "%41", "%7e", "%7E", "%5f", "%40", "%3f", "%3F", "%25", "%252F", "%2F",
            "%2f", "%5C", "%5c", "%00", "%0a", "%1F", "%7f", "%zz", "%2", "%", "@", ":", "!", "$",
            "+", ";", "=", "*",
        ];

        /// A path made of [`PIECES`], starting with `/`.
        fn path() -> impl Strategy<Value = String> {
            prop::collection::vec(prop::sample::select(PIECES), 0..16)
                .prop_map(|p| format!("/{}", p.concat()))
        }

        /// A target of printable ASCII that `http` accepts: a path of [`PIECES`] or of any
        /// characters (a query and a fragment among them), or `*`; with a query, or not.
        fn target() -> impl Strategy<Value = PathAndQuery> {
            let path = prop_oneof![
                4 => path(),
                4 => "/[!-~]{0,40}",
                1 => Just("*".to_string()),
            ];
            (path, prop::option::of("[!-~]{0,20}"))
                .prop_map(|(p, q)| match q {
                    Some(q) => format!("{p}?{q}"),
                    None => p,
                })
                .prop_filter_map("http refuses it", |s| PathAndQuery::try_from(s).ok())
        }

        /// Segments of unreserved characters: names, dot segments, empty ones.
        fn segments() -> impl Strategy<Value = Vec<String>> {
            let segment = prop_oneof![
                3 => "[a-zA-Z0-9_~-]{1,4}",
                1 => Just(".".to_string()),
                2 => Just("..".to_string()),
                1 => Just(String::new()),
            ];
            prop::collection::vec(segment, 0..10)
        }

        fn norm(s: &str) -> Result<String, Reject> {
            let pq = PathAndQuery::try_from(s).unwrap();
            normalise(Some(&pq)).map(|p| p.as_str().to_string())
        }

        /// The documented refusals, read off the raw path independently of `normalise`: not a
        /// path, too long, a backslash or a control byte, an escape that is not two hex digits,
        /// or one that encodes a slash, a backslash or a control byte.
        fn breaks_a_rule(path: &str) -> bool {
            let b = path.as_bytes();
            if !path.starts_with('/') || b.len() > MAX_PATH_BYTES {
                return true;
            }
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'\\' || b[i].is_ascii_control() {
                    return true;
                }
                if b[i] == b'%' {
                    let digits = b
                        .get(i + 1..i + 3)
                        .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                    let Some(digits) = digits else { return true };
                    let text = std::str::from_utf8(digits).unwrap();
                    let byte = u8::from_str_radix(text, 16).unwrap();
                    if byte == b'/' || byte == b'\\' || byte.is_ascii_control() {
                        return true;
                    }
                    i += 3;
                    continue;
                }
                i += 1;
            }
            false
        }

        fn unreserved(b: u8) -> bool {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// What comes out is one canonical form: it starts with `/`, has no `.`, `..` or
            /// empty segment (but a trailing slash), no backslash or control byte, and only
            /// upper-case escapes of characters that must stay escaped, never a slash or a
            /// backslash. It is never longer than what came in, its query is the one that came
            /// in, and normalising it again changes nothing.
            #[test]
            fn the_result_is_canonical_and_a_fixed_point(pq in target()) {
                let Ok(out) = normalise(Some(&pq)) else { return Ok(()) };
                let path = out.path();
                prop_assert!(path.starts_with('/'), "{path}");
                let segments: Vec<&str> = path[1..].split('/').collect();
                for (i, s) in segments.iter().enumerate() {
                    prop_assert!(*s != "." && *s != "..", "{path}");
                    prop_assert!(!s.is_empty() || i == segments.len() - 1, "{path}");
                }
                let b = path.as_bytes();
                prop_assert!(!b.iter().any(|c| *c == b'\\' || c.is_ascii_control()), "{path}");
                for (i, _) in path.match_indices('%') {
                    let digits = &b[i + 1..i + 3];
                    prop_assert!(
                        digits.iter().all(|d| d.is_ascii_digit() || (b'A'..=b'F').contains(d)),
                        "{path}"
                    );
                    let byte = u8::from_str_radix(std::str::from_utf8(digits).unwrap(), 16).unwrap();
                    prop_assert!(!unreserved(byte) && byte != b'/' && byte != b'\\', "{path}");
                }
                prop_assert!(path.len() <= pq.path().len(), "{} -> {path}", pq.path());
                prop_assert_eq!(out.query(), pq.query());
                prop_assert_eq!(normalise(Some(&out)), Ok(out.clone()));
            }

            /// A path is refused exactly when it breaks one of the documented rules, always
            /// as `BadPath`; and dot segments around a refused path never launder it.
            #[test]
            fn refused_exactly_by_the_rules_and_refused_whatever_surrounds_it(pq in target()) {
                let result = normalise(Some(&pq));
                prop_assert_eq!(result.is_err(), breaks_a_rule(pq.path()), "{}", pq.path());
                if result.is_err() {
                    prop_assert_eq!(result, Err(Reject::BadPath));
                    if pq.path().starts_with('/') {
                        for wrapped in [
                            format!("/x/..{}", pq.path()),
                            format!("/..{}", pq.path()),
                            format!("{}/..", pq.path()),
                            format!("{}/../..", pq.path()),
                        ] {
                            prop_assert_eq!(norm(&wrapped), Err(Reject::BadPath), "{}", wrapped);
                        }
                    }
                }
            }

            /// Dot segments resolve like a stack that never pops past the root: the result's
            /// segments are the names left on it, `..` at the root is a no-op, and leading
            /// `/..` segments change nothing.
            #[test]
            fn dot_segments_resolve_and_never_climb_above_the_root(
                segs in segments(),
                trailing in any::<bool>(),
                climbs in 0usize..4,
            ) {
                let plain = format!("/{}{}", segs.join("/"), if trailing { "/" } else { "" });
                let mut stack: Vec<&str> = Vec::new();
                for s in &segs {
                    match s.as_str() {
                        "" | "." => {}
                        ".." => {
                            stack.pop();
                        }
                        name => stack.push(name),
                    }
                }
                let out = norm(&plain).unwrap();
                let names: Vec<&str> = out.split('/').filter(|s| !s.is_empty()).collect();
                prop_assert_eq!(&names, &stack, "{}", plain);
                let above = format!("{}{plain}", "/..".repeat(climbs));
                prop_assert_eq!(norm(&above), Ok(out));
            }

            /// Spellings of one path are one path: percent-encoding any of its unreserved
            /// characters (dots included, in either case of hex digit) or doubling any of its
            /// slashes gives the same result as the plain spelling.
            #[test]
            fn other_spellings_of_a_path_normalise_alike(
                segs in segments(),
                choices in prop::collection::vec(0u8..4, 64),
            ) {
                let plain = format!("/{}", segs.join("/"));
                let mut spelled = String::new();
                for (i, c) in plain.chars().enumerate() {
                    match (c, choices[i % choices.len()]) {
                        ('/', 0) => spelled.push_str("//"),
                        ('/', _) => spelled.push('/'),
                        (c, 0) => spelled.push_str(&format!("%{:02x}", c as u32)),
                        (c, 1) => spelled.push_str(&format!("%{:02X}", c as u32)),
                        (c, _) => spelled.push(c),
                    }
                }
                prop_assert_eq!(norm(&spelled), norm(&plain), "{}", spelled);
            }

            /// Paths longer than the limit are refused, whatever they are made of.
            #[test]
            fn paths_past_the_limit_are_refused(reps in (MAX_PATH_BYTES / 2 - 4)..(MAX_PATH_BYTES / 2 + 4)) {
                let path = "/a".repeat(reps);
                prop_assert_eq!(norm(&path).is_err(), path.len() > MAX_PATH_BYTES);
            }
        }
    }
}
