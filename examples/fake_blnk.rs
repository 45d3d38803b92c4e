//! A stand-in for Blnk Core to try the gateway without a database: secure mode as Blnk does it,
//! on 127.0.0.1:5001 (or the port in `BLNK_SERVER_PORT`), with the key from
//! `BLNK_SERVER_SECRET_KEY`. The same fake the integration tests use.
//!
//!     cargo run --example fake_blnk

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/fake_blnk.rs"]
mod fake_blnk;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let key = std::env::var("BLNK_SERVER_SECRET_KEY")
        .expect("set BLNK_SERVER_SECRET_KEY to the gateway's key");
    let port = std::env::var("BLNK_SERVER_PORT").unwrap_or_else(|_| "5001".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind");
    let blnk = fake_blnk::FakeBlnk::serve(listener, &key);
    eprintln!("fake Blnk on {} (secure mode); Ctrl-C to stop", blnk.url());
    let _ = tokio::signal::ctrl_c().await;
}
