//! The writer's checkpoints, without sockets: every N lines exactly, after the interval on a
//! paused clock, at close; a key offered by a reload; forward-secure epochs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Version};

use crate::audit::chain::digest;
use crate::audit::checkpoint::Checkpoint;
use crate::audit::{Audit, Decision, RequestHead};
use crate::config::{AuditTarget, AuditWriter, Fsync};
use crate::conn::{ConnClock, ConnInfo};
use crate::mode::Mode;
use crate::signing::{self, PublicKey, SigningKey};

/// Yields this many times at most while waiting for the writer.
const MAX_YIELDS: usize = 1_000_000;

struct Log {
    path: PathBuf,
    key_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Log {
    fn new() -> Log {
        let dir = tempfile::tempdir().unwrap();
        Log {
            path: dir.path().join("audit.log"),
            key_file: dir.path().join("audit.key"),
            _dir: dir,
        }
    }

    /// A new key in the key file; the writer's copy and the public key.
    fn key(&self) -> (SigningKey, PublicKey) {
        let (key, pem) = SigningKey::generate().unwrap();
        let _ = std::fs::remove_file(&self.key_file);
        signing::create_new(&self.key_file, pem.as_bytes(), 0o600).unwrap();
        let public = *key.public();
        (signing::read_signing_key(&self.key_file).unwrap(), public)
    }

    fn settings(&self, records: u64, epoch: Option<Duration>) -> AuditWriter {
        AuditWriter {
            target: AuditTarget::File(self.path.clone()),
            fsync: Fsync::Never,
            signing_key_file: Some(self.key_file.clone()),
            checkpoint_interval: Duration::from_secs(60),
            checkpoint_records: records,
            key_epoch: epoch,
            ..AuditWriter::default()
        }
    }

    fn lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }

    /// Each checkpoint with its index, checked against the line before it.
    fn checkpoints(&self) -> Vec<(usize, Checkpoint)> {
        let lines = self.lines();
        let found: Vec<(usize, Checkpoint)> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Checkpoint::from_line(l.as_bytes()).map(|c| (i, c)))
            .collect();
        for (i, cp) in &found {
            assert_eq!(cp.seq, *i as u64);
            assert_eq!(cp.head, digest(lines[i - 1].as_bytes()), "line {i}");
        }
        found
    }
}

/// `n` finished requests handed to the writer.
fn requests(audit: &Audit, n: usize) {
    let conn = Arc::new(ConnInfo::new(
        "10.0.0.1:1000".parse().unwrap(),
        None,
        Arc::new(ConnClock::default()),
    ));
    let target = PathAndQuery::from_static("/ledgers");
    let id = HeaderValue::from_static("req");
    for _ in 0..n {
        let head = RequestHead {
            method: &Method::GET,
            version: Version::HTTP_11,
            target: &target,
            request_id: &id,
        };
        let mut e = audit.begin(&conn, Mode::Verify, false, head);
        e.answered(Decision::Forwarded { status: 200 });
    }
}

#[tokio::test]
async fn a_checkpoint_follows_every_n_lines_and_one_seals_the_log_at_close() {
    let log = Log::new();
    let (key, public) = log.key();
    let audit = Audit::start_signed(&log.settings(5, None), Some(key));
    requests(&audit, 12);
    audit.flush().await.unwrap();
    // genesis + r0..r3 | checkpoint | r4..r8 | checkpoint | r9..r11 (unsealed)
    let cps = log.checkpoints();
    let at: Vec<usize> = cps.iter().map(|(i, _)| *i).collect();
    assert_eq!(at, [5, 11]);
    assert_eq!(log.lines().len(), 15);
    assert!(cps.iter().all(|(_, c)| c.verify(&public)));
    assert!(cps.iter().all(|(_, c)| c.next_key.is_none()));
    audit.close().await.unwrap();
    let at: Vec<usize> = log.checkpoints().iter().map(|(i, _)| *i).collect();
    assert_eq!(at, [5, 11, 15], "close seals the last three records");
}

#[tokio::test(start_paused = true)]
async fn an_unsealed_line_is_sealed_after_the_interval_and_nothing_sealed_twice() {
    let log = Log::new();
    let (key, public) = log.key();
    let audit = Audit::start_signed(&log.settings(10_000, None), Some(key));
    audit.flush().await.unwrap();
    requests(&audit, 1);
    audit.flush().await.unwrap();
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
    assert_eq!(log.lines().len(), 2, "sealed before the interval");
    tokio::time::advance(Duration::from_secs(60)).await;
    let mut yields = 0;
    while log.lines().len() < 3 {
        assert!(yields < MAX_YIELDS, "not sealed after the interval");
        yields += 1;
        tokio::task::yield_now().await;
    }
    let cps = log.checkpoints();
    assert_eq!(cps.len(), 1);
    assert!(cps[0].1.verify(&public));
    // Nothing new: no checkpoint however long the gateway idles, nor at close.
    tokio::time::advance(Duration::from_secs(600)).await;
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
    audit.close().await.unwrap();
    assert_eq!(log.lines().len(), 3);
}

#[tokio::test]
async fn a_key_from_a_reload_signs_the_next_checkpoint_and_a_retired_one_is_refused() {
    let log = Log::new();
    let (first, first_public) = log.key();
    let first_again = signing::read_signing_key(&log.key_file).unwrap();
    let audit = Audit::start_signed(&log.settings(3, None), Some(first));
    requests(&audit, 2);
    audit.flush().await.unwrap();
    let (second, second_public) = log.key();
    audit.offer_signing_key(second);
    requests(&audit, 3);
    audit.flush().await.unwrap();
    // The first key again (a stale read of its file): not taken back.
    audit.offer_signing_key(first_again);
    requests(&audit, 3);
    audit.flush().await.unwrap();
    let signers: Vec<_> = log.checkpoints().into_iter().map(|(_, c)| c.key).collect();
    let (a, b) = (first_public.id(), second_public.id());
    // genesis + 2 | cp (first) | 3 | cp (second) | 3 | cp (second)
    assert_eq!(signers, [a, b, b]);
    audit.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_epoch_certifies_a_fresh_key_which_replaces_the_key_file() {
    let log = Log::new();
    let (key, public) = log.key();
    let old_file = std::fs::read(&log.key_file).unwrap();
    let audit = Audit::start_signed(&log.settings(2, Some(Duration::from_secs(1))), Some(key));
    requests(&audit, 1);
    audit.flush().await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    requests(&audit, 2);
    audit.flush().await.unwrap();
    let cps = log.checkpoints();
    assert_eq!(cps.len(), 2);
    assert_eq!(cps[0].1.next_key, None);
    let next = cps[1]
        .1
        .next_key
        .expect("the epoch's checkpoint certifies a key");
    assert!(cps[1].1.verify(&public), "certified by the old key");
    let in_file = signing::read_signing_key(&log.key_file).unwrap();
    assert_eq!(in_file.public(), &next);
    assert_ne!(std::fs::read(&log.key_file).unwrap(), old_file);
    requests(&audit, 2);
    audit.flush().await.unwrap();
    let cps = log.checkpoints();
    assert_eq!(cps.len(), 3);
    assert!(cps[2].1.verify(&next), "signed by the certified key");
    assert!(!cps[2].1.verify(&public));
    audit.close().await.unwrap();
}
