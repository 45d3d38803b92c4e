//! What a request must look like before anything looks at what it means: the checks that keep
//! the gateway and Blnk reading the same request.
//!
//! - **Target**: origin form (`/path?query`) or absolute form naming `http`/`https` (only its path
//!   and query are kept); asterisk and authority forms are refused. At most
//!   [`limits::MAX_URI_BYTES`](crate::limits::MAX_URI_BYTES) (414 beyond). The path is then
//!   normalised by `path`, which owns that decision.
//! - **Host**: an HTTP/1.1 request carries exactly one valid `Host` (RFC 9112 section 3.2); no
//!   request carries two. The gateway replaces it upstream either way.
//! - **Framing**: hyper has already refused conflicting or malformed lengths and a
//!   `Transfer-Encoding` whose last coding is not `chunked`; a coding other than `chunked` before
//!   it gets 501 and `chunked` twice gets 400, since the gateway cannot undo either.
//!
//! - **HTTP/2**: a header value with leading or trailing whitespace (RFC 9113 section 8.2.1) and an
//!   `:authority` with userinfo (section 8.3.1) make the request malformed: a stream error, never
//!   forwarded. (The h2 crate itself refuses a `content-length` that disagrees with the DATA.)
//!
//! Every HTTP/1.1 refusal closes the connection (see `error`). This module does not decide who
//! may pass (`auth`) or which headers go upstream (`headers`).

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
}
