//! The alerting rules that ship in deploy/prometheus: `promtool check rules` accepts them, their
//! unit tests (`promtool test rules`) pass, and every metric they use is one a real gateway
//! exposes on `/metrics` (cluster mode's from a gateway in cluster mode) and docs/metrics.md
//! documents. promtool is required: .ci/test.sh installs it (Debian package `prometheus`).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::json;

use crate::support::client::{empty, h1, req, send1};
use crate::support::gateway::{Setup, TestGateway};
use crate::support::redis::Redis;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const RULES: &str = "deploy/prometheus/blnk-gateway-rules.yml";
const RULE_TESTS: &str = "blnk-gateway-rules.test.yml";

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(format!("{ROOT}/deploy/prometheus"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is needed to check the alerting rules ({e}): install the Debian package \
                 `prometheus` (sudo apt-get install prometheus), or run .ci/test.sh, which installs it"
            )
        });
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn the_rules_are_valid_and_their_unit_tests_pass() {
    let checked = promtool(&["check", "rules", "blnk-gateway-rules.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", RULE_TESTS]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has at least one unit test that expects it to fire.
    let rules = std::fs::read_to_string(format!("{ROOT}/{RULES}")).unwrap();
    let tests = std::fs::read_to_string(format!("{ROOT}/deploy/prometheus/{RULE_TESTS}")).unwrap();
    for line in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!(
                "alertname: {line}\n    exp_alerts:\n    - exp_labels"
            )),
            "no unit test fires {line}"
        );
    }
}

/// Every `blnk_gateway_*` name the rules use.
fn names_in_rules() -> BTreeSet<String> {
    let text = std::fs::read_to_string(format!("{ROOT}/{RULES}")).unwrap();
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("blnk_gateway_") {
        let name: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[i + name.len()..];
        out.insert(name);
    }
    out
}

/// The sample names a gateway's `/metrics` renders.
async fn exposed(gw: &TestGateway) -> BTreeSet<String> {
    let tcp = tokio::net::TcpStream::connect(gw.admin_addr.unwrap())
        .await
        .unwrap();
    let mut c = h1(tcp).await;
    let a = send1(&mut c, req("GET", "/metrics").body(empty()).unwrap()).await;
    String::from_utf8_lossy(&a.body)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_metric_the_rules_use_is_exposed_and_documented() {
    let admin = |gateway| Setup {
        admin: true,
        gateway,
        ..Setup::default()
    };
    let gw = TestGateway::start(admin(json!({}))).await;
    // Requests counted by label appear once one has been.
    let mut c = gw.h1().await;
    let keyed = req("GET", "/ledgers").header("x-blnk-key", &gw.key);
    assert_eq!(
        send1(&mut c, keyed.body(empty()).unwrap()).await.status,
        200
    );
    let mut names = exposed(&gw).await;
    let redis = Redis::start();
    let cluster = json!({"cluster": {"enabled": true, "redis": redis.url()}});
    let clustered = TestGateway::start(admin(cluster)).await;
    names.extend(exposed(&clustered).await);
    let docs = std::fs::read_to_string(format!("{ROOT}/docs/metrics.md")).unwrap();
    let used = names_in_rules();
    assert!(used.len() >= 12, "{used:?}");
    for name in &used {
        assert!(
            names.contains(name),
            "{name} is not exposed; exposed: {names:?}"
        );
        // docs/metrics.md names counters and histograms by their family.
        let family = ["_bucket", "_total"]
            .iter()
            .fold(name.as_str(), |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(docs.contains(family), "{name} is not in docs/metrics.md");
    }
}
