//! Rotating keys and certificates under traffic, with no restart and no failed request.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use blnk_gateway::reload::Outcome;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;

use crate::support::client::{self, empty, get_ledgers, req, send1};
use crate::support::fake_blnk::transfer;
use crate::support::gateway::{k8s_write, new_key, Setup, TestGateway};

/// Every way rotation tools replace a file, repeated: the gateway follows each time, keeps the
/// previous key for the grace, and retires the one before it.
#[tokio::test]
async fn rotation_by_rename_symlink_swap_and_truncate_is_followed() {
    for method in ["rename", "truncate", "symlink"] {
        let setup = Setup {
            watch: true,
            k8s_secret: method == "symlink",
            ..Setup::default()
        };
        let gw = TestGateway::start(setup).await;
        let mut c = gw.h1().await;
        let mut keys = vec![gw.key.clone()];
        for i in 1..=4 {
            let next = new_key(&format!("{method}{i}"));
            match method {
                "rename" => gw.rename_key(&next),
                "truncate" => gw.write_key(&next),
                _ => k8s_write(gw.dir.path(), i, &next),
            }
            gw.wait_for_key(&next).await;
            // Blnk restarts with the new key too.
            gw.blnk.set_key(&next);
            keys.push(next);
            let n = keys.len();
            for (k, expected) in [(&keys[n - 1], 200), (&keys[n - 2], 200)] {
                let a = send1(&mut c, get_ledgers(k)).await;
                assert_eq!(a.status, expected, "{method} #{i}: {:?}", a.body);
            }
            if n >= 3 {
                let a = send1(&mut c, get_ledgers(&keys[n - 3])).await;
                a.assert_error(401, "AUTH_INVALID_API_KEY");
            }
        }
        assert_eq!(
            gw.state.reloads.failures.load(Ordering::Relaxed),
            0,
            "{method}"
        );
    }
}

/// Clients send continuously with whichever key is valid while the key file is rotated many times
/// and Blnk restarts with each new key at its own moment.
///
/// Bookkeeping is exact: a swap happens while requests are in flight, so clients then use only
/// keys valid both before and after it; a key joins the retired list only once the gateway has
/// dropped it, and leaves the valid list only after every worker has finished the requests it
/// may have started with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_rotations_under_load_fail_no_request() {
    const WORKERS: usize = 4;
    // One in five requests presents a retired key, from one address, as fast as it can: the
    // failed-authentication limiter would rightly cool that address down. This test is about
    // rotation, so rate limiting is off.
    let setup = Setup {
        gateway: serde_json::json!({"rate_limit": {"enabled": false}}),
        ..Setup::default()
    };
    let gw = Arc::new(TestGateway::start(setup).await);
    let valid: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![gw.key.clone()]));
    let retired: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![String::new()]));
    let done = Arc::new(AtomicBool::new(false));
    let progress: Arc<Vec<AtomicUsize>> =
        Arc::new((0..WORKERS).map(|_| AtomicUsize::new(0)).collect());
    let bad = Arc::new(Mutex::new(Vec::<String>::new()));

    let mut clients = Vec::new();
    for worker in 0..WORKERS {
        let (gw, valid, retired, done, progress, bad) = (
            gw.clone(),
            valid.clone(),
            retired.clone(),
            done.clone(),
            progress.clone(),
            bad.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut c = gw.h1().await;
            let mut n = 0usize;
            while !done.load(Ordering::Relaxed) && n < 20_000 {
                n += 1;
                let (key, must_pass) = {
                    let v = valid.lock().unwrap();
                    let r = retired.lock().unwrap();
                    match n % 5 {
                        0 => (r[n % r.len()].clone(), false),
                        1 => (v[0].clone(), true),
                        _ => (v[v.len() - 1].clone(), true),
                    }
                };
                // A read, or a write Blnk accepts (a new ledger).
                let (method, body) = match n % 2 {
                    0 => ("GET", empty()),
                    _ => (
                        "POST",
                        Full::new(Bytes::from(format!(r#"{{"name":"l{n}"}}"#))),
                    ),
                };
                let mut r = req(
                    method,
                    if n % 2 == 0 {
                        "/transactions"
                    } else {
                        "/ledgers"
                    },
                );
                if !key.is_empty() {
                    r = r.header("x-blnk-key", key.as_str());
                }
                let a = send1(&mut c, r.body(body).unwrap()).await;
                if a.status.is_server_error() || a.status.is_success() != must_pass {
                    bad.lock().unwrap().push(format!(
                        "worker {worker} #{n}: must_pass={must_pass} got {} {:?}",
                        a.status, a.body
                    ));
                }
                progress[worker].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Waits until every worker has completed `n` more requests (bounded by the workers' own cap).
    let settle = |n: usize| {
        let (progress, bad) = (progress.clone(), bad.clone());
        async move {
            let start: Vec<usize> = progress.iter().map(|p| p.load(Ordering::Relaxed)).collect();
            while bad.lock().unwrap().is_empty()
                && progress
                    .iter()
                    .zip(&start)
                    .any(|(p, s)| p.load(Ordering::Relaxed) < s + n)
            {
                tokio::task::yield_now().await;
            }
        }
    };

    for i in 1..=12 {
        // Before the swap, the previous key stops being used: it will not survive this rotation.
        let leaving = {
            let mut v = valid.lock().unwrap();
            (v.len() == 2).then(|| v.remove(0))
        };
        settle(2).await;
        let next = new_key(&format!("race{i}"));
        if i % 2 == 0 {
            gw.rename_key(&next)
        } else {
            gw.write_key(&next)
        }
        assert_eq!(
            gw.reloader.reload("test").await,
            Outcome::Applied { key_rotated: true }
        );
        retired.lock().unwrap().extend(leaving);
        valid.lock().unwrap().push(next.clone());
        // Traffic with Blnk still on the old key, then Blnk "restarts" with the new one.
        settle(5).await;
        gw.blnk.set_key(&next);
        settle(5).await;
    }
    done.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let bad = bad.lock().unwrap();
    assert!(
        bad.is_empty(),
        "{} failures, first: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    let total: usize = progress.iter().map(|p| p.load(Ordering::Relaxed)).sum();
    assert!(total > 400, "{total}");
}

/// Inject mode: the gateway rotates first, Blnk restarts later with the new key; clients, who
/// never hold a key, see no failure, and the previous key is dropped once Blnk takes the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inject_mode_carries_clients_across_blnks_restart() {
    let setup = Setup {
        gateway: json!({"mode": "inject", "allow_networks": ["127.0.0.1/32"], "rotation": {"probe_interval": "100ms"}}),
        ..Setup::default()
    };
    let gw = Arc::new(TestGateway::start(setup).await);
    let done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let client = {
        let (gw, done, failures, sent) = (gw.clone(), done.clone(), failures.clone(), sent.clone());
        tokio::spawn(async move {
            let mut c = gw.h1().await;
            let mut n = 0;
            while !done.load(Ordering::Relaxed) && n < 20_000 {
                n += 1;
                let body = Full::new(Bytes::from(transfer(&format!("ref-{n}"), 1)));
                let a = send1(&mut c, req("POST", "/transactions").body(body).unwrap()).await;
                if a.status != 201 {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("#{n}: {} {:?}", a.status, a.body));
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let wait_for = |target: usize| {
        let sent = sent.clone();
        async move {
            while sent.load(Ordering::Relaxed) < target {
                tokio::task::yield_now().await;
            }
        }
    };
    wait_for(20).await;
    let next = new_key("inject-rotated");
    gw.write_key(&next);
    assert_eq!(
        gw.reloader.reload("test").await,
        Outcome::Applied { key_rotated: true }
    );
    wait_for(sent.load(Ordering::Relaxed) + 50).await;
    gw.blnk.set_key(&next);
    wait_for(sent.load(Ordering::Relaxed) + 50).await;
    // The probe sees Blnk take the new key and the gateway drops the previous one (bounded wait).
    let settled = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while gw.state.snapshot().keys.previous.is_some() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    wait_for(sent.load(Ordering::Relaxed) + 20).await;
    done.store(true, Ordering::Relaxed);
    client.await.unwrap();
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(settled.is_ok(), "the previous key was never dropped");
    // Blnk received each transaction once: retries happen only on its pre-handler 401.
    let created: Vec<_> = gw
        .blnk
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    let mut refs: Vec<_> = created.iter().map(|r| r.body.clone()).collect();
    let total = refs.len();
    refs.sort();
    refs.dedup();
    assert!(
        total - refs.len() <= 1,
        "more than one request was sent twice"
    );
}

#[tokio::test]
async fn broken_files_at_reload_change_nothing() {
    let gw = TestGateway::start(Setup::default()).await;
    let fp = gw.fingerprint();
    let mut c = gw.h1().await;
    let config = std::fs::read_to_string(&gw.config_path).unwrap();
    let cert = std::fs::read_to_string(gw.certs.path("server.pem")).unwrap();
    type Breakage<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let breakages: Vec<Breakage> = vec![
        ("empty key", Box::new(|| gw.write_key(""))),
        (
            "whitespace key",
            Box::new(|| std::fs::write(gw.dir.path().join("master.key"), " \n\t\n").unwrap()),
        ),
        (
            "short, half-written key",
            Box::new(|| std::fs::write(gw.dir.path().join("master.key"), "mk-ro").unwrap()),
        ),
        (
            "missing key file",
            Box::new(|| std::fs::remove_file(gw.dir.path().join("master.key")).unwrap()),
        ),
        (
            "malformed JSON",
            Box::new(|| std::fs::write(&gw.config_path, &config[..config.len() / 2]).unwrap()),
        ),
        (
            "unknown key",
            Box::new(|| {
                std::fs::write(
                    &gw.config_path,
                    config.replacen("\"listen\"", "\"lisen\"", 1),
                )
                .unwrap()
            }),
        ),
        (
            "garbage certificate",
            Box::new(|| {
                std::fs::write(
                    gw.certs.path("server.pem"),
                    "-----BEGIN CERTIFICATE-----\nAAAA\n",
                )
                .unwrap()
            }),
        ),
    ];
    for (name, break_it) in breakages {
        break_it();
        assert!(
            matches!(gw.reloader.reload("test").await, Outcome::Rejected(_)),
            "{name}"
        );
        assert_eq!(gw.fingerprint(), fp, "{name}");
        let a = send1(&mut c, get_ledgers(&gw.key)).await;
        assert_eq!(a.status, 200, "{name}");
        // Repair for the next case.
        gw.write_key(&gw.key);
        std::fs::write(&gw.config_path, &config).unwrap();
        std::fs::write(gw.certs.path("server.pem"), &cert).unwrap();
    }
    assert_eq!(gw.state.reloads.failures.load(Ordering::Relaxed), 7);
    // An empty key never becomes valid, even after all that.
    let a = send1(&mut c, get_ledgers("")).await;
    a.assert_error(401, "AUTH_MISSING_API_KEY");
    assert_eq!(
        gw.reloader.reload("test").await,
        Outcome::Applied { key_rotated: false }
    );
}

#[tokio::test]
async fn zero_grace_retires_the_old_key_at_once() {
    let gw = TestGateway::start(Setup {
        gateway: json!({"rotation": {"grace": "0s"}}),
        ..Setup::default()
    })
    .await;
    let next = new_key("nograce");
    gw.write_key(&next);
    gw.blnk.set_key(&next);
    assert_eq!(
        gw.reloader.reload("test").await,
        Outcome::Applied { key_rotated: true }
    );
    let mut c = gw.h1().await;
    let a = send1(&mut c, get_ledgers(&gw.key)).await;
    a.assert_error(401, "AUTH_INVALID_API_KEY");
    let a = send1(&mut c, get_ledgers(&next)).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn a_replaced_certificate_is_presented_to_new_handshakes() {
    let gw = TestGateway::start(Setup {
        watch: true,
        ..Setup::default()
    })
    .await;
    let first = peer_cert(&gw).await;
    // A new server certificate from the same CA, written over the old files.
    let fresh = tempfile::tempdir().unwrap();
    let other = crate::support::certs::make(fresh.path());
    // Same CA is needed for the client to trust it: reuse the test CA by re-signing is not
    // possible with a fresh set, so trust both by pointing the client at the new CA below.
    std::fs::write(gw.certs.path("server.key"), &other.server.key).unwrap();
    std::fs::write(gw.certs.path("server.pem"), &other.server.cert).unwrap();
    let connector = client::tls(&other.ca, None, &[b"http/1.1"]);
    let renewed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            if let Ok(tls) = client::connect_tls(gw.addr, &connector).await {
                break tls.get_ref().1.peer_certificates().unwrap()[0]
                    .as_ref()
                    .to_vec();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the new certificate was never presented");
    assert_ne!(first, renewed);
    assert_eq!(gw.state.reloads.failures.load(Ordering::Relaxed), 0);
}

async fn peer_cert(gw: &TestGateway) -> Vec<u8> {
    let tls = client::connect_tls(gw.addr, &gw.connector(&[b"http/1.1"]))
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .as_ref()
        .to_vec()
}

/// Each part renders its own gauges (the snapshot its keys and certificate, the reloader's
/// counters, the key check, the body budget), and all of them are in `/metrics`, moving with a
/// rotation.
#[tokio::test]
async fn the_rotation_gauges_are_in_the_metrics_and_follow_a_reload() {
    let gw = TestGateway::start(Setup::default()).await;
    let gauge = |name: &'static str| async { gw.metric(name).await };
    assert_eq!(gauge("blnk_gateway_key_rotation_in_progress").await, 0.0);
    assert_eq!(gauge("blnk_gateway_reloads_total").await, 0.0);
    assert_eq!(gauge("blnk_gateway_reload_failures_total").await, 0.0);
    assert_eq!(gauge("blnk_gateway_upstream_key_accepted").await, 1.0);
    assert!(gauge("blnk_gateway_key_age_seconds").await >= 0.0);
    assert!(gauge("blnk_gateway_buffered_bytes_limit").await > 0.0);
    assert_eq!(gauge("blnk_gateway_buffered_bytes").await, 0.0);
    assert!(gauge("blnk_gateway_tls_cert_not_after_seconds").await > 1.7e9);
    let next = new_key("gauges");
    gw.write_key(&next);
    assert_eq!(
        gw.reloader.reload("test").await,
        Outcome::Applied { key_rotated: true }
    );
    assert_eq!(gauge("blnk_gateway_key_rotation_in_progress").await, 1.0);
    assert_eq!(gauge("blnk_gateway_reloads_total").await, 1.0);
}
