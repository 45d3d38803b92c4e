//! The audit log through real sockets: one record per request on every exit path, with the
//! documented fields; the chain across a rotation, checked by `audit verify`; the policy when
//! the log cannot be written.

use std::collections::BTreeSet;
use std::time::Duration;

use blnk_gateway::secret::Fingerprint;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};

use crate::support::client::{
    self, empty, keyed_transfer, keyed_with_id, send1, send2, with_id, Answer,
};
use crate::support::clock::pace;
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::{Setup, TestGateway};
use crate::support::keys::issue;
use crate::support::until;
use crate::support::upstream::gateway_without_blnk;

mod failure;
mod no_keys;
mod seal;
mod seal_cli;
mod sighup;
mod verify_cli;

/// Every field of a request record, always present (null when unknown): docs/audit.md.
const FIELDS: &[&str] = &[
    "v",
    "seq",
    "prev",
    "kind",
    "time",
    "request_id",
    "peer",
    "tls_version",
    "client_cert_sha256",
    "key_fingerprint",
    "client_id",
    "mode",
    "http",
    "method",
    "path",
    "path_truncated",
    "query",
    "resource",
    "idempotency",
    "decision",
    "reason",
    "sent_upstream",
    "upstream_status",
    "end",
    "bytes_in",
    "bytes_out",
    "latency_us",
];

fn assert_schema(r: &Value) {
    let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = FIELDS.iter().copied().collect();
    assert_eq!(keys, want, "{r:#}");
    let time = r["time"].as_str().unwrap();
    assert!(
        time.len() == 27 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{time}"
    );
    assert_eq!(r["prev"].as_str().unwrap().len(), 64);
    assert!(r["latency_us"].is_u64());
    assert!(r["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{r}");
}

async fn h1_send(gw: &TestGateway, r: http::Request<Full<Bytes>>) -> Answer {
    let mut c = gw.h1().await;
    send1(&mut c, r).await
}

#[tokio::test(start_paused = true)]
async fn every_local_and_forwarded_exit_writes_exactly_one_record() {
    pace();
    let setup = Setup {
        gateway: json!({"limits": {"max_body_bytes": 1024, "body_read_timeout": "300ms"}}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let key = gw.key.clone();
    let wrong = format!("{key}-wrong");

    let a = h1_send(
        &gw,
        keyed_with_id("GET", "/ledgers?name=alice", &key, "ok-get"),
    )
    .await;
    assert_eq!(a.status, 200);
    let get_len = a.body.len();
    let post = keyed_transfer(&key, "ok-post");
    let post_len = http_body::Body::size_hint(post.body()).exact().unwrap();
    let a = h1_send(&gw, post).await;
    assert_eq!(a.status, 201);
    let a = h1_send(
        &gw,
        with_id("GET", "/health", "exempt").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(a.status, 200);
    h1_send(
        &gw,
        with_id("GET", "/balances", "no-key").body(empty()).unwrap(),
    )
    .await
    .assert_error(401, "AUTH_MISSING_API_KEY");
    h1_send(&gw, keyed_with_id("GET", "/balances", &wrong, "bad-key"))
        .await
        .assert_error(401, "AUTH_INVALID_API_KEY");
    h1_send(
        &gw,
        with_id("TRACE", "/ledgers", "trace").body(empty()).unwrap(),
    )
    .await
    .assert_error(405, "GATEWAY_METHOD_NOT_ALLOWED");
    let big = Full::new(Bytes::from(vec![b'x'; 2000]));
    h1_send(
        &gw,
        with_id("POST", "/transactions", "too-big")
            .header("x-blnk-key", &key)
            .body(big)
            .unwrap(),
    )
    .await
    .assert_error(413, "GEN_PAYLOAD_TOO_LARGE");

    // A body that never completes (408) and one that is not valid chunked encoding (400).
    let connector = gw.connector(&[b"http/1.1"]);
    let mut tls = client::connect_tls(gw.addr, &connector).await.unwrap();
    let head = format!("POST /transactions HTTP/1.1\r\nHost: x\r\nX-Request-Id: slow-body\r\nX-Blnk-Key: {key}\r\nContent-Length: 10\r\n\r\nabc");
    let answer = client::raw(&mut tls, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let mut tls = client::connect_tls(gw.addr, &connector).await.unwrap();
    let head = format!("POST /transactions HTTP/1.1\r\nHost: x\r\nX-Request-Id: bad-chunk\r\nX-Blnk-Key: {key}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    let answer = client::raw(&mut tls, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let log = gw.stop_and_read_audit().await;
    let requests = log.requests();
    assert_eq!(requests.len(), 9, "{:#?}", log.lines);
    requests.iter().for_each(assert_schema);
    let master = Fingerprint::of(key.as_bytes()).to_string();

    let r = log.one("ok-get");
    assert_eq!(
        (
            &r["decision"],
            &r["reason"],
            &r["upstream_status"],
            &r["end"]
        ),
        (
            &json!("forwarded"),
            &Value::Null,
            &json!(200),
            &json!("complete")
        )
    );
    assert_eq!(
        (&r["method"], &r["path"], &r["query"]),
        (&json!("GET"), &json!("/ledgers"), &Value::Null)
    );
    assert_eq!(
        (&r["tls_version"], &r["http"], &r["mode"]),
        (&json!("TLSv1.3"), &json!("HTTP/1.1"), &json!("verify"))
    );
    assert_eq!(r["key_fingerprint"], master);
    assert_eq!(r["client_cert_sha256"], Value::Null);
    assert_eq!(r["sent_upstream"], true);
    assert_eq!(r["bytes_out"], get_len as u64);
    let r = log.one("ok-post");
    assert_eq!(
        (&r["upstream_status"], &r["bytes_in"]),
        (&json!(201), &json!(post_len))
    );
    let r = log.one("exempt");
    assert_eq!(
        (&r["decision"], &r["key_fingerprint"]),
        (&json!("forwarded"), &Value::Null)
    );

    for (id, reason, sent) in [
        ("no-key", "AUTH_MISSING_API_KEY", false),
        ("bad-key", "AUTH_INVALID_API_KEY", false),
        ("trace", "GATEWAY_METHOD_NOT_ALLOWED", false),
        ("too-big", "GEN_PAYLOAD_TOO_LARGE", false),
        // Bodies are read whole before anything goes upstream: Blnk never saw these.
        ("slow-body", "GATEWAY_REQUEST_TIMEOUT", false),
        ("bad-chunk", "GATEWAY_BAD_REQUEST", false),
    ] {
        let r = log.one(id);
        assert_eq!(r["decision"], "rejected", "{r}");
        assert_eq!(r["reason"], reason, "{r}");
        assert_eq!(r["sent_upstream"], sent, "{r}");
        assert_eq!(r["upstream_status"], Value::Null, "{r}");
    }
    let r = log.one("bad-key");
    assert_eq!(
        r["key_fingerprint"],
        Fingerprint::of(wrong.as_bytes()).to_string()
    );
    assert_ne!(r["key_fingerprint"], master);
    assert_eq!(log.one("slow-body")["bytes_in"], 3);
}

#[tokio::test(start_paused = true)]
async fn rate_limits_upstream_failures_and_refused_networks_write_one_record_each() {
    pace();
    // 403: a network outside allow_networks.
    let gw = TestGateway::start(Setup {
        gateway: json!({"allow_networks": ["192.0.2.0/24"]}),
        ..Setup::default()
    })
    .await;
    let key = gw.key.clone();
    h1_send(&gw, keyed_with_id("GET", "/ledgers", &key, "net"))
        .await
        .assert_error(403, "GATEWAY_NETWORK_NOT_ALLOWED");
    let r = gw.stop_and_read_audit().await.one("net");
    assert_eq!(
        (&r["reason"], &r["sent_upstream"]),
        (&json!("GATEWAY_NETWORK_NOT_ALLOWED"), &json!(false))
    );

    // 429: over the client's quota (burst 1, practically no refill).
    let gw = TestGateway::start(Setup {
        gateway: json!({"rate_limit": {"per_client": {"per_second": 0.001, "burst": 1}, "global": null}}),
        ..Setup::default()
    })
    .await;
    let key = gw.key.clone();
    for id in ["first", "limited"] {
        h1_send(&gw, keyed_with_id("GET", "/ledgers", &key, id)).await;
    }
    let log = gw.stop_and_read_audit().await;
    assert_eq!(log.one("first")["decision"], "forwarded");
    let r = log.one("limited");
    assert_eq!(
        (&r["reason"], &r["sent_upstream"]),
        (&json!("GEN_RATE_LIMITED"), &json!(false))
    );

    // 502: nothing listens upstream.
    let (gw, _) = gateway_without_blnk(Setup::default()).await;
    let key = gw.key.clone();
    h1_send(&gw, keyed_transfer(&key, "down"))
        .await
        .assert_error(502, "GATEWAY_UPSTREAM_UNAVAILABLE");
    let log = gw.stop_and_read_audit().await;
    let r = log.one("down");
    assert_schema(&r);
    assert_eq!(
        (&r["decision"], &r["sent_upstream"]),
        (&json!("rejected"), &json!(true))
    );

    // 504: Blnk too slow.
    let gw = TestGateway::start(Setup {
        gateway: json!({"limits": {"upstream_response_timeout": "300ms"}}),
        ..Setup::default()
    })
    .await;
    gw.blnk
        .set_behavior(Behavior::Delay(Duration::from_secs(3600)));
    let key = gw.key.clone();
    h1_send(&gw, keyed_with_id("GET", "/ledgers", &key, "slow"))
        .await
        .assert_error(504, "GATEWAY_UPSTREAM_TIMEOUT");
    let r = gw.stop_and_read_audit().await.one("slow");
    assert_eq!(
        (&r["reason"], &r["sent_upstream"]),
        (&json!("GATEWAY_UPSTREAM_TIMEOUT"), &json!(true))
    );
}

/// A client that goes away after its request went upstream does not change what Blnk does, so it
/// must not change what the record says: Blnk's status is recorded when Blnk answers.
#[tokio::test]
async fn a_client_that_goes_away_gets_a_record_with_blnks_answer() {
    let gw = TestGateway::start(Setup::default()).await;
    gw.blnk.set_behavior(Behavior::Hold);
    let key = gw.key.clone();

    // HTTP/1.1: the connection is closed while Blnk works on the request.
    let mut c = gw.h1().await;
    c.ready().await.unwrap();
    let sent = c.send_request(keyed_transfer(&key, "gone-h1"));
    let waiting = tokio::spawn(sent);
    until(|| gw.blnk.count() >= 1).await;
    waiting.abort();
    drop(c);

    // HTTP/2: the stream is reset while Blnk works on the request.
    let mut c2 = gw.h2().await;
    c2.ready().await.unwrap();
    let sent = c2.send_request(keyed_transfer(&key, "gone-h2"));
    let waiting = tokio::spawn(sent);
    until(|| gw.blnk.count() >= 2).await;
    let left_before = gw.state.exchanges.len();
    waiting.abort();
    // Blnk answers after both clients have gone: once the gateway has seen the reset, which moves
    // the exchange into a task of its own. (Releasing Blnk before that is a race the answer can
    // win, and then the record rightly says `complete`.)
    until(|| gw.state.exchanges.len() > left_before).await;
    gw.blnk.release();
    gw.blnk.set_behavior(Behavior::Normal);
    // The HTTP/2 connection stays open: only the stream went away.
    let a = send2(&mut c2, keyed_with_id("GET", "/ledgers", &key, "after")).await;
    assert_eq!(a.status, 200);
    drop(c2);

    let log = gw.stop_and_read_audit().await;
    for id in ["gone-h1", "gone-h2"] {
        let r = log.one(id);
        assert_schema(&r);
        assert_eq!(
            (
                &r["decision"],
                &r["upstream_status"],
                &r["sent_upstream"],
                &r["reason"]
            ),
            (&json!("forwarded"), &json!(201), &json!(true), &Value::Null),
            "{r}"
        );
    }
    // The stream reset is seen at once; a closed HTTP/1.1 socket only when writing to it fails.
    assert_eq!(log.one("gone-h2")["end"], "client_gone");
    assert_eq!(log.one("gone-h2")["http"], "HTTP/2");
    assert_eq!(log.requests().len(), 3);
}

#[tokio::test]
async fn the_query_is_recorded_only_when_configured() {
    let gw = TestGateway::start(Setup {
        gateway: json!({"audit": {"include_query": true}}),
        ..Setup::default()
    })
    .await;
    let key = gw.key.clone();
    let a = h1_send(
        &gw,
        keyed_with_id("GET", "/identities?email=a%22b%0A", &key, "q"),
    )
    .await;
    assert_eq!(a.status, 200);
    let log = gw.stop_and_read_audit().await;
    let r = log.one("q");
    assert_eq!(
        (&r["path"], &r["query"]),
        (&json!("/identities"), &json!("email=a%22b%0A"))
    );
}

#[tokio::test]
async fn inject_mode_records_the_client_certificate_and_no_key() {
    let setup = Setup {
        gateway: json!({"mode": "inject", "tls": {"client_ca": "ca.pem"}}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let connector = client::tls(
        &gw.certs.ca,
        Some((&gw.certs.client.cert, &gw.certs.client.key)),
        &[b"h2"],
    );
    let tls = client::connect_tls(gw.addr, &connector).await.unwrap();
    let mut c = client::h2(tls).await;
    // A client that sends the master key anyway: discarded, never recorded.
    let a = send2(&mut c, keyed_with_id("GET", "/ledgers", &gw.key, "cert")).await;
    assert_eq!(a.status, 200);
    drop(c);
    let want = gw.certs.client.sha256();
    let log = gw.stop_and_read_audit().await;
    let r = log.one("cert");
    assert_schema(&r);
    assert_eq!(
        (&r["mode"], &r["key_fingerprint"]),
        (&json!("inject"), &Value::Null)
    );
    assert_eq!(r["client_cert_sha256"], want);
}

#[tokio::test]
async fn inject_mode_with_client_keys_records_the_client_id_and_never_the_key() {
    let staging = tempfile::tempdir().unwrap();
    let key = issue(staging.path(), "app", &["ledgers:read"], &[]);
    let clients = staging.path().join("clients.json");
    let id = key.split('_').nth(1).unwrap().to_string();
    let setup = Setup {
        gateway: json!({"mode": "inject", "clients_file": "clients.json"}),
        files: vec![(
            "clients.json".into(),
            std::fs::read_to_string(&clients).unwrap(),
        )],
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    // The last hex digit changed (to 0, or to 1 when it already is 0): a wrong secret, same id.
    let last = if key.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &key[..key.len() - 1]);
    let a = h1_send(&gw, keyed_with_id("GET", "/ledgers", &key, "client")).await;
    assert_eq!(a.status, 200);
    h1_send(&gw, keyed_with_id("POST", "/ledgers", &key, "scope"))
        .await
        .assert_error(403, "AUTH_INSUFFICIENT_PERMISSIONS");
    let a = h1_send(&gw, keyed_with_id("GET", "/ledgers", &wrong, "wrong")).await;
    assert_eq!(a.status, 401);

    let log = gw.stop_and_read_audit().await;
    let r = log.one("client");
    assert_schema(&r);
    assert_eq!(
        (&r["client_id"], &r["mode"]),
        (&json!(id), &json!("inject"))
    );
    assert_eq!(
        r["key_fingerprint"],
        Fingerprint::of(key.as_bytes()).to_string()
    );
    let r = log.one("scope");
    assert_eq!(
        (&r["reason"], &r["client_id"]),
        (&json!("AUTH_INSUFFICIENT_PERMISSIONS"), &Value::Null)
    );
    assert_eq!(
        r["key_fingerprint"],
        Fingerprint::of(key.as_bytes()).to_string()
    );
    let r = log.one("wrong");
    assert_eq!(r["client_id"], Value::Null);
    assert_eq!(
        r["key_fingerprint"],
        Fingerprint::of(wrong.as_bytes()).to_string()
    );
    let text = log.lines.join("\n");
    for k in [&key, &wrong] {
        for i in 0..k.len() - 12 {
            assert!(
                !text.contains(&k[i..i + 13]),
                "a piece of a client key is in the audit log"
            );
        }
    }
}
