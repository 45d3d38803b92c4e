//! Which key a request has: the header's forms, references read as Go reads them, scoping.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use super::*;
use crate::body::RequestBody;

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

fn key(method: Method, target: &str, h: &HeaderMap, b: &str) -> Option<RequestKey> {
    of(&method, target, h, &body(b), "key:abcdef012345", true).unwrap()
}

const TXN: &str = r#"{"amount":1,"reference":"ref-1","currency":"USD"}"#;

#[test]
fn a_header_key_is_a_quoted_string_or_a_bare_token() {
    let quoted = key(Method::POST, "/ledgers", &headers(Some(r#""abc-1""#)), "{}").unwrap();
    let bare = key(Method::POST, "/ledgers", &headers(Some("abc-1")), "{}").unwrap();
    assert_eq!(quoted.kind, Kind::Header);
    assert_eq!(quoted.store_key, bare.store_key);
    let escaped = key(Method::POST, "/ledgers", &headers(Some(r#""a\"b""#)), "{}").unwrap();
    assert_ne!(escaped.store_key, bare.store_key);
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
fn only_post_and_patch_have_keys() {
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        assert!(key(m, "/transactions", &headers(Some("k")), TXN).is_none());
    }
    assert!(key(Method::PATCH, "/ledgers/l1", &headers(Some("k")), "{}").is_some());
}

#[test]
fn the_reference_is_read_as_blnk_reads_it() {
    let k = |b: &str| key(Method::POST, "/transactions", &headers(None), b);
    let plain = k(TXN).unwrap();
    assert_eq!(plain.kind, Kind::Reference);
    assert_eq!(plain.reference, Some(("ref-1".into(), false)));
    // Field names without regard to case; the last duplicate wins; the first object only.
    let cased = k(r#"{"Reference":"ref-1","amount":1,"currency":"USD"}"#).unwrap();
    assert_eq!(cased.store_key, plain.store_key);
    let dup = k(r#"{"reference":"other","REFERENCE":"ref-1"}"#).unwrap();
    assert_eq!(dup.store_key, plain.store_key);
    let trailing = k(r#"{"reference":"ref-1"}{"reference":"ref-2"}"#).unwrap();
    assert_eq!(trailing.store_key, plain.store_key);
    // A split transaction, a dry run, no reference, not JSON.
    let split = k(r#"{"reference":"r","sources":[{"identifier":"a"}]}"#).unwrap();
    assert_eq!(split.reference, Some(("r".into(), true)));
    assert!(k(r#"{"reference":"r","dry_run":true}"#).is_none());
    assert!(k(r#"{"amount":1}"#).is_none());
    assert!(k("not json").is_none());
    assert!(k(r#"{"reference":""}"#).is_none());
    // null leaves what came before; a later empty list of sources undoes a split.
    let null = k(r#"{"reference":"ref-1","reference":null,"dry_run":null}"#).unwrap();
    assert_eq!(null.store_key, plain.store_key);
    let unsplit = k(r#"{"reference":"r","sources":[{"identifier":"a"}],"Sources":[]}"#).unwrap();
    assert_eq!(unsplit.reference, Some(("r".into(), false)));
    assert!(k(r#"{"reference":"r","dry_run":true,"dry_run":null}"#).is_none());
    // Other routes have no implicit key.
    assert!(key(Method::POST, "/ledgers", &headers(None), TXN).is_none());
    let off = of(
        &Method::POST,
        "/transactions",
        &headers(None),
        &body(TXN),
        "s",
        false,
    );
    assert!(off.unwrap().is_none());
}

#[test]
fn a_bulk_is_keyed_by_its_references_in_order() {
    let k = |b: &str| key(Method::POST, "/transactions/bulk", &headers(None), b);
    let a = k(r#"{"transactions":[{"reference":"a"},{"reference":"b"}]}"#).unwrap();
    assert_eq!(a.kind, Kind::BulkReferences);
    let same =
        k(r#"{"Transactions":[{"Reference":"a"},{"reference":"b"}],"atomic":true}"#).unwrap();
    assert_eq!(a.store_key, same.store_key);
    let other = k(r#"{"transactions":[{"reference":"b"},{"reference":"a"}]}"#).unwrap();
    assert_ne!(a.store_key, other.store_key);
    assert!(k(r#"{"transactions":[{"reference":"a"}],"dry_run":true}"#).is_none());
    assert!(k(r#"{"transactions":[{"amount":1}]}"#).is_none());
    assert!(k(r#"{"transactions":[]}"#).is_none());
    // Go's decoder: a later field wins, whatever its case; null changes nothing.
    let later = k(r#"{"transactions":[{"reference":"x"}],"TRANSACTIONS":[{"reference":"a"},{"reference":"b"}]}"#).unwrap();
    assert_eq!(later.store_key, a.store_key);
    let null =
        k(r#"{"transactions":[{"reference":"a"},{"reference":"b"}],"transactions":null}"#).unwrap();
    assert_eq!(null.store_key, a.store_key);
}

#[test]
fn header_keys_are_the_clients_and_references_the_ledgers() {
    let of_client = |target: &str, h: &HeaderMap, b: &str, client: &str| {
        of(&Method::POST, target, h, &body(b), client, true)
            .unwrap()
            .unwrap()
    };
    let a = of_client("/ledgers", &headers(Some("k")), "{}", "client:a");
    let b = of_client("/ledgers", &headers(Some("k")), "{}", "client:b");
    assert_ne!(a.store_key, b.store_key);
    // One reference is one key, whoever sends it and under whichever header...
    let a = of_client("/transactions", &headers(Some("k1")), TXN, "client:a");
    let b = of_client("/transactions", &headers(Some("k2")), TXN, "client:b");
    let none = of_client("/transactions", &headers(None), TXN, "client:a");
    assert_eq!(a.kind, Kind::Reference);
    assert_eq!((a.store_key, a.store_key), (b.store_key, none.store_key));
    // ...and another client's identical request does not match the first.
    assert_ne!(a.fingerprint, b.fingerprint);
    assert_eq!(a.fingerprint, none.fingerprint);
    // A header is checked even where the reference is the key.
    let bad = of(
        &Method::POST,
        "/transactions",
        &headers(Some("\"open")),
        &body(TXN),
        "s",
        true,
    );
    assert_eq!(bad.unwrap_err(), Reject::IdempotencyKeyInvalid);
}

#[test]
fn fingerprints_see_every_byte() {
    let a = of(
        &Method::POST,
        "/transactions",
        &headers(None),
        &body(TXN),
        "client:a",
        true,
    )
    .unwrap()
    .unwrap();
    let b = of(
        &Method::POST,
        "/transactions",
        &headers(None),
        &body(TXN),
        "client:b",
        true,
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.store_key, b.store_key);
    assert_ne!(a.fingerprint, b.fingerprint);
    let other_body = TXN.replace("\"amount\":1", "\"amount\":2");
    let c = key(Method::POST, "/transactions", &headers(None), &other_body).unwrap();
    assert_eq!(
        c.store_key,
        key(Method::POST, "/transactions", &headers(None), TXN)
            .unwrap()
            .store_key
    );
    assert_ne!(c.fingerprint, a.fingerprint);
    let query = key(Method::POST, "/transactions?x=1", &headers(None), TXN).unwrap();
    assert_ne!(query.fingerprint, a.fingerprint);
    // The body's frames do not matter, only its bytes.
    let whole = Buffered::from_chunks(vec![Bytes::from_static(TXN.as_bytes())]);
    let one = of(
        &Method::POST,
        "/transactions",
        &headers(None),
        &whole,
        "client:a",
        true,
    )
    .unwrap()
    .unwrap();
    assert_eq!(one.fingerprint, a.fingerprint);
    let _ = RequestBody::empty();
}
