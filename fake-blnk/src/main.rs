//! `fake-blnk`: the fake Blnk on 127.0.0.1:5001 (or `BLNK_SERVER_PORT`), in secure mode, to try
//! the gateway without PostgreSQL and Redis. Ctrl-C stops it.
//!
//! Its master key, first found: the file `BLNK_SERVER_SECRET_KEY_FILE` names,
//! `BLNK_SERVER_SECRET_KEY`, or this repository's development key `certs/dev.key` (the one
//! `config/dev.json` gives the gateway), made on first use if it does not exist yet.
//! `FAKE_BLNK_INSERT_DELAY_MS` and `FAKE_BLNK_APPLY_DELAY_MS` set the queue's delays.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use fake_blnk::{FakeBlnk, Options};

/// The development key file, shared with `config/dev.json` (`gateway.secret_key_file`).
const DEV_KEY_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/dev.key");

fn main() -> ExitCode {
    let (key, source) = match key() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("fake-blnk: {e}");
            return ExitCode::from(2);
        }
    };
    let port = std::env::var("BLNK_SERVER_PORT").unwrap_or_else(|_| "5001".into());
    let options = Options {
        insert_delay: delay("FAKE_BLNK_INSERT_DELAY_MS", Options::default().insert_delay),
        apply_delay: delay("FAKE_BLNK_APPLY_DELAY_MS", Options::default().apply_delay),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fake-blnk: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let addr = format!("127.0.0.1:{port}");
        let listener = match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("fake-blnk: cannot listen on {addr}: {e} (is Blnk or another fake-blnk running? BLNK_SERVER_PORT picks another port)");
                return ExitCode::FAILURE;
            }
        };
        let blnk = FakeBlnk::serve_with(listener, &key, options);
        eprintln!("fake-blnk: a stand-in for Blnk on {} (secure mode, key from {source}); Ctrl-C stops it", blnk.url());
        let _ = tokio::signal::ctrl_c().await;
        ExitCode::SUCCESS
    })
}

fn delay(var: &str, default: Duration) -> Duration {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(default, Duration::from_millis)
}

/// The key and where it came from.
fn key() -> Result<(String, String), String> {
    if let Ok(path) = std::env::var("BLNK_SERVER_SECRET_KEY_FILE") {
        return read_key(&path).map(|k| (k, format!("file {path}")));
    }
    if let Ok(key) = std::env::var("BLNK_SERVER_SECRET_KEY") {
        return Ok((key, "BLNK_SERVER_SECRET_KEY".into()));
    }
    if !std::path::Path::new(DEV_KEY_FILE).exists() {
        make_dev_key(DEV_KEY_FILE)?;
    }
    read_key(DEV_KEY_FILE).map(|k| (k, format!("file {DEV_KEY_FILE}")))
}

fn read_key(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the key file {path}: {e}"))?;
    let key = text.strip_suffix('\n').unwrap_or(&text).to_string();
    if key.trim().is_empty() {
        return Err(format!("the key file {path} is empty"));
    }
    Ok(key)
}

/// A new development key: 32 random bytes in hex, mode 0600, never over an existing file (the
/// gateway may be making the same one at the same moment: whichever is first, both read it).
fn make_dev_key(path: &str) -> Result<(), String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for a development key: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => f
            .write_all(format!("{hex}\n").as_bytes())
            .map_err(|e| format!("cannot write {path}: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create the development key {path}: {e}")),
    }
}
