//! Refunds (docs/blnk.md section 6): one refund per transaction, under the fixed reference
//! `<id>_refund`; the queued refund's 201 comes before it is stored.

use serde_json::json;

use crate::support::{blnk, txn, Blnk};

/// An applied transfer of 20.00 to `dst`; its id.
async fn applied(b: &Blnk, tag: &str, dst: &str) -> String {
    let mut body = txn(&b.name(tag), 20, &b.indicator(&format!("{tag}s")), dst);
    body["skip_queue"] = json!(true);
    let res = b.post("/transactions", &body).await;
    assert_eq!(res.status, 201);
    res.json()["transaction_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_transaction_is_refunded_once_and_a_second_refund_is_409() {
    let b = blnk().await;
    let dst = b.indicator("rf");
    let id = applied(&b, "rf", &dst).await;
    let first = b
        .post(&format!("/refund-transaction/{id}"), &json!({}))
        .await;
    assert_eq!(first.status, 201, "{}", first.json());
    let refund = first.json();
    assert_eq!(refund["status"], "QUEUED");
    assert_eq!(refund["reference"], format!("{id}_refund"));
    assert_eq!(refund["parent_transaction"], id.as_str());
    let (stored, _) = b.until_found(&format!("{id}_refund")).await;
    assert_eq!(stored["transaction_id"], refund["transaction_id"]);
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 0);
    let m =
        format!("error occurred during processing: [transaction {id} has already been refunded]");
    for body in [json!({}), json!({"skip_queue": true})] {
        let again = b.post(&format!("/refund-transaction/{id}"), &body).await;
        assert_eq!(again.refused(409, "GEN_CONFLICT").message(), m);
    }
    assert_eq!(b.balance(&dst).await, 0);
}

#[tokio::test]
async fn a_refund_with_skip_queue_is_applied_before_the_answer() {
    let b = blnk().await;
    let dst = b.indicator("rs");
    let id = applied(&b, "rs", &dst).await;
    let res = b
        .raw(
            http::Method::POST,
            &format!("/refund-transaction/{id}"),
            br#"{"skip_queue":true}"#,
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.json());
    assert_eq!(res.json()["status"], "APPLIED");
    assert_eq!(b.balance(&dst).await, 0);
}

#[tokio::test]
async fn a_refund_of_nothing_is_404() {
    let b = blnk().await;
    let res = b
        .raw(
            http::Method::POST,
            &format!("/refund-transaction/{}", b.name("txn_none")),
            b"",
        )
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(
        res.json(),
        json!({"error": "no transaction to refund", "error_detail": {"code": "TXN_NOT_FOUND", "message": "no transaction to refund"}})
    );
}

/// The window the gateway must not trust: a second refund while the first is still queued is
/// answered 201 with an id that will never exist. Only the fake's queue can be held open.
#[tokio::test]
async fn fake_only_a_refund_retried_while_the_first_is_queued_gets_a_phantom_201() {
    let b = blnk().await;
    let Some(fake) = b.fake.clone() else { return };
    let dst = b.indicator("rp");
    let id = applied(&b, "rp", &dst).await;
    fake.hold_queue();
    let first = b
        .post(&format!("/refund-transaction/{id}"), &json!({}))
        .await
        .json();
    let second = b
        .post(&format!("/refund-transaction/{id}"), &json!({}))
        .await;
    assert_eq!(second.status, 201);
    let phantom = second.json()["transaction_id"]
        .as_str()
        .unwrap()
        .to_string();
    fake.release_queue();
    b.settle().await;
    b.get(&format!("/transactions/{phantom}"))
        .await
        .refused(404, "TXN_NOT_FOUND");
    let (stored, _) = b.until_found(&format!("{id}_refund")).await;
    assert_eq!(stored["transaction_id"], first["transaction_id"]);
    assert_eq!(b.balance(&dst).await, 0);
}
