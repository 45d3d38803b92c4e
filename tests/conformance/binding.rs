//! How Blnk reads a body (docs/blnk.md section 6): Go's `encoding/json` through gin's
//! `ShouldBindJSON`. Field names fold (`ſ` is `s`, the Kelvin sign is `k`), the last duplicate
//! wins, invalid UTF-8 and lone surrogates become U+FFFD (so different bytes collide), and only
//! the first JSON value is read.

use http::Method;

use crate::support::{blnk, Blnk};

/// A synchronous transfer's JSON fields after `"reference": ...`, to append to a reference.
fn rest(b: &Blnk, dst: &str) -> String {
    format!(
        r#","amount":5,"precision":100,"currency":"USD","source":"{}","destination":"{dst}","allow_overdraft":true,"description":"binding","skip_queue":true"#,
        b.indicator("bs")
    )
}

async fn post(b: &Blnk, body: &[u8]) -> crate::support::Res {
    b.raw(Method::POST, "/transactions", body).await
}

async fn found(b: &Blnk, reference: &str) -> bool {
    let path = format!(
        "/transactions/reference/{}",
        crate::support::encode(reference)
    );
    b.get(&path).await.status == 200
}

#[tokio::test]
async fn field_names_match_without_case_and_with_go_folding() {
    let b = blnk().await;
    let dst = b.indicator("bf");
    let r = b.name("case");
    let body = format!(r#"{{"REFERENCE":"{r}","AMOUNT":5{}}}"#, rest(&b, &dst));
    assert_eq!(post(&b, body.as_bytes()).await.status, 201);
    assert!(found(&b, &r).await);
    // "ſkip_queue" and "s\u212Aip_queue" both bind to skip_queue: applied at once.
    for (tag, name) in [
        ("long-s", "\u{017F}kip_queue"),
        ("kelvin", "s\u{212A}ip_queue"),
    ] {
        let r = b.name(tag);
        let body = format!(
            r#"{{"reference":"{r}"{}, "skip_queue":false, "{name}":true}}"#,
            rest(&b, &dst)
        );
        let res = post(&b, body.as_bytes()).await;
        assert_eq!(res.json()["status"], "APPLIED", "{tag}: {}", res.json());
    }
    // "deſtinations" binds to destinations: a split, stored as legs only.
    let r = b.name("split-fold");
    let body = format!(
        r#"{{"reference":"{r}","amount":5,"precision":100,"currency":"USD","source":"{}","allow_overdraft":true,"description":"d","skip_queue":true,"deſtinations":[{{"identifier":"{dst}","distribution":"100%"}}]}}"#,
        b.indicator("bs")
    );
    assert_eq!(post(&b, body.as_bytes()).await.status, 201);
    assert!(found(&b, &format!("{r}-1")).await);
    assert!(!found(&b, &r).await);
}

#[tokio::test]
async fn the_last_duplicate_key_wins_and_null_changes_nothing() {
    let b = blnk().await;
    let dst = b.indicator("bd");
    let (one, two) = (b.name("dup-1"), b.name("dup-2"));
    let body = format!(
        r#"{{"reference":"{one}","Reference":"{two}"{}}}"#,
        rest(&b, &dst)
    );
    assert_eq!(post(&b, body.as_bytes()).await.status, 201);
    assert!(found(&b, &two).await);
    assert!(!found(&b, &one).await);
    let kept = b.name("null");
    let body = format!(
        r#"{{"reference":"{kept}","reference":null{}}}"#,
        rest(&b, &dst)
    );
    assert_eq!(post(&b, body.as_bytes()).await.status, 201);
    assert!(found(&b, &kept).await);
}

#[tokio::test]
async fn invalid_utf8_and_lone_surrogates_become_one_reference() {
    let b = blnk().await;
    let dst = b.indicator("bu");
    let base = b.name("utf");
    let mut first = format!(r#"{{"reference":"{base}-"#).into_bytes();
    first.push(0xff);
    first.extend_from_slice(format!("\"{}}}", rest(&b, &dst)).as_bytes());
    let res = post(&b, &first).await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["reference"], format!("{base}-\u{FFFD}"));
    for escape in [r"\ud800", r"\udc00"] {
        let body = format!(r#"{{"reference":"{base}-{escape}"{}}}"#, rest(&b, &dst));
        post(&b, body.as_bytes())
            .await
            .refused(409, "TXN_DUPLICATE_REFERENCE");
    }
    let mut other = format!(r#"{{"reference":"{base}-"#).into_bytes();
    other.push(0xfe);
    other.extend_from_slice(format!("\"{}}}", rest(&b, &dst)).as_bytes());
    post(&b, &other)
        .await
        .refused(409, "TXN_DUPLICATE_REFERENCE");
}

#[tokio::test]
async fn only_the_first_json_value_is_read() {
    let b = blnk().await;
    let dst = b.indicator("bo");
    let (one, two) = (b.name("first"), b.name("second"));
    let body = format!(
        r#"{{"reference":"{one}"{r}}}{{"reference":"{two}"{r}}}"#,
        r = rest(&b, &dst)
    );
    assert_eq!(post(&b, body.as_bytes()).await.status, 201);
    assert!(found(&b, &one).await);
    assert!(!found(&b, &two).await);
    let garbage = format!(
        r#"{{"reference":"{}"{}}} and then garbage"#,
        b.name("garbage"),
        rest(&b, &dst)
    );
    assert_eq!(post(&b, garbage.as_bytes()).await.status, 201);
    assert_eq!(b.balance(&dst).await, 1000);
}

#[tokio::test]
async fn a_body_go_cannot_bind_is_400_invalid_input() {
    let b = blnk().await;
    let dst = b.indicator("bx");
    let cut = format!(r#"{{"reference":"{}"{}"#, b.name("cut"), rest(&b, &dst));
    let string_amount = format!(
        r#"{{"reference":"{}"{},"amount":"5"}}"#,
        b.name("str"),
        rest(&b, &dst)
    );
    let fraction = format!(
        r#"{{"reference":"{}"{},"amount":0,"precise_amount":1.5}}"#,
        b.name("frac"),
        rest(&b, &dst)
    );
    for body in [
        cut.as_str(),
        &string_amount,
        &fraction,
        "[1]",
        "",
        "null garbage",
    ] {
        let res = post(&b, body.as_bytes()).await;
        let want = serde_json::json!({"error": "Invalid input", "error_detail": {"code": "GEN_MALFORMED_REQUEST", "message": "Invalid input"}});
        match body {
            // `null` binds to nothing: every field is missing.
            "null garbage" => res.refused(400, "TXN_VALIDATION_ERROR"),
            _ => {
                assert_eq!((res.status, res.json()), (400, want), "{body}");
                &res
            }
        };
    }
    assert_eq!(b.balance(&dst).await, 0);
}

#[tokio::test]
async fn a_repeated_array_key_decodes_into_the_earlier_array_s_elements() {
    let b = blnk().await;
    let (src, first, second) = (b.indicator("ras"), b.indicator("raa"), b.indicator("rab"));
    // The second array names only the identifier: the share stays 100% (Go decodes it into the
    // first array's element).
    let r = b.name("rep-arr");
    let body = format!(
        r#"{{"reference":"{r}","amount":5,"precision":100,"currency":"USD","source":"{src}","allow_overdraft":true,"description":"d","skip_queue":true,"destinations":[{{"identifier":"{first}","distribution":"100%"}}],"destinations":[{{"identifier":"{second}"}}]}}"#
    );
    let res = post(&b, body.as_bytes()).await;
    assert_eq!(res.status, 201, "{}", res.json());
    assert!(found(&b, &format!("{r}-1")).await);
    assert_eq!(b.balance(&second).await, 500);
    assert_eq!(b.balance(&first).await, 0);
    // A bulk item repeated with only a new reference keeps every other field.
    let (one, two) = (b.name("rep-bulk-1"), b.name("rep-bulk-2"));
    let item = crate::support::txn(&one, 5, &src, &first);
    let body = format!(
        r#"{{"skip_queue":true,"transactions":[{item}],"transactions":[{{"reference":"{two}"}}]}}"#
    );
    let res = b
        .raw(Method::POST, "/transactions/bulk", body.as_bytes())
        .await;
    assert_eq!(res.status, 201, "{}", res.json());
    assert!(found(&b, &two).await);
    assert!(!found(&b, &one).await);
    assert_eq!(b.balance(&first).await, 500);
    // An id written `null` keeps the earlier one; the length is the last array's.
    let (x, y) = (b.name("txn_missing_x"), b.name("txn_missing_y"));
    let body = format!(r#"{{"transaction_ids":["{x}","{y}"],"transaction_ids":[null]}}"#);
    let res = b
        .raw(
            Method::POST,
            "/transactions/inflight/bulk/void",
            body.as_bytes(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json());
    let results = res.json()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["transaction_id"], x.as_str());
    assert_eq!(results[0]["status"], "failed");
}

#[tokio::test]
async fn a_wrong_type_in_an_array_a_later_key_replaces_still_fails_the_bind() {
    let b = blnk().await;
    let (src, dst) = (b.indicator("rts"), b.indicator("rtd"));
    let r = b.name("rep-type");
    let body = format!(
        r#"{{"reference":"{r}","amount":5,"precision":100,"currency":"USD","source":"{src}","allow_overdraft":true,"description":"d","skip_queue":true,"destinations":[5],"destinations":[{{"identifier":"{dst}","distribution":"100%"}}]}}"#
    );
    let res = post(&b, body.as_bytes()).await;
    assert_eq!(
        res.refused(400, "GEN_MALFORMED_REQUEST").message(),
        "Invalid input"
    );
    let item = crate::support::txn(&r, 5, &src, &dst);
    let body = format!(
        r#"{{"skip_queue":true,"transactions":[{{"amount":"5"}}],"transactions":[{item}]}}"#
    );
    b.raw(Method::POST, "/transactions/bulk", body.as_bytes())
        .await
        .refused(400, "GEN_MALFORMED_REQUEST");
    b.raw(
        Method::POST,
        "/transactions/inflight/bulk/void",
        br#"{"transaction_ids":[5],"transaction_ids":["x"]}"#,
    )
    .await
    .refused(400, "GEN_MALFORMED_REQUEST");
    b.settle().await;
    assert!(!found(&b, &r).await);
    assert!(!found(&b, &format!("{r}-1")).await);
    assert_eq!(b.balance(&dst).await, 0);
}

/// A synchronous transfer to `dst` under `reference`, with `extra` JSON fields appended.
fn with(b: &Blnk, reference: &str, dst: &str, extra: &str) -> String {
    format!(r#"{{"reference":"{reference}"{},{extra}}}"#, rest(b, dst))
}

#[tokio::test]
async fn a_meta_data_number_beyond_float64_fails_the_bind() {
    let b = blnk().await;
    let dst = b.indicator("bm");
    for (tag, meta) in [
        ("huge", r#"{"n":1e400}"#),
        ("deep", r#"{"a":[{"b":-1e999}]}"#),
    ] {
        let r = b.name(tag);
        let res = post(
            &b,
            with(&b, &r, &dst, &format!(r#""meta_data":{meta}"#)).as_bytes(),
        )
        .await;
        assert_eq!(
            res.refused(400, "GEN_MALFORMED_REQUEST").message(),
            "Invalid input"
        );
        assert!(!found(&b, &r).await);
    }
    // Within range, however small or large: read (the tiny one as 0).
    let r = b.name("edge");
    let meta = r#""meta_data":{"tiny":1e-400,"max":1.7976931348623157e308}"#;
    let res = post(&b, with(&b, &r, &dst, meta).as_bytes()).await;
    assert_eq!(res.status, 201, "{}", res.json());
    let item = format!(
        r#"{{"transactions":[{}],"skip_queue":true}}"#,
        with(&b, &b.name("bulk"), &dst, r#""meta_data":{"n":[1e309]}"#)
    );
    b.raw(Method::POST, "/transactions/bulk", item.as_bytes())
        .await
        .refused(400, "GEN_MALFORMED_REQUEST");
    // The refund's meta_data too: refused, and the transaction is still refundable.
    let id = res.json()["transaction_id"].as_str().unwrap().to_string();
    let path = format!("/refund-transaction/{id}");
    b.raw(
        Method::POST,
        &path,
        br#"{"skip_queue":true,"meta_data":{"n":1e400}}"#,
    )
    .await
    .refused(400, "GEN_MALFORMED_REQUEST");
    let refund = b.raw(Method::POST, &path, br#"{"skip_queue":true}"#).await;
    assert_eq!(refund.status, 201, "{}", refund.json());
    assert_eq!(b.balance(&dst).await, 0);
}

#[tokio::test]
async fn an_effective_date_is_read_as_go_s_time_reads_it() {
    let b = blnk().await;
    let dst = b.indicator("be");
    // RFC 3339, and what Go's time.Parse allows beyond it: a one-digit hour, a comma.
    for (tag, date) in [
        ("date-z", r#""2024-01-01T00:00:00Z""#),
        ("date-loose", r#""2024-01-01T1:00:00,5+05:30""#),
        ("date-null", "null"),
    ] {
        let r = b.name(tag);
        let res = post(
            &b,
            with(&b, &r, &dst, &format!(r#""effective_date":{date}"#)).as_bytes(),
        )
        .await;
        assert_eq!(res.status, 201, "{tag}: {}", res.json());
    }
    // Not a string, not a date, or written with an escape (Go parses the raw literal).
    for (tag, date) in [
        ("date-empty", r#""""#),
        ("date-day", r#""2024-02-30T00:00:00Z""#),
        ("date-plain", r#""2024-01-01""#),
        ("date-escape", r#""\u0032024-01-01T00:00:00Z""#),
        ("date-number", "5"),
    ] {
        let r = b.name(tag);
        let res = post(
            &b,
            with(&b, &r, &dst, &format!(r#""effective_date":{date}"#)).as_bytes(),
        )
        .await;
        assert_eq!(
            res.refused(400, "GEN_MALFORMED_REQUEST").message(),
            "Invalid input",
            "{tag}"
        );
        assert!(!found(&b, &r).await, "{tag}");
    }
    let item = format!(
        r#"{{"transactions":[{}],"skip_queue":true}}"#,
        with(&b, &b.name("date-bulk"), &dst, r#""effective_date":"""#)
    );
    b.raw(Method::POST, "/transactions/bulk", item.as_bytes())
        .await
        .refused(400, "GEN_MALFORMED_REQUEST");
    assert_eq!(b.balance(&dst).await, 1500);
}
