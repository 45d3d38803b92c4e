//! What Blnk's stored records say, which the gateway reads when it recovers an answer after a
//! lost one (docs/blnk.md section 6): the fields that identify a transfer as stored, balances
//! by indicator, children by parent, and the references Blnk makes for commits and refunds.

use serde_json::json;

use crate::support::{blnk, encode, txn};

#[tokio::test]
async fn a_stored_record_names_balances_by_id_and_reads_back_precision_0() {
    let b = blnk().await;
    let (r, src, dst) = (b.name("rec"), b.indicator("recs"), b.indicator("recd"));
    let mut body = txn(&r, 12, &src, &dst);
    body["skip_queue"] = json!(true);
    body["meta_data"] = json!({"order": "o-1"});
    let answer = b.post("/transactions", &body).await.json();
    let stored = b.get(&format!("/transactions/reference/{r}")).await.json();
    assert_eq!(stored["transaction_id"], answer["transaction_id"]);
    assert_eq!(stored["precise_amount"], 1200);
    assert_eq!(stored["amount"], 12);
    assert_eq!(
        stored["precision"], 0,
        "the reference lookup does not read precision back"
    );
    assert_eq!(stored["currency"], "USD");
    assert_eq!(stored["meta_data"]["order"], "o-1");
    for (field, indicator) in [("source", &src), ("destination", &dst)] {
        let balance = b
            .get(&format!(
                "/balances/indicator/{}/currency/USD",
                encode(indicator)
            ))
            .await;
        assert_eq!(balance.status, 200);
        assert_eq!(stored[field], balance.json()["balance_id"], "{field}");
        assert!(stored[field].as_str().unwrap().starts_with("bln_"));
    }
    let none = b
        .get(&format!(
            "/balances/indicator/{}/currency/USD",
            encode(&b.indicator("never"))
        ))
        .await;
    none.refused(404, "BAL_NOT_FOUND");
}

#[tokio::test]
async fn an_unknown_balance_is_404_now_or_a_201_for_nothing_later() {
    let b = blnk().await;
    let r = b.name("unknown-bal");
    let mut body = txn(&r, 7, "bln_no-such-balance", &b.indicator("ubd"));
    body["skip_queue"] = json!(true);
    let res = b.post("/transactions", &body).await;
    let m = "Balance with ID 'bln_no-such-balance' not found";
    assert_eq!(res.status, 404);
    assert_eq!(
        res.json(),
        json!({"error": m, "error_detail": {"code": "TXN_NOT_FOUND", "message": m, "details": {}}})
    );
    body["skip_queue"] = json!(false);
    assert_eq!(b.post("/transactions", &body).await.status, 201);
    b.settle().await;
    assert_eq!(
        b.get(&format!("/transactions/reference/{r}")).await.status,
        404
    );
}

#[tokio::test]
async fn children_are_listed_by_parent_and_commits_have_fresh_references() {
    let b = blnk().await;
    let dst = b.indicator("ch");
    let mut body = txn(&b.name("ch"), 100, &b.indicator("chs"), &dst);
    body["inflight"] = json!(true);
    body["skip_queue"] = json!(true);
    let id = b.post("/transactions", &body).await.json()["transaction_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/transactions/inflight/{id}");
    let now = b
        .put(
            &path,
            &json!({"status": "commit", "amount": 10, "skip_queue": true}),
        )
        .await
        .json();
    assert!(
        now["reference"].as_str().unwrap().starts_with("ref_"),
        "{now}"
    );
    assert_eq!(
        b.put(&path, &json!({"status": "commit", "amount": 20}))
            .await
            .status,
        200
    );
    b.settle().await;
    let children = b
        .get(&format!("/transactions?parent_transaction_eq={id}"))
        .await
        .json();
    let children = children.as_array().unwrap();
    assert_eq!(children.len(), 2, "{children:?}");
    let queued = children
        .iter()
        .find(|c| c["precise_amount"] == 2000)
        .expect("the queued commit");
    assert!(
        queued["reference"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{id}_commit_act_")),
        "{queued}"
    );
    assert!(children
        .iter()
        .all(|c| c["status"] == "APPLIED" && c["parent_transaction"] == id.as_str()));
}

#[tokio::test]
async fn a_refund_of_a_queued_transaction_refunds_its_q_child_under_the_childs_id() {
    let b = blnk().await;
    let (r, dst) = (b.name("rq"), b.indicator("rq"));
    let id = b
        .post("/transactions", &txn(&r, 7, &b.indicator("rqs"), &dst))
        .await
        .json()["transaction_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (child, _) = b.until_found(&format!("{r}_q")).await;
    let child_id = child["transaction_id"].as_str().unwrap();
    let refund = b
        .post(&format!("/refund-transaction/{id}"), &json!({}))
        .await;
    assert_eq!(refund.status, 201, "{}", refund.json());
    assert_eq!(refund.json()["reference"], format!("{child_id}_refund"));
    assert_eq!(refund.json()["parent_transaction"], child_id);
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 0);
    let again = b
        .post(&format!("/refund-transaction/{id}"), &json!({}))
        .await;
    let m = format!(
        "error occurred during processing: [transaction {child_id} has already been refunded]"
    );
    assert_eq!(again.refused(409, "GEN_CONFLICT").message(), m);
}

/// The amount, precise amount and precision of a create answer, and of the record read back
/// by id, by reference and in a list.
#[tokio::test]
async fn the_answer_echoes_the_amount_sent_and_the_record_keeps_its_decimal() {
    let b = blnk().await;
    let (src, dst) = (b.indicator("ams"), b.indicator("amd"));
    let fields = |v: &serde_json::Value| {
        (
            v["amount"].as_f64().unwrap(),
            v["precise_amount"].as_i64().unwrap(),
            v["precision"].as_f64().unwrap(),
            v.get("amount_string").cloned(),
        )
    };
    let record = |r: String| {
        let b = &b;
        async move {
            let by_ref = b.get(&format!("/transactions/reference/{r}")).await.json();
            let id = by_ref["transaction_id"].as_str().unwrap().to_string();
            let by_id = b.get(&format!("/transactions/{id}")).await.json();
            let listed = b
                .get(&format!("/transactions?reference_eq={r}"))
                .await
                .json();
            (fields(&by_ref), fields(&by_id), fields(&listed[0]))
        }
    };
    // 1.005 at precision 100: the answer says 1.005, the record the 101 minor units' 1.01.
    let r = b.name("am-echo");
    let mut body = txn(&r, 0, &src, &dst);
    body["amount"] = json!(1.005);
    body["skip_queue"] = json!(true);
    let answer = b.post("/transactions", &body).await.json();
    assert_eq!(fields(&answer), (1.005, 101, 100.0, None), "{answer}");
    let (by_ref, by_id, listed) = record(r).await;
    assert_eq!(by_ref, (1.01, 101, 0.0, None));
    assert_eq!(by_id, (1.01, 101, 100.0, None));
    assert_eq!(listed, (1.01, 101, 100.0, None));
    // A precise amount: the amount is its decimal to 16 places (2/3 is ...6667, not the
    // float quotient ...6666), with its text; no precision is 1.
    let r = b.name("am-precise");
    let mut body = txn(&r, 0, &src, &dst);
    body["precise_amount"] = json!(2);
    body["precision"] = json!(3);
    body.as_object_mut().unwrap().remove("amount");
    body["skip_queue"] = json!(true);
    let answer = b.post("/transactions", &body).await.json();
    let third = json!("0.6666666666666667");
    assert_eq!(
        fields(&answer),
        (0.6666666666666667, 2, 3.0, Some(third)),
        "{answer}"
    );
    assert_ne!(answer["amount"].as_f64(), Some(2.0 / 3.0));
    let (by_ref, by_id, _) = record(r).await;
    assert_eq!(by_ref, (0.6666666666666667, 2, 0.0, None));
    assert_eq!(by_id, (0.6666666666666667, 2, 3.0, None));
    let r = b.name("am-one");
    let mut body = txn(&r, 7, &src, &dst);
    body.as_object_mut().unwrap().remove("precision");
    body["skip_queue"] = json!(true);
    let answer = b.post("/transactions", &body).await.json();
    assert_eq!(fields(&answer), (7.0, 7, 1.0, None), "{answer}");
    assert_eq!(record(r).await.1, (7.0, 7, 1.0, None));
    // The queued path answers the same, and its record and `_q` child keep the decimal.
    let r = b.name("am-queued");
    let mut body = txn(&r, 0, &src, &dst);
    body["amount"] = json!(1.005);
    let answer = b.post("/transactions", &body).await.json();
    assert_eq!(fields(&answer), (1.005, 101, 100.0, None), "{answer}");
    b.until_found(&format!("{r}_q")).await;
    assert_eq!(record(r.clone()).await.1, (1.01, 101, 100.0, None));
    assert_eq!(record(format!("{r}_q")).await.1, (1.01, 101, 100.0, None));
    // A commit's answer is the decimal of what it settled, with its text.
    let r = b.name("am-hold");
    let mut body = txn(&r, 0, &src, &dst);
    body["precise_amount"] = json!(2);
    body["precision"] = json!(3);
    body.as_object_mut().unwrap().remove("amount");
    body["skip_queue"] = json!(true);
    body["inflight"] = json!(true);
    let id = b.post("/transactions", &body).await.json()["transaction_id"]
        .as_str()
        .unwrap()
        .to_string();
    let commit = b
        .put(
            &format!("/transactions/inflight/{id}"),
            &json!({"status": "commit", "precise_amount": 1, "skip_queue": true}),
        )
        .await
        .json();
    let third = json!("0.3333333333333333");
    assert_eq!(
        fields(&commit),
        (0.3333333333333333, 1, 3.0, Some(third)),
        "{commit}"
    );
}
