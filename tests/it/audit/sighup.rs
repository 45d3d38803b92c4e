//! logrotate's way, with the real binary: rename the file, send SIGHUP; the gateway reopens the
//! path and the chain runs intact across both files.

use serde_json::json;

use super::no_keys::{serve, Running};
use crate::support::certs;
use crate::support::client::{self, get_ledgers, send1};
use crate::support::fake_blnk::FakeBlnk;
use crate::support::gateway::new_key;
use blnk_gateway::audit::verify::{verify, Outcome};

#[tokio::test]
async fn rename_then_sighup_continues_the_chain_in_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certs::make(dir.path());
    let key = new_key("hup");
    let blnk = FakeBlnk::start(&key).await;
    let (k, ca, d) = (key.clone(), certs.ca.clone(), dir.path().to_path_buf());
    let gateway = json!({"upstream": blnk.url(), "audit": {"path": "audit.log"}});
    serve(dir.path(), &key, gateway, move |run: Running| async move {
        let addr = ([127, 0, 0, 1], run.port).into();
        let get = || get_ledgers(&k);
        let connector = client::tls(&ca, None, &[b"http/1.1"]);
        let mut c = client::h1(client::connect_tls(addr, &connector).await.unwrap()).await;
        assert_eq!(send1(&mut c, get()).await.status, 200);
        std::fs::rename(d.join("audit.log"), d.join("audit.log.1")).unwrap();
        run.signal("-HUP");
        run.wait_for("audit log reopened");
        assert_eq!(send1(&mut c, get()).await.status, 200);
    })
    .await;
    let files = [dir.path().join("audit.log.1"), dir.path().join("audit.log")];
    let first = std::fs::read_to_string(&files[1]).unwrap();
    assert!(
        first
            .lines()
            .next()
            .unwrap()
            .contains(r#""kind":"continue""#),
        "{first}"
    );
    let Outcome::Intact(intact) = verify(&files).unwrap() else {
        panic!("chain broken across the SIGHUP reopen")
    };
    assert_eq!(intact.files, 2);
}
