//! Shutdown signals: SIGTERM (systemd, Kubernetes) and SIGINT (a terminal) both start the drain.

use std::future::Future;

/// Installs the SIGTERM and SIGINT handlers now and returns a future that resolves at the first
/// of them. The handlers are installed before the caller reports ready, not when the future is
/// first polled: a SIGTERM sent right after READY=1 would otherwise still find the default
/// action, which kills the process with no drain and no exit status. If the handlers cannot be
/// installed the gateway logs it and waits on Ctrl-C alone rather than refusing to run.
pub fn shutdown() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
            }
            _ => {
                tracing::warn!(
                    "could not install signal handlers; only Ctrl-C will stop the gateway"
                );
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
