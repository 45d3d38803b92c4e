//! What a quota decision says, as numbers and as the `RateLimit-*` and `Retry-After` headers:
//! which limiter refused ([`Scope`], [`Limited`]) or what is left ([`Allowance`]). The limiters
//! that decide are `ratelimit`'s; this module is the vocabulary they, `error` and `metrics` share.
//!
//! - `RateLimit-Limit`: the burst of the quota that applied (what a quiet client may send at once).
//! - `RateLimit-Remaining`: how many more may be sent now.
//! - `RateLimit-Reset`: seconds until the bucket is full again; on a 429, until the next request
//!   is allowed (the same as `Retry-After`).
//!
//! Numbers below 10,000 are written from a static table, so stamping a response allocates nothing.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue, RETRY_AFTER};

use crate::headers::never_indexed;
use http::HeaderMap;

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Which limiter refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The client's own quota.
    Client,
    /// The ceiling on everything forwarded to Blnk.
    Global,
    /// The source address failed authentication too often and is cooling down.
    FailedAuth,
}

impl Scope {
    /// Every value; `scope as usize` indexes it.
    pub const ALL: [Scope; 3] = [Scope::Client, Scope::Global, Scope::FailedAuth];

    pub fn label(self) -> &'static str {
        match self {
            Scope::Client => "client",
            Scope::Global => "global",
            Scope::FailedAuth => "failed_auth",
        }
    }
}

/// A refusal: which limiter, its burst, and how long until a request may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub limit: u32,
    pub retry_after_secs: u64,
}

/// A request let through: the client's quota and what is left of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
}

impl Limited {
    pub fn new(scope: Scope, limit: u32, wait: Duration) -> Self {
        Limited {
            scope,
            limit,
            retry_after_secs: ceil_secs(wait).max(1),
        }
    }

    /// `Retry-After` and the `RateLimit-*` headers of a 429.
    pub fn stamp(&self, headers: &mut HeaderMap) {
        headers.insert(RETRY_AFTER, number(self.retry_after_secs));
        Allowance {
            limit: self.limit,
            remaining: 0,
            reset_secs: self.retry_after_secs,
        }
        .stamp(headers);
    }
}

impl Allowance {
    /// The `RateLimit-*` headers of an answer that went through (replacing Blnk's own).
    pub fn stamp(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, number(u64::from(self.limit)));
        headers.insert(
            RATELIMIT_REMAINING,
            never_indexed(number(u64::from(self.remaining))),
        );
        headers.insert(RATELIMIT_RESET, never_indexed(number(self.reset_secs)));
    }
}

/// Whole seconds, rounded up: a client that waits this long is never early.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Numbers written without allocating: 0 to 9,999 as four-byte rows and their lengths.
const SMALL: usize = 10_000;
static SMALL_NUMBERS: [([u8; 4], u8); SMALL] = small_numbers();

const fn small_numbers() -> [([u8; 4], u8); SMALL] {
    let mut out = [([0u8; 4], 0u8); SMALL];
    let mut n = 0;
    while n < SMALL {
        let mut digits = [0u8; 4];
        let mut len = 0;
        let mut rest = n;
        loop {
            digits[len] = b'0' + (rest % 10) as u8;
            len += 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let mut row = [0u8; 4];
        let mut i = 0;
        while i < len {
            row[i] = digits[len - 1 - i];
            i += 1;
        }
        out[n] = (row, len as u8);
        n += 1;
    }
    out
}

fn number(n: u64) -> HeaderValue {
    let small = usize::try_from(n).ok().and_then(|i| SMALL_NUMBERS.get(i));
    if let Some((row, len)) = small {
        if let Ok(text) = std::str::from_utf8(&row[..usize::from(*len)]) {
            return HeaderValue::from_static(text);
        }
    }
    HeaderValue::from(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0u64, 7, 10, 99, 100, 1234, 9_999, 10_000, 4_000_000_000] {
            assert_eq!(number(n).to_str().unwrap(), n.to_string());
        }
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(
            Limited::new(Scope::Client, 5, Duration::ZERO).retry_after_secs,
            1
        );
    }
}
