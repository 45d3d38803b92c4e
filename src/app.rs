//! The one serve path: from a loaded configuration and bound listeners to a running gateway, and
//! from a shutdown signal to a drained, recorded exit, or from a crashed serve task to a
//! recorded [`Crashed`] that `serve` exits non-zero on. `serve` and the integration tests both
//! start the gateway through [`start`] (as mini-redis's `server::run`), so the tests exercise the
//! wiring that ships: the reloader, SIGHUP, file watching, the admin listener, systemd, and the
//! audit log closed at the end.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admin::Admin;
use crate::config::Env;
use crate::gateway::Gateway;
use crate::limits;
use crate::reload::Reloader;
use crate::server::{self, Drain};
use crate::state::Loaded;
use crate::systemd::Notifier;

/// The sockets the gateway serves, bound by the caller.
pub struct Listeners {
    pub client: TcpListener,
    /// `gateway.admin_listen`, unless it is "off".
    pub admin: Option<TcpListener>,
}

/// Where the configuration came from (for reloads) and who is told about the gateway's state.
pub struct Options {
    pub config_path: PathBuf,
    pub env: Env,
    pub systemd: Arc<Notifier>,
    /// Reload when a watched file changes (`serve` always does; a test may not need to).
    pub watch_files: bool,
}

/// A gateway serving in the background.
pub struct Running {
    pub gateway: Arc<Gateway>,
    pub reloader: Arc<Reloader>,
    pub addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    task: JoinHandle<Drain>,
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Why the gateway did not start.
#[derive(Debug)]
pub enum StartError {
    /// Something the configuration names cannot be used (the idempotency store's file, the
    /// cluster's Redis URL): the key path and why. Restarting will not help (exit 78).
    Config(String),
    /// The listeners could not be used.
    Io(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(why) => f.write_str(why),
            StartError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Starts serving `listeners` with `loaded`; the gateway stops accepting when `shutdown`
/// resolves, drains, and closes its audit log. Call it inside the tokio runtime.
pub fn start(
    loaded: Loaded,
    listeners: Listeners,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let addr = listeners.client.local_addr().map_err(StartError::Io)?;
    let admin_addr = listeners.admin.as_ref().and_then(|l| l.local_addr().ok());
    let gateway = Gateway::new(loaded).map_err(StartError::Config)?;
    let systemd = options.systemd;
    let reloader = Reloader::new(
        gateway.clone(),
        options.config_path,
        options.env,
        systemd.clone(),
    );
    let watcher = options
        .watch_files
        .then(|| {
            reloader
                .spawn_watcher()
                .map_err(|e| tracing::warn!(error = %e, "cannot watch files; reload with SIGHUP"))
                .ok()
        })
        .flatten();
    reloader.spawn_sighup();
    if let Some(admin) = listeners.admin {
        tokio::spawn(Admin::new(gateway.clone()).run(admin));
    }
    systemd.ready();
    systemd.spawn_watchdog();
    let gw = gateway.clone();
    let task = tokio::spawn(async move {
        let stopping = systemd.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.stopping();
        };
        let drain = server::run(gw.clone(), listeners.client, shutdown).await;
        close_stores(&gw).await;
        drain
    });
    Ok(Running {
        gateway,
        reloader,
        addr,
        admin_addr,
        task,
        _watcher: watcher,
    })
}

/// The serve task ended without draining: it panicked (the message, when the panic carried
/// one) or was cancelled. A crash, not a shutdown: `serve` exits non-zero, so systemd's
/// `Restart=on-failure` restarts the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crashed(String);

impl From<tokio::task::JoinError> for Crashed {
    fn from(e: tokio::task::JoinError) -> Self {
        if !e.is_panic() {
            return Crashed("the serve task was cancelled".to_string());
        }
        let payload = e.into_panic();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        Crashed(match message {
            Some(m) => format!("the serve task panicked: {m}"),
            None => "the serve task panicked (no message)".to_string(),
        })
    }
}

impl std::fmt::Display for Crashed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Crashed {}

impl Running {
    /// Waits until the gateway has drained and closed its audit log and idempotency store. If
    /// the serve task crashed instead, the audit log and the store are still closed (bounded), so
    /// the records already handed over are written, and the crash is the answer.
    pub async fn finished(self) -> Result<Drain, Crashed> {
        match self.task.await {
            Ok(drain) => Ok(drain),
            Err(e) => {
                close_stores(&self.gateway).await;
                Err(Crashed::from(e))
            }
        }
    }
}

/// The audit log, then the idempotency store: the last thing the serve path does, however it
/// ended.
async fn close_stores(gw: &Gateway) {
    close_audit(gw).await;
    if let Some(idem) = &gw.idempotency {
        if let Err(e) = idem.close().await {
            tracing::error!(error = %e, "idempotency store not closed cleanly");
        }
    }
}

/// The last records: bounded, so a hung disk cannot keep the process alive.
async fn close_audit(gw: &Gateway) {
    match tokio::time::timeout(limits::AUDIT_CLOSE_TIMEOUT, gw.audit.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "audit log not closed cleanly"),
        Err(_) => tracing::error!("audit log not closed in time; its last records may be lost"),
    }
}
