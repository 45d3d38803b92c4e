//! The hash chain: how a record becomes a line, and what links each line to the one before.
//!
//! Every line is one JSON object that starts `{"v":1,"seq":N,"prev":"<64 hex>",` and goes on with
//! the record's own fields. `prev` is the SHA-256 of the previous line's exact bytes (without its
//! newline); the genesis record's is 64 zeros. `seq` counts records along the chain, across
//! reopened and rotated files and restarts that find the previous records. This module owns the
//! framing, the chain state and reading a link back; the fields are `line`'s, the I/O is
//! `writer`'s and the checking is `verify`'s.

use std::borrow::Cow;
use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The schema version written in every line's `v`.
pub const VERSION: u8 = 1;

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// The `prev` of a genesis record.
pub const GENESIS_PREV: Digest = [0; 32];

/// The last record of a chain: what the next record must point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Digest,
}

/// Where the next record goes: its `seq` and its `prev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    next_seq: u64,
    prev: Digest,
}

impl Chain {
    /// A new chain, whose first record must be a genesis record.
    pub fn genesis() -> Chain {
        Chain {
            next_seq: 0,
            prev: GENESIS_PREV,
        }
    }

    /// The chain continuing after `head`.
    pub fn after(head: Head) -> Chain {
        Chain {
            next_seq: head.seq.saturating_add(1),
            prev: head.hash,
        }
    }

    /// Logs the head to the operational log: an anchor kept apart from the audit file.
    pub fn log_head(&self, path: &impl std::fmt::Display, what: &str) {
        if let Some(head) = self.head() {
            tracing::info!(path = %path, seq = head.seq, sha256 = %hex(&head.hash), "{what}");
        }
    }

    /// The last record appended, if any.
    pub fn head(&self) -> Option<Head> {
        self.next_seq.checked_sub(1).map(|seq| Head {
            seq,
            hash: self.prev,
        })
    }

    /// Appends the line for `body` (which must serialize to a non-empty JSON object) to `buf`,
    /// newline included, and advances the chain. On error `buf` and the chain are unchanged.
    pub fn append<T: Serialize>(&mut self, buf: &mut Vec<u8>, body: &T) -> Result<(), FrameError> {
        self.frame(buf, |buf| {
            let body_start = buf.len();
            serde_json::to_writer(&mut *buf, body).map_err(|_| FrameError)?;
            match buf.get(body_start..body_start + 2) {
                Some([b'{', b'"']) => {
                    buf.remove(body_start);
                    Ok(())
                }
                _ => Err(FrameError),
            }
        })
    }

    /// Appends a line whose own fields `fields` writes, after the chain's and up to the closing
    /// brace (see `json::Fields`), and advances the chain.
    pub(super) fn append_fields(&mut self, buf: &mut Vec<u8>, fields: impl FnOnce(&mut Vec<u8>)) {
        let _ = self.frame(buf, |buf| {
            fields(buf);
            Ok(())
        });
    }

    /// The chain fields, then the body's, then the link to the next line.
    fn frame(
        &mut self,
        buf: &mut Vec<u8>,
        body: impl FnOnce(&mut Vec<u8>) -> Result<(), FrameError>,
    ) -> Result<(), FrameError> {
        let start = buf.len();
        // Writing to a Vec cannot fail.
        let _ = write!(
            buf,
            "{{\"v\":{VERSION},\"seq\":{},\"prev\":\"",
            self.next_seq
        );
        hex_into(buf, &self.prev);
        buf.extend_from_slice(b"\",");
        if body(buf).is_err() {
            buf.truncate(start);
            return Err(FrameError);
        }
        self.prev = digest(&buf[start..]);
        self.next_seq = self.next_seq.saturating_add(1);
        buf.push(b'\n');
        Ok(())
    }
}

/// A record body that is not a non-empty JSON object (a bug, never user input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("record does not serialize to a JSON object")]
pub struct FrameError;

/// SHA-256 of a line's bytes (without its newline).
pub fn digest(line: &[u8]) -> Digest {
    Sha256::digest(line).into()
}

/// A digest as 64 lower-case hex characters.
pub fn hex(d: &Digest) -> String {
    hex::encode(d)
}

fn hex_into(buf: &mut Vec<u8>, d: &Digest) {
    let mut text = [0u8; 64];
    // 32 bytes always fit 64 digits.
    if hex::encode_to_slice(d, &mut text).is_ok() {
        buf.extend_from_slice(&text);
    }
}

/// A digest from 64 lower-case hex characters (as the writer writes them; nothing else).
pub fn unhex(s: &str) -> Option<Digest> {
    let lower = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let mut out = [0u8; 32];
    (lower && hex::decode_to_slice(s, &mut out).is_ok()).then_some(out)
}

/// The chain fields of one line, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev: Digest,
    pub kind: String,
    /// The record's `time`, when it has one.
    pub time: Option<String>,
}

#[derive(Deserialize)]
struct LinkFields<'a> {
    v: u8,
    seq: u64,
    #[serde(borrow)]
    prev: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
}

/// Reads the chain fields of a line; `None` if it is not a record of this schema version.
pub fn parse_link(line: &[u8]) -> Option<Link> {
    let f: LinkFields<'_> = serde_json::from_slice(line).ok()?;
    if f.v != VERSION {
        return None;
    }
    Some(Link {
        seq: f.seq,
        prev: unhex(&f.prev)?,
        kind: f.kind.into_owned(),
        time: f.time.map(Cow::into_owned),
    })
}

/// What an existing log's end says about where to continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Empty: start a new chain.
    Fresh,
    /// Ends with an intact record: continue after it.
    After(Head),
    /// Ends with something that is not a whole record (a crash mid-write, an edit): start a new
    /// chain on a line of its own, after a newline if the last line has none.
    Damaged { needs_newline: bool },
}

/// Decides how to continue a log from its last bytes. `tail` is the end of the file and
/// `whole_file` says whether it is all of it.
pub fn resume(tail: &[u8], whole_file: bool) -> Resume {
    let Some(body) = tail.strip_suffix(b"\n") else {
        return if tail.is_empty() && whole_file {
            Resume::Fresh
        } else {
            Resume::Damaged {
                needs_newline: true,
            }
        };
    };
    let line = match body.iter().rposition(|b| *b == b'\n') {
        Some(nl) => &body[nl + 1..],
        None if whole_file => body,
        None => {
            return Resume::Damaged {
                needs_newline: false,
            }
        }
    };
    match parse_link(line) {
        Some(link) => Resume::After(Head {
            seq: link.seq,
            hash: digest(line),
        }),
        None => Resume::Damaged {
            needs_newline: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lines_link_by_the_hash_of_the_previous_line() {
        let mut chain = Chain::genesis();
        let mut buf = Vec::new();
        chain.append(&mut buf, &json!({"kind": "genesis"})).unwrap();
        chain
            .append(&mut buf, &json!({"kind": "request", "path": "/a\"\n"}))
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let first = parse_link(lines[0].as_bytes()).unwrap();
        assert_eq!(
            (first.seq, first.prev, first.kind.as_str()),
            (0, GENESIS_PREV, "genesis")
        );
        let second = parse_link(lines[1].as_bytes()).unwrap();
        assert_eq!(second.seq, 1);
        assert_eq!(second.prev, digest(lines[0].as_bytes()));
        assert!(
            lines[1].starts_with(r#"{"v":1,"seq":1,"prev":""#),
            "{}",
            lines[1]
        );
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["path"], "/a\"\n");
        assert_eq!(
            chain.head(),
            Some(Head {
                seq: 1,
                hash: digest(lines[1].as_bytes())
            })
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_changes_nothing() {
        let mut chain = Chain::genesis();
        let mut buf = b"x".to_vec();
        assert!(chain.append(&mut buf, &json!([1])).is_err());
        assert!(chain.append(&mut buf, &json!({})).is_err());
        assert_eq!(buf, b"x");
        assert_eq!(chain, Chain::genesis());
    }

    #[test]
    fn hex_round_trips() {
        let d = digest(b"abc");
        assert_eq!(unhex(&hex(&d)), Some(d));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"G".repeat(64)), None);
    }

    #[test]
    fn resume_reads_the_last_whole_record() {
        let mut chain = Chain::genesis();
        let mut buf = Vec::new();
        chain.append(&mut buf, &json!({"kind": "genesis"})).unwrap();
        chain.append(&mut buf, &json!({"kind": "request"})).unwrap();
        assert_eq!(resume(&buf, true), Resume::After(chain.head().unwrap()));
        // Only the end of a longer file: still fine as long as a newline precedes the last line.
        assert_eq!(
            resume(&buf[10..], false),
            Resume::After(chain.head().unwrap())
        );
        assert_eq!(resume(b"", true), Resume::Fresh);
        assert_eq!(
            resume(&buf[..buf.len() - 3], true),
            Resume::Damaged {
                needs_newline: true
            }
        );
        assert_eq!(
            resume(b"not json\n", true),
            Resume::Damaged {
                needs_newline: false
            }
        );
    }
}
