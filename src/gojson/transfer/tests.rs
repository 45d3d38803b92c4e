//! The binding rules on Blnk's structs, with the examples Go's `encoding/json` (go1.26, Blnk's
//! v1 decoder) was run on to confirm each expected value.

use super::super::inflight::{bulk_commit, bulk_void, inflight_update};
use super::super::refund::{refund, Refund};
use super::*;

fn ok(body: &[u8]) -> Transfer<'_> {
    match transfer(body) {
        Ok(t) => t,
        Err(e) => panic!("{}: {e}", String::from_utf8_lossy(body)),
    }
}

fn refused(body: &[u8]) -> Unreadable {
    match transfer(body) {
        Ok(t) => panic!("{} bound: {t:?}", String::from_utf8_lossy(body)),
        Err(e) => e,
    }
}

fn wrong(field: &'static str) -> Unreadable {
    Unreadable::WrongType { field }
}

#[test]
fn a_typical_transfer() {
    let t = ok(
        br#"{"amount":12.5,"precision":100,"reference":"ref-1","currency":"USD",
        "source":"@World","destination":"bln_1","description":"x","skip_queue":true,
        "meta_data":{"order":{"id":7,"tags":["a"]}},"effective_date":"2024-01-01T00:00:00Z"}"#,
    );
    assert_eq!(t.reference, "ref-1");
    assert_eq!(
        (t.amount, t.precision, t.precise_amount),
        (12.5, 100.0, None)
    );
    assert_eq!(
        (&*t.currency, &*t.source, &*t.destination),
        ("USD", "@World", "bln_1")
    );
    assert!(t.skip_queue && !t.inflight && !t.dry_run && !t.is_split());
    assert_eq!(t.precise(), Ok(1250));
    assert!(matches!(t.reference, Cow::Borrowed(_)));
}

#[test]
fn references_read_as_go_unquotes_them() {
    for body in [
        &b"{\"reference\":\"r-\xff\"}"[..],
        b"{\"reference\":\"r-\xfe\"}",
        br#"{"reference":"r-\ud800"}"#,
        br#"{"reference":"r-\udc00"}"#,
    ] {
        assert_eq!(ok(body).reference, "r-\u{FFFD}");
    }
    assert_eq!(
        ok(br#"{"reference":"\ud83d\ude00"}"#).reference,
        "\u{1F600}"
    );
    assert_eq!(
        refused(b"{\"reference\":\"a\x1fb\"}"),
        Unreadable::Syntax { at: 15 }
    );
}

#[test]
fn the_first_value_only() {
    assert_eq!(ok(br#"{"reference":"a"}{"reference":"b"}"#).reference, "a");
    assert_eq!(ok(br#"{"reference":"a"} trailing {garbage"#).reference, "a");
    assert_eq!(refused(br#"{"reference":"a""#), Unreadable::Truncated);
    assert_eq!(refused(b""), Unreadable::Empty);
    assert_eq!(refused(br#"{"amount":01}"#), Unreadable::Syntax { at: 11 });
    assert_eq!(ok(b"null"), Transfer::default());
    for other in [&b"[]"[..], b"\"x\"", b"5", b"true"] {
        assert_eq!(refused(other), Unreadable::NotAnObject);
    }
}

#[test]
fn keys_fold_and_the_last_one_wins() {
    let t = ok("{\"\u{17F}kip_queue\":true,\"REFERENCE\":\"a\",\"Reference\":\"b\"}".as_bytes());
    assert!(t.skip_queue);
    assert_eq!(t.reference, "b");
    assert!(!ok(br#"{"skip_queue":true,"s\u212Aip_queue":false}"#).skip_queue);
    assert!(ok("{\"s\u{212A}ip_queue\":true}".as_bytes()).skip_queue);
    let t = ok("{\"de\u{17F}tinations\":[{\"identifier\":\"x\"}]}".as_bytes());
    assert_eq!(t.destinations.len(), 1);
    // Other non-ASCII runes never bind: the key is unknown, its value ignored.
    assert!(!ok("{\"\u{130}nflight\":true,\"\u{131}nflight\":5}".as_bytes()).inflight);
}

#[test]
fn null_leaves_scalars_and_clears_pointers_and_slices() {
    let t = ok(
        br#"{"reference":"a","reference":null,"amount":5,"amount":null,
        "skip_queue":true,"skip_queue":null,"precise_amount":7,"precise_amount":null,
        "sources":[{"identifier":"s"}],"sources":null}"#,
    );
    assert_eq!((&*t.reference, t.amount, t.skip_queue), ("a", 5.0, true));
    assert_eq!(t.precise_amount, None);
    assert!(t.sources.is_empty());
}

#[test]
fn a_value_of_the_wrong_type_fails_the_bind() {
    for (body, field) in [
        (&br#"{"amount":"5"}"#[..], "amount"),
        (br#"{"precision":true}"#, "precision"),
        (br#"{"skip_queue":"true"}"#, "skip_queue"),
        (br#"{"dry_run":0}"#, "dry_run"),
        (br#"{"reference":{}}"#, "reference"),
        (br#"{"reference":5}"#, "reference"),
        (br#"{"currency":["USD"]}"#, "currency"),
        (br#"{"sources":{}}"#, "sources"),
        (br#"{"sources":"x"}"#, "sources"),
        (br#"{"destinations":[5]}"#, "destinations"),
        (br#"{"sources":[{"identifier":5}]}"#, "identifier"),
        (
            br#"{"sources":[{"precise_distribution":5}]}"#,
            "precise_distribution",
        ),
        (br#"{"description":5}"#, "description"),
        (br#"{"balance_id":true}"#, "balance_id"),
        (br#"{"inflight_expiry_date":{}}"#, "inflight_expiry_date"),
        (br#"{"overdraft_limit":"1"}"#, "overdraft_limit"),
        (br#"{"meta_data":[]}"#, "meta_data"),
        (br#"{"meta_data":"x"}"#, "meta_data"),
        // The bind fails even when a later key would have been fine.
        (br#"{"amount":"5","amount":5}"#, "amount"),
    ] {
        assert_eq!(
            refused(body),
            wrong(field),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn unknown_keys_are_ignored_whatever_they_hold() {
    let t = ok(br#"{"foo":{"bar":[1e999,"\ud800",{}]},"amount_x":"5","reference":"a"}"#);
    assert_eq!(t.reference, "a");
}

#[test]
fn numbers_into_float64() {
    assert_eq!(
        refused(br#"{"amount":1e309}"#),
        Unreadable::OutOfRange { field: "amount" }
    );
    assert_eq!(
        refused(br#"{"amount":-1e309}"#),
        Unreadable::OutOfRange { field: "amount" }
    );
    assert_eq!(ok(br#"{"amount":1e-400}"#).amount, 0.0);
    assert_eq!(ok(br#"{"amount":1.7976931348623157e308}"#).amount, f64::MAX);
    assert_eq!(ok(br#"{"amount":0.1}"#).amount, 0.1);
}

#[test]
fn precise_amount_is_an_integer_literal() {
    for body in [
        &br#"{"precise_amount":1.5}"#[..],
        br#"{"precise_amount":1e3}"#,
        br#"{"precise_amount":1E3}"#,
        br#"{"precise_amount":"123"}"#,
        br#"{"precise_amount":true}"#,
        br#"{"precise_amount":[]}"#,
        br#"{"precise_amount":{}}"#,
    ] {
        assert_eq!(refused(body), wrong("precise_amount"));
    }
    assert_eq!(ok(br#"{"precise_amount":123}"#).precise_amount, Some(123));
    assert_eq!(ok(br#"{"precise_amount":-5}"#).precise_amount, Some(-5));
    assert_eq!(ok(br#"{"precise_amount":-0}"#).precise_amount, Some(0));
    let max = format!(r#"{{"precise_amount":{}}}"#, i128::MAX);
    assert_eq!(ok(max.as_bytes()).precise_amount, Some(i128::MAX));
    // Blnk reads any size; the gateway refuses what it cannot hold.
    let beyond = br#"{"precise_amount":170141183460469231731687303715884105728}"#;
    assert_eq!(
        refused(beyond),
        Unreadable::TooLarge {
            field: "precise_amount"
        }
    );
}

#[test]
fn meta_data_numbers_must_be_float64() {
    let out = Unreadable::OutOfRange { field: "meta_data" };
    assert_eq!(refused(br#"{"meta_data":{"x":1e400}}"#), out);
    assert_eq!(refused(br#"{"meta_data":{"a":[{"b":-1e999}]}}"#), out);
    assert!(
        transfer(br#"{"meta_data":null,"meta_data":{"x":[1,{"y":"z"}]},"meta_data":{}}"#).is_ok()
    );
}

#[test]
fn effective_date_is_rfc3339_or_null() {
    assert!(transfer(br#"{"effective_date":"2024-01-01T00:00:00Z"}"#).is_ok());
    assert!(transfer(br#"{"effective_date":"2024-01-01T10:00:00.5+01:00"}"#).is_ok());
    assert!(transfer(br#"{"effective_date":null}"#).is_ok());
    for bad in [
        &br#"{"effective_date":"2024-01-01"}"#[..],
        // Go parses the raw bytes: an escape is never RFC 3339, whatever it stands for.
        br#"{"effective_date":"2024-01-01T00:00:00\u005a"}"#,
        br#"{"effective_date":1704067200}"#,
        br#"{"effective_date":{}}"#,
        br#"{"effective_date":true}"#,
    ] {
        assert_eq!(refused(bad), wrong("effective_date"));
    }
}

#[test]
fn a_repeated_array_is_decoded_into_the_old_elements() {
    let t = ok(br#"{"sources":[{"identifier":"x","distribution":"50%"}],
        "sources":[{"identifier":"y"}]}"#);
    assert_eq!(t.sources.len(), 1);
    assert_eq!(
        (&*t.sources[0].identifier, &*t.sources[0].distribution),
        ("y", "50%")
    );
    // `null` into a struct element leaves it; a shorter array keeps the slots past its end.
    let t = ok(
        br#"{"sources":[{"identifier":"a","distribution":"1"},{"identifier":"b",
        "distribution":"2"},{"identifier":"c","distribution":"3"}],"sources":[{"identifier":"d"}],
        "sources":[{"identifier":"e"},{},null,{"identifier":"f"}]}"#,
    );
    let got: Vec<(&str, &str)> = t
        .sources
        .iter()
        .map(|s| (&*s.identifier, &*s.distribution))
        .collect();
    assert_eq!(got, [("e", "1"), ("b", "2"), ("c", "3"), ("f", "")]);
    // An empty array or null drops the old elements.
    for gap in ["[]", "null"] {
        let body = format!(
            r#"{{"sources":[{{"identifier":"a","distribution":"1"}}],"sources":{gap},"sources":[{{"identifier":"y"}}]}}"#
        );
        assert_eq!(ok(body.as_bytes()).sources[0].distribution, "");
    }
}

#[test]
fn bulk_items_are_pointers_into_reused_slots() {
    let b = bulk(br#"{"transactions":[{"reference":"a","amount":5,"sources":[{"identifier":"s",
        "distribution":"9"}]}],"transactions":[{"currency":"USD","sources":[{"identifier":"t"}]}]}"#)
    .unwrap();
    let t = b.transactions[0].as_ref().unwrap();
    assert_eq!((&*t.reference, t.amount, &*t.currency), ("a", 5.0, "USD"));
    assert_eq!(
        (&*t.sources[0].identifier, &*t.sources[0].distribution),
        ("t", "9")
    );
    // `null` sets the pointer nil; a later object gets a fresh transaction.
    let b = bulk(br#"{"transactions":[{"reference":"a"}],"transactions":[null]}"#).unwrap();
    assert_eq!(*b.transactions, [None]);
    let b = bulk(
        br#"{"transactions":[{"reference":"a"}],"transactions":[null],
        "transactions":[{"currency":"X"}]}"#,
    )
    .unwrap();
    assert_eq!(b.transactions[0].as_ref().unwrap().reference, "");
}

#[test]
fn bulk_flags_and_item_errors() {
    let b = bulk(
        br#"{"TRANSACTIONS":[{"reference":"a"},null],"atomic":true,"run_async":true,
        "inflight":null,"dry_run":true,"skip_queue":false}"#,
    )
    .unwrap();
    assert_eq!(b.transactions.len(), 2);
    assert!(b.transactions[1].is_none());
    assert!(b.atomic && b.run_async && b.dry_run && !b.skip_queue && !b.inflight);
    let bad = br#"{"transactions":[{"reference":"a"},{"amount":"5"}]}"#;
    assert_eq!(bulk(bad).unwrap_err(), wrong("amount"));
    assert_eq!(
        bulk(br#"{"transactions":[5]}"#).unwrap_err(),
        wrong("transactions")
    );
}

#[test]
fn inflight_bodies_bind_to_their_own_structs() {
    let u =
        inflight_update(br#"{"status":"commit","amount":5,"transaction_id":5,"x":[]}"#).unwrap();
    assert!(u.may_be_partial_commit());
    let u = inflight_update(br#"{"status":"commit","precise_amount":null,"amount":0}"#).unwrap();
    assert!(!u.names_amount());
    assert!(inflight_update(br#"{"status":"void","precise_amount":0}"#)
        .unwrap()
        .names_amount());
    assert_eq!(
        inflight_update(br#"{"status":1}"#).unwrap_err(),
        wrong("status")
    );

    // A commit item has no status, skip_queue or dry_run: those keys are unknown there.
    let c = bulk_commit(
        br#"{"transactions":[{"transaction_id":"t1","status":5,"dry_run":"x",
        "precise_amount":10}],"transaction_ids":5,"skip_queue":true}"#,
    )
    .unwrap();
    assert_eq!(c.commits.len(), 1);
    assert_eq!(
        (&*c.commits[0].transaction_id, c.commits[0].precise_amount),
        ("t1", Some(10))
    );
    assert!(c.skip_queue && c.transaction_ids.is_empty());

    let v =
        bulk_void(br#"{"transaction_ids":["a","b"],"transaction_ids":[null],"transactions":5}"#)
            .unwrap();
    assert_eq!(*v.transaction_ids, [Cow::Borrowed("a")]);
    assert_eq!(
        bulk_void(br#"{"transaction_ids":[1]}"#).unwrap_err(),
        wrong("transaction_ids")
    );
}

#[test]
fn a_refund_body_is_optional() {
    assert_eq!(refund(b"").unwrap(), Refund::default());
    assert_eq!(refund(b" \r\n\t").unwrap(), Refund::default());
    assert_eq!(refund(b"null").unwrap(), Refund::default());
    let r = refund(br#"{"skip_queue":true,"description":"d","meta_data":{"k":"v"}}"#).unwrap();
    assert!(r.skip_queue && !r.dry_run);
    assert_eq!(r.description, "d");
    assert_eq!(
        refund(br#"{"meta_data":5}"#).unwrap_err(),
        wrong("meta_data")
    );
    assert_eq!(refund(b"{").unwrap_err(), Unreadable::Truncated);
    assert_eq!(refund(b"[]").unwrap_err(), Unreadable::NotAnObject);
}
