//! What the store keeps per key: the request's fingerprint, what the request was (for the
//! operator's view), where it stands (in flight, answered, or outcome unknown) and, once
//! answered, Blnk's answer; and the compact binary form it is kept in (the same for the embedded
//! store and for Redis).

use bytes::Bytes;

/// SHA-256 of what identifies a request: method, forwarded target, body.
pub type Fingerprint = [u8; 32];

/// One key's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Random per write: what a compare-and-swap compares.
    pub version: u64,
    pub fingerprint: Fingerprint,
    /// Milliseconds since the Unix epoch after which the record is gone.
    pub expires_at_ms: u64,
    pub state: State,
    pub subject: Subject,
}

/// What the request was, for an operator settling keys after an incident: method, path, and
/// what to ask Blnk about (a transaction's reference, a refunded or inflight transaction's id).
/// Each at most `SUBJECT_MAX` bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub method: String,
    pub path: String,
    pub reference: String,
}

/// Longest field of a [`Subject`] kept, in bytes.
pub const SUBJECT_MAX: usize = 256;

impl Subject {
    pub fn new(method: &str, path: &str, reference: &str) -> Subject {
        Subject {
            method: clip(method),
            path: clip(path),
            reference: clip(reference),
        }
    }
}

/// `s` cut to at most `SUBJECT_MAX` bytes, on a character boundary.
fn clip(s: &str) -> String {
    let mut end = s.len().min(SUBJECT_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Where the request that took the key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Sent (or about to be) by the gateway process `owner`, since `since_ms`.
    InFlight { owner: u64, since_ms: u64 },
    /// Blnk answered; the answer is replayed to every retry.
    Done(Stored),
    /// The request may have reached Blnk but no answer came (a timeout, a broken connection,
    /// Blnk's 5xx, or the gateway that sent it stopped), since `since_ms`.
    Unknown { since_ms: u64 },
}

/// Blnk's answer as replayed: status, the headers a client needs, the body (or none when it was
/// larger than the gateway keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub headers: Vec<(String, Bytes)>,
    /// `None`: the body was larger than `gateway.idempotency.max_answer_bytes`.
    pub body: Option<Bytes>,
}

const IN_FLIGHT: u8 = 1;
const DONE: u8 = 2;
const UNKNOWN: u8 = 3;
/// The first byte of every encoded entry: the format's version. Version 1 had no subject; it is
/// still read (an upgrade keeps the keys).
const FORMAT: u8 = 2;
const FORMAT_V1: u8 = 1;

impl Entry {
    /// The binary form: format, version, fingerprint, expiry, state tag, the state's fields, then
    /// the subject. The version is bytes 2 to 9 (Redis's compare-and-swap reads it there) and
    /// the state tag byte 49.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(FORMAT);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.fingerprint);
        out.extend_from_slice(&self.expires_at_ms.to_be_bytes());
        match &self.state {
            State::InFlight { owner, since_ms } => {
                out.push(IN_FLIGHT);
                out.extend_from_slice(&owner.to_be_bytes());
                out.extend_from_slice(&since_ms.to_be_bytes());
            }
            State::Unknown { since_ms } => {
                out.push(UNKNOWN);
                out.extend_from_slice(&since_ms.to_be_bytes());
            }
            State::Done(stored) => {
                out.push(DONE);
                out.extend_from_slice(&stored.status.to_be_bytes());
                let n = u16::try_from(stored.headers.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&n.to_be_bytes());
                for (name, value) in stored.headers.iter().take(usize::from(n)) {
                    put(&mut out, name.as_bytes());
                    put(&mut out, value);
                }
                match &stored.body {
                    Some(body) => {
                        out.push(1);
                        put(&mut out, body);
                    }
                    None => out.push(0),
                }
            }
        }
        put(&mut out, self.subject.method.as_bytes());
        put(&mut out, self.subject.path.as_bytes());
        put(&mut out, self.subject.reference.as_bytes());
        out
    }

    /// Reads what `encode` wrote; `None` for anything else (a corrupt or foreign value).
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        let mut r = Reader(bytes);
        let format = r.u8()?;
        if format != FORMAT && format != FORMAT_V1 {
            return None;
        }
        let version = r.u64()?;
        let fingerprint: Fingerprint = r.take(32)?.try_into().ok()?;
        let expires_at_ms = r.u64()?;
        let state = match r.u8()? {
            IN_FLIGHT => State::InFlight {
                owner: r.u64()?,
                since_ms: r.u64()?,
            },
            UNKNOWN => State::Unknown { since_ms: r.u64()? },
            DONE => {
                let status = r.u16()?;
                let n = r.u16()?;
                let mut headers = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    let name = String::from_utf8(r.bytes()?.to_vec()).ok()?;
                    headers.push((name, Bytes::copy_from_slice(r.bytes()?)));
                }
                let body = match r.u8()? {
                    1 => Some(Bytes::copy_from_slice(r.bytes()?)),
                    0 => None,
                    _ => return None,
                };
                State::Done(Stored {
                    status,
                    headers,
                    body,
                })
            }
            _ => return None,
        };
        let subject = match format {
            FORMAT_V1 => Subject::default(),
            _ => {
                let mut text = || String::from_utf8(r.bytes().ok_or(())?.to_vec()).map_err(|_| ());
                Subject {
                    method: text().ok()?,
                    path: text().ok()?,
                    reference: text().ok()?,
                }
            }
        };
        r.0.is_empty().then_some(Entry {
            version,
            fingerprint,
            expires_at_ms,
            state,
            subject,
        })
    }
}

/// A length-prefixed field (u32, big-endian).
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&bytes[..n as usize]);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = u32::from_be_bytes(self.take(4)?.try_into().ok()?);
        self.take(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn state() -> impl Strategy<Value = State> {
        let stored = (
            any::<u16>(),
            proptest::collection::vec(
                (
                    "[a-z-]{1,20}",
                    proptest::collection::vec(any::<u8>(), 0..40),
                ),
                0..5,
            ),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        )
            .prop_map(|(status, headers, body)| {
                State::Done(Stored {
                    status,
                    headers: headers
                        .into_iter()
                        .map(|(n, v)| (n, Bytes::from(v)))
                        .collect(),
                    body: body.map(Bytes::from),
                })
            });
        prop_oneof![
            (any::<u64>(), any::<u64>())
                .prop_map(|(owner, since_ms)| State::InFlight { owner, since_ms }),
            any::<u64>().prop_map(|since_ms| State::Unknown { since_ms }),
            stored,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn entries_round_trip(version: u64, fp: [u8; 32], expires: u64, state in state(), path in "[a-z/_-]{0,300}", reference in "\\PC{0,300}") {
            let subject = Subject::new("PUT", &path, &reference);
            prop_assert!(subject.path.len() <= SUBJECT_MAX && subject.reference.len() <= SUBJECT_MAX);
            let e = Entry { version, fingerprint: fp, expires_at_ms: expires, state, subject };
            prop_assert_eq!(Entry::decode(&e.encode()), Some(e));
        }

        #[test]
        fn any_bytes_decode_or_are_refused_without_panicking(bytes: Vec<u8>) {
            let _ = Entry::decode(&bytes);
        }
    }

    #[test]
    fn a_version_1_entry_is_read_without_a_subject() {
        let mut v1 = vec![FORMAT_V1];
        v1.extend_from_slice(&5u64.to_be_bytes());
        v1.extend_from_slice(&[2; 32]);
        v1.extend_from_slice(&9u64.to_be_bytes());
        v1.push(UNKNOWN);
        v1.extend_from_slice(&3u64.to_be_bytes());
        let e = Entry::decode(&v1).expect("a version 1 entry");
        assert_eq!((e.version, e.subject), (5, Subject::default()));
    }

    #[test]
    fn a_truncated_or_extended_entry_is_refused() {
        let e = Entry {
            version: 7,
            fingerprint: [1; 32],
            expires_at_ms: 9,
            state: State::Unknown { since_ms: 3 },
            subject: Subject::new("POST", "/transactions", "ref-1"),
        };
        let bytes = e.encode();
        assert_eq!(bytes[49], UNKNOWN, "the state tag's place");
        assert!(Entry::decode(&bytes[..bytes.len() - 1]).is_none());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Entry::decode(&longer).is_none());
    }
}
