//! `POST /transactions` on both paths, and looking a transaction up by reference (docs/blnk.md
//! section 6): what is stored when, what a duplicate reference gets, split legs, dry runs.

use http::Method;
use serde_json::json;

use crate::support::{blnk, txn};

#[tokio::test]
async fn a_queued_transaction_is_answered_before_it_is_stored_then_applied_as_its_q_child() {
    let b = blnk().await;
    let (r, src, dst) = (b.name("q"), b.indicator("qs"), b.indicator("qd"));
    if let Some(f) = &b.fake {
        f.hold_queue();
    }
    let res = b.post("/transactions", &txn(&r, 100, &src, &dst)).await;
    assert_eq!(res.status, 201);
    let answer = res.json();
    assert_eq!(answer["status"], "QUEUED");
    assert_eq!(answer["reference"], r.as_str());
    assert_eq!(answer["precise_amount"], 10000);
    assert_eq!(
        answer["meta_data"]["QUEUED_PARENT_TRANSACTION"],
        answer["transaction_id"]
    );
    let id = answer["transaction_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("txn_"), "{id}");
    if let Some(f) = &b.fake {
        // Nothing is stored while the queue is held: Blnk's delay has no bound under load.
        assert_eq!(
            b.get(&format!("/transactions/reference/{r}")).await.status,
            404
        );
        f.release_queue();
    }
    let (stored, took) = b.until_found(&r).await;
    eprintln!("queued transaction visible by reference after {took:?}");
    assert_eq!(stored["transaction_id"], id.as_str());
    assert_eq!(stored["status"], "QUEUED");
    assert!(
        stored["source"].as_str().unwrap().starts_with("bln_"),
        "{stored}"
    );
    let (child, _) = b.until_found(&format!("{r}_q")).await;
    assert_eq!(child["status"], "APPLIED");
    assert_eq!(child["parent_transaction"], id.as_str());
    assert_eq!(child["precise_amount"], 10000);
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 10000);
}

#[tokio::test]
async fn a_queued_duplicate_gets_a_201_with_an_id_that_never_exists_and_moves_nothing() {
    let b = blnk().await;
    let (r, src, dst) = (b.name("qd"), b.indicator("qds"), b.indicator("qdd"));
    let first = b
        .post("/transactions", &txn(&r, 100, &src, &dst))
        .await
        .json();
    b.until_found(&format!("{r}_q")).await;
    let second = b.post("/transactions", &txn(&r, 100, &src, &dst)).await;
    assert_eq!(second.status, 201);
    let phantom = second.json()["transaction_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(phantom, first["transaction_id"].as_str().unwrap());
    b.settle().await;
    b.get(&format!("/transactions/{phantom}"))
        .await
        .refused(404, "TXN_NOT_FOUND");
    let (stored, _) = b.until_found(&r).await;
    assert_eq!(stored["transaction_id"], first["transaction_id"]);
    assert_eq!(b.balance(&dst).await, 10000);
}

#[tokio::test]
async fn skip_queue_applies_before_answering_and_refuses_a_used_reference() {
    let b = blnk().await;
    let (r, src, dst) = (b.name("s"), b.indicator("ss"), b.indicator("sd"));
    let mut body = txn(&r, 250, &src, &dst);
    body["skip_queue"] = json!(true);
    let res = b.post("/transactions", &body).await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["status"], "APPLIED");
    let stored = b.get(&format!("/transactions/reference/{r}")).await;
    assert_eq!(stored.status, 200, "visible as soon as it is answered");
    assert_eq!(
        stored.json()["transaction_id"],
        res.json()["transaction_id"]
    );
    let again = b.post("/transactions", &body).await;
    again.refused(409, "TXN_DUPLICATE_REFERENCE");
    let m = format!("transaction validation failed: reference {r} has already been used");
    assert_eq!(
        again.json(),
        json!({"error": m, "error_detail": {"code": "TXN_DUPLICATE_REFERENCE", "message": m}})
    );
    // A queued copy of a reference applied synchronously is also a phantom.
    body["skip_queue"] = json!(false);
    assert_eq!(b.post("/transactions", &body).await.status, 201);
    b.settle().await;
    assert_eq!(b.balance(&dst).await, 25000);
}

#[tokio::test]
async fn a_reference_not_found_is_404_in_the_not_found_shape() {
    let b = blnk().await;
    let r = b.name("nf");
    let res = b.get(&format!("/transactions/reference/{r}")).await;
    let m = format!("Transaction with reference '{r}' not found");
    assert_eq!(res.status, 404);
    assert_eq!(
        res.json(),
        json!({"error": m, "error_detail": {"code": "TXN_NOT_FOUND", "message": m, "details": {}}})
    );
    // gin routes on the decoded path: a reference with a slash cannot be looked up.
    let slash = b.get(&format!("/transactions/reference/{r}%2Fx")).await;
    assert_eq!(
        (slash.status, &slash.body[..]),
        (404, &b"404 page not found"[..])
    );
}

#[tokio::test]
async fn a_split_transaction_is_stored_only_as_its_legs() {
    let b = blnk().await;
    let (src, d1, d2) = (b.indicator("ps"), b.indicator("pa"), b.indicator("pb"));
    for (skip, sep) in [(false, '_'), (true, '-')] {
        let r = b.name(if skip { "split-s" } else { "split-q" });
        let mut body = txn(&r, 100, &src, "");
        body.as_object_mut().unwrap().remove("destination");
        body["destinations"] = json!([{"identifier": d1, "distribution": "60%"}, {"identifier": d2, "distribution": "left"}]);
        body["skip_queue"] = json!(skip);
        let res = b.post("/transactions", &body).await;
        assert_eq!(res.status, 201, "{}", res.json());
        let legs = res.json()["destinations"].as_array().unwrap().clone();
        assert_eq!(legs.len(), 2);
        let (one, _) = b.until_found(&format!("{r}{sep}1")).await;
        let (two, _) = b.until_found(&format!("{r}{sep}2")).await;
        let mut amounts = [
            one["precise_amount"].as_i64().unwrap(),
            two["precise_amount"].as_i64().unwrap(),
        ];
        amounts.sort_unstable();
        assert_eq!(amounts, [4000, 6000]);
        assert_eq!(one["parent_transaction"], res.json()["transaction_id"]);
        b.settle().await;
        assert_eq!(
            b.get(&format!("/transactions/reference/{r}")).await.status,
            404
        );
        let other = if skip { '_' } else { '-' };
        assert_eq!(
            b.get(&format!("/transactions/reference/{r}{other}1"))
                .await
                .status,
            404
        );
    }
}

#[tokio::test]
async fn a_dry_run_answers_200_and_consumes_nothing() {
    let b = blnk().await;
    let (r, src, dst) = (b.name("dry"), b.indicator("ds"), b.indicator("dd"));
    let mut body = txn(&r, 5, &src, &dst);
    body["dry_run"] = json!(true);
    body["skip_queue"] = json!(true);
    let res = b.post("/transactions", &body).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["dry_run"], true);
    assert_eq!(res.json()["would_apply"], true);
    assert_eq!(
        b.get(&format!("/transactions/reference/{r}")).await.status,
        404
    );
    body["dry_run"] = json!(false);
    assert_eq!(
        b.post("/transactions", &body).await.status,
        201,
        "the reference is still free"
    );
}

#[tokio::test]
async fn a_source_that_cannot_pay_is_refused_now_or_rejected_later() {
    let b = blnk().await;
    let (src, dst) = (b.indicator("poor"), b.indicator("rich"));
    let mut body = txn(&b.name("poor-s"), 5, &src, &dst);
    body["allow_overdraft"] = json!(false);
    body["skip_queue"] = json!(true);
    let m = "failed to apply transaction to balances: insufficient funds in source balance";
    let res = b.post("/transactions", &body).await;
    res.refused(400, "TXN_INSUFFICIENT_FUNDS");
    assert_eq!(res.message(), m);
    let r = b.name("poor-q");
    body["reference"] = json!(r);
    body["skip_queue"] = json!(false);
    assert_eq!(b.post("/transactions", &body).await.status, 201);
    let (child, _) = b.until_found(&format!("{r}_q")).await;
    assert_eq!(child["status"], "REJECTED");
    assert_eq!(child["meta_data"]["blnk_rejection_reason"], m);
    assert_eq!(b.balance(&dst).await, 0);
}

#[tokio::test]
async fn a_refused_transaction_gets_the_legacy_validation_shape_and_stores_nothing() {
    let b = blnk().await;
    let res = b
        .raw(Method::POST, "/transactions", br#"{"currency":"USD"}"#)
        .await;
    let m = "amount: either amount or precise_amount is required; description: cannot be blank; destination: either destination or destinations is required, not both; reference: cannot be blank; source: either source or sources is required, not both.";
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"errors": m, "error_detail": {"code": "TXN_VALIDATION_ERROR", "message": m}})
    );
}

#[tokio::test]
async fn the_precise_amount_is_the_amount_s_shortest_decimal_times_the_precision() {
    let b = blnk().await;
    let src = b.indicator("pas");
    // 1.005 is 1.00499999999999989... in binary: float arithmetic gives 100, Blnk's decimal
    // arithmetic on "1.005" gives 100.5, rounded half away from zero: 101.
    for (tag, amount, want) in [("pa-up", "1.005", 101i64), ("pa-down", "1.004", 100)] {
        let (r, dst) = (b.name(tag), b.indicator(tag));
        let body = format!(
            r#"{{"amount":{amount},"precision":100,"reference":"{r}","currency":"USD","source":"{src}","destination":"{dst}","allow_overdraft":true,"description":"precise","skip_queue":true}}"#
        );
        let res = b.raw(Method::POST, "/transactions", body.as_bytes()).await;
        assert_eq!(res.status, 201, "{tag}: {}", res.json());
        assert_eq!(res.json()["precise_amount"], want, "{tag}");
        let (stored, _) = b.until_found(&r).await;
        assert_eq!(stored["precise_amount"], want, "{tag}");
        assert_eq!(b.balance(&dst).await, i128::from(want), "{tag}");
    }
    // The queued path computes it the same way.
    let (r, dst) = (b.name("pa-queued"), b.indicator("paq"));
    let mut body = txn(&r, 0, &src, &dst);
    body["amount"] = json!(1.005);
    assert_eq!(b.post("/transactions", &body).await.status, 201);
    let (child, _) = b.until_found(&format!("{r}_q")).await;
    assert_eq!(child["precise_amount"], 101);
    // So does an inflight commit's amount, at the hold's precision, with no limit on digits:
    // the tie 98647591572463.625 is written ...463.62 by Go (the even one), so at precision
    // 100 it is exactly a hold of 9864759157246362 (...6363 would be more than the hold).
    for (tag, hold, amount, want) in [
        ("pa-commit", json!({"amount": 10}), "1.005", 101i64),
        (
            "pa-tie",
            json!({"precise_amount": 9_864_759_157_246_362i64}),
            "98647591572463.625",
            9_864_759_157_246_362,
        ),
    ] {
        let (r, dst) = (b.name(tag), b.indicator(tag));
        let mut body = txn(&r, 0, &src, &dst);
        let obj = body.as_object_mut().unwrap();
        obj.remove("amount");
        obj.extend(hold.as_object().unwrap().clone());
        body["inflight"] = json!(true);
        body["skip_queue"] = json!(true);
        let res = b.post("/transactions", &body).await;
        assert_eq!(res.status, 201, "{tag}: {}", res.json());
        let id = res.json()["transaction_id"].as_str().unwrap().to_string();
        let commit = format!(r#"{{"status":"commit","amount":{amount},"skip_queue":true}}"#);
        let path = format!("/transactions/inflight/{id}");
        let res = b.raw(Method::PUT, &path, commit.as_bytes()).await;
        assert_eq!(res.status, 200, "{tag}: {}", res.json());
        assert_eq!(res.json()["precise_amount"], want, "{tag}");
        assert_eq!(b.balance(&dst).await, i128::from(want), "{tag}");
    }
}

#[tokio::test]
async fn an_amount_of_more_than_15_significant_digits_is_refused() {
    let b = blnk().await;
    let (src, dst) = (b.indicator("sds"), b.indicator("sdd"));
    let m = "amount: amount has more than 15 significant digits which may cause rounding errors; use precise_amount instead.";
    // Counted on FormatFloat(amount, 'f', -1, 64): an integer's trailing zeros count.
    for (tag, amount) in [("sd-tie", "98647591572463.625"), ("sd-zeros", "1e15")] {
        let r = b.name(tag);
        let body = format!(
            r#"{{"amount":{amount},"precision":100,"reference":"{r}","currency":"USD","source":"{src}","destination":"{dst}","allow_overdraft":true,"description":"digits","skip_queue":true}}"#
        );
        let res = b.raw(Method::POST, "/transactions", body.as_bytes()).await;
        assert_eq!(res.status, 400, "{tag}: {}", res.json());
        assert_eq!(res.json()["errors"], m, "{tag}");
        assert_eq!(res.json()["error_detail"]["code"], "TXN_VALIDATION_ERROR");
    }
    let r = b.name("sd-ok");
    let body = format!(
        r#"{{"amount":1e14,"precision":1,"reference":"{r}","currency":"USD","source":"{src}","destination":"{dst}","allow_overdraft":true,"description":"digits","skip_queue":true}}"#
    );
    let res = b.raw(Method::POST, "/transactions", body.as_bytes()).await;
    assert_eq!(res.status, 201, "{}", res.json());
    assert_eq!(b.balance(&dst).await, 100_000_000_000_000);
}

/// A split's shares in exact decimals, truncated, the rest to the largest share
/// (`CalculateDistributionsPrecise`), and its refusals, before anything is queued or stored.
#[tokio::test]
async fn a_split_s_shares_are_exact_decimals_truncated_with_the_rest_to_the_largest() {
    let b = blnk().await;
    let src = b.indicator("shs");
    let split = |tag: &str, amount: u64, destinations: serde_json::Value, skip_queue: bool| {
        let mut body = txn(&b.name(tag), amount, &src, "");
        body.as_object_mut().unwrap().remove("destination");
        body["destinations"] = destinations;
        body["skip_queue"] = json!(skip_queue);
        body
    };
    let d = |tag: &str| b.indicator(tag);
    for (tag, amount, shares, skip_queue, want) in [
        // 33.35% of 1000 is 333.5: 333; left 666.5 is 666; the 1 missing to the largest.
        (
            "sha",
            10,
            [("33.35%", None), ("left", None)],
            true,
            [333, 667],
        ),
        // Fixed 10.004 at precision 100 is 1000.4: 1000; left 999.6 is 999; the 1 to the
        // fixed share, now the largest.
        (
            "shb",
            20,
            [("10.004", None), ("left", None)],
            false,
            [1001, 999],
        ),
        // precise_distribution, in minor units, wins over the distribution.
        (
            "shc",
            20,
            [("7", Some("1234")), ("left", None)],
            true,
            [1234, 766],
        ),
    ] {
        let destinations: Vec<_> = shares
            .iter()
            .enumerate()
            .map(|(n, (dist, precise))| {
                let mut e = json!({"identifier": d(&format!("{tag}{n}")), "distribution": dist});
                if let Some(p) = precise {
                    e["precise_distribution"] = json!(p);
                }
                e
            })
            .collect();
        let res = b
            .post(
                "/transactions",
                &split(tag, amount, json!(destinations), skip_queue),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.json());
        b.settle().await;
        for (n, want) in want.iter().enumerate() {
            assert_eq!(b.balance(&d(&format!("{tag}{n}"))).await, *want, "{tag}{n}");
        }
    }
    let m = "failed to split transaction: total distributions exceed 100% or total amount";
    for skip_queue in [true, false] {
        let tag = if skip_queue { "sh-over-s" } else { "sh-over-q" };
        let body = split(
            tag,
            20,
            json!([{"identifier": d("shover"), "distribution": "150%"}]),
            skip_queue,
        );
        let res = b.post("/transactions", &body).await;
        assert_eq!(res.status, 400);
        assert_eq!(
            res.json(),
            json!({"error": m, "error_detail": {"code": "TXN_VALIDATION_ERROR", "message": m}})
        );
    }
    b.settle().await;
    for leg in [
        format!("{}-1", b.name("sh-over-s")),
        format!("{}_1", b.name("sh-over-q")),
    ] {
        let res = b.get(&format!("/transactions/reference/{leg}")).await;
        assert_eq!(res.status, 404, "{leg}");
    }
    assert_eq!(b.balance(&d("shover")).await, 0);
    // Each leg is recorded in turn: a refusal names the leg, and a used reference is its
    // own reference's (one share: one leg, `-1`).
    let r = b.name("shdup");
    let mut taken = txn(&format!("{r}-1"), 1, &src, &d("shx"));
    taken["skip_queue"] = json!(true);
    assert_eq!(b.post("/transactions", &taken).await.status, 201);
    let body = split(
        "shdup",
        5,
        json!([{"identifier": d("shdupd"), "distribution": "100%"}]),
        true,
    );
    let res = b.post("/transactions", &body).await;
    assert_eq!(
        res.refused(409, "TXN_DUPLICATE_REFERENCE").message(),
        format!("failed to record split transaction 0: transaction validation failed: reference {r}-1 has already been used")
    );
}

/// `scheduled_for`, `inflight_expiry_date` and `inflight_commit_date`: read with
/// `time.Parse(time.RFC3339, ...)` (a one-digit hour and a comma before the fraction pass), a
/// bad one refused at validation; echoed in the answer as Go writes the time, in its zone;
/// and a queued transaction with a `scheduled_for` is `SCHEDULED`, applied at that time.
#[tokio::test]
async fn dates_are_read_with_go_s_rfc_3339_layout_and_a_scheduled_transaction_waits() {
    let b = blnk().await;
    let (src, dst) = (b.indicator("dts"), b.indicator("dtd"));
    let mut body = txn(&b.name("dt-bad"), 1, &src, &dst);
    body["scheduled_for"] = json!("2031-01-02 03:04:05Z");
    body["inflight_expiry_date"] = json!("x");
    body["inflight_commit_date"] = json!("2031-02-30T03:04:05Z");
    let res = b.post("/transactions", &body).await;
    let f = "please format the scheduled date as 'YYYY-MM-DDTHH:MM:SS+00:00' (e.g., 2024-04-22T15:28:03+00:00)";
    let m = format!("inflight_commit_date: {f}; inflight_expiry_date: {f}; scheduled_for: {f}.");
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"errors": m, "error_detail": {"code": "TXN_VALIDATION_ERROR", "message": m}})
    );
    let dates = |v: &serde_json::Value| {
        [
            "scheduled_for",
            "inflight_expiry_date",
            "inflight_commit_date",
        ]
        .map(|k| v[k].as_str().unwrap_or_default().to_string())
    };
    let zero = "0001-01-01T00:00:00Z";
    // Applied now with skip_queue, the dates echoed as Go writes them.
    let mut body = txn(&b.name("dt-now"), 1, &src, &dst);
    body["skip_queue"] = json!(true);
    body["inflight_expiry_date"] = json!("2031-01-02T3:04:05,25+02:00");
    body["inflight_commit_date"] = json!("2032-01-02T03:04:05+00:00");
    let res = b.post("/transactions", &body).await;
    assert_eq!(res.status, 201, "{}", res.json());
    assert_eq!(res.json()["status"], "APPLIED");
    assert_eq!(
        dates(&res.json()),
        [zero, "2031-01-02T03:04:05.25+02:00", "2032-01-02T03:04:05Z"]
    );
    // Queued for a time to come: SCHEDULED, stored so (without the date), not applied.
    let r = b.name("dt-later");
    let mut body = txn(&r, 2, &src, &b.indicator("dtl"));
    body["scheduled_for"] = json!("2031-01-02T03:04:05-01:30");
    let res = b.post("/transactions", &body).await;
    assert_eq!(res.status, 201, "{}", res.json());
    assert_eq!(res.json()["status"], "SCHEDULED");
    assert_eq!(
        dates(&res.json()),
        ["2031-01-02T03:04:05-01:30", zero, zero]
    );
    let (stored, _) = b.until_found(&r).await;
    assert_eq!(stored["status"], "SCHEDULED");
    assert_eq!(dates(&stored), [zero, zero, zero]);
    b.settle().await;
    assert_eq!(
        b.get(&format!("/transactions/reference/{r}_q"))
            .await
            .status,
        404
    );
    assert_eq!(b.balance(&b.indicator("dtl")).await, 0);
    // Queued for a time past: SCHEDULED too, and applied at once.
    let r = b.name("dt-past");
    let mut body = txn(&r, 3, &src, &b.indicator("dtp"));
    body["scheduled_for"] = json!("2020-01-02T03:04:05Z");
    let res = b.post("/transactions", &body).await;
    assert_eq!(res.json()["status"], "SCHEDULED", "{}", res.json());
    let (child, _) = b.until_found(&format!("{r}_q")).await;
    assert_eq!(child["status"], "APPLIED");
    b.settle().await;
    assert_eq!(b.balance(&b.indicator("dtp")).await, 300);
    assert_eq!(b.until_found(&r).await.0["status"], "SCHEDULED");
}
