//! Signed checkpoints in a gateway's real log, checked by the real `audit verify`: across a
//! signing key rotated by a reload and a file rotated by a reopen; then a rewrite with a
//! recomputed chain and a checkpoint forged with another key, each caught where it is.

use std::path::{Path, PathBuf};
use std::process::Command;

use blnk_gateway::audit::chain;
use blnk_gateway::audit::checkpoint::Checkpoint;
use blnk_gateway::reload::Outcome;
use blnk_gateway::signing::SigningKey;
use serde_json::json;

use super::verify_cli::settle;
use super::{h1_send, with_id};
use crate::support::client::empty;
use crate::support::gateway::{Setup, TestGateway};

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");

/// Runs `audit verify --public-key ... files`: exit code and output.
fn verify(keys: &[&Path], files: &[&Path]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["audit", "verify"]);
    for k in keys {
        cmd.arg("--public-key").arg(k);
    }
    let out = cmd.args(files).output().unwrap();
    crate::support::exit_and_output(&out)
}

async fn requests(gw: &TestGateway, tag: &str, n: usize) {
    for i in 0..n {
        let r = with_id("GET", "/ledgers", &format!("{tag}{i}")).header("x-blnk-key", &gw.key);
        assert_eq!(h1_send(gw, r.body(empty()).unwrap()).await.status, 200);
    }
}

/// Writes a public key file for `key` into `dir`.
fn public(dir: &Path, name: &str, key: &SigningKey) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, key.public().to_pem()).unwrap();
    p
}

fn lines(p: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p).unwrap();
    text.lines().map(str::to_string).collect()
}

fn write(p: &Path, lines: &[String]) {
    std::fs::write(p, lines.join("\n") + "\n").unwrap();
}

/// Recomputes every `prev` from line `from` on, as someone rewriting the log would.
fn rechain(lines: &mut [String], from: usize) {
    for i in from.max(1)..lines.len() {
        let prev = chain::hex(&chain::digest(lines[i - 1].as_bytes()));
        let at = lines[i].find("\"prev\":\"").unwrap() + 8;
        lines[i].replace_range(at..at + 64, &prev);
    }
}

#[tokio::test]
async fn checkpoints_verify_across_key_and_file_rotation_and_catch_rewrites_and_forgeries() {
    let (first, first_pem) = SigningKey::generate().unwrap();
    let setup = Setup {
        gateway: json!({"audit": {"signing_key_file": "audit.key", "checkpoint_records": 3, "checkpoint_interval": "1h"}}),
        files: vec![("audit.key".into(), first_pem.to_string())],
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    requests(&gw, "a", 4).await;
    settle(&gw, 4).await;
    // The operator rotates the signing key: a new file, then a reload.
    let (second, second_pem) = SigningKey::generate().unwrap();
    let tmp = gw.dir.path().join("audit.key.tmp");
    std::fs::write(&tmp, second_pem.as_bytes()).unwrap();
    std::fs::rename(&tmp, gw.dir.path().join("audit.key")).unwrap();
    let outcome = gw.reloader.reload("test").await;
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    requests(&gw, "b", 4).await;
    settle(&gw, 8).await;
    // logrotate: rename, then reopen; the file left behind ends with a checkpoint.
    let rotated = gw.audit_path().with_extension("log.1");
    std::fs::rename(gw.audit_path(), &rotated).unwrap();
    gw.state.audit.reopen().await.unwrap();
    requests(&gw, "c", 4).await;
    let log = gw.stop_and_read_audit().await;

    let keys = tempfile::tempdir().unwrap();
    let (a, b) = (
        public(keys.path(), "a.pub", &first),
        public(keys.path(), "b.pub", &second),
    );
    let old = lines(&rotated);
    assert!(
        old.last().unwrap().contains(r#""kind":"checkpoint""#),
        "{old:#?}"
    );
    let (code, text) = verify(&[&a, &b], &[&rotated, &log.path]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("unsealed: none"), "{text}");
    for key in [&first, &second] {
        assert!(text.contains(key.id().as_str()), "{text}");
    }
    // Without the rotated key's public key, its first checkpoint cannot be trusted.
    let (code, text) = verify(&[&a], &[&rotated, &log.path]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(": forged: "), "{text}");

    // Every record after line 2 rewritten, the chain recomputed: the chain alone passes, the
    // first checkpoint after the edit does not.
    let work = tempfile::tempdir().unwrap();
    let mut rewritten = old.clone();
    for l in rewritten.iter_mut().skip(2) {
        *l = l.replace("\"/ledgers\"", "\"/balances\"");
    }
    rechain(&mut rewritten, 2);
    let file = work.path().join("audit.log.1");
    write(&file, &rewritten);
    let first_cp = old
        .iter()
        .position(|l| l.contains(r#""kind":"checkpoint""#))
        .unwrap();
    assert!(first_cp >= 2);
    let (code, text) = verify(&[], &[&file]);
    assert_eq!(code, 0, "the chain alone cannot see it: {text}");
    let (code, text) = verify(&[&a, &b], &[&file]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("audit.log.1:{}: rewritten", first_cp + 1)),
        "{text}"
    );

    // A checkpoint appended with another key, the chain intact.
    let (intruder, _) = SigningKey::generate().unwrap();
    let mut forged = lines(&log.path);
    let head = chain::digest(forged.last().unwrap().as_bytes());
    let seq = forged.len() as u64 + old.len() as u64;
    let mut buf = Vec::new();
    let mut c = chain::Chain::after(chain::Head {
        seq: seq - 1,
        hash: head,
    });
    Checkpoint::seal(
        &mut c,
        &mut buf,
        &intruder,
        std::time::SystemTime::now(),
        None,
    )
    .unwrap();
    forged.push(String::from_utf8(buf).unwrap().trim_end().to_string());
    let file = work.path().join("audit.log");
    write(&file, &forged);
    let (code, text) = verify(&[], &[&rotated, &file]);
    assert_eq!(code, 0, "the chain alone cannot see it: {text}");
    let (code, text) = verify(&[&a, &b], &[&rotated, &file]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("audit.log:{}: forged", forged.len())),
        "{text}"
    );
    assert!(text.contains(intruder.id().as_str()), "{text}");
}
