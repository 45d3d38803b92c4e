//! The shell scripts that ship with the gateway (CI, benchmarks, the development certificate, the
//! Debian package's maintainer scripts) parse: `bash -n` on each (`sh -n` on the maintainer
//! scripts, which dpkg runs with /bin/sh), so a broken edit fails here and not in the middle of a
//! CI run, a benchmark or an installation. What they do is exercised by CI itself (`ci/test.sh`, `ci/testssl.sh`) and by
//! running them; this only keeps them readable by bash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn scripts(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.join(".ci/run")];
    for dir in ["ci", "benches", "certs"] {
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
