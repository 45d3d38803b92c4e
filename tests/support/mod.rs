//! Shared test support: a fake Blnk, certificates, clients, and an in-process gateway.

pub mod certs;
pub mod client;
pub mod clock;
pub mod fake_blnk;
pub mod gateway;
pub mod h2raw;
pub mod keys;
pub mod process;
pub mod redis;
pub mod tlsraw;
pub mod upstream;

/// `cmd` with no environment but `PATH`, and then `env`: what a test sets is all the binary sees.
pub fn only_path(mut cmd: std::process::Command, env: &[(&str, &str)]) -> std::process::Command {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A finished command's exit code (-1 when killed by a signal) and its standard output followed
/// by its standard error, as an operator reading the terminal would see them.
pub fn exit_and_output(out: &std::process::Output) -> (i32, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Waits until `done` holds, yielding between checks; fails the test past the client deadline.
pub async fn until(done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(client::CLIENT_DEADLINE, async {
        while !done() {
            tokio::task::yield_now().await;
        }
    });
    waited
        .await
        .expect("condition not reached before the client deadline");
}
