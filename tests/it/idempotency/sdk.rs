//! Blnk's Python SDK (`blnk-python`, unchanged) creating a transaction through the gateway, and
//! the application retrying it as a careful one would: the same call, the same reference. The SDK
//! never retries a POST itself; the gateway makes the application's retry safe. Needs `python3`
//! with `blnk_sdk` (.ci/test.sh installs it).

use std::process::Command;

use serde_json::{json, Value};

use super::gateway;
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::TestGateway;

/// `transactions.create` once; prints status, error code and data as one JSON line.
const CREATE: &str = r#"
import json, sys
from blnk_sdk import blnk_init, BlnkClientOptions
url, key, reference = sys.argv[1:4]
client = blnk_init(key, BlnkClientOptions(base_url=url, timeout=10000))
r = client.transactions.create({
    "amount": 250, "precision": 100, "reference": reference, "currency": "USD",
    "source": "@world", "destination": "@sdk-bob", "allow_overdraft": True,
    "description": "through the gateway",
})
print(json.dumps({"status": r.status, "code": r.error.code if r.error else None, "data": r.data}))
"#;

async fn create(gw: &TestGateway, reference: &str) -> Value {
    let mut cmd = Command::new("python3");
    cmd.env("REQUESTS_CA_BUNDLE", gw.certs.path("ca.pem"))
        .args(["-c", CREATE])
        .arg(format!("https://localhost:{}/", gw.addr.port()))
        .arg(&gw.key)
        .arg(reference);
    let what = format!("{cmd:?}");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e} (.ci/test.sh installs it)"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{e}: {stdout}\n{} (.ci/test.sh installs blnk-python)",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test]
async fn the_sdk_retrying_create_gets_the_same_transaction_and_blnk_sees_one() {
    let gw = gateway(json!({})).await;
    let first = create(&gw, "sdk-ref-1").await;
    let again = create(&gw, "sdk-ref-1").await;
    assert_eq!(first["status"], 201, "{first}");
    assert_eq!(again["status"], 201, "{again}");
    assert_eq!(first["data"], again["data"]);
    assert_eq!(gw.blnk.transaction_posts(), 1);
    gw.blnk.settled().await;
    assert_eq!(
        gw.blnk.transactions()["sdk-ref-1"]["transaction_id"],
        first["data"]["transaction_id"]
    );
}

#[tokio::test]
async fn after_a_timeout_the_sdk_retry_learns_the_transfer_happened() {
    let gw = gateway(json!({"limits": {"upstream_response_timeout": "300ms"}})).await;
    gw.blnk.set_behavior(Behavior::Hold);
    let first = create(&gw, "sdk-ref-2").await;
    assert_eq!(
        (&first["status"], &first["code"]),
        (&json!(504), &json!("GATEWAY_UPSTREAM_TIMEOUT")),
        "{first}"
    );
    gw.blnk.release();
    let retry = create(&gw, "sdk-ref-2").await;
    assert_eq!(retry["status"], 201, "{retry}");
    // What the client believes is what the ledger holds.
    assert_eq!(retry["data"], gw.blnk.transactions()["sdk-ref-2"]);
    assert_eq!(gw.blnk.transaction_posts(), 1);
}

#[tokio::test]
async fn the_sdk_reads_a_gateway_refusal_like_a_blnk_error() {
    let gw = gateway(json!({})).await;
    gw.blnk.set_behavior(Behavior::Hold);
    let held = {
        let gw_key = gw.key.clone();
        let port = gw.addr.port();
        let ca = gw.certs.path("ca.pem");
        tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .env("REQUESTS_CA_BUNDLE", ca)
                .args(["-c", CREATE])
                .arg(format!("https://localhost:{port}/"))
                .arg(gw_key)
                .arg("sdk-ref-3")
                .output()
        })
    };
    // Once the first is at Blnk, a second call is told it is in progress, in Blnk's error shape.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while gw.blnk.transaction_posts() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let second = create(&gw, "sdk-ref-3").await;
    assert_eq!(second["status"], 409, "{second}");
    assert_eq!(second["code"], "GATEWAY_IDEMPOTENCY_IN_PROGRESS");
    gw.blnk.release();
    let first = held.await.unwrap().unwrap();
    assert!(first.status.success());
    assert_eq!(gw.blnk.transaction_posts(), 1);
}
