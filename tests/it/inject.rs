//! Inject mode: clients never hold the master key; the gateway authenticates them another way.

use serde_json::json;

use crate::support::client::{self, bare, get_ledgers, req, send1};
use crate::support::gateway::{Setup, TestGateway};

#[tokio::test]
async fn every_client_copy_of_the_key_is_replaced_by_exactly_one_master_key() {
    let setup = Setup {
        gateway: json!({"mode": "inject", "allow_networks": ["127.0.0.1/32"]}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let mut c = gw.h1().await;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("x-blnk-key", "client-guess")],
        vec![("X-Blnk-Key", "a"), ("x-BLNK-key", "b")],
        vec![("x-blnk-key", ""), ("connection", "X-Blnk-Key")],
    ];
    for headers in cases {
        let mut r = req("POST", "/transactions");
        for (k, v) in &headers {
            r = r.header(*k, *v);
        }
        let a = send1(
            &mut c,
            r.body(http_body_util::Full::new(bytes::Bytes::from(
                crate::support::fake_blnk::transfer(
                    &crate::support::fake_blnk::reference("inj"),
                    1,
                ),
            )))
            .unwrap(),
        )
        .await;
        assert_eq!(a.status, 201, "{headers:?}: {:?}", a.body);
        assert_eq!(
            gw.blnk.last().all("x-blnk-key"),
            vec![gw.key.clone()],
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn peers_outside_allow_networks_are_refused() {
    let setup = Setup {
        gateway: json!({"mode": "inject", "allow_networks": ["10.0.0.0/8"]}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let mut c = gw.h1().await;
    let a = send1(&mut c, bare("GET", "/ledgers")).await;
    a.assert_error(403, "GATEWAY_NETWORK_NOT_ALLOWED");
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn client_certificates_from_the_ca_are_required() {
    let setup = Setup {
        gateway: json!({"mode": "inject", "tls": {"client_ca": "ca.pem"}}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;

    // With a certificate from the configured CA: served, with the master key injected.
    let good = client::tls(
        &gw.certs.ca,
        Some((&gw.certs.client.cert, &gw.certs.client.key)),
        &[b"http/1.1"],
    );
    let tls = client::connect_tls(gw.addr, &good).await.unwrap();
    let mut c = client::h1(tls).await;
    let a = send1(&mut c, bare("GET", "/ledgers")).await;
    assert_eq!(a.status, 200);
    assert_eq!(gw.blnk.last().all("x-blnk-key"), vec![gw.key.clone()]);

    // Without a certificate, or with one from another CA: no HTTP exchange at all.
    let stranger = client::tls(
        &gw.certs.ca,
        Some((&gw.certs.stranger.cert, &gw.certs.stranger.key)),
        &[b"http/1.1"],
    );
    for connector in [gw.connector(&[b"http/1.1"]), stranger] {
        // TLS 1.3 reports a refused client certificate after the client's handshake completes,
        // so the refusal may surface on the first read instead.
        if let Ok(mut tls) = client::connect_tls(gw.addr, &connector).await {
            let answer = client::raw(&mut tls, b"GET /ledgers HTTP/1.1\r\nHost: x\r\n\r\n").await;
            assert!(answer.is_empty(), "{answer}");
        }
    }
    assert_eq!(gw.blnk.count(), 1);
}

#[tokio::test]
async fn verify_mode_also_honours_allow_networks() {
    let setup = Setup {
        gateway: json!({"allow_networks": ["192.0.2.0/24"]}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let mut c = gw.h1().await;
    let a = send1(&mut c, get_ledgers(&gw.key)).await;
    a.assert_error(403, "GATEWAY_NETWORK_NOT_ALLOWED");
}
