//! Rate limiting through real sockets: bursts, 429s in Blnk's shape, brute force from one
//! address, and clients on other addresses or with other identities left alone; and what a write
//! is, the same to the writes quota and to the audit log's `refuse_writes`.
//!
//! Quotas here replenish one request per 1000 s, so nothing refills while a test runs and no
//! test sleeps.

use blnk_gateway::reload::Outcome;
use http::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpSocket;

use crate::support::client::{self, get_ledgers, keyed_empty, send1, Answer, H1};
use crate::support::gateway::{Setup, TestGateway};
use crate::support::keys::issue;

/// A quota that does not refill during a test.
fn slow(burst: u32) -> Value {
    json!({"per_second": 0.001, "burst": burst})
}

fn with_rate_limit(rate_limit: Value) -> Setup {
    Setup {
        gateway: json!({ "rate_limit": rate_limit }),
        ..Setup::default()
    }
}

/// An HTTP/1.1 client over TLS whose connection comes from `source` (any 127.0.0.0/8 address).
async fn h1_from(gw: &TestGateway, source: &str) -> H1 {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let tcp = socket.connect(gw.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = gw
        .connector(&[b"http/1.1"])
        .connect(name, tcp)
        .await
        .unwrap();
    client::h1(tls).await
}

async fn get(c: &mut H1, key: &str) -> Answer {
    send1(c, get_ledgers(key)).await
}

fn header(a: &Answer, name: &str) -> String {
    a.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", a.headers))
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_burst_passes_then_429_in_blnks_shape_and_blnk_never_sees_it() {
    let gw = TestGateway::start(with_rate_limit(
        json!({"per_client": slow(3), "global": null}),
    ))
    .await;
    let mut c = gw.h1().await;
    for remaining in ["2", "1", "0"] {
        let a = get(&mut c, &gw.key).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(header(&a, "ratelimit-limit"), "3");
        assert_eq!(header(&a, "ratelimit-remaining"), remaining);
    }
    for _ in 0..5 {
        let a = get(&mut c, &gw.key).await;
        a.assert_error(429, "GEN_RATE_LIMITED");
        assert_eq!(a.json()["error"], "You have reached maximum request limit.");
        let retry: u64 = header(&a, "retry-after").parse().unwrap();
        assert!((1..=1000).contains(&retry), "{retry}");
        assert_eq!(header(&a, "ratelimit-limit"), "3");
        assert_eq!(header(&a, "ratelimit-remaining"), "0");
        assert_eq!(header(&a, "ratelimit-reset"), retry.to_string());
        assert!(a.headers.contains_key("x-request-id"));
    }
    assert_eq!(gw.blnk.count(), 3);
}

#[tokio::test]
async fn brute_force_from_one_address_is_cut_off_and_other_clients_are_not() {
    // The shipped defaults: 10 failures at once, then one every 10 s, then a 5 minute cool-down.
    let gw = TestGateway::start(Setup::default()).await;
    let mut attacker = h1_from(&gw, "127.0.0.1").await;
    let (mut refused, mut limited) = (0, 0);
    for n in 0..2_000 {
        let a = get(
            &mut attacker,
            &format!("guess-{n}-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        )
        .await;
        match a.status {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                let retry: u64 = header(&a, "retry-after").parse().unwrap();
                assert!((290..=300).contains(&retry), "{retry}");
            }
            other => panic!("guess {n}: {other}"),
        }
    }
    assert_eq!((refused, limited), (10, 1_990));
    // Cooling down: even the right key is refused, so a guess that happened to be right would
    // look like every other guess.
    get(&mut attacker, &gw.key)
        .await
        .assert_error(429, "GEN_RATE_LIMITED");
    let mut fresh = h1_from(&gw, "127.0.0.1").await;
    get(&mut fresh, &gw.key)
        .await
        .assert_error(429, "GEN_RATE_LIMITED");
    // A client on another address is served as usual.
    let mut other = h1_from(&gw, "127.0.0.2").await;
    for _ in 0..3 {
        assert_eq!(get(&mut other, &gw.key).await.status, 200);
    }
    assert_eq!(gw.blnk.count(), 3);
    assert_eq!(gw.state.rate_limits.tracked().cooling_down, 1);
}

#[tokio::test]
async fn keys_refused_by_blnk_count_as_failed_authentications() {
    let setup = Setup {
        gateway: json!({
            "pass_through_unknown_keys": true,
            "rate_limit": {"failed_auth": slow(2)},
        }),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let mut c = gw.h1().await;
    // Blnk answers the first three; the third is past the limit and starts the cool-down.
    for n in 0..3 {
        get(
            &mut c,
            &format!("blnk-scoped-key-{n}-unknown-to-blnk-aaaaaaaa"),
        )
        .await
        .assert_error(401, "AUTH_INVALID_API_KEY");
    }
    assert_eq!(gw.blnk.count(), 3);
    get(&mut c, &gw.key)
        .await
        .assert_error(429, "GEN_RATE_LIMITED");
    assert_eq!(gw.blnk.count(), 3);
}

#[tokio::test]
async fn clients_on_other_addresses_have_their_own_buckets() {
    // Inject mode without client certificates: a client is its address.
    let setup = Setup {
        gateway: json!({
            "mode": "inject",
            "allow_networks": ["127.0.0.0/8"],
            "rate_limit": {"per_client": slow(2), "global": null},
        }),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let mut one = h1_from(&gw, "127.0.0.1").await;
    let mut two = h1_from(&gw, "127.0.0.2").await;
    for _ in 0..2 {
        assert_eq!(get(&mut one, "").await.status, 200);
    }
    get(&mut one, "")
        .await
        .assert_error(429, "GEN_RATE_LIMITED");
    for _ in 0..2 {
        assert_eq!(get(&mut two, "").await.status, 200);
    }
    get(&mut two, "")
        .await
        .assert_error(429, "GEN_RATE_LIMITED");
    assert_eq!(gw.blnk.count(), 4);
}

#[tokio::test]
async fn a_client_certificate_is_an_identity_with_its_own_quota() {
    let setup = Setup {
        gateway: json!({"mode": "inject", "tls": {"client_ca": "ca.pem"}}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let connector = client::tls(
        &gw.certs.ca,
        Some((&gw.certs.client.cert, &gw.certs.client.key)),
        &[b"http/1.1"],
    );
    let mut c = client::h1(client::connect_tls(gw.addr, &connector).await.unwrap()).await;
    assert_eq!(header(&get(&mut c, "").await, "ratelimit-limit"), "2000");
    // An override for this certificate, applied by a reload.
    let sha256 = gw.certs.client.sha256();
    edit_config(&gw, |g| {
        g["rate_limit"] =
            json!({"clients": [{"id": format!("cert:{sha256}"), "per_second": 0.001, "burst": 2}]});
    })
    .await;
    for remaining in ["1", "0"] {
        let a = get(&mut c, "").await;
        assert_eq!(header(&a, "ratelimit-limit"), "2");
        assert_eq!(header(&a, "ratelimit-remaining"), remaining);
    }
    get(&mut c, "").await.assert_error(429, "GEN_RATE_LIMITED");
}

/// Rewrites the `gateway` section of the test's config file, then reloads it as SIGHUP does.
async fn edit_config(gw: &TestGateway, edit: impl FnOnce(&mut Value)) {
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&gw.config_path).unwrap()).unwrap();
    edit(&mut doc["gateway"]);
    std::fs::write(&gw.config_path, serde_json::to_vec(&doc).unwrap()).unwrap();
    assert!(matches!(
        gw.reloader.reload("test").await,
        Outcome::Applied { .. }
    ));
}

#[tokio::test]
async fn a_client_keys_own_rate_limit_applies_to_it_alone() {
    let staging = tempfile::tempdir().unwrap();
    let limited = issue(
        staging.path(),
        "batch",
        &["ledgers:read"],
        &["--rate", "1:2"],
    );
    let other = issue(staging.path(), "web", &["ledgers:read"], &[]);
    let clients = std::fs::read_to_string(staging.path().join("clients.json")).unwrap();
    let setup = Setup {
        gateway: json!({"mode": "inject", "clients_file": "clients.json"}),
        files: vec![("clients.json".into(), clients)],
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let mut c = gw.h1().await;
    let started = std::time::Instant::now();
    let mut passed = 0;
    let refused = loop {
        let a = get(&mut c, &limited).await;
        if a.status != StatusCode::OK {
            break a;
        }
        assert_eq!(header(&a, "ratelimit-limit"), "2");
        passed += 1;
        assert!(passed < 20, "never limited");
    };
    refused.assert_error(429, "GEN_RATE_LIMITED");
    // One request per second refills: at most the burst, plus what refilled meanwhile.
    assert!(passed <= 2 + started.elapsed().as_secs(), "{passed}");
    let a = get(&mut c, &other).await;
    assert_eq!(a.status, 200);
    assert_eq!(header(&a, "ratelimit-limit"), "2000");
}

#[tokio::test]
async fn a_reload_with_unchanged_quotas_keeps_the_buckets() {
    let gw = TestGateway::start(with_rate_limit(json!({"per_client": slow(1)}))).await;
    let mut c = gw.h1().await;
    assert_eq!(get(&mut c, &gw.key).await.status, 200);
    get(&mut c, &gw.key)
        .await
        .assert_error(429, "GEN_RATE_LIMITED");
    // The same quotas, other settings changed: still limited.
    edit_config(&gw, |g| g["limits"] = json!({"max_headers": 50})).await;
    get(&mut c, &gw.key)
        .await
        .assert_error(429, "GEN_RATE_LIMITED");
    // A new per-client quota starts with a full bucket.
    edit_config(&gw, |g| g["rate_limit"]["per_client"] = slow(5)).await;
    let a = get(&mut c, &gw.key).await;
    assert_eq!(a.status, 200);
    assert_eq!(header(&a, "ratelimit-limit"), "5");
}

/// DELETE and a method the gateway does not know (`PURGE`) are writes; GET, HEAD and OPTIONS
/// are not. The same methods, to the writes quota and to the audit log's `refuse_writes`.
const WRITES: [&str; 2] = ["DELETE", "PURGE"];
const READS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

#[tokio::test]
async fn delete_and_an_unknown_method_draw_from_the_writes_bucket() {
    let gw = TestGateway::start(with_rate_limit(json!({
        "per_client": slow(100), "writes": slow(2), "global": null
    })))
    .await;
    let mut c = gw.h1().await;
    for (method, remaining) in WRITES.into_iter().zip(["1", "0"]) {
        let a = send1(&mut c, keyed_empty(method, "/identities/i1", &gw.key)).await;
        assert_eq!(header(&a, "ratelimit-limit"), "2", "{method}: {:?}", a.body);
        assert_eq!(header(&a, "ratelimit-remaining"), remaining, "{method}");
    }
    for method in READS {
        let a = send1(&mut c, keyed_empty(method, "/ledgers", &gw.key)).await;
        assert_eq!(
            header(&a, "ratelimit-limit"),
            "100",
            "{method}: {:?}",
            a.body
        );
    }
    for method in WRITES {
        send1(&mut c, keyed_empty(method, "/identities/i1", &gw.key))
            .await
            .assert_error(429, "GEN_RATE_LIMITED");
    }
    assert_eq!(gw.blnk.count(), 5);
}

#[tokio::test]
async fn delete_and_an_unknown_method_are_refused_while_the_audit_log_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    // Every write to /dev/full fails (ENOSPC), as on a full disk; refuse_writes is the default.
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();
    let gw = TestGateway::start(Setup {
        gateway: json!({"audit": {"path": path}}),
        ..Setup::default()
    })
    .await;
    assert!(gw.state.audit.flush().await.is_err());
    let mut c = gw.h1().await;
    for method in WRITES {
        send1(&mut c, keyed_empty(method, "/identities/i1", &gw.key))
            .await
            .assert_error(503, "GATEWAY_AUDIT_UNAVAILABLE");
    }
    for method in READS {
        let a = send1(&mut c, keyed_empty(method, "/ledgers", &gw.key)).await;
        assert_ne!(
            a.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method}: {:?}",
            a.body
        );
    }
    assert_eq!(gw.blnk.count(), 3);
    assert_eq!(gw.state.audit.stats().refused_writes, 2);
}
