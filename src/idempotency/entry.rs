//! What the store keeps per key: the request's fingerprint, where the request stands (in flight,
//! answered, or outcome unknown) and, once answered, Blnk's answer; and the compact binary form
//! it is kept in (the same for the embedded store and for Redis).

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
/// The first byte of every encoded entry: the format's version.
const FORMAT: u8 = 1;

impl Entry {
    /// The binary form: format, version, fingerprint, expiry, state tag, then the state's fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
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
        out
    }

    /// Reads what `encode` wrote; `None` for anything else (a corrupt or foreign value).
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        let mut r = Reader(bytes);
        if r.u8()? != FORMAT {
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
        r.0.is_empty().then_some(Entry {
            version,
            fingerprint,
            expires_at_ms,
            state,
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
        fn entries_round_trip(version: u64, fp: [u8; 32], expires: u64, state in state()) {
            let e = Entry { version, fingerprint: fp, expires_at_ms: expires, state };
            prop_assert_eq!(Entry::decode(&e.encode()), Some(e));
        }

        #[test]
        fn any_bytes_decode_or_are_refused_without_panicking(bytes: Vec<u8>) {
            let _ = Entry::decode(&bytes);
        }
    }

    #[test]
    fn a_truncated_or_extended_entry_is_refused() {
        let e = Entry {
            version: 7,
            fingerprint: [1; 32],
            expires_at_ms: 9,
            state: State::Unknown { since_ms: 3 },
        };
        let bytes = e.encode();
        assert!(Entry::decode(&bytes[..bytes.len() - 1]).is_none());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Entry::decode(&longer).is_none());
    }
}
