//! Which keys a request has: the header's forms and where it is honoured, the keys derived on
//! the money-moving routes (bodies read as Go reads them), scoping, fingerprints.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use super::*;

fn body(text: &str) -> Buffered {
    // A body as the pipeline holds it: read whole, frames as they came.
    let mut chunks = Vec::new();
    for part in text.as_bytes().chunks(7) {
        chunks.push(Bytes::copy_from_slice(part));
    }
    Buffered::from_chunks(chunks)
}

fn headers(key: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(k) = key {
        h.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(k).unwrap());
    }
    h
}

fn keys_as(
    method: Method,
    target: &str,
    h: &HeaderMap,
    b: &str,
    scope: &str,
) -> Option<RequestKeys> {
    of(&method, target, h, &body(b), scope, true).unwrap()
}

fn keys(method: Method, target: &str, h: &HeaderMap, b: &str) -> Option<RequestKeys> {
    keys_as(method, target, h, b, "master")
}

fn kinds(k: &RequestKeys) -> Vec<Kind> {
    k.keys.iter().map(|k| k.kind).collect()
}

const TXN: &str = r#"{"amount":1,"reference":"ref-1","currency":"USD","source":"@a","destination":"@b","description":"d"}"#;

#[test]
fn a_header_key_is_a_quoted_string_or_a_bare_token() {
    let quoted = keys(Method::POST, "/ledgers", &headers(Some(r#""abc-1""#)), "{}").unwrap();
    let bare = keys(Method::POST, "/ledgers", &headers(Some("abc-1")), "{}").unwrap();
    assert_eq!(kinds(&quoted), [Kind::Header]);
    assert_eq!(quoted.keys[0].store_key, bare.keys[0].store_key);
    let escaped = keys(Method::POST, "/ledgers", &headers(Some(r#""a\"b""#)), "{}").unwrap();
    assert_ne!(escaped.keys[0].store_key, bare.keys[0].store_key);
    for bad in [r#""""#, r#""abc"x"#, r#""a\b""#, "\"open", &"k".repeat(256)] {
        let r = of(
            &Method::POST,
            "/ledgers",
            &headers(Some(bad)),
            &body("{}"),
            "s",
            true,
        );
        assert_eq!(r.unwrap_err(), Reject::IdempotencyKeyInvalid, "{bad}");
    }
    let mut two = headers(Some("a"));
    two.append(IDEMPOTENCY_KEY, HeaderValue::from_static("b"));
    let r = of(&Method::POST, "/ledgers", &two, &body("{}"), "s", true);
    assert_eq!(r.unwrap_err(), Reject::IdempotencyKeyInvalid);
}

#[test]
fn a_header_key_is_honoured_on_every_unsafe_method_and_refused_on_safe_ones() {
    let purge = Method::from_bytes(b"PURGE").unwrap();
    for m in [
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        purge,
    ] {
        let k = keys(m.clone(), "/identities/i1", &headers(Some("k")), "{}");
        assert_eq!(kinds(&k.unwrap()), [Kind::Header], "{m}");
    }
    for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let r = of(&m, "/ledgers", &headers(Some("k")), &body(""), "s", true);
        assert_eq!(r.unwrap_err(), Reject::IdempotencyKeyNotSupported, "{m}");
    }
    assert!(keys(Method::GET, "/ledgers", &headers(None), "").is_none());
    assert!(keys(Method::POST, "/ledgers", &headers(None), "{}").is_none());
}

#[test]
fn a_transfer_has_its_reference_and_a_header_key_too() {
    let plain = keys(Method::POST, "/transactions", &headers(None), TXN).unwrap();
    assert_eq!(kinds(&plain), [Kind::Reference]);
    let both = keys(
        Method::POST,
        "/transactions",
        &headers(Some("order-7")),
        TXN,
    )
    .unwrap();
    assert_eq!(kinds(&both), [Kind::Header, Kind::Reference]);
    assert_eq!(both.keys[1].store_key, plain.keys[0].store_key);
    let Recovery::Transfer(facts) = &plain.recovery else {
        panic!("{:?}", plain.recovery)
    };
    assert_eq!(
        (facts.reference.as_str(), facts.precise.as_str(), facts.legs),
        ("ref-1", "1", 0)
    );
    assert_eq!(plain.subject.reference, "ref-1");
    // Not a key: a dry run (it consumes nothing).
    let dry = TXN.replace("\"d\"", "\"d\",\"dry_run\":true");
    assert!(keys(Method::POST, "/transactions", &headers(None), &dry).is_none());
}

#[test]
fn a_money_body_is_read_as_blnk_reads_it_and_refused_when_it_cannot_be() {
    let k = |b: &str| keys(Method::POST, "/transactions", &headers(None), b);
    let plain = k(TXN).unwrap();
    let cased = k(&TXN.replace("\"reference\"", "\"REFERENCE\"")).unwrap();
    assert_eq!(cased.keys[0].store_key, plain.keys[0].store_key);
    let trailing = k(&format!("{TXN}{{\"reference\":\"ref-2\"}}")).unwrap();
    assert_eq!(trailing.keys[0].store_key, plain.keys[0].store_key);
    // Bytes Go reads as U+FFFD are one reference.
    let a = k(&TXN.replace("ref-1", "r-\\ud800")).unwrap();
    let b = k(&TXN.replace("ref-1", "r-\\udc00")).unwrap();
    assert_eq!(a.keys[0].store_key, b.keys[0].store_key);
    assert_ne!(a.fingerprint, b.fingerprint);
    // A split Go binds through a folded name is a split.
    let split = TXN.replace(
        "\"destination\":\"@b\"",
        "\"deſtinations\":[{\"identifier\":\"@b\",\"distribution\":\"100%\"}]",
    );
    let Recovery::Transfer(facts) = k(&split).unwrap().recovery else {
        panic!()
    };
    assert_eq!(facts.legs, 1);
    for bad in [
        r#"{"reference":"r","amount":"5"}"#,
        "[1]",
        r#"{"reference":"r""#,
        "",
    ] {
        let r = of(
            &Method::POST,
            "/transactions",
            &headers(None),
            &body(bad),
            "s",
            true,
        );
        assert_eq!(r.unwrap_err(), Reject::MoneyBodyUnreadable, "{bad}");
    }
}

#[test]
fn a_bulk_is_keyed_by_its_references_in_order() {
    let k = |b: &str| keys(Method::POST, "/transactions/bulk", &headers(None), b);
    let item = |r: &str| TXN.replace("ref-1", r);
    let a = k(&format!(
        r#"{{"transactions":[{},{}]}}"#,
        item("a"),
        item("b")
    ))
    .unwrap();
    assert_eq!(kinds(&a), [Kind::BulkReferences]);
    let other = k(&format!(
        r#"{{"transactions":[{},{}]}}"#,
        item("b"),
        item("a")
    ))
    .unwrap();
    assert_ne!(a.keys[0].store_key, other.keys[0].store_key);
    assert!(k(&format!(
        r#"{{"transactions":[{}],"dry_run":true}}"#,
        item("a")
    ))
    .is_none());
    assert!(k(r#"{"transactions":[]}"#).is_none());
}

#[test]
fn an_unkeyed_partial_commit_is_guarded_and_a_full_one_is_sent_again() {
    let put = |b: &str, key: Option<&str>| {
        keys(
            Method::PUT,
            "/transactions/inflight/txn_1",
            &headers(key),
            b,
        )
    };
    let partial = put(r#"{"status":"commit","amount":30}"#, None).unwrap();
    assert_eq!(kinds(&partial), [Kind::Guard]);
    assert_eq!(partial.recovery, Recovery::None);
    assert!(partial.guard_only());
    let keyed = put(r#"{"status":"commit","amount":30}"#, Some("c-1")).unwrap();
    assert_eq!(kinds(&keyed), [Kind::Header]);
    assert!(put(r#"{"status":"commit"}"#, None).is_none());
    assert!(put(r#"{"status":"void"}"#, None).is_none());
    assert_eq!(
        put(r#"{"status":"void"}"#, Some("v")).unwrap().recovery,
        Recovery::Repeat
    );
    let bulk = keys(
        Method::POST,
        "/transactions/inflight/bulk/commit",
        &headers(None),
        r#"{"transactions":[{"transaction_id":"t","amount":5}]}"#,
    );
    assert_eq!(kinds(&bulk.unwrap()), [Kind::Guard]);
}

#[test]
fn a_refund_is_keyed_by_its_transaction() {
    let a = keys(
        Method::POST,
        "/refund-transaction/txn_1",
        &headers(None),
        "",
    )
    .unwrap();
    let b = keys_as(
        Method::POST,
        "/refund-transaction/txn_1",
        &headers(None),
        r#"{"skip_queue":true}"#,
        "client:x",
    )
    .unwrap();
    assert_eq!(kinds(&a), [Kind::Refund]);
    assert_eq!(a.keys[0].store_key, b.keys[0].store_key, "the ledger's key");
    assert_eq!(a.recovery, Recovery::Refund { id: "txn_1".into() });
    assert!(keys(
        Method::POST,
        "/refund-transaction/txn_1",
        &headers(None),
        r#"{"dry_run":true}"#
    )
    .is_none());
}

#[test]
fn header_keys_are_the_clients_and_references_the_ledgers() {
    let a = keys_as(
        Method::POST,
        "/ledgers",
        &headers(Some("k")),
        "{}",
        "client:a",
    )
    .unwrap();
    let b = keys_as(
        Method::POST,
        "/ledgers",
        &headers(Some("k")),
        "{}",
        "client:b",
    )
    .unwrap();
    assert_ne!(a.keys[0].store_key, b.keys[0].store_key);
    let a = keys_as(
        Method::POST,
        "/transactions",
        &headers(None),
        TXN,
        "client:a",
    )
    .unwrap();
    let b = keys_as(
        Method::POST,
        "/transactions",
        &headers(None),
        TXN,
        "client:b",
    )
    .unwrap();
    assert_eq!(a.keys[0].store_key, b.keys[0].store_key);
    // Another client's identical request does not match the first.
    assert_ne!(a.fingerprint, b.fingerprint);
}

#[test]
fn fingerprints_see_every_byte_but_not_the_frames() {
    let a = keys(Method::POST, "/transactions", &headers(None), TXN).unwrap();
    let other_body = TXN.replace("\"amount\":1", "\"amount\":2");
    let c = keys(Method::POST, "/transactions", &headers(None), &other_body).unwrap();
    assert_eq!(c.keys[0].store_key, a.keys[0].store_key);
    assert_ne!(c.fingerprint, a.fingerprint);
    let query = keys(Method::POST, "/transactions?x=1", &headers(None), TXN).unwrap();
    assert_ne!(query.fingerprint, a.fingerprint);
    let whole = Buffered::from_chunks(vec![Bytes::from_static(TXN.as_bytes())]);
    let one = of(
        &Method::POST,
        "/transactions",
        &headers(None),
        &whole,
        "master",
        true,
    )
    .unwrap()
    .unwrap();
    assert_eq!(one.fingerprint, a.fingerprint);
}
