//! Shutdown signals: SIGTERM (systemd, Kubernetes) and SIGINT (a terminal) both start the drain.

/// Resolves at the first SIGTERM or SIGINT. If the handlers cannot be installed the gateway logs
/// it and waits on Ctrl-C alone rather than refusing to run.
pub async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            tracing::warn!("could not install signal handlers; only Ctrl-C will stop the gateway");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
