//! Checkpoints and anchors against synthetic logs: what each tampering is reported as.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::audit::chain::{self, Chain};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::verify::{verify_sealed, BreakKind, Sealed};
use crate::signing::{PublicKey, SigningKey};

struct Log {
    chain: Chain,
    lines: Vec<String>,
    anchors: Vec<Checkpoint>,
    clock: SystemTime,
}

impl Log {
    fn new() -> Log {
        let mut log = Log {
            chain: Chain::genesis(),
            lines: Vec::new(),
            anchors: Vec::new(),
            clock: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        };
        log.push(json!({"kind": "genesis", "time": log.time()}));
        log
    }

    fn time(&self) -> String {
        humantime::format_rfc3339_micros(self.clock).to_string()
    }

    fn push(&mut self, body: serde_json::Value) {
        let mut buf = Vec::new();
        self.chain.append(&mut buf, &body).unwrap();
        self.lines
            .push(String::from_utf8(buf).unwrap().trim_end().into());
        self.clock += Duration::from_secs(1);
    }

    fn records(&mut self, n: usize) -> &mut Self {
        for i in 0..n {
            let t = self.time();
            self.push(json!({"kind": "request", "time": t, "path": format!("/r/{i}")}));
        }
        self
    }

    fn seal(&mut self, key: &SigningKey, next: Option<PublicKey>) -> &mut Self {
        let mut buf = Vec::new();
        let cp = Checkpoint::seal(&mut self.chain, &mut buf, key, self.clock, next).unwrap();
        self.lines
            .push(String::from_utf8(buf).unwrap().trim_end().into());
        self.anchors.push(cp);
        self.clock += Duration::from_secs(1);
        self
    }
}

/// Recomputes every `prev` from line `from` on: a rewrite that keeps the chain intact.
fn rechain(lines: &mut [String], from: usize) {
    for i in from.max(1)..lines.len() {
        let prev = chain::hex(&chain::digest(lines[i - 1].as_bytes()));
        let at = lines[i].find("\"prev\":\"").unwrap() + 8;
        lines[i].replace_range(at..at + 64, &prev);
    }
}

fn check(
    dir: &Path,
    lines: &[String],
    keys: &[PublicKey],
    anchors: Option<&[Checkpoint]>,
) -> Sealed {
    let path: PathBuf = dir.join("audit.log");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    verify_sealed(&[path], keys, anchors.map(<[Checkpoint]>::to_vec)).unwrap()
}

fn broken(s: Sealed) -> (u64, BreakKind, String) {
    match s {
        Sealed::Broken(b) => (b.line, b.kind, b.detail),
        Sealed::Intact(i, r) => panic!("not detected: {i}\n{r}"),
    }
}

#[test]
fn an_intact_log_reports_its_last_checkpoint_and_its_unsealed_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = SigningKey::generate().unwrap();
    let mut log = Log::new();
    log.records(3)
        .seal(&key, None)
        .records(4)
        .seal(&key, None)
        .records(2);
    let Sealed::Intact(intact, report) =
        check(dir.path(), &log.lines, &[*key.public()], Some(&log.anchors))
    else {
        panic!("broken")
    };
    assert_eq!(intact.records, 12);
    assert_eq!((report.checkpoints, report.unsealed), (2, 2));
    assert_eq!(report.last.as_ref().unwrap().line, 10);
    assert_eq!(report.signers, [key.id()]);
    let anchors = report.anchors.unwrap();
    assert_eq!((anchors.read, anchors.matched, anchors.older), (2, 2, 0));
    let text = report.to_string();
    assert!(text.contains("sealed: up to checkpoint seq 9 at"), "{text}");
    assert!(text.contains("unsealed: 2 record(s)"), "{text}");
}

#[test]
fn a_rewrite_with_a_recomputed_chain_is_caught_by_the_next_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = SigningKey::generate().unwrap();
    let keys = [*key.public()];
    let mut log = Log::new();
    log.records(3)
        .seal(&key, None)
        .records(4)
        .seal(&key, None)
        .records(2);
    let mut lines = log.lines.clone();
    lines[6] = lines[6].replace("/r/", "/x/");
    rechain(&mut lines, 6);
    let (line, kind, detail) = broken(check(dir.path(), &lines, &keys, None));
    assert_eq!((line, kind), (10, BreakKind::Rewritten), "{detail}");
    assert!(detail.contains("after checkpoint seq 4"), "{detail}");

    // The same rewrite with every checkpoint after it removed: the file alone cannot tell it
    // from a crash (an unsealed tail), the operational log's checkpoints can.
    let mut cut = log.lines.clone();
    cut.remove(9);
    cut[6] = cut[6].replace("/r/", "/x/");
    let fix_seq = |l: &mut String, seq: usize| {
        let end = l.find(",\"prev\"").unwrap();
        l.replace_range(..end, &format!("{{\"v\":1,\"seq\":{seq}"));
    };
    for (i, l) in cut.iter_mut().enumerate().skip(9) {
        fix_seq(l, i);
    }
    rechain(&mut cut, 6);
    let Sealed::Intact(_, report) = check(dir.path(), &cut, &keys, None) else {
        panic!("a tail without checkpoints is not an error by itself")
    };
    assert_eq!((report.checkpoints, report.unsealed), (1, 6));
    let (line, kind, detail) = broken(check(dir.path(), &cut, &keys, Some(&log.anchors)));
    assert_eq!((line, kind), (10, BreakKind::Rewritten), "{detail}");
}

#[test]
fn a_cut_tail_is_proven_by_the_newest_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = SigningKey::generate().unwrap();
    let keys = [*key.public()];
    let mut log = Log::new();
    log.records(3).seal(&key, None).records(4).seal(&key, None);
    // A whole checkpoint interval cut: the file ends on a valid checkpoint.
    let lines = &log.lines[..5];
    assert!(matches!(
        check(dir.path(), lines, &keys, None),
        Sealed::Intact(..)
    ));
    let (line, kind, detail) = broken(check(dir.path(), lines, &keys, Some(&log.anchors)));
    assert_eq!((line, kind), (6, BreakKind::Truncated), "{detail}");
    assert!(
        detail.contains("checkpoint seq 9") && detail.contains("at least 5"),
        "{detail}"
    );
    // Anchors that do not verify (another key) prove nothing and are counted as such.
    let (other, _) = SigningKey::generate().unwrap();
    let Sealed::Intact(_, report) = check(
        dir.path(),
        lines,
        &[*key.public(), *other.public()],
        Some(&[forged(&log.anchors[1], &other)]),
    ) else {
        panic!("an anchor signed by another key proved something")
    };
    assert_eq!(report.anchors.unwrap().unverified, 1);
}

/// `cp` re-signed by `key` under `cp`'s key id: what an intruder without the key can make.
fn forged(cp: &Checkpoint, key: &SigningKey) -> Checkpoint {
    let mut f = cp.clone();
    f.sig = key.sign(&f.message());
    f
}

#[test]
fn checkpoints_signed_by_other_keys_are_forged_and_certified_keys_are_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = SigningKey::generate().unwrap();
    let (intruder, _) = SigningKey::generate().unwrap();
    let (next, _) = SigningKey::generate().unwrap();
    let keys = [*key.public()];
    let mut log = Log::new();
    log.records(2).seal(&intruder, None);
    let (line, kind, detail) = broken(check(dir.path(), &log.lines, &keys, None));
    assert_eq!((line, kind), (4, BreakKind::Forged), "{detail}");
    assert!(detail.contains(intruder.id().as_str()), "{detail}");

    // A checkpoint that claims the trusted key but is signed by another.
    let mut log = Log::new();
    log.records(2).seal(&key, None);
    let fake = forged(&log.anchors[0], &intruder);
    let at = log.lines[3].find("\"sig\":\"").unwrap() + 7;
    log.lines[3].replace_range(at..at + 128, &hex::encode(fake.sig));
    let (line, kind, _) = broken(check(dir.path(), &log.lines, &keys, None));
    assert_eq!((line, kind), (4, BreakKind::Rewritten));

    // An epoch: the old key certifies the next, which is trusted from there on only.
    let mut log = Log::new();
    log.records(1).seal(&next, None);
    assert_eq!(
        broken(check(dir.path(), &log.lines, &keys, None)).1,
        BreakKind::Forged
    );
    let mut log = Log::new();
    log.records(1)
        .seal(&key, Some(*next.public()))
        .records(2)
        .seal(&next, None);
    let Sealed::Intact(_, report) = check(dir.path(), &log.lines, &keys, Some(&log.anchors)) else {
        panic!("a certified key was not trusted")
    };
    assert_eq!(report.signers.len(), 2);
    assert_eq!(report.anchors.unwrap().matched, 2);
}
