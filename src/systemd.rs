//! systemd integration: readiness notifications, the watchdog, and socket activation.
//!
//! Notifications follow the documented `sd_notify` protocol: one datagram per message to the
//! `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
//! Without `$NOTIFY_SOCKET` every call is a no-op, so the same binary runs anywhere. Socket
//! activation takes the first listening socket systemd passed (`$LISTEN_FDS`, checked against
//! `$LISTEN_PID` by the `listenfd` crate, which owns the one `unsafe` call needed to adopt an fd).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use crate::config::Env;

/// Sends `sd_notify` messages, or nothing when not started by systemd.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    pub fn disabled() -> Self {
        Notifier {
            target: None,
            watchdog: None,
        }
    }

    pub fn from_env(env: &Env) -> Self {
        let target = env.get("NOTIFY_SOCKET").filter(|s| !s.is_empty()).and_then(|path| {
            let addr = match path.strip_prefix('@') {
                Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes()),
                None => SocketAddr::from_pathname(path),
            };
            match (UnixDatagram::unbound(), addr) {
                (Ok(sock), Ok(addr)) => Some((sock, addr)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "NOTIFY_SOCKET is set but unusable; systemd will not hear from the gateway");
                    None
                }
            }
        });
        // WATCHDOG_USEC applies to us only if WATCHDOG_PID is absent or ours.
        let ours = env
            .get("WATCHDOG_PID")
            .is_none_or(|pid| pid.parse() == Ok(std::process::id()));
        let watchdog = env
            .get("WATCHDOG_USEC")
            .and_then(|us| us.parse::<u64>().ok())
            .filter(|us| *us > 0 && ours)
            .map(Duration::from_micros);
        Notifier { target, watchdog }
    }

    fn send(&self, message: &str) {
        if let Some((sock, addr)) = &self.target {
            if let Err(e) = sock.send_to_addr(message.as_bytes(), addr) {
                tracing::warn!(error = %e, message, "sd_notify failed");
            }
        }
    }

    /// Listeners bound, key and certificate loaded.
    pub fn ready(&self) {
        self.send("READY=1\nSTATUS=serving");
    }

    pub fn reloading(&self) {
        self.send("RELOADING=1\nSTATUS=reloading");
    }

    /// After a reload, whether or not it was applied (the old configuration keeps serving).
    pub fn reloaded(&self, applied: bool) {
        self.send(if applied {
            "READY=1\nSTATUS=serving"
        } else {
            "READY=1\nSTATUS=serving; last reload refused, see the log"
        });
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=draining");
    }

    /// Pings the watchdog at half its period for as long as the runtime runs tasks.
    pub fn spawn_watchdog(self: &std::sync::Arc<Self>) {
        let Some(period) = self.watchdog else { return };
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period / 2);
            loop {
                tick.tick().await;
                me.send("WATCHDOG=1");
            }
        });
    }
}

/// The listening socket systemd passed, if the gateway was socket-activated.
pub fn inherited_listener() -> std::io::Result<Option<std::net::TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    let listener = fds.take_tcp_listener(0)?;
    if let Some(l) = &listener {
        l.set_nonblocking(true)?;
    }
    Ok(listener)
}
