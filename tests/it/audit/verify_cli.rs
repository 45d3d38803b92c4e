//! `blnk-gateway audit verify` on a real log rotated by `Audit::reopen`: intact, then each kind
//! of tampering reported at the right file and line.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::h1_send;
use crate::support::client::{keyed_with_id, CLIENT_DEADLINE};
use crate::support::gateway::{Setup, TestGateway};

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");

/// Flushes until `n` records are written: the last response may reach the client a moment
/// before its record reaches the writer.
pub(super) async fn settle(gw: &TestGateway, n: u64) {
    let settled = async {
        loop {
            gw.state.audit.flush().await.unwrap();
            if gw.state.audit.stats().written >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(CLIENT_DEADLINE, settled)
        .await
        .unwrap();
}

fn verify(files: &[&Path]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .args(files)
        .output()
        .unwrap();
    crate::support::exit_and_output(&out)
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Writes tampered copies of (old, new) into `dir` and returns their paths.
fn tampered(dir: &Path, old: &[String], new: &[String]) -> (PathBuf, PathBuf) {
    let (o, n) = (dir.join("audit.log.1"), dir.join("audit.log"));
    std::fs::write(&o, old.join("\n") + "\n").unwrap();
    std::fs::write(&n, new.join("\n") + "\n").unwrap();
    (o, n)
}

#[tokio::test]
async fn verify_passes_a_rotated_log_and_names_each_tampering_at_its_line() {
    let gw = TestGateway::start(Setup::default()).await;
    let key = gw.key.clone();
    for i in 0..5 {
        let r = keyed_with_id("GET", "/ledgers", &key, &format!("a{i}"));
        assert_eq!(h1_send(&gw, r).await.status, 200);
    }
    settle(&gw, 5).await;
    // logrotate renames the file, then the gateway is told to reopen.
    let rotated = gw.audit_path().with_extension("log.1");
    std::fs::rename(gw.audit_path(), &rotated).unwrap();
    gw.state.audit.reopen().await.unwrap();
    for i in 0..3 {
        let r = keyed_with_id("GET", "/ledgers", &key, &format!("b{i}"));
        assert_eq!(h1_send(&gw, r).await.status, 200);
    }
    let log = gw.stop_and_read_audit().await;
    let (code, text) = verify(&[&rotated, &log.path]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("intact: 10 records in 2 file(s)"), "{text}");

    let old = lines(&rotated);
    let new = lines(&log.path);
    assert_eq!((old.len(), new.len()), (6, 4));
    let work = tempfile::tempdir().unwrap();
    let check = |old: Vec<String>, new: Vec<String>, expect: &str| {
        let (o, n) = tampered(work.path(), &old, &new);
        let (code, text) = verify(&[&o, &n]);
        assert_eq!(code, 1, "{expect}: {text}");
        assert!(text.contains(expect), "{expect}: {text}");
    };

    let mut edited = old.clone();
    edited[2] = edited[2].replace("/ledgers", "/balances");
    check(edited, new.clone(), "audit.log.1:3: edited");

    let mut deleted = old.clone();
    deleted.remove(2);
    check(deleted, new.clone(), "audit.log.1:3: deleted");

    let mut inserted = old.clone();
    inserted.insert(4, old[1].clone());
    check(inserted, new.clone(), "audit.log.1:5: inserted");

    let mut reordered = old.clone();
    reordered.swap(2, 3);
    check(reordered, new.clone(), "audit.log.1:3: reordered");

    // The end of the rotated file cut off: seen from the first record of the next file.
    let mut cut = old.clone();
    cut.truncate(4);
    check(cut, new.clone(), "audit.log.1:5: truncated");

    // The newest file's last line cut in the middle.
    let (o, n) = tampered(work.path(), &old, &new);
    let bytes = std::fs::read(&n).unwrap();
    std::fs::write(&n, &bytes[..bytes.len() - 30]).unwrap();
    let (code, text) = verify(&[&o, &n]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("audit.log:4: truncated"), "{text}");

    // A file that cannot be read is neither intact nor broken.
    let (code, text) = verify(&[Path::new("/nonexistent/audit.log")]);
    assert_eq!(code, 2, "{text}");
}
