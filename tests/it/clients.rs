//! Scoped client keys in inject mode, through real sockets, judged against Blnk's own rules.

use std::process::Command;

use serde_json::json;

use crate::support::client::{bare, get_ledgers, keyed, keyed_empty, send1};
use crate::support::fake_blnk::{reference, transfer};
use crate::support::gateway::{Setup, TestGateway};
use crate::support::keys::{issue, revoke};

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");

/// Where Blnk's scope check sends a route (docs/blnk.md section 4).
#[derive(Clone, Copy, Debug)]
enum Owner {
    Resource(&'static str),
    /// `/hooks`: Blnk checks for the master key explicitly.
    Hooks,
    /// First segment maps to no resource: master key only.
    Unknown,
}
use Owner::*;

/// Blnk's route table, every route, with what Blnk's scope middleware derives from it.
const ROUTES: &[(&str, &str, Owner)] = &[
    ("POST", "/ledgers", Resource("ledgers")),
    ("GET", "/ledgers", Resource("ledgers")),
    ("GET", "/ledgers/ldg_1", Resource("ledgers")),
    ("POST", "/ledgers/filter", Resource("ledgers")),
    ("PUT", "/ledgers/ldg_1", Resource("ledgers")),
    ("POST", "/balances", Resource("balances")),
    ("GET", "/balances", Resource("balances")),
    ("GET", "/balances/bln_1", Resource("balances")),
    ("GET", "/balances/bln_1/at", Resource("balances")),
    ("GET", "/balances/bln_1/lineage", Resource("balances")),
    (
        "GET",
        "/balances/indicator/@world/currency/USD",
        Resource("balances"),
    ),
    ("POST", "/balances/filter", Resource("balances")),
    ("PUT", "/balances/bln_1/identity", Resource("balances")),
    ("POST", "/balances-snapshots", Unknown),
    ("POST", "/balance-monitors", Resource("balance-monitors")),
    ("GET", "/balance-monitors", Resource("balance-monitors")),
    (
        "GET",
        "/balance-monitors/mon_1",
        Resource("balance-monitors"),
    ),
    (
        "PUT",
        "/balance-monitors/mon_1",
        Resource("balance-monitors"),
    ),
    (
        "DELETE",
        "/balance-monitors/mon_1",
        Resource("balance-monitors"),
    ),
    (
        "GET",
        "/balance-monitors/balances/bln_1",
        Resource("balance-monitors"),
    ),
    ("POST", "/transactions", Resource("transactions")),
    ("POST", "/transactions/bulk", Resource("transactions")),
    ("POST", "/transactions/filter", Resource("transactions")),
    ("POST", "/transactions/recover", Resource("transactions")),
    (
        "POST",
        "/transactions/inflight/bulk/commit",
        Resource("transactions"),
    ),
    (
        "POST",
        "/transactions/inflight/bulk/void",
        Resource("transactions"),
    ),
    (
        "PUT",
        "/transactions/inflight/txn_1",
        Resource("transactions"),
    ),
    (
        "POST",
        "/refund-transaction/txn_1",
        Resource("transactions"),
    ),
    ("GET", "/transactions", Resource("transactions")),
    ("GET", "/transactions/txn_1", Resource("transactions")),
    (
        "GET",
        "/transactions/reference/ref_1",
        Resource("transactions"),
    ),
    (
        "GET",
        "/transactions/txn_1/lineage",
        Resource("transactions"),
    ),
    ("POST", "/identities", Resource("identities")),
    ("POST", "/identities/filter", Resource("identities")),
    ("POST", "/identities/idt_1/tokenize", Resource("identities")),
    (
        "POST",
        "/identities/idt_1/tokenize/email",
        Resource("identities"),
    ),
    (
        "POST",
        "/identities/idt_1/detokenize",
        Resource("identities"),
    ),
    ("GET", "/identities", Resource("identities")),
    ("GET", "/identities/idt_1", Resource("identities")),
    (
        "GET",
        "/identities/idt_1/tokenized-fields",
        Resource("identities"),
    ),
    (
        "GET",
        "/identities/idt_1/detokenize/email",
        Resource("identities"),
    ),
    ("PUT", "/identities/idt_1", Resource("identities")),
    ("DELETE", "/identities/idt_1", Resource("identities")),
    ("POST", "/accounts", Resource("accounts")),
    ("POST", "/accounts/filter", Resource("accounts")),
    ("GET", "/accounts", Resource("accounts")),
    ("GET", "/accounts/acc_1", Resource("accounts")),
    ("GET", "/mocked-account", Resource("accounts")),
    ("GET", "/backup", Resource("backup")),
    ("GET", "/backup-s3", Unknown),
    ("POST", "/search/ledgers", Resource("search")),
    ("POST", "/multi-search", Resource("search")),
    ("POST", "/search/reindex", Resource("search")),
    ("GET", "/search/reindex", Resource("search")),
    ("POST", "/reconciliation/upload", Resource("reconciliation")),
    (
        "POST",
        "/reconciliation/matching-rules",
        Resource("reconciliation"),
    ),
    (
        "PUT",
        "/reconciliation/matching-rules/rule_1",
        Resource("reconciliation"),
    ),
    (
        "DELETE",
        "/reconciliation/matching-rules/rule_1",
        Resource("reconciliation"),
    ),
    ("POST", "/reconciliation/start", Resource("reconciliation")),
    (
        "POST",
        "/reconciliation/start-instant",
        Resource("reconciliation"),
    ),
    ("GET", "/reconciliation/rec_1", Resource("reconciliation")),
    ("POST", "/ldg_1/metadata", Unknown),
    ("POST", "/hooks", Hooks),
    ("GET", "/hooks", Hooks),
    ("GET", "/hooks/hk_1", Hooks),
    ("PUT", "/hooks/hk_1", Hooks),
    ("DELETE", "/hooks/hk_1", Hooks),
    ("POST", "/api-keys", Resource("api-keys")),
    ("GET", "/api-keys", Resource("api-keys")),
    ("DELETE", "/api-keys/key_1", Resource("api-keys")),
];

/// Blnk's decision for an API key with `scopes` (written from docs/blnk.md, independently of the
/// gateway's code): Ok, or (status, code, message).
fn blnk_decides(method: &str, owner: Owner, scopes: &[&str]) -> Result<(), (u16, String, String)> {
    let action = match method {
        "GET" | "HEAD" => "read",
        "POST" | "PUT" | "PATCH" => "write",
        "DELETE" => "delete",
        _ => unreachable!(),
    };
    let resource = match owner {
        Unknown => {
            return Err((
                403,
                "AUTH_UNKNOWN_RESOURCE".into(),
                "Unknown resource type".into(),
            ))
        }
        Hooks => "hooks",
        Resource(r) => r,
    };
    let granted = |s: &&str| {
        let (r, a) = s.split_once(':').unwrap();
        (r == "*" || r == resource) && (a == "*" || a == action)
    };
    if matches!(owner, Resource(_)) && scopes.iter().any(granted) {
        return Ok(());
    }
    Err((
        403,
        "AUTH_INSUFFICIENT_PERMISSIONS".into(),
        format!("Insufficient permissions for {resource}:{action}"),
    ))
}

/// Scope sets in Blnk's vocabulary, each issued as a client key.
const SCOPE_SETS: &[&[&str]] = &[
    &["*:*"],
    &["ledgers:read"],
    &["transactions:write"],
    &["*:read"],
    &["balances:*", "accounts:read"],
    &["api-keys:*"],
    &["backup:read", "identities:delete"],
    &["hooks:*"],
];

async fn inject_gateway(prepare: impl FnOnce(&std::path::Path)) -> TestGateway {
    // Keys are issued with the real CLI into a staging file, which the gateway then loads.
    let staging = tempfile::tempdir().unwrap();
    prepare(staging.path());
    let clients = std::fs::read_to_string(staging.path().join("clients.json")).unwrap();
    let setup = Setup {
        gateway: json!({"mode": "inject", "clients_file": "clients.json"}),
        watch: true,
        files: vec![("clients.json".into(), clients)],
        ..Setup::default()
    };
    TestGateway::start(setup).await
}

/// A request presenting `key`, with the body Blnk reads on a money-moving route (the gateway
/// refuses one Blnk could not bind before Blnk sees it) and none elsewhere.
fn with_body(
    method: &str,
    path: &str,
    key: &str,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let body = match (method, path) {
        ("POST", "/transactions") => transfer(&reference("scope"), 1),
        ("POST", "/transactions/bulk") => format!(
            r#"{{"transactions":[{}]}}"#,
            transfer(&reference("scope"), 1)
        ),
        ("PUT", p) if p.starts_with("/transactions/inflight/") => r#"{"status":"commit"}"#.into(),
        ("POST", "/transactions/inflight/bulk/commit") => {
            r#"{"transactions":[{"transaction_id":"t1"}]}"#.into()
        }
        ("POST", "/transactions/inflight/bulk/void") => r#"{"transaction_ids":["t1"]}"#.into(),
        _ => return keyed_empty(method, path, key),
    };
    keyed(method, path, key)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap()
}

#[tokio::test]
async fn every_route_is_decided_as_blnk_would_for_the_same_scopes() {
    let mut keys = Vec::new();
    let gw = inject_gateway(|dir| {
        for (i, set) in SCOPE_SETS.iter().enumerate() {
            keys.push(issue(dir, &format!("set{i}"), set, &[]));
        }
    })
    .await;
    let mut c = gw.h1().await;
    let mut checked = 0;
    for (set, key) in SCOPE_SETS.iter().zip(&keys) {
        for (method, path, owner) in ROUTES {
            let before = gw.blnk.count();
            let a = send1(&mut c, with_body(method, path, key)).await;
            match blnk_decides(method, *owner, set) {
                Ok(()) => {
                    // Forwarded: whatever Blnk then answers (a 404 for a reference it lacks).
                    assert_eq!(
                        gw.blnk.count(),
                        before + 1,
                        "{set:?} {method} {path}: {} {:?}",
                        a.status,
                        a.body
                    );
                    let seen = gw.blnk.last();
                    assert_eq!(
                        seen.all("x-blnk-key"),
                        vec![gw.key.clone()],
                        "the master key goes upstream"
                    );
                }
                Err((status, code, message)) => {
                    a.assert_error(status, &code);
                    assert_eq!(a.json()["error"], message, "{set:?} {method} {path}");
                    assert_eq!(
                        gw.blnk.count(),
                        before,
                        "{set:?} {method} {path} reached Blnk"
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, SCOPE_SETS.len() * ROUTES.len());
}

#[tokio::test]
async fn gateway_scopes_admin_and_data_cover_what_they_say() {
    let (mut admin, mut read, mut write) = (String::new(), String::new(), String::new());
    let gw = inject_gateway(|dir| {
        admin = issue(dir, "admin", &["admin"], &[]);
        read = issue(dir, "reader", &["data:read"], &[]);
        write = issue(dir, "writer", &["data:write"], &[]);
    })
    .await;
    let mut c = gw.h1().await;
    // `true`: admitted and forwarded (Blnk answers as it will); `false`: refused by the gateway.
    let cases: &[(&String, &str, &str, bool)] = &[
        (&admin, "POST", "/hooks", true),
        (&admin, "POST", "/balances-snapshots", true),
        (&admin, "POST", "/ldg_1/metadata", true),
        (&admin, "GET", "/backup-s3", true),
        (&admin, "DELETE", "/api-keys/k1", true),
        (&admin, "GET", "/ledgers", false),
        (&read, "GET", "/transactions/t1", true),
        (&read, "GET", "/api-keys", false),
        (&read, "POST", "/transactions", false),
        (&write, "POST", "/transactions", true),
        (&write, "DELETE", "/identities/i1", true),
        (&write, "GET", "/ledgers", false),
        (&write, "POST", "/hooks", false),
    ];
    for (key, method, path, forwarded) in cases {
        let before = gw.blnk.count();
        let a = send1(&mut c, with_body(method, path, key)).await;
        if *forwarded {
            assert_eq!(gw.blnk.count(), before + 1, "{method} {path}: {:?}", a.body);
            assert_ne!(a.status.as_u16(), 403, "{method} {path}: {:?}", a.body);
        } else {
            a.assert_error(403, "AUTH_INSUFFICIENT_PERMISSIONS");
            assert_eq!(gw.blnk.count(), before, "{method} {path} reached Blnk");
        }
    }
    // Scopes are judged on the normalised path that is forwarded: no dot-segment detour.
    let a = send1(&mut c, keyed_empty("GET", "/transactions/../hooks", &read)).await;
    a.assert_error(403, "AUTH_INSUFFICIENT_PERMISSIONS");
    let a = send1(
        &mut c,
        keyed_empty("GET", "/transactions/%2e%2e/api-keys", &read),
    )
    .await;
    a.assert_error(403, "AUTH_INSUFFICIENT_PERMISSIONS");
}

#[tokio::test]
async fn expired_disabled_wrong_network_and_wrong_certificate_keys_are_refused() {
    let (mut expired, mut fenced, mut bound, mut good) =
        (String::new(), String::new(), String::new(), String::new());
    let gw = inject_gateway(|dir| {
        expired = issue(
            dir,
            "expired",
            &["*:*"],
            &["--expires", "2001-01-01T00:00:00Z"],
        );
        fenced = issue(dir, "fenced", &["*:*"], &["--networks", "10.0.0.0/8"]);
        bound = issue(dir, "bound", &["*:*"], &["--cert-sha256", &"ab".repeat(32)]);
        good = issue(dir, "good", &["*:*"], &["--expires", "30d"]);
    })
    .await;
    let mut c = gw.h1().await;
    send1(&mut c, get_ledgers(&expired))
        .await
        .assert_error(401, "AUTH_EXPIRED_API_KEY");
    send1(&mut c, get_ledgers(&fenced))
        .await
        .assert_error(403, "GATEWAY_NETWORK_NOT_ALLOWED");
    send1(&mut c, get_ledgers(&bound))
        .await
        .assert_error(403, "GATEWAY_CERTIFICATE_MISMATCH");
    assert_eq!(send1(&mut c, get_ledgers(&good)).await.status, 200);
    // Not a client key at all, the master key itself, or nothing.
    send1(&mut c, get_ledgers(&gw.key))
        .await
        .assert_error(401, "AUTH_INVALID_API_KEY");
    send1(&mut c, get_ledgers("bgw_000000000000_"))
        .await
        .assert_error(401, "AUTH_INVALID_API_KEY");
    send1(&mut c, bare("GET", "/ledgers"))
        .await
        .assert_error(401, "AUTH_MISSING_API_KEY");
    // Health checks need no key, and carry none upstream.
    assert_eq!(send1(&mut c, bare("GET", "/health")).await.status, 200);
    assert!(gw.blnk.last().all("x-blnk-key").is_empty());

    // Revoked with the CLI while the gateway runs: refused once the file reloads.
    let clients_file = gw.state.snapshot().settings.clients_file.clone().unwrap();
    let id = good.split('_').nth(1).unwrap().to_string();
    revoke(&clients_file, &id);
    let refused = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let a = send1(&mut c, get_ledgers(&good)).await;
            if a.status == 401 {
                break a;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the revoked key kept working");
    refused.assert_error(401, "AUTH_EXPIRED_API_KEY");
}

#[tokio::test]
async fn sdk_request_shapes_work_with_a_client_key_and_no_secret_leaks() {
    let mut key = String::new();
    let gw = inject_gateway(|dir| {
        key = issue(
            dir,
            "sdk",
            &["data:write", "data:read"],
            &["--rate", "50:100"],
        )
    })
    .await;
    // The SDKs append the endpoint to the base URL and send the key when it is non-empty.
    let mut c = gw.h1().await;
    for (method, path, body) in [
        ("POST", "/ledgers", r#"{"name":"SDK ledger"}"#),
        (
            "POST",
            "/balances",
            r#"{"ledger_id":"ldg_1","currency":"USD"}"#,
        ),
        (
            "POST",
            "/transactions",
            r#"{"amount":100,"precision":100,"reference":"ref_sdk_1","currency":"USD","source":"@world","destination":"@sdk","allow_overdraft":true,"description":"sdk"}"#,
        ),
        ("GET", "/health", ""),
    ] {
        let r = keyed(method, path, &key)
            .header("content-type", "application/json")
            .header("user-agent", "blnk-typescript")
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let a = send1(&mut c, r).await;
        assert!(a.status.is_success(), "{method} {path}: {:?}", a.body);
        assert!(!String::from_utf8_lossy(&a.body).contains(&key));
        assert!(a
            .headers
            .iter()
            .all(|(_, v)| !String::from_utf8_lossy(v.as_bytes()).contains(&key)));
    }
    // Blnk saw the master key, never the client key.
    for r in gw.blnk.requests() {
        assert!(r.all("x-blnk-key").iter().all(|v| v != &key));
    }
    // The clients file holds a hash, not the key or its secret part.
    let file = std::fs::read_to_string(gw.state.snapshot().settings.clients_file.clone().unwrap())
        .unwrap();
    let secret = key.rsplit('_').next().unwrap();
    assert!(!file.contains(secret));

    // `keys list` shows ids, names and status, and no secret.
    let clients_file = gw.state.snapshot().settings.clients_file.clone().unwrap();
    let out = Command::new(BIN)
        .args(["keys", "list", "--file", clients_file.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("sdk") && text.contains("active") && text.contains("data:write"),
        "{text}"
    );
    assert!(!text.contains(secret));
}
