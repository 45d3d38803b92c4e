//! What a request must look like before anything looks at what it means: the checks that keep
//! the gateway and Blnk reading the same request.
//!
//! - **Target**: origin form (`/path?query`) or absolute form naming `http`/`https` (only its path
//!   and query are kept); asterisk and authority forms are refused. At most
//!   [`limits::MAX_URI_BYTES`](crate::limits::MAX_URI_BYTES) (414 beyond). The path is then
//!   normalised by `path`, which owns that decision.
//! - **Host**: an HTTP/1.1 request carries exactly one valid `Host` (RFC 9112 section 3.2); no
//!   request carries two; an HTTP/2 request's `Host`, if any, names what its `:authority` names
//!   (RFC 9113 section 8.3.1 calls it malformed otherwise: 400 here). The gateway replaces it
//!   upstream either way.
//! - **Framing**: hyper has already refused conflicting or malformed lengths and a
//!   `Transfer-Encoding` whose last coding is not `chunked`; a coding other than `chunked` before
//!   it gets 501 and `chunked` twice gets 400, since the gateway cannot undo either.
//!
//! - **HTTP/2**: a header value with leading or trailing whitespace (RFC 9113 section 8.2.1) and an
//!   `:authority` with userinfo (section 8.3.1) make the request malformed: a stream error, never
//!   forwarded. (The h2 crate itself refuses a `content-length` that disagrees with the DATA.)
//!
//! Every HTTP/1.1 refusal closes the connection (see `error`). This module does not decide who
//! may pass (`auth`) or which headers go upstream (`rewrite`).

use http::header::{HOST, TRANSFER_ENCODING};
use http::uri::{Authority, PathAndQuery};
use http::{Uri, Version};

use crate::error::Reject;
use crate::limits;

/// Checks the request and returns its target in origin form, for `path::normalise`.
pub fn request(req: &http::request::Parts) -> Result<PathAndQuery, Reject> {
    if req.version == Version::HTTP_2 {
        h2_wellformed(req)?;
    }
    transfer_coding(&req.headers)?;
    host(req.version, &req.headers)?;
    same_authority(req)?;
    let target = origin_form(&req.uri)?;
    if target.as_str().len() > limits::MAX_URI_BYTES {
        return Err(Reject::UriTooLong);
    }
    Ok(target)
}

/// What RFC 9113 calls malformed and the h2 crate lets through.
fn h2_wellformed(req: &http::request::Parts) -> Result<(), Reject> {
    let padded = |v: &[u8]| {
        matches!(v.first(), Some(b' ' | b'\t')) || matches!(v.last(), Some(b' ' | b'\t'))
    };
    if req.headers.values().any(|v| padded(v.as_bytes())) {
        return Err(Reject::MalformedH2);
    }
    if req
        .uri
        .authority()
        .is_some_and(|a| a.as_str().contains('@'))
    {
        return Err(Reject::MalformedH2);
    }
    Ok(())
}

/// `Transfer-Encoding`, once hyper has accepted it: exactly one coding, `chunked`.
fn transfer_coding(headers: &http::HeaderMap) -> Result<(), Reject> {
    let mut chunked = 0;
    for value in headers.get_all(TRANSFER_ENCODING) {
        for coding in value.as_bytes().split(|b| *b == b',') {
            let coding = coding.trim_ascii();
            if coding.is_empty() {
                continue;
            }
            if !coding.eq_ignore_ascii_case(b"chunked") {
                return Err(Reject::UnsupportedCoding);
            }
            chunked += 1;
        }
    }
    if chunked > 1 {
        return Err(Reject::BadRequest);
    }
    Ok(())
}

fn host(version: Version, headers: &http::HeaderMap) -> Result<(), Reject> {
    let mut values = headers.get_all(HOST).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Reject::BadRequest);
    }
    match first {
        Some(v) if v.is_empty() || Authority::try_from(v.as_bytes()).is_err() => {
            Err(Reject::BadRequest)
        }
        None if version == Version::HTTP_11 => Err(Reject::BadRequest),
        _ => Ok(()),
    }
}

/// An HTTP/2 `Host` that names another authority than `:authority` (host case-insensitively,
/// port exactly as written).
fn same_authority(req: &http::request::Parts) -> Result<(), Reject> {
    if req.version != Version::HTTP_2 {
        return Ok(());
    }
    let (Some(host), Some(authority)) = (req.headers.get(HOST), req.uri.authority()) else {
        return Ok(());
    };
    if !host
        .as_bytes()
        .eq_ignore_ascii_case(authority.as_str().as_bytes())
    {
        return Err(Reject::BadRequest);
    }
    Ok(())
}

/// The request target as origin form. An absolute-form target keeps only its path and query:
/// the authority it names never chooses the upstream.
fn origin_form(uri: &Uri) -> Result<PathAndQuery, Reject> {
    let absolute = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => true,
        Some(_) => return Err(Reject::BadRequest),
        None => false,
    };
    match uri.path_and_query() {
        Some(pq) if pq.as_str().starts_with('/') => Ok(pq.clone()),
        Some(pq) if absolute && pq.path().is_empty() => {
            PathAndQuery::try_from(format!("/{pq}")).map_err(|_| Reject::BadRequest)
        }
        None if absolute => Ok(PathAndQuery::from_static("/")),
        // `*` (asterisk form) and `host:port` (authority form, outside CONNECT).
        _ => Err(Reject::BadRequest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_other_than_origin_or_http_absolute_form_are_refused() {
        let ok = |s: &str| origin_form(&s.parse::<Uri>().unwrap());
        assert_eq!(ok("/x?y").unwrap().as_str(), "/x?y");
        assert_eq!(ok("http://evil.example/x").unwrap().as_str(), "/x");
        assert_eq!(ok("https://evil.example").unwrap().as_str(), "/");
        assert_eq!(ok("*"), Err(Reject::BadRequest));
        assert_eq!(ok("evil.example:443"), Err(Reject::BadRequest));
        assert_eq!(ok("ftp://evil.example/x"), Err(Reject::BadRequest));
    }

    #[test]
    fn codings_other_than_a_single_chunked_are_refused() {
        let te = |vals: &[&str]| {
            let mut h = http::HeaderMap::new();
            for v in vals {
                h.append(TRANSFER_ENCODING, v.parse().unwrap());
            }
            transfer_coding(&h)
        };
        assert_eq!(te(&[]), Ok(()));
        assert_eq!(te(&["chunked"]), Ok(()));
        assert_eq!(te(&["Chunked"]), Ok(()));
        assert_eq!(te(&["gzip, chunked"]), Err(Reject::UnsupportedCoding));
        assert_eq!(te(&["gzip", "chunked"]), Err(Reject::UnsupportedCoding));
        assert_eq!(te(&["chunked, chunked"]), Err(Reject::BadRequest));
    }

    #[test]
    fn http2_values_with_surrounding_whitespace_and_userinfo_are_malformed() {
        let req = |authority: &str, value: &str| {
            let (mut parts, ()) = http::Request::builder()
                .version(Version::HTTP_2)
                .uri(format!("https://{authority}/ledgers"))
                .body(())
                .unwrap()
                .into_parts();
            parts
                .headers
                .insert("x-test", http::HeaderValue::from_str(value).unwrap());
            request(&parts)
        };
        assert!(req("gw.example", "ok").is_ok());
        assert!(req("gw.example", "in side").is_ok());
        assert_eq!(req("gw.example", " lead"), Err(Reject::MalformedH2));
        assert_eq!(req("gw.example", "trail\t"), Err(Reject::MalformedH2));
        assert_eq!(req("user@gw.example", "ok"), Err(Reject::MalformedH2));
        assert_eq!(req("user:pw@gw.example", "ok"), Err(Reject::MalformedH2));
    }

    #[test]
    fn an_http2_host_names_the_authority_or_is_refused() {
        let req = |version, host: Option<&str>| {
            let (mut parts, ()) = http::Request::builder()
                .version(version)
                .uri("https://gw.example:8443/ledgers")
                .body(())
                .unwrap()
                .into_parts();
            if let Some(h) = host {
                parts.headers.insert(HOST, h.parse().unwrap());
            }
            same_authority(&parts)
        };
        assert_eq!(req(Version::HTTP_2, None), Ok(()));
        assert_eq!(req(Version::HTTP_2, Some("gw.example:8443")), Ok(()));
        assert_eq!(req(Version::HTTP_2, Some("GW.Example:8443")), Ok(()));
        assert_eq!(
            req(Version::HTTP_2, Some("gw.example")),
            Err(Reject::BadRequest)
        );
        assert_eq!(
            req(Version::HTTP_2, Some("evil.example:8443")),
            Err(Reject::BadRequest)
        );
        // HTTP/1.1 absolute form: Host is ignored (RFC 9112 section 3.2.2), the upstream's sent.
        assert_eq!(req(Version::HTTP_11, Some("evil.example")), Ok(()));
    }

    #[test]
    fn host_is_required_once_on_http_1_1() {
        let h = |vals: &[&str]| {
            let mut m = http::HeaderMap::new();
            for v in vals {
                m.append(HOST, v.parse().unwrap());
            }
            m
        };
        assert_eq!(host(Version::HTTP_11, &h(&["x"])), Ok(()));
        assert_eq!(host(Version::HTTP_11, &h(&["x:8443"])), Ok(()));
        assert_eq!(host(Version::HTTP_11, &h(&[])), Err(Reject::BadRequest));
        assert_eq!(host(Version::HTTP_10, &h(&[])), Ok(()));
        assert_eq!(host(Version::HTTP_2, &h(&[])), Ok(()));
        assert_eq!(
            host(Version::HTTP_11, &h(&["x", "x"])),
            Err(Reject::BadRequest)
        );
        assert_eq!(host(Version::HTTP_11, &h(&[""])), Err(Reject::BadRequest));
        assert_eq!(
            host(Version::HTTP_11, &h(&["a b"])),
            Err(Reject::BadRequest)
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        const METHODS: &[&str] = &[
            "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PRI",
        ];
        const VERSIONS: &[Version] = &[
            Version::HTTP_09,
            Version::HTTP_10,
            Version::HTTP_11,
            Version::HTTP_2,
            Version::HTTP_3,
        ];
        const NAMES: &[&str] = &[
            "host",
            "transfer-encoding",
            "content-length",
            "x-blnk-key",
            "x-a",
        ];
        /// What transfer-coding lists are made of, well and badly.
        const CODINGS: &[&str] = &[
            "chunked", "Chunked", "CHUNKED", "gzip", "identity", "x-custom", ",", ", ", " ", "\t",
            "",
        ];

        /// Request targets of every form, well made or not, that `http` parses.
        fn uri() -> impl Strategy<Value = Uri> {
            prop_oneof![
                4 => "/[!-~]{0,30}",
                3 => "(http|https|HTTP|hTtPs|ftp|ws)://([a-z]{1,4}(:[a-z]{0,3})?@)?[a-z.]{1,10}(:[0-9]{1,5})?(/[!-~]{0,20}|\\?[a-z=]{0,6})?",
                1 => Just("*".to_string()),
                1 => "[a-z0-9.]{1,10}:[0-9]{1,5}",
                1 => "[!-~]{1,20}",
            ]
            .prop_filter_map("http refuses it", |s| s.parse::<Uri>().ok())
        }

        /// A header value: arbitrary bytes, a list of codings, or something like an authority.
        fn value() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..12),
                prop::collection::vec(prop::sample::select(CODINGS), 0..5)
                    .prop_map(|v| v.concat().into_bytes()),
                "[a-z0-9.:@\\[\\] -]{0,16}".prop_map(String::into_bytes),
            ]
        }

        /// Header fields: usually a plausible Host first, then any of [`NAMES`] with any value
        /// (those `http` cannot hold are left out).
        fn headers() -> impl Strategy<Value = http::HeaderMap> {
            let host = prop::option::weighted(0.8, "[a-z]{1,8}(\\.[a-z]{1,4})?(:[0-9]{1,5})?");
            let fields = prop::collection::vec((prop::sample::select(NAMES), value()), 0..5);
            (host, fields).prop_map(|(host, fields)| {
                let mut map = http::HeaderMap::new();
                let host = host.map(|h| (HOST.as_str(), h.into_bytes()));
                for (name, value) in host.into_iter().chain(fields) {
                    if let Ok(v) = http::HeaderValue::from_bytes(&value) {
                        map.append(name, v);
                    }
                }
                map
            })
        }

        /// A request head: any method token, target, version and header fields.
        fn parts() -> impl Strategy<Value = http::request::Parts> {
            let method = prop_oneof![
                3 => prop::sample::select(METHODS).prop_map(str::to_string),
                1 => "[!#-'*+.0-9A-Z^-z|~-]{1,8}",
            ];
            (method, uri(), prop::sample::select(VERSIONS), headers()).prop_map(
                |(method, uri, version, headers)| {
                    let (mut parts, ()) = http::Request::builder()
                        .method(method.as_str())
                        .uri(uri)
                        .version(version)
                        .body(())
                        .unwrap()
                        .into_parts();
                    parts.headers = headers;
                    parts
                },
            )
        }

        /// Every transfer coding named in `headers`, in order, as the RFC lists them: split at
        /// commas, trimmed, empty elements skipped.
        fn codings(headers: &http::HeaderMap) -> Vec<Vec<u8>> {
            headers
                .get_all(TRANSFER_ENCODING)
                .iter()
                .flat_map(|v| v.as_bytes().split(|b| *b == b',').map(<[u8]>::trim_ascii))
                .filter(|c| !c.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        }

        fn padded(v: &[u8]) -> bool {
            matches!(v.first(), Some(b' ' | b'\t')) || matches!(v.last(), Some(b' ' | b'\t'))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever the method, target, version and header bytes, the screen answers
            /// without panicking, and what it lets through is what its rules allow: a target in
            /// origin form within the URI limit, carrying the request's own path and query (an
            /// absolute form's authority never gets in); no Transfer-Encoding but a single
            /// `chunked`; at most one Host, exactly one valid one on HTTP/1.1; on HTTP/2 no
            /// padded value and no userinfo.
            #[test]
            fn what_the_screen_lets_through_keeps_its_rules(parts in parts()) {
                let Ok(target) = request(&parts) else { return Ok(()) };
                prop_assert!(target.as_str().starts_with('/'), "{target}");
                prop_assert!(target.as_str().len() <= limits::MAX_URI_BYTES);
                let expected_path = match parts.uri.path() {
                    "" => "/",
                    p => p,
                };
                prop_assert_eq!(target.path(), expected_path, "{}", parts.uri);
                prop_assert_eq!(target.query(), parts.uri.query(), "{}", parts.uri);
                prop_assert!(parts
                    .uri
                    .scheme_str()
                    .is_none_or(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https")));

                let codings = codings(&parts.headers);
                prop_assert!(codings.len() <= 1, "{codings:?}");
                prop_assert!(codings.iter().all(|c| c.eq_ignore_ascii_case(b"chunked")), "{codings:?}");

                let hosts: Vec<_> = parts.headers.get_all(HOST).iter().collect();
                prop_assert!(hosts.len() <= 1);
                if parts.version == Version::HTTP_11 {
                    prop_assert_eq!(hosts.len(), 1);
                }
                for h in hosts {
                    prop_assert!(Authority::try_from(h.as_bytes()).is_ok(), "{h:?}");
                }

                if parts.version == Version::HTTP_2 {
                    prop_assert!(!parts.headers.values().any(|v| padded(v.as_bytes())));
                    prop_assert!(parts.uri.authority().is_none_or(|a| !a.as_str().contains('@')));
                }
            }

            /// `Transfer-Encoding` passes only as nothing or one `chunked` in any case; any
            /// other coding is 501 (UnsupportedCoding), `chunked` more than once 400.
            #[test]
            fn transfer_codings_other_than_one_chunked_are_refused(headers in headers()) {
                let codings = codings(&headers);
                let chunked = |c: &Vec<u8>| c.eq_ignore_ascii_case(b"chunked");
                let expected = if !codings.iter().all(chunked) {
                    Err(Reject::UnsupportedCoding)
                } else if codings.len() > 1 {
                    Err(Reject::BadRequest)
                } else {
                    Ok(())
                };
                prop_assert_eq!(transfer_coding(&headers), expected, "{:?}", codings);
            }

            /// Host passes when there is at most one, it is a valid authority, and HTTP/1.1 has
            /// one; nothing else.
            #[test]
            fn host_passes_exactly_when_there_is_at_most_one_valid_one(
                headers in headers(),
                version in prop::sample::select(VERSIONS),
            ) {
                let hosts: Vec<_> = headers.get_all(HOST).iter().collect();
                let ok = match hosts.as_slice() {
                    [] => version != Version::HTTP_11,
                    [h] => !h.is_empty() && Authority::try_from(h.as_bytes()).is_ok(),
                    _ => false,
                };
                let expected = if ok { Ok(()) } else { Err(Reject::BadRequest) };
                prop_assert_eq!(host(version, &headers), expected, "{:?}", hosts);
            }

            /// HTTP/2 requests with a padded value or userinfo are malformed; others pass this
            /// check.
            #[test]
            fn http2_is_malformed_exactly_with_padding_or_userinfo(parts in parts()) {
                let malformed = parts.headers.values().any(|v| padded(v.as_bytes()))
                    || parts.uri.authority().is_some_and(|a| a.as_str().contains('@'));
                let expected = if malformed { Err(Reject::MalformedH2) } else { Ok(()) };
                prop_assert_eq!(h2_wellformed(&parts), expected);
            }
        }
    }
}
