//! Tampering with synthetic chains, one kind at a time, and where each is reported.

use serde_json::json;

use super::*;
use crate::audit::chain::{self, Chain};

/// A chain of `n` records (a genesis then requests) split into files at `splits`, where each
/// later file starts with a continue record, as the writer does on reopen.
fn chain_files(n: u64, splits: &[u64]) -> Vec<Vec<String>> {
    let mut chain = Chain::genesis();
    let mut files = vec![Vec::new()];
    let mut push = |files: &mut Vec<Vec<String>>, body: serde_json::Value| {
        let mut buf = Vec::new();
        chain.append(&mut buf, &body).unwrap();
        let line = String::from_utf8(buf).unwrap();
        files.last_mut().unwrap().push(line.trim_end().to_string());
    };
    push(&mut files, json!({"kind": "genesis"}));
    for i in 1..n {
        if splits.contains(&i) {
            files.push(Vec::new());
            push(&mut files, json!({"kind": "continue", "reason": "reopen"}));
        } else {
            push(
                &mut files,
                json!({"kind": "request", "path": format!("/r/{i}")}),
            );
        }
    }
    files
}

fn write(dir: &Path, files: &[Vec<String>]) -> Vec<PathBuf> {
    files
        .iter()
        .enumerate()
        .map(|(i, lines)| {
            let p = dir.join(format!("audit.{i}"));
            let mut text = lines.join("\n");
            text.push('\n');
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect()
}

fn broken(files: &[Vec<String>]) -> (usize, u64, BreakKind) {
    let dir = tempfile::tempdir().unwrap();
    let paths = write(dir.path(), files);
    match verify(&paths).unwrap() {
        Outcome::Broken(b) => {
            let file = paths.iter().position(|p| *p == b.file).unwrap();
            (file, b.line, b.kind)
        }
        Outcome::Intact(i) => panic!("not detected: {i}"),
    }
}

#[test]
fn an_intact_chain_passes_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write(dir.path(), &chain_files(12, &[5, 9]));
    let Outcome::Intact(i) = verify(&paths).unwrap() else {
        panic!("broken")
    };
    assert_eq!(
        (i.files, i.records, i.first_seq, i.head_seq),
        (3, 12, 0, 11)
    );
    assert!(!i.starts_mid_chain);
    // Starting from a rotated file alone is intact too, and says so.
    let Outcome::Intact(i) = verify(&paths[1..]).unwrap() else {
        panic!("broken")
    };
    assert!(i.starts_mid_chain);
    assert_eq!(i.first_seq, 5);
}

#[test]
fn an_edited_line_is_reported_at_that_line() {
    let mut files = chain_files(8, &[]);
    files[0][3] = files[0][3].replace("/r/3", "/r/X");
    assert_eq!(broken(&files), (0, 4, BreakKind::Edited));
    // An edit of the chain fields themselves.
    let mut files = chain_files(8, &[]);
    files[0][3] = files[0][3].replace("\"seq\":3,", "\"seq\":33,");
    assert_eq!(broken(&files), (0, 4, BreakKind::Edited));
}

#[test]
fn a_deleted_line_is_reported_where_it_is_missing() {
    let mut files = chain_files(8, &[]);
    files[0].remove(3);
    assert_eq!(broken(&files), (0, 4, BreakKind::Deleted));
    // The genesis record itself.
    let mut files = chain_files(8, &[]);
    files[0].remove(0);
    assert_eq!(broken(&files), (0, 1, BreakKind::Deleted));
}

#[test]
fn an_inserted_line_is_reported_at_that_line() {
    // A copy of an earlier record.
    let mut files = chain_files(8, &[]);
    let copy = files[0][2].clone();
    files[0].insert(5, copy);
    assert_eq!(broken(&files), (0, 6, BreakKind::Inserted));
    // A forged record that links to the one before it.
    let mut files = chain_files(8, &[]);
    let prev = chain::hex(&chain::digest(files[0][4].as_bytes()));
    let forged = format!(r#"{{"v":1,"seq":5,"prev":"{prev}","kind":"request","path":"/forged"}}"#);
    files[0].insert(5, forged);
    assert_eq!(broken(&files), (0, 6, BreakKind::Inserted));
    // Garbage.
    let mut files = chain_files(8, &[]);
    files[0].insert(2, "hello".into());
    assert_eq!(broken(&files), (0, 3, BreakKind::Edited));
}

#[test]
fn reordered_lines_are_reported_where_the_order_breaks() {
    let mut files = chain_files(8, &[]);
    files[0].swap(3, 4);
    assert_eq!(broken(&files), (0, 4, BreakKind::Reordered));
    // A record moved to the end.
    let mut files = chain_files(8, &[]);
    let moved = files[0].remove(2);
    files[0].push(moved);
    assert_eq!(broken(&files), (0, 3, BreakKind::Reordered));
    // A record moved earlier.
    let mut files = chain_files(8, &[]);
    let moved = files[0].remove(6);
    files[0].insert(2, moved);
    assert_eq!(broken(&files), (0, 3, BreakKind::Reordered));
}

#[test]
fn truncation_is_reported_within_and_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = chain_files(8, &[]);
    let paths = write(dir.path(), &files);
    let text = std::fs::read(&paths[0]).unwrap();
    std::fs::write(&paths[0], &text[..text.len() - 20]).unwrap();
    let Outcome::Broken(b) = verify(&paths).unwrap() else {
        panic!("not detected")
    };
    assert_eq!((b.line, b.kind), (8, BreakKind::Truncated), "{b}");

    // Whole records cut from the end of a rotated file: seen from the file after it.
    let mut files = chain_files(12, &[6]);
    files[0].truncate(4);
    assert_eq!(broken(&files), (0, 5, BreakKind::Truncated));
    // An emptied file.
    let mut files = chain_files(12, &[6]);
    files[1].clear();
    let dir = tempfile::tempdir().unwrap();
    let paths = write(dir.path(), &files);
    std::fs::write(&paths[1], "").unwrap();
    let Outcome::Broken(b) = verify(&paths).unwrap() else {
        panic!("not detected")
    };
    assert_eq!(
        (b.file.clone(), b.kind),
        (paths[1].clone(), BreakKind::Truncated)
    );
}

#[test]
fn a_new_genesis_mid_chain_is_a_restart() {
    let mut files = chain_files(12, &[6]);
    files[1] = chain_files(3, &[]).remove(0);
    assert_eq!(broken(&files), (1, 1, BreakKind::Restarted));
}

#[test]
fn an_unreadable_file_is_an_error_not_a_verdict() {
    let err = verify(&[PathBuf::from("/nonexistent/audit.log")]).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/audit.log"));
}
