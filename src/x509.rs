//! The two facts the gateway reports about its certificate: the SHA-256 fingerprint of the leaf
//! (as `openssl x509 -fingerprint -sha256` prints it, without the colons) and its `notAfter` as a
//! Unix time, for reload log lines and the expiry metric an alert watches.
//!
//! Only as much DER as that needs is read (RFC 5280: Certificate, TBSCertificate, Validity);
//! rustls and webpki have already parsed and checked the certificate in full. Every read is
//! bounds-checked: a certificate this code cannot read has no expiry to report, never a panic.

use sha2::{Digest, Sha256};

/// What the reload line and `/metrics` say about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// SHA-256 of the DER, 64 lowercase hex digits.
    pub sha256: String,
    /// `notAfter`, seconds since the Unix epoch; `None` when it could not be read.
    pub not_after: Option<i64>,
}

impl CertFacts {
    pub fn of(der: &[u8]) -> Self {
        CertFacts {
            sha256: hex::encode(Sha256::digest(der)),
            not_after: not_after(der),
        }
    }

    /// `notAfter` as RFC 3339, or `unknown`.
    pub fn not_after_text(&self) -> String {
        self.not_after
            .and_then(|t| u64::try_from(t).ok())
            .map(|t| {
                let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t);
                humantime::format_rfc3339_seconds(at).to_string()
            })
            .unwrap_or_else(|| "unknown".into())
    }
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version`, present from X.509 v2 on.
const VERSION_TAG: u8 = 0xa0;

/// One DER element: its tag, its content, and what follows it.
fn element(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The certificate's `notAfter`, in seconds since the Unix epoch.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (SEQUENCE, cert, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, mut tbs, _) = element(cert)? else {
        return None;
    };
    if tbs.first() == Some(&VERSION_TAG) {
        tbs = element(tbs)?.2;
    }
    // serialNumber, signature, issuer; then validity.
    for _ in 0..3 {
        tbs = element(tbs)?.2;
    }
    let (SEQUENCE, validity, _) = element(tbs)? else {
        return None;
    };
    let not_before_rest = element(validity)?.2;
    let (tag, time, _) = element(not_before_rest)?;
    parse_time(tag, time)
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950 to 2049, RFC 5280) or GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| digits(rest.get(i..i + 2)?);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_until(year: i32, month: u8, day: u8) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(year, month, day);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn not_after_is_read_from_utc_and_generalized_times() {
        // 2030-06-15T00:00:00Z (UTCTime) and 2055-01-01T00:00:00Z (GeneralizedTime, past 2049).
        assert_eq!(not_after(&cert_until(2030, 6, 15)), Some(1_907_712_000));
        assert_eq!(not_after(&cert_until(2055, 1, 1)), Some(2_682_374_400));
        let facts = CertFacts::of(&cert_until(2030, 6, 15));
        assert_eq!(facts.not_after_text(), "2030-06-15T00:00:00Z");
        assert_eq!(facts.sha256.len(), 64);
    }

    #[test]
    fn anything_else_has_no_expiry_and_never_panics() {
        let der = cert_until(2030, 6, 15);
        for cut in 0..der.len() {
            let _ = not_after(&der[..cut]);
        }
        assert_eq!(not_after(b""), None);
        assert_eq!(not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(parse_time(UTC_TIME, b"301399000000Z"), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
