//! The Debian package's sources agree with what they package: its version is the crate's, it
//! installs the unit in systemd/ as it is, and the example configuration it installs as
//! /etc/blnk-gateway/blnk.json names the directories the package creates and the unit keeps.
//! Building, installing and purging the package is .ci/package.sh's (it needs root and apt).

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_packages_version_is_the_crates() {
    let changelog = read("debian/changelog");
    let first = changelog.lines().next().unwrap();
    let version = first
        .split(['(', ')'])
        .nth(1)
        .unwrap_or_else(|| panic!("no version in {first:?}"));
    // A Debian revision or a +suffix may follow; the upstream part is the crate's version.
    let upstream = version.split(['-', '+', '~']).next().unwrap();
    assert_eq!(
        upstream,
        env!("CARGO_PKG_VERSION"),
        "debian/changelog's newest entry ({version}) is not Cargo.toml's version: add an entry (dch -v)"
    );
}

#[test]
fn the_package_installs_the_units_in_systemd_as_they_are() {
    for unit in ["blnk-gateway.service", "blnk-gateway.socket"] {
        let link = std::fs::read_link(format!("{ROOT}/debian/{unit}"))
            .unwrap_or_else(|e| panic!("debian/{unit} is not a link to systemd/{unit}: {e}"));
        assert_eq!(link.to_str(), Some(format!("../systemd/{unit}").as_str()));
    }
    let unit = read("systemd/blnk-gateway.service");
    for line in [
        "ExecStartPre=/usr/bin/blnk-gateway check --config /etc/blnk-gateway/blnk.json",
        "ExecStart=/usr/bin/blnk-gateway serve --config /etc/blnk-gateway/blnk.json",
        "StateDirectory=blnk-gateway",
        "StateDirectoryMode=0750",
        "LogsDirectory=blnk-gateway",
        "LogsDirectoryMode=0750",
        "User=blnk-gateway",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line:?}");
    }
}

#[test]
fn the_example_configuration_uses_the_packages_directories() {
    let config: Value = serde_json::from_str(&read("config/production.json")).unwrap();
    let g = &config["gateway"];
    assert_eq!(g["secret_key_file"], "/etc/blnk-gateway/secret_key");
    assert_eq!(g["tls"]["cert"], "/etc/blnk-gateway/tls/fullchain.pem");
    assert_eq!(g["tls"]["key"], "/etc/blnk-gateway/tls/privkey.pem");
    assert_eq!(g["audit"]["path"], "/var/log/blnk-gateway/audit.log");
    assert_eq!(
        g["idempotency"]["path"],
        "/var/lib/blnk-gateway/idempotency.redb"
    );
    let tmpfiles = read("debian/blnk-gateway.tmpfiles");
    for dir in ["/var/lib/blnk-gateway", "/var/log/blnk-gateway"] {
        assert!(
            tmpfiles
                .lines()
                .any(|l| l == format!("d {dir} 0750 blnk-gateway blnk-gateway -")),
            "debian/blnk-gateway.tmpfiles does not create {dir}"
        );
    }
    let rules = read("debian/rules");
    assert!(rules.contains("config/production.json debian/blnk-gateway/etc/blnk-gateway/blnk.json"));
}
