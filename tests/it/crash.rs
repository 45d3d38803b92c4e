//! `kill -9`: nothing of the gateway runs after it. What must hold anyway: the record of every
//! answered money-moving request is on disk, and the next gateway on the same files answers a
//! retry of a request its predecessor left in flight at once, from what Blnk holds.

use serde_json::{json, Value};

use crate::support::client::{req, send1};
use crate::support::fake_blnk::{transfer, Behavior, FakeBlnk};
use crate::support::gateway::new_key;
use crate::support::process::Process;
use crate::support::until;

fn post(key: &str, path: &str, body: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    req("POST", path)
        .header("x-blnk-key", key)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap()
}

fn get(key: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    req("GET", "/ledgers")
        .header("x-blnk-key", key)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap()
}

/// The audit batches records for a minute; only the money-moving ones must not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_of_answered_money_requests_survive_a_kill_9() {
    let key = new_key("crash-audit");
    let blnk = FakeBlnk::start(&key).await;
    let dir = tempfile::tempdir().unwrap();
    let batched = json!({"audit": {"flush_interval": "60s", "flush_records": 10000}});
    let mut gw = Process::start(dir.path(), &blnk.url(), &key, batched, &[]);
    let mut c = gw.h1().await;
    let mut answered = Vec::new();
    for i in 0..40 {
        let a = send1(
            &mut c,
            post(&key, "/transactions", &transfer(&format!("crash-{i}"), 100)),
        )
        .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        answered.push(a.headers["x-request-id"].to_str().unwrap().to_string());
        // Reads in between stay batched, as documented.
        assert_eq!(send1(&mut c, get(&key)).await.status, 200);
    }
    gw.kill9();
    let records = gw.audit_records();
    let recorded: Vec<&Value> = records
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/transactions")
        .collect();
    for id in &answered {
        assert!(
            recorded.iter().any(|r| r["request_id"] == id.as_str()),
            "the answered request {id} has no record after kill -9 ({} of {} recorded)",
            recorded.len(),
            answered.len()
        );
    }
    assert!(
        recorded
            .iter()
            .all(|r| r["upstream_status"] == 201 && r["end"] == "answered"),
        "{recorded:?}"
    );
}

/// A lone gateway killed while Blnk held a transfer: its successor does not keep the key "in
/// flight" for a dead process; the retry is answered from Blnk's record, and Blnk sees one POST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_answers_its_predecessors_orphan_from_blnk() {
    let key = new_key("crash-orphan");
    let blnk = FakeBlnk::start(&key).await;
    let dir = tempfile::tempdir().unwrap();
    let mut first = Process::start(dir.path(), &blnk.url(), &key, json!({}), &[]);
    blnk.set_behavior(Behavior::Hold);
    let body = transfer("r-orphan", 100);
    let mut c = first.h1().await;
    let request = post(&key, "/transactions", &body);
    let lost = tokio::spawn(async move { c.send_request(request).await });
    until(|| blnk.transaction_posts() == 1).await;
    first.kill9();
    assert!(lost.await.unwrap().is_err(), "the client lost its answer");
    blnk.release();
    blnk.set_behavior(Behavior::Normal);
    blnk.settled().await;

    let second = Process::start(dir.path(), &blnk.url(), &key, json!({}), &[]);
    let mut c = second.h1().await;
    let retry = send1(&mut c, post(&key, "/transactions", &body)).await;
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(blnk.transaction_posts(), 1);
    let held = &blnk.transactions()["r-orphan"];
    assert_eq!(retry.json()["transaction_id"], held["transaction_id"]);
    assert_eq!(blnk.balance("@alice", "USD"), Some(10000));
}
