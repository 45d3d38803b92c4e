//! The checkpoint record: a signed statement that the chain, up to the line before it, has the
//! head it names. Its line, what its signature covers, and the anchor line the writer sends to
//! the operational log are defined here and nowhere else; docs/audit.md describes them.
//!
//! A checkpoint is a line of the chain like any other (`{"v":1,"seq":N,"prev":H,...}`): `prev`
//! is the head it seals, the SHA-256 of line N-1, which through the chain commits to every line
//! before. The signature is Ed25519 over [`Checkpoint::message`]:
//!
//! ```text
//! blnk-gateway audit checkpoint v1\nseq=N\nhead=H\ntime=T\nkey=K\nnext_key=P\n
//! ```
//!
//! with `P` empty when no next key is certified. Changing any record before the checkpoint
//! changes `H` (or breaks the chain), so the signature no longer verifies.

use std::borrow::Cow;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::chain::{self, Chain, Digest, FrameError};
use crate::signing::{KeyId, PublicKey, SigningKey, SIGNATURE_LEN};

/// The `kind` of a checkpoint line.
pub const KIND: &str = "checkpoint";
/// What the signed message starts with: no other signature of the key can pass for one.
const DOMAIN: &str = "blnk-gateway audit checkpoint v1";
/// How an anchor line in the operational log starts (after the logger's own prefix).
pub const ANCHOR_PREFIX: &str = "audit checkpoint seq=";
/// The longest `time` accepted when reading (the writer writes 27 characters).
const MAX_TIME_LEN: usize = 40;

/// A checkpoint, as written or as read back from a line or an anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The checkpoint line's own `seq`; it seals lines up to `seq - 1`.
    pub seq: u64,
    /// The head it seals: the checkpoint line's `prev`.
    pub head: Digest,
    pub time: String,
    /// The signing key's id.
    pub key: KeyId,
    /// A key this checkpoint certifies as the signer of the checkpoints after it (a
    /// forward-secure epoch; see docs/audit.md).
    pub next_key: Option<PublicKey>,
    pub sig: [u8; SIGNATURE_LEN],
}

#[derive(Serialize)]
#[serde(tag = "kind", rename = "checkpoint")]
struct Body<'a> {
    time: &'a str,
    key: &'a str,
    next_key: Option<String>,
    sig: String,
}

#[derive(Deserialize)]
struct Fields<'a> {
    v: u8,
    seq: u64,
    #[serde(borrow)]
    prev: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    next_key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

impl Checkpoint {
    /// Signs the chain's head with `key` and appends the checkpoint line to `buf`.
    pub fn seal(
        chain: &mut Chain,
        buf: &mut Vec<u8>,
        key: &SigningKey,
        time: SystemTime,
        next_key: Option<PublicKey>,
    ) -> Result<Checkpoint, FrameError> {
        let head = chain.head().ok_or(FrameError)?;
        let mut cp = Checkpoint {
            seq: head.seq.saturating_add(1),
            head: head.hash,
            time: humantime::format_rfc3339_micros(time).to_string(),
            key: key.id(),
            next_key,
            sig: [0; SIGNATURE_LEN],
        };
        cp.sig = key.sign(&cp.message());
        let body = Body {
            time: &cp.time,
            key: cp.key.as_str(),
            next_key: cp.next_key.map(|k| k.hex()),
            sig: hex::encode(cp.sig),
        };
        chain.append(buf, &body)?;
        Ok(cp)
    }

    /// The bytes the signature covers (see the module docs).
    pub fn message(&self) -> Vec<u8> {
        let next = self.next_key.map(|k| k.hex()).unwrap_or_default();
        format!(
            "{DOMAIN}\nseq={}\nhead={}\ntime={}\nkey={}\nnext_key={next}\n",
            self.seq,
            chain::hex(&self.head),
            self.time,
            self.key
        )
        .into_bytes()
    }

    /// Whether `key` is the key this checkpoint names and its signature verifies with it.
    pub fn verify(&self, key: &PublicKey) -> bool {
        key.id() == self.key && key.verify(&self.message(), &self.sig)
    }

    /// A checkpoint line read back; `None` if the line is not a well-formed checkpoint.
    pub fn from_line(line: &[u8]) -> Option<Checkpoint> {
        let f: Fields<'_> = serde_json::from_slice(line).ok()?;
        if f.v != chain::VERSION || f.kind != KIND {
            return None;
        }
        let next_key = match f.next_key {
            Some(k) => Some(PublicKey::from_hex(&k)?),
            None => None,
        };
        Checkpoint::from_parts(f.seq, &f.prev, &f.time, &f.key, next_key, &f.sig)
    }

    fn from_parts(
        seq: u64,
        head: &str,
        time: &str,
        key: &str,
        next_key: Option<PublicKey>,
        sig: &str,
    ) -> Option<Checkpoint> {
        let mut sig_bytes = [0u8; SIGNATURE_LEN];
        hex::decode_to_slice(sig, &mut sig_bytes).ok()?;
        let time_ok = !time.is_empty()
            && time.len() <= MAX_TIME_LEN
            && time.bytes().all(|b| b.is_ascii_graphic());
        Some(Checkpoint {
            seq,
            head: chain::unhex(head)?,
            time: time_ok.then(|| time.to_string())?,
            key: KeyId::parse(key)?,
            next_key,
            sig: sig_bytes,
        })
    }

    /// The operational log's copy: `audit checkpoint seq=.. head=.. time=.. key=.. next_key=..
    /// sig=..`, one line, no character a log shipper escapes.
    pub fn anchor(&self) -> String {
        let next = self.next_key.map_or_else(|| "-".to_string(), |k| k.hex());
        format!(
            "{ANCHOR_PREFIX}{} head={} time={} key={} next_key={next} sig={}",
            self.seq,
            chain::hex(&self.head),
            self.time,
            self.key,
            hex::encode(self.sig)
        )
    }

    /// An anchor found anywhere in `line` (a text or JSON log line, a journal export), if any.
    pub fn from_anchor(line: &str) -> Option<Checkpoint> {
        let at = line.find(ANCHOR_PREFIX)?;
        let rest = line.get(at + ANCHOR_PREFIX.len() - "seq=".len()..)?;
        let mut tokens = rest.split_whitespace();
        let mut field = |name: &str| {
            tokens
                .next()
                .and_then(|t| t.strip_prefix(name))
                .and_then(|t| t.strip_prefix('='))
        };
        let seq = field("seq")?.parse().ok()?;
        let head = field("head")?;
        let time = field("time")?;
        let key = field("key")?;
        let next_key = match field("next_key")? {
            "-" => None,
            k => Some(PublicKey::from_hex(k)?),
        };
        // The signature may be followed by a quote or an escape of the enclosing format.
        let sig = field("sig")?.get(..SIGNATURE_LEN * 2)?;
        Checkpoint::from_parts(seq, head, time, key, next_key, sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{digest, parse_link};

    #[test]
    fn a_checkpoint_line_reads_back_and_verifies_and_so_does_its_anchor() {
        let (key, _) = SigningKey::generate().unwrap();
        let (next, _) = SigningKey::generate().unwrap();
        let mut chain = Chain::genesis();
        let mut buf = Vec::new();
        chain
            .append(&mut buf, &serde_json::json!({"kind": "genesis"}))
            .unwrap();
        let first_line = buf[..buf.len() - 1].to_vec();
        let start = buf.len();
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let cp = Checkpoint::seal(&mut chain, &mut buf, &key, time, Some(*next.public())).unwrap();
        let line = &buf[start..buf.len() - 1];
        assert_eq!(parse_link(line).unwrap().kind, KIND);
        assert_eq!((cp.seq, cp.head), (1, digest(&first_line)));
        assert_eq!(Checkpoint::from_line(line), Some(cp.clone()));
        assert!(cp.verify(key.public()));
        assert!(!cp.verify(next.public()));
        let anchor = format!(
            "2026-01-01T00:00:00Z  INFO blnk_gateway::audit: {} path=x",
            cp.anchor()
        );
        assert_eq!(Checkpoint::from_anchor(&anchor), Some(cp.clone()));
        let json = serde_json::json!({"fields": {"message": cp.anchor()}}).to_string();
        assert_eq!(Checkpoint::from_anchor(&json), Some(cp.clone()));
        // Any field changed: the signature no longer covers it.
        for edit in [
            |c: &mut Checkpoint| c.seq += 1,
            |c: &mut Checkpoint| c.head[0] ^= 1,
            |c: &mut Checkpoint| c.time.push('0'),
            |c: &mut Checkpoint| c.next_key = None,
        ] {
            let mut changed = cp.clone();
            edit(&mut changed);
            assert!(!changed.verify(key.public()));
        }
        let text = String::from_utf8(line.to_vec()).unwrap();
        assert!(
            text.contains(r#""kind":"checkpoint","time":"2027-01-15T08:00:00.000000Z""#),
            "{text}"
        );
    }

    #[test]
    fn malformed_checkpoints_and_anchors_read_as_none() {
        assert_eq!(
            Checkpoint::from_line(br#"{"v":1,"seq":1,"prev":"00","kind":"checkpoint"}"#),
            None
        );
        assert_eq!(
            Checkpoint::from_anchor("audit checkpoint seq=1 head=zz"),
            None
        );
        assert_eq!(Checkpoint::from_anchor("nothing here"), None);
    }
}
