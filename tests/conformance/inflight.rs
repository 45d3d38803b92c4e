//! Inflight transactions (docs/blnk.md section 6): a hold, partial commits (not idempotent: the
//! same one sent twice commits twice), a full commit, a void, and the refusals after each, on
//! the synchronous path and the default queued one, and through the bulk commit.

use serde_json::{json, Value};

use crate::support::{blnk, txn, Blnk};

/// A hold of 100.00 from a fresh source to `dst`; its transaction id.
async fn hold(b: &Blnk, tag: &str, dst: &str) -> String {
    let mut body = txn(&b.name(tag), 100, &b.indicator(&format!("{tag}s")), dst);
    body["inflight"] = json!(true);
    body["skip_queue"] = json!(true);
    let res = b.post("/transactions", &body).await;
    assert_eq!(res.status, 201, "{}", res.json());
    assert_eq!(res.json()["status"], "INFLIGHT");
    res.json()["transaction_id"].as_str().unwrap().to_string()
}

async fn act(b: &Blnk, id: &str, body: Value) -> crate::support::Res {
    b.put(&format!("/transactions/inflight/{id}"), &body).await
}

#[tokio::test]
async fn the_same_partial_commit_twice_commits_twice() {
    let b = blnk().await;
    let dst = b.indicator("pc");
    let id = hold(&b, "pc", &dst).await;
    for n in 1..=2 {
        let res = act(
            &b,
            &id,
            json!({"status": "commit", "amount": 30, "skip_queue": true}),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.json());
        let child = res.json();
        assert_eq!(child["status"], "APPLIED");
        assert_eq!(child["precise_amount"], 3000);
        assert_eq!(child["parent_transaction"], id.as_str());
        assert_ne!(
            child["reference"],
            b.name("pc").as_str(),
            "each commit has a fresh reference"
        );
        assert_eq!(b.balance(&dst).await, 3000 * n);
    }
    let over = act(
        &b,
        &id,
        json!({"status": "commit", "amount": 60, "skip_queue": true}),
    )
    .await;
    over.refused(400, "TXN_COMMIT_AMOUNT_EXCEEDED");
    assert!(over.message().contains("cannot commit more than the remaining amount. Available: USD40.00, Requested: USD60.00"), "{}", over.message());
    let beyond = act(
        &b,
        &id,
        json!({"status": "commit", "amount": 500, "skip_queue": true}),
    )
    .await;
    assert!(beyond.refused(400, "TXN_COMMIT_AMOUNT_EXCEEDED").message().contains("cannot commit more than the original transaction amount. Original: USD100.00, Requested: USD500.00"));
}

#[tokio::test]
async fn a_full_commit_takes_what_is_left_and_cannot_be_repeated_or_voided() {
    let b = blnk().await;
    let dst = b.indicator("fc");
    let id = hold(&b, "fc", &dst).await;
    assert_eq!(
        act(
            &b,
            &id,
            json!({"status": "commit", "amount": 25, "skip_queue": true})
        )
        .await
        .status,
        200
    );
    let full = act(&b, &id, json!({"status": "commit", "skip_queue": true})).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.json()["precise_amount"], 7500);
    assert_eq!(b.balance(&dst).await, 10000);
    for status in ["commit", "void"] {
        let again = act(&b, &id, json!({"status": status, "skip_queue": true})).await;
        let m = format!(
            "error occurred during processing: [cannot {status}. Transaction already committed]"
        );
        assert_eq!(again.refused(409, "TXN_ALREADY_COMMITTED").message(), m);
        // The queued path refuses it before queueing, without the wrapping, and says "commit".
        let queued = act(&b, &id, json!({"status": status})).await;
        assert_eq!(
            queued.refused(409, "TXN_ALREADY_COMMITTED").message(),
            "cannot commit. Transaction already committed"
        );
    }
}

#[tokio::test]
async fn a_void_releases_what_is_left_and_nothing_settles_after_it() {
    let b = blnk().await;
    let dst = b.indicator("vd");
    let id = hold(&b, "vd", &dst).await;
    assert_eq!(
        act(
            &b,
            &id,
            json!({"status": "commit", "amount": 30, "skip_queue": true})
        )
        .await
        .status,
        200
    );
    let void = act(&b, &id, json!({"status": "void", "skip_queue": true})).await;
    assert_eq!(void.status, 200);
    assert_eq!(void.json()["status"], "VOID");
    assert_eq!(void.json()["precise_amount"], 7000);
    for status in ["void", "commit"] {
        let again = act(&b, &id, json!({"status": status, "skip_queue": true})).await;
        assert_eq!(
            again.refused(409, "TXN_ALREADY_VOIDED").message(),
            "error occurred during processing: [transaction has already been voided]"
        );
    }
    assert_eq!(b.balance(&dst).await, 3000);
}

#[tokio::test]
async fn a_queued_action_is_answered_with_the_hold_and_applied_later() {
    let b = blnk().await;
    let dst = b.indicator("qa");
    let id = hold(&b, "qa", &dst).await;
    let res = act(&b, &id, json!({"status": "commit", "amount": 10})).await;
    assert_eq!(res.status, 200);
    let parent = res.json();
    assert_eq!(parent["queued"], true);
    assert_eq!(parent["status"], "INFLIGHT");
    assert_eq!(parent["transaction_id"], id.as_str());
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 1000);
    // Once applied, the same partial commit queued again is accepted and commits again.
    assert_eq!(
        act(&b, &id, json!({"status": "commit", "amount": 10}))
            .await
            .status,
        200
    );
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 2000);
}

#[tokio::test]
async fn a_second_action_while_one_is_queued_is_refused_or_applied_never_lost() {
    let b = blnk().await;
    let dst = b.indicator("qq");
    let id = hold(&b, "qq", &dst).await;
    if let Some(f) = &b.fake {
        f.hold_queue();
    }
    let first = act(&b, &id, json!({"status": "commit", "amount": 10})).await;
    let second = act(&b, &id, json!({"status": "commit", "amount": 10})).await;
    assert_eq!(first.status, 200);
    let accepted = match second.status {
        200 => 2,
        _ => {
            assert_eq!(
                second.refused(409, "GEN_CONFLICT").message(),
                "a commit or void is already queued for this transaction"
            );
            1
        }
    };
    if let Some(f) = &b.fake {
        assert_eq!(
            accepted, 1,
            "the fake holds its queue: the first is still queued"
        );
        f.release_queue();
    }
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 1000 * accepted);
}

#[tokio::test]
async fn a_queued_hold_is_settled_through_the_id_its_201_gave() {
    let b = blnk().await;
    let dst = b.indicator("qh");
    let mut body = txn(&b.name("qh"), 100, &b.indicator("qhs"), &dst);
    body["inflight"] = json!(true);
    let res = b.post("/transactions", &body).await;
    assert_eq!(res.json()["status"], "QUEUED");
    let id = res.json()["transaction_id"].as_str().unwrap().to_string();
    let (child, _) = b.until_found(&format!("{}_q", b.name("qh"))).await;
    assert_eq!(child["status"], "INFLIGHT");
    let commit = act(
        &b,
        &id,
        json!({"status": "commit", "amount": 10, "skip_queue": true}),
    )
    .await;
    assert_eq!(commit.status, 200, "{}", commit.json());
    assert_eq!(commit.json()["parent_transaction"], child["transaction_id"]);
    assert_eq!(b.balance(&dst).await, 1000);
}

#[tokio::test]
async fn the_bulk_commit_has_no_key_either_and_unknown_ids_are_404() {
    let b = blnk().await;
    let dst = b.indicator("bc");
    let id = hold(&b, "bc", &dst).await;
    let body = json!({"transactions": [{"transaction_id": id, "amount": 20}], "skip_queue": true});
    for n in 1..=2 {
        let res = b.post("/transactions/inflight/bulk/commit", &body).await;
        assert_eq!(res.status, 200, "{}", res.json());
        assert_eq!(res.json()["succeeded"], 1);
        assert_eq!(res.json()["results"][0]["status"], "succeeded");
        assert_eq!(b.balance(&dst).await, 2000 * n);
    }
    let missing = act(&b, &b.name("txn_missing"), json!({"status": "commit"})).await;
    missing.refused(404, "TXN_NOT_FOUND");
    act(&b, &id, json!({"status": "settle"}))
        .await
        .refused(400, "TXN_INVALID_STATUS_ACTION");
}

#[tokio::test]
async fn each_inflight_route_ignores_the_other_routes_fields() {
    let b = blnk().await;
    let dst = b.indicator("xf");
    let id = hold(&b, "xf", &dst).await;
    // `transaction_id` is not a field of the single route's body: ignored, whatever it holds.
    let res = act(
        &b,
        &id,
        json!({"status": "commit", "amount": 10, "skip_queue": true, "transaction_id": 5}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.json());
    assert_eq!(b.balance(&dst).await, 1000);
    // A bulk commit item has only transaction_id, amount and precise_amount; the commit body
    // has no transaction_ids.
    let body = json!({
        "transactions": [{"transaction_id": id, "amount": 10, "status": 0, "skip_queue": "x", "dry_run": []}],
        "transaction_ids": 0,
        "skip_queue": true,
    });
    let res = b.post("/transactions/inflight/bulk/commit", &body).await;
    assert_eq!(res.status, 200, "{}", res.json());
    assert_eq!(res.json()["succeeded"], 1, "{}", res.json());
    assert_eq!(b.balance(&dst).await, 2000);
    // The void body has no transactions.
    let body = json!({"transaction_ids": [id], "transactions": 0, "skip_queue": true});
    let res = b.post("/transactions/inflight/bulk/void", &body).await;
    assert_eq!(res.status, 200, "{}", res.json());
    assert_eq!(res.json()["succeeded"], 1, "{}", res.json());
    assert_eq!(b.balance(&dst).await, 2000);
}

/// Each failed result of a bulk commit or void, as (code, message), and that none succeeded.
fn failures(res: &crate::support::Res, n: usize) -> Vec<(String, String)> {
    assert_eq!(res.status, 200, "{}", res.json());
    let v = res.json();
    assert_eq!(
        (v["succeeded"].clone(), v["failed"].clone()),
        (json!(0), json!(n)),
        "{v}"
    );
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "failed", "{r}");
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("code"), s("message"))
        })
        .collect()
}

#[tokio::test]
async fn a_negative_commit_amount_is_refused_and_commits_nothing() {
    let b = blnk().await;
    let dst = b.indicator("ng");
    let id = hold(&b, "ng", &dst).await;
    let m = "commit amount cannot be negative";
    let now = act(
        &b,
        &id,
        json!({"status": "commit", "amount": -5, "skip_queue": true}),
    )
    .await;
    let wrapped = format!("error occurred during processing: [{m}]");
    assert_eq!(now.status, 400);
    assert_eq!(
        now.json(),
        json!({"error": wrapped, "error_detail": {"code": "GEN_BAD_REQUEST", "message": wrapped}})
    );
    let queued = act(&b, &id, json!({"status": "commit", "amount": -5})).await;
    assert_eq!(queued.status, 400);
    assert_eq!(
        queued.json(),
        json!({"error": m, "error_detail": {"code": "GEN_BAD_REQUEST", "message": m}})
    );
    for skip_queue in [true, false] {
        let body = json!({"transactions": [{"transaction_id": id, "amount": -5}], "skip_queue": skip_queue});
        let res = b.post("/transactions/inflight/bulk/commit", &body).await;
        assert_eq!(
            failures(&res, 1),
            [("INTERNAL_ERROR".to_string(), m.to_string())],
            "skip_queue {skip_queue}"
        );
    }
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 0);
    let children = b
        .get(&format!("/transactions?parent_transaction_eq={id}"))
        .await
        .json();
    assert_eq!(children, json!([]), "nothing was committed");
    // The whole hold is still there to commit.
    let full = act(&b, &id, json!({"status": "commit", "skip_queue": true})).await;
    assert_eq!(full.json()["precise_amount"], 10000, "{}", full.json());
}

#[tokio::test]
async fn a_bulk_commit_item_takes_its_precise_amount_as_given() {
    let b = blnk().await;
    let commit = |id: &str, precise: i64, skip_queue: bool| json!({"transactions": [{"transaction_id": id, "amount": 30, "precise_amount": precise}], "skip_queue": skip_queue});
    // 0 is "what is left", whatever the amount says; on the queued path too.
    for (tag, skip_queue) in [("bz", true), ("bzq", false)] {
        let dst = b.indicator(tag);
        let id = hold(&b, tag, &dst).await;
        let res = b
            .post(
                "/transactions/inflight/bulk/commit",
                &commit(&id, 0, skip_queue),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.json());
        assert_eq!(res.json()["failed"], 0, "{}", res.json());
        b.settle().await;
        assert_eq!(b.balance(&dst).await, 10000, "skip_queue {skip_queue}");
    }
    // Below 0 is refused as a negative commit amount; nothing moves.
    let dst = b.indicator("bn");
    let id = hold(&b, "bn", &dst).await;
    let res = b
        .post("/transactions/inflight/bulk/commit", &commit(&id, -5, true))
        .await;
    assert_eq!(
        failures(&res, 1),
        [(
            "INTERNAL_ERROR".to_string(),
            "commit amount cannot be negative".to_string()
        )]
    );
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 0);
}

#[tokio::test]
async fn bulk_results_carry_blnk_s_codes_and_go_s_messages() {
    let b = blnk().await;
    let dst = b.indicator("bf");
    let committed = hold(&b, "bfc", &dst).await;
    let voided = hold(&b, "bfv", &dst).await;
    let partly = hold(&b, "bfp", &dst).await;
    for (id, body) in [
        (&committed, json!({"status": "commit", "skip_queue": true})),
        (&voided, json!({"status": "void", "skip_queue": true})),
        (
            &partly,
            json!({"status": "commit", "amount": 70, "skip_queue": true}),
        ),
    ] {
        assert_eq!(act(&b, id, body).await.status, 200);
    }
    let mut plain = txn(&b.name("bfa"), 5, &b.indicator("bfas"), &dst);
    plain["skip_queue"] = json!(true);
    let applied = b.post("/transactions", &plain).await.json()["transaction_id"]
        .as_str()
        .unwrap()
        .to_string();
    let missing = b.name("txn_missing");
    let before = b.balance(&dst).await;
    let f = |code: &str, message: &str| (code.to_string(), message.to_string());
    let not_found = f(
        "NOT_FOUND",
        &format!("NOT_FOUND: Transaction with ID '{missing}' not found"),
    );
    let voided_f = f("ALREADY_VOIDED", "transaction has already been voided");
    let not_inflight = f("NOT_INFLIGHT", "transaction is not in inflight status");
    // One item per id in a call: Blnk settles a skip_queue bulk's items concurrently, and two
    // on one id race for its lock (LOCKED).
    for (skip_queue, amount, exceeded) in [
        (true, 50, "cannot commit more than the remaining amount. Available: USD30.00, Requested: USD50.00"),
        (false, 500, "cannot commit more than the original transaction amount. Original: USD100.00, Requested: USD500.00"),
    ] {
        let body = json!({"skip_queue": skip_queue, "transactions": [
            {"transaction_id": missing}, {"transaction_id": committed}, {"transaction_id": voided},
            {"transaction_id": partly, "amount": amount}, {"transaction_id": applied},
        ]});
        let res = b.post("/transactions/inflight/bulk/commit", &body).await;
        assert_eq!(
            failures(&res, 5),
            [
                not_found.clone(),
                f("ALREADY_COMMITTED", "cannot commit. Transaction already committed"),
                voided_f.clone(),
                f("INVALID_AMOUNT", exceeded),
                not_inflight.clone(),
            ],
            "commit, skip_queue {skip_queue}"
        );
        let body = json!({"skip_queue": skip_queue, "transaction_ids": [missing, committed, voided, applied]});
        let res = b.post("/transactions/inflight/bulk/void", &body).await;
        // Checked before queueing, an exhausted hold "cannot commit" whatever the action.
        let word = if skip_queue { "void" } else { "commit" };
        assert_eq!(
            failures(&res, 4),
            [
                not_found.clone(),
                f(
                    "ALREADY_COMMITTED",
                    &format!("cannot {word}. Transaction already committed")
                ),
                voided_f.clone(),
                not_inflight.clone(),
            ],
            "void, skip_queue {skip_queue}"
        );
    }
    b.settle().await;
    assert_eq!(b.balance(&dst).await, before, "nothing moved");
    // The single route: a record that is not a hold, checked before queueing; with skip_queue
    // an id with no inflight record under it, whether it exists or not.
    let queued = act(&b, &applied, json!({"status": "commit"})).await;
    assert_eq!(
        queued.refused(400, "TXN_NOT_INFLIGHT").message(),
        "transaction is not in inflight status"
    );
    for id in [&applied, &missing] {
        let res = act(&b, id, json!({"status": "commit", "skip_queue": true})).await;
        assert_eq!(
            res.refused(400, "TXN_NOT_INFLIGHT").message(),
            "no transaction to commit"
        );
    }
}
