//! The operator's view after an incident: `/idempotency/pending` on the admin listener and
//! `blnk-gateway idempotency pending` list the keys of unknown outcome with the request and what
//! Blnk holds for it; a key a retry resolved is no longer listed.

use std::process::Command;

use serde_json::{json, Value};

use super::{post, replayed, send, txn};
use crate::support::client::send1;
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::{Setup, TestGateway};

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_listed_with_what_blnk_holds_until_a_retry_resolves_it() {
    let gw = TestGateway::start(Setup {
        gateway: json!({"limits": {"upstream_response_timeout": "300ms"}}),
        admin: true,
        ..Setup::default()
    })
    .await;
    gw.blnk.set_behavior(Behavior::Hold);
    let mut c = gw.h1().await;
    let lost = send(
        &mut c,
        post(&gw, "/transactions", &txn("r-pending", 100), None),
    )
    .await;
    lost.assert_error(504, "GATEWAY_UPSTREAM_TIMEOUT");
    gw.blnk.release();
    gw.blnk.set_behavior(Behavior::Normal);
    gw.blnk.settled().await;
    let held = gw.blnk.transactions()["r-pending"]["transaction_id"].clone();

    let (status, body) = gw.admin_get("/idempotency/pending").await;
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    let pending = report["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{report}");
    let p = &pending[0];
    assert_eq!(p["state"], "unknown", "{p}");
    assert_eq!(
        (&p["method"], &p["path"]),
        (&json!("POST"), &json!("/transactions"))
    );
    assert_eq!(p["reference"], "r-pending");
    assert_eq!(p["blnk"]["record"]["transaction_id"], held, "{p}");
    // No key, no identity in the listing: the store key's first bytes only.
    assert_eq!(p["key"].as_str().unwrap().len(), 16);
    assert!(!body.contains(&gw.key));

    // The command prints the same, from a running gateway's admin listener.
    let admin = gw.admin_addr.unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["idempotency", "pending", "--admin", &admin])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("unknown") && text.contains("POST /transactions"),
        "{text}"
    );
    assert!(text.contains("r-pending"), "{text}");

    // A retry is answered from Blnk's record; the key is settled and no longer listed.
    let mut c = gw.h1().await;
    let retry = send1(
        &mut c,
        post(&gw, "/transactions", &txn("r-pending", 100), None),
    )
    .await;
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert!(replayed(&retry));
    assert_eq!(retry.json()["transaction_id"], held);
    let (_, body) = gw.admin_get("/idempotency/pending").await;
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["pending"], json!([]), "{report}");
}
