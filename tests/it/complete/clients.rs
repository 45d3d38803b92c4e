//! Early answers as real clients see them: curl over HTTP/1.1 and HTTP/2, and Python's
//! `requests` (what the Python SDK uses), each uploading a body the gateway answers before
//! reading. They need `curl` and `python3` with `requests` on the path (.ci/test.sh installs them).

use std::path::Path;
use std::process::Command;

use serde_json::json;

use super::tls_gateway;
use crate::hostile::assert_nothing_reached_blnk;
use crate::support::gateway::TestGateway;

/// Runs a program to completion off the runtime; fails the test if it cannot be started.
async fn run(mut cmd: Command) -> (String, String) {
    let what = format!("{cmd:?}");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e} (.ci/test.sh installs it)"));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// curl uploading `file` to `path` with `key`; prints the status and curl's error, if any.
async fn curl(gw: &TestGateway, http: &str, key: &str, file: &Path) -> String {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        http,
        "--cacert",
    ])
    .arg(gw.certs.path("ca.pem"))
    .args(["-H", &format!("X-Blnk-Key: {key}"), "--data-binary"])
    .arg(format!("@{}", file.display()))
    .arg(format!("https://localhost:{}/transactions", gw.addr.port()));
    let (out, err) = run(cmd).await;
    format!("{out}{}", err.trim())
}

#[tokio::test]
async fn curl_gets_early_413_and_401_over_both_protocols() {
    let gw = tls_gateway(json!({})).await;
    let big = gw.dir.path().join("big.bin");
    std::fs::write(&big, vec![b'a'; 6 * 1024 * 1024]).unwrap();
    let small = gw.dir.path().join("small.bin");
    std::fs::write(&small, vec![b'a'; 200 * 1024]).unwrap();
    let key = gw.key.clone();
    for http in ["--http1.1", "--http2"] {
        // Twice each: eight failed authentications stay under the failed-auth burst (10).
        for _ in 0..2 {
            assert_eq!(curl(&gw, http, &key, &big).await, "413", "{http}");
            assert_eq!(curl(&gw, http, "wrong", &small).await, "401", "{http}");
            assert_eq!(curl(&gw, http, "wrong", &big).await, "401", "{http}");
        }
    }
    assert_nothing_reached_blnk(&gw);
}

/// `curl -I` (a HEAD) the gateway answers itself, without a key: the headers GET would have, no
/// body. Over HTTP/2 a body after a HEAD is a protocol error to curl ("stream 1 was not closed
/// cleanly: PROTOCOL_ERROR", exit 92).
#[tokio::test]
async fn curl_head_without_a_key_gets_a_clean_401_over_both_protocols() {
    let gw = tls_gateway(json!({})).await;
    for http in ["--http1.1", "--http2"] {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-I", http, "--cacert"])
            .arg(gw.certs.path("ca.pem"))
            .arg(format!("https://localhost:{}/ledgers", gw.addr.port()));
        let (out, err) = run(cmd).await;
        let status = out.lines().next().unwrap_or_default();
        assert_eq!(
            status.split_whitespace().nth(1),
            Some("401"),
            "{http}: {out}{err}"
        );
        assert!(err.trim().is_empty(), "{http}: {err}");
        assert!(
            out.to_ascii_lowercase().contains("content-length: "),
            "{http}: {out}"
        );
    }
    assert_nothing_reached_blnk(&gw);
}

const REQUESTS: &str = r#"
import os, sys, requests
url, key = sys.argv[1], sys.argv[2]
r = requests.post(url, data=b"a" * (6 * 1024 * 1024), headers={"X-Blnk-Key": key}, timeout=20)
print(r.status_code, r.json()["error_detail"]["code"])
"#;

#[tokio::test]
async fn python_requests_gets_the_413_for_a_six_mib_post() {
    let gw = tls_gateway(json!({})).await;
    for _ in 0..3 {
        let mut cmd = Command::new("python3");
        cmd.env("REQUESTS_CA_BUNDLE", gw.certs.path("ca.pem"))
            .args(["-c", REQUESTS])
            .arg(format!("https://localhost:{}/transactions", gw.addr.port()))
            .arg(&gw.key);
        let (out, err) = run(cmd).await;
        assert_eq!(out.trim(), "413 GEN_PAYLOAD_TOO_LARGE", "{err}");
    }
    assert_nothing_reached_blnk(&gw);
}
