//! The shell scripts that ship with the gateway (CI, benchmarks, the development certificate, the
//! Debian package's maintainer scripts) parse: `bash -n` on each (`sh -n` on the maintainer
//! scripts, which dpkg runs with /bin/sh), so a broken edit fails here and not in the middle of a
//! CI run, a benchmark or an installation. What they do is exercised by CI itself (`.ci/run`
//! runs `.ci/test.sh`, `.ci/package.sh` and `.ci/testssl.sh`) and by running them; this only
//! keeps them readable by bash, keeps the README's test command the one CI runs, and keeps every
//! CI script named anywhere in the repository an existing file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn scripts(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.join(".ci/run")];
    for dir in [".ci", "benches", "certs"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sh") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The Debian package's maintainer scripts.
fn maintainer_scripts(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("debian"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| {
                ["preinst", "postinst", "prerm", "postrm"].contains(&e.to_str().unwrap_or(""))
            })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_shipped_shell_script_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scripts = scripts(root);
    assert!(
        scripts.len() >= 6,
        "expected the CI, benchmark and certificate scripts, found {scripts:?}"
    );
    let maintainer = maintainer_scripts(root);
    assert!(
        maintainer.len() >= 2,
        "expected the package's postinst and postrm, found {maintainer:?}"
    );
    let shells = scripts
        .into_iter()
        .map(|s| ("bash", s))
        .chain(maintainer.into_iter().map(|s| ("sh", s)));
    for (shell, script) in shells {
        let out = Command::new(shell).arg("-n").arg(&script).output().unwrap();
        assert!(
            out.status.success(),
            "{} does not parse:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The command in the README's "Run the whole test suite" block: CI runs it unchanged.
#[test]
fn ci_runs_the_readmes_test_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let after = readme
        .split_once("Run the whole test suite")
        .expect("README.md has a \"Run the whole test suite\" paragraph")
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a ```sh block follows it")
        .0;
    let commands: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        commands.len(),
        1,
        "the README's test command is one line: {commands:?}"
    );
    let run = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        run.lines().any(|l| l.trim() == commands[0]),
        ".ci/run does not run the README's test command `{}` as a line of its own",
        commands[0]
    );
}

/// Paths into a CI folder in `text`: a file in `.ci/`, or in a folder called `ci` at the
/// repository's root (not a longer path such as `deploy/ci/x`), or either folder itself.
fn ci_paths(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    // Written in two halves so that this file names no CI folder that does not exist.
    let folder = ["c", "i/"].concat();
    while let Some(i) = text[from..].find(&folder) {
        let at = from + i;
        from = at + 3;
        let start = if at > 0 && bytes[at - 1] == b'.' {
            at - 1
        } else {
            at
        };
        let path_char = |b: u8| b.is_ascii_alphanumeric() || b"_./-".contains(&b);
        if start > 0 && path_char(bytes[start - 1]) {
            continue;
        }
        let end = at
            + 3
            + text[at + 3..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
                .count();
        out.push(text[start..end].trim_end_matches('.').to_string());
    }
    out
}

/// Every file of the repository that is text, outside `target/` and `.git/`.
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == ".git" || name == "target" || name == "Cargo.lock" {
            continue;
        }
        if path.is_dir() {
            text_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// A CI script moved or renamed leaves no reference behind: every path into a CI folder named in
/// the repository (docs, scripts, tests, debian/, the changelog) exists.
#[test]
fn every_ci_path_named_in_the_repository_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    text_files(root, &mut files);
    files.sort();
    let (mut named, mut problems) = (0, Vec::new());
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for path in ci_paths(line) {
                named += 1;
                if !root.join(&path).exists() {
                    let rel = file.strip_prefix(root).unwrap().display();
                    problems.push(format!("{rel}:{}: {path}", n + 1));
                }
            }
        }
    }
    assert!(
        named >= 20,
        "only {named} CI paths found: the scan is broken"
    );
    assert!(
        problems.is_empty(),
        "CI paths named that do not exist:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn ci_paths_are_read_whole_and_only_at_a_path_start() {
    // `CI/` stands for the other folder, so that this file names no CI path that does not exist.
    let other = |s: &str| s.replace("CI/", &["c", "i/"].concat());
    let text = other("run .ci/test.sh, not CI/old.sh. (`CI/`) deploy/ci/x.sh mci/y");
    assert_eq!(
        ci_paths(&text),
        [".ci/test.sh".to_string(), other("CI/old.sh"), other("CI/")]
    );
}
