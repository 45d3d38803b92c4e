//! systemd integration: readiness notifications, the watchdog, and socket activation.
//!
//! Notifications go through the `sd-notify` crate (the documented `sd_notify` protocol: one
//! datagram to the socket named by `$NOTIFY_SOCKET`, abstract or path), on Linux only, where
//! systemd runs; elsewhere, and without `$NOTIFY_SOCKET`, every call is a no-op, so the same code
//! builds and runs anywhere. Socket activation takes the first listening socket systemd passed
//! (`$LISTEN_FDS`, checked against `$LISTEN_PID` by the `listenfd` crate, which owns the one
//! `unsafe` call needed to adopt an fd).

use std::time::Duration;

use crate::config::Env;

/// Sends `sd_notify` messages, or nothing when not started by systemd.
#[derive(Debug)]
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
}

/// A state change, as `sd_notify` spells it.
#[derive(Debug, Clone, Copy)]
enum State {
    Ready,
    Reloading,
    Stopping,
    Watchdog,
}

impl Notifier {
    pub fn disabled() -> Self {
        Notifier {
            enabled: false,
            watchdog: None,
        }
    }

    pub fn from_env(env: &Env) -> Self {
        let enabled = env.get("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        // WATCHDOG_USEC applies to us only if WATCHDOG_PID is absent or ours.
        let ours = env
            .get("WATCHDOG_PID")
            .is_none_or(|pid| pid.parse() == Ok(std::process::id()));
        let watchdog = env
            .get("WATCHDOG_USEC")
            .and_then(|us| us.parse::<u64>().ok())
            .filter(|us| *us > 0 && ours)
            .map(Duration::from_micros);
        Notifier { enabled, watchdog }
    }

    fn send(&self, state: State, status: Option<&str>) {
        if self.enabled {
            notify(state, status);
        }
    }

    /// Listeners bound, key and certificate loaded.
    pub fn ready(&self) {
        self.send(State::Ready, Some("serving"));
    }

    pub fn reloading(&self) {
        self.send(State::Reloading, Some("reloading"));
    }

    /// After a reload, whether or not it was applied (the old configuration keeps serving).
    pub fn reloaded(&self, applied: bool) {
        let status = if applied {
            "serving"
        } else {
            "serving; last reload refused, see the log"
        };
        self.send(State::Ready, Some(status));
    }

    pub fn stopping(&self) {
        self.send(State::Stopping, Some("draining"));
    }

    /// Pings the watchdog at half its period for as long as the runtime runs tasks.
    pub fn spawn_watchdog(self: &std::sync::Arc<Self>) {
        let Some(period) = self.watchdog else { return };
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period / 2);
            loop {
                tick.tick().await;
                me.send(State::Watchdog, None);
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

#[cfg(target_os = "linux")]
fn notify(state: State, status: Option<&str>) {
    use sd_notify::NotifyState;
    let first = match state {
        State::Ready => NotifyState::Ready,
        State::Reloading => NotifyState::Reloading,
        State::Stopping => NotifyState::Stopping,
        State::Watchdog => NotifyState::Watchdog,
    };
    let mut states = vec![first];
    states.extend(status.map(NotifyState::Status));
    if let Err(e) = sd_notify::notify(&states) {
        tracing::warn!(error = %e, ?state, "sd_notify failed");
    }
}

/// systemd runs only on Linux: nothing to tell elsewhere.
#[cfg(not(target_os = "linux"))]
fn notify(_state: State, _status: Option<&str>) {}
