//! `POST /transactions/bulk` (docs/blnk.md section 6): a duplicate item in an atomic batch and
//! in a non-atomic one, what is kept and what is answered; a dry run; validation.

use serde_json::{json, Value};

use crate::support::{blnk, txn, Blnk};

fn items(b: &Blnk, dst: &str, refs: &[(&str, u64)]) -> Vec<Value> {
    refs.iter()
        .map(|(r, amount)| txn(&b.name(r), *amount, &b.indicator("bks"), dst))
        .collect()
}

#[tokio::test]
async fn an_atomic_batch_with_a_duplicate_refunds_what_it_applied_and_keeps_the_references() {
    let b = blnk().await;
    let dst = b.indicator("ba");
    let body = json!({"atomic": true, "skip_queue": true, "transactions": items(&b, &dst, &[("ba1", 1), ("ba1", 2)])});
    let res = b.post("/transactions/bulk", &body).await;
    res.refused(409, "TXN_DUPLICATE_REFERENCE");
    let v = res.json();
    assert!(v["batch_id"].as_str().unwrap().starts_with("bulk_"), "{v}");
    assert_eq!(v["error"], v["error_detail"]["message"]);
    assert_eq!(v["error_detail"]["details"]["batch_id"], v["batch_id"]);
    let m = v["error"].as_str().unwrap();
    assert!(
        m.starts_with(&format!(
            "failed to queue transaction 2 (Reference: {}",
            b.name("ba1")
        )),
        "{m}"
    );
    assert!(
        m.ends_with("has already been used. All transactions in this batch have been refunded."),
        "{m}"
    );
    let (first, _) = b.until_found(&b.name("ba1")).await;
    assert_eq!(first["parent_transaction"], v["batch_id"]);
    let id = first["transaction_id"].as_str().unwrap();
    b.until_found(&format!("{id}_refund")).await;
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 0);
}

#[tokio::test]
async fn a_non_atomic_batch_keeps_what_came_before_the_duplicate_and_answers_409() {
    let b = blnk().await;
    let dst = b.indicator("bn");
    let refs = [("bn1", 1), ("bn2", 2), ("bn1", 3), ("bn4", 4)];
    let body = json!({"atomic": false, "skip_queue": true, "transactions": items(&b, &dst, &refs)});
    let res = b.post("/transactions/bulk", &body).await;
    res.refused(409, "TXN_DUPLICATE_REFERENCE");
    let m = res.message();
    assert!(m.starts_with("failed to queue transaction 3 ("), "{m}");
    assert!(
        m.ends_with("Previous transactions were not rolled back."),
        "{m}"
    );
    b.until_found(&b.name("bn1")).await;
    b.until_found(&b.name("bn2")).await;
    b.settle().await;
    assert_eq!(
        b.get(&format!("/transactions/reference/{}", b.name("bn4")))
            .await
            .status,
        404
    );
    assert_eq!(b.balance(&dst).await, 300, "a refusal after money moved");
}

#[tokio::test]
async fn a_queued_batch_is_answered_201_with_its_count() {
    let b = blnk().await;
    let dst = b.indicator("bq");
    let body = json!({"transactions": items(&b, &dst, &[("bq1", 1), ("bq2", 2)])});
    let res = b.post("/transactions/bulk", &body).await;
    assert_eq!(res.status, 201, "{}", res.json());
    let v = res.json();
    assert_eq!(
        (v["status"].clone(), v["transaction_count"].clone()),
        (json!("applied"), json!(2))
    );
    b.until_found(&format!("{}_q", b.name("bq1"))).await;
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 300);
}

#[tokio::test]
async fn a_dry_run_batch_stores_nothing_and_a_bad_item_refuses_the_batch() {
    let b = blnk().await;
    let dst = b.indicator("bd");
    let body = json!({"dry_run": true, "skip_queue": true, "transactions": items(&b, &dst, &[("bd1", 1)])});
    let res = b.post("/transactions/bulk", &body).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["dry_run"], true);
    assert_eq!(
        b.get(&format!("/transactions/reference/{}", b.name("bd1")))
            .await
            .status,
        404
    );
    let mut bad = items(&b, &dst, &[("bv1", 1), ("bv2", 1)]);
    bad[1].as_object_mut().unwrap().remove("description");
    let res = b
        .post(
            "/transactions/bulk",
            &json!({"skip_queue": true, "transactions": bad}),
        )
        .await;
    res.refused(400, "TXN_VALIDATION_ERROR");
    assert_eq!(
        res.message(),
        "transactions[1]: description: cannot be blank."
    );
    assert_eq!(
        b.get(&format!("/transactions/reference/{}", b.name("bv1")))
            .await
            .status,
        404
    );
    b.post("/transactions/bulk", &json!({"transactions": []}))
        .await
        .refused(400, "TXN_BULK_EMPTY");
}
