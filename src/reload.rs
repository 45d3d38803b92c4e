//! Live reload: watch, debounce, load and validate everything, swap the snapshot whole.
//!
//! Triggers are file events in the directories that hold the config file, the key file, the
//! clients file, the audit signing key file (not with `key_epoch`: the gateway writes it) and the
//! TLS files (directories, because rotation tools replace files
//! by rename or swap a Kubernetes `..data` symlink, which ends a watch on the file itself), and
//! SIGHUP. Events are debounced so a half-written file is not read. A reload runs the same
//! `state::load` as `serve`; on any problem the last good snapshot keeps serving, the problems
//! are logged and a counter moves. The swap itself is `Gateway::update`'s, serialised with the
//! rotation's.
//!
//! A reload that brings a new master key hands it to `rotation` (the grace timer and the probe
//! loop). This module does not decide what a key allows; `proxy` and `keys` do.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{self, Env, Problems, Purpose, Settings};
use crate::gateway::Gateway;
use crate::limits;
use crate::rotation;
use crate::secret::RECOMMENDED_MIN_KEY_LEN;
use crate::state::{self, Loaded, Snapshot};
use crate::systemd::Notifier;

pub struct Reloader {
    gw: Arc<Gateway>,
    config_path: PathBuf,
    env: Env,
    /// File names whose events trigger a reload, and the directories watched for them.
    watched: Mutex<(HashSet<OsString>, HashSet<PathBuf>)>,
    wake: Notify,
    systemd: Arc<Notifier>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("config_path", &self.config_path)
            .finish()
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied { key_rotated: bool },
    Rejected(String),
}

impl Reloader {
    pub fn new(
        gw: Arc<Gateway>,
        config_path: PathBuf,
        env: Env,
        systemd: Arc<Notifier>,
    ) -> Arc<Self> {
        Arc::new(Reloader {
            systemd,
            gw,
            config_path,
            env,
            watched: Mutex::new((HashSet::new(), HashSet::new())),
            wake: Notify::new(),
        })
    }

    /// Loads everything again and swaps it in, or keeps the current snapshot on any problem.
    /// The files are read and parsed on tokio's blocking pool, never on a runtime thread.
    pub async fn reload(self: &Arc<Self>, trigger: &str) -> Outcome {
        self.systemd.reloading();
        let (path, env) = (self.config_path.clone(), self.env.clone());
        let loaded = tokio::task::spawn_blocking(move || state::load(&path, &env, Purpose::Serve))
            .await
            .unwrap_or_else(|e| {
                let mut p = Problems::default();
                p.push("reload", format!("the loading task failed: {e}"));
                Err(p)
            });
        let outcome = match loaded {
            Ok(loaded) => self.apply(loaded, trigger),
            Err(problems) => Outcome::Rejected(problems.to_string()),
        };
        self.systemd
            .reloaded(matches!(outcome, Outcome::Applied { .. }));
        match &outcome {
            Outcome::Applied { .. } => {
                self.gw.reloads.reloads.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Rejected(why) => {
                self.gw.reloads.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    trigger,
                    "reload refused, the previous configuration keeps serving:\n{why}"
                );
            }
        }
        outcome
    }

    /// Swaps in what was loaded, unless it is a key too short to be a whole key file; a new key
    /// starts a rotation (`rotation`).
    fn apply(&self, loaded: Loaded, trigger: &str) -> Outcome {
        let mut refused = None;
        let mut rotated = None;
        self.gw.update(|old| {
            let rotation = !old.keys.current.digest().matches(loaded.key.digest());
            if rotation && loaded.key.len() < RECOMMENDED_MIN_KEY_LEN {
                refused = Some(short_key(&loaded));
                return None;
            }
            let next = self.next(old, loaded, trigger);
            rotated =
                rotation.then(|| (*old.keys.current.fingerprint(), next.keys.previous.clone()));
            Some(next)
        });
        if let Some(why) = refused {
            return Outcome::Rejected(why);
        }
        if let Some((old, previous)) = &rotated {
            rotation::start(&self.gw, old, previous.clone());
        }
        Outcome::Applied {
            key_rotated: rotated.is_some(),
        }
    }

    /// The snapshot that follows `old` with what was loaded; logs what changed.
    fn next(&self, old: &Snapshot, mut loaded: Loaded, trigger: &str) -> Snapshot {
        for w in &loaded.warnings {
            tracing::warn!("{w}");
        }
        log_changes(&old.settings, &loaded.settings);
        // The audit signing key follows a reload; its file's path needs a restart.
        let same_key_file = loaded.settings.process.audit.signing_key_file
            == old.settings.process.audit.signing_key_file;
        if let Some(key) = loaded.audit_key.take().filter(|_| same_key_file) {
            self.gw.audit.offer_signing_key(key);
        }
        // What is read once at start stays as it is until a restart.
        loaded.settings.process = old.settings.process.clone();
        let next = old.next(loaded, Instant::now());
        self.refresh_watch_list(&next);
        log_reloaded(trigger, old, &next);
        next
    }

    /// Reloads on file events in the watched directories, debounced.
    pub fn spawn_watcher(self: &Arc<Self>) -> Result<notify::RecommendedWatcher, notify::Error> {
        let me = self.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if let Ok(event) = res {
                    if me.is_relevant(&event) {
                        me.wake.notify_one();
                    }
                }
            })?;
        self.refresh_watch_list(&self.gw.snapshot());
        let dirs = self
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone();
        for dir in &dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                me.wake.notified().await;
                // Debounce: wait for a quiet period so a file being written is read whole, but
                // not forever if something keeps writing.
                let started = Instant::now();
                while started.elapsed() < limits::RELOAD_MAX_DEBOUNCE
                    && tokio::time::timeout(limits::RELOAD_DEBOUNCE, me.wake.notified())
                        .await
                        .is_ok()
                {}
                me.reload("file change").await;
            }
        });
        Ok(watcher)
    }

    /// Reloads on SIGHUP, and reopens the audit log (logrotate's `postrotate` sends SIGHUP after
    /// renaming the file).
    pub fn spawn_sighup(self: &Arc<Self>) {
        let me = self.clone();
        // Registered here, before the caller reports ready: registered inside the task, a SIGHUP
        // sent right after READY=1 could still find the default action, which ends the process.
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; reload by file change only");
            return;
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                me.reload("SIGHUP").await;
                if let Err(e) = me.gw.audit.reopen().await {
                    tracing::error!(error = %e, "audit log not reopened on SIGHUP");
                }
            }
        });
    }

    fn is_relevant(&self, event: &notify::Event) -> bool {
        if event.kind.is_access() {
            return false;
        }
        let watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        event.paths.iter().any(|p| {
            p.file_name()
                .is_some_and(|n| watched.0.contains(n) || n.to_string_lossy().starts_with(".."))
        })
    }

    /// Records which files matter for `snap`. Directories added later are picked up on restart.
    fn refresh_watch_list(&self, snap: &Snapshot) {
        let mut files: Vec<&Path> = vec![&self.config_path];
        if let Some(p) = snap.keys.source.path() {
            files.push(p);
        }
        if let Some(p) = &snap.settings.clients_file {
            files.push(p);
        }
        if let Some(t) = &snap.settings.tls {
            files.extend([t.cert.as_path(), t.key.as_path()]);
            files.extend(t.client_ca.as_deref());
        }
        // With epochs the gateway writes the key file itself; its own rename is no reason to
        // reload (SIGHUP still reads it).
        let audit = &snap.settings.process.audit;
        files.extend(
            audit
                .signing_key_file
                .as_deref()
                .filter(|_| audit.key_epoch.is_none()),
        );
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        for f in files {
            if let Some(name) = f.file_name() {
                watched.0.insert(name.to_os_string());
            }
            let dir = f
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            watched.1.insert(dir.to_path_buf());
        }
    }
}

/// Why a new key that short is refused.
fn short_key(loaded: &Loaded) -> String {
    let mut p = Problems::default();
    p.push(
        loaded.key_source.to_string(),
        format!("a new key must be at least {RECOMMENDED_MIN_KEY_LEN} bytes; a shorter one is refused at reload, as a half-written file looks the same"),
    );
    p.to_string()
}

/// The reload line: what is in force now, by fingerprint and file, and whether it changed.
fn log_reloaded(trigger: &str, old: &Snapshot, next: &Snapshot) {
    let cert = |s: &Snapshot| s.cert.as_ref().map(|c| c.sha256.clone());
    let clients = |s: &Snapshot| s.clients.as_ref().map_or(0, |t| t.iter().count());
    tracing::info!(
        trigger,
        key_fingerprint = %next.keys.current.fingerprint(),
        key_changed = !old.keys.current.digest().matches(next.keys.current.digest()),
        key_source = %next.keys.source,
        tls = next.tls.is_some(),
        cert_sha256 = %cert(next).unwrap_or_else(|| "none".into()),
        cert_not_after = %next.cert.as_ref().map_or("none".into(), |c| c.not_after_text()),
        cert_changed = cert(old) != cert(next),
        client_keys = clients(next),
        client_keys_before = clients(old),
        "configuration reloaded"
    );
}

/// Logs which settings changed, by key path, as the settings' types name them: what follows a
/// reload, and what needs a restart (`config::Process`).
fn log_changes(old: &Settings, new: &Settings) {
    let restart = config::changed("", &old.process, &new.process);
    if !restart.is_empty() {
        tracing::warn!(
            keys = ?restart,
            "these settings need a restart to change; the running values stay in force until then"
        );
    }
    let changed = config::changed("gateway", old, new);
    if !changed.is_empty() {
        tracing::info!(changed = ?changed, "settings changed");
    }
}
