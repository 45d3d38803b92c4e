//! A stand-in for Blnk Core to try the gateway without a database: secure mode as Blnk does it,
//! on 127.0.0.1:5001 (or the port in `BLNK_SERVER_PORT`). The same fake the integration tests use.
//!
//! Its key, first found: the file `BLNK_SERVER_SECRET_KEY_FILE` names, `BLNK_SERVER_SECRET_KEY`,
//! or `certs/dev.key` of this repository, the development key `config/dev.json` gives the
//! gateway, so the two agree without copying a value between terminals (README, Try it).
//!
//!     cargo run --example fake_blnk

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/fake_blnk.rs"]
mod fake_blnk;

/// The development key file, shared with `config/dev.json` (`gateway.secret_key_file`).
const DEV_KEY_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/certs/dev.key");

/// The key and where it came from; exits with a message when there is none.
fn key() -> (String, String) {
    let from_file = |path: String| {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            eprintln!("fake Blnk: cannot read the key file {path}: {e}");
            eprintln!("make one with: (umask 077; openssl rand -hex 32 > {path})");
            std::process::exit(2)
        });
        let key = text.strip_suffix('\n').unwrap_or(&text).to_string();
        (key, format!("file {path}"))
    };
    if let Ok(path) = std::env::var("BLNK_SERVER_SECRET_KEY_FILE") {
        return from_file(path);
    }
    if let Ok(key) = std::env::var("BLNK_SERVER_SECRET_KEY") {
        return (key, "BLNK_SERVER_SECRET_KEY".into());
    }
    from_file(DEV_KEY_FILE.into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (key, source) = key();
    let port = std::env::var("BLNK_SERVER_PORT").unwrap_or_else(|_| "5001".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind");
    let blnk = fake_blnk::FakeBlnk::serve(listener, &key);
    eprintln!(
        "fake Blnk on {} (secure mode, key from {source}); Ctrl-C to stop",
        blnk.url()
    );
    let _ = tokio::signal::ctrl_c().await;
}
