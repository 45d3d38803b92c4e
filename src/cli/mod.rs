//! The command line: `serve`, `check`, `keys`, `audit verify` and `audit keygen`, their output
//! and their exit codes.
//!
//! Exit codes: 0 success; 78 (`EX_CONFIG`) when the configuration, the key or the certificates
//! cannot be used, before anything is bound; 1 for a runtime failure such as a busy port.
//! `audit verify`: 0 intact, 1 broken, 2 when a file (or a key, or an anchors file) cannot be
//! read.

mod audit;
mod keys;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use std::sync::Arc;

use crate::app::{self, Listeners, Options};
use crate::config::{Env, Process, Purpose};
use crate::server::Drain;
use crate::state::{self, Loaded};
use crate::systemd::Notifier;
use crate::EXIT_CONFIG;

#[derive(Debug, Parser)]
#[command(
    name = "blnk-gateway",
    version,
    about = "Secure-mode TLS gateway for a self-hosted Blnk ledger"
)]
pub struct Cli {
    /// Log format for operational logs on standard error.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "BLNK_GATEWAY_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The blnk.json-style configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Load and validate everything `serve` would; exit 0 if usable, 78 otherwise.
    Check {
        /// The blnk.json-style configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Issue, list and revoke scoped client keys (inject mode).
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Serve { config } => serve(&config),
        Command::Keys { command } => keys::run(command),
        Command::Audit { command } => audit::run(command),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BLNK_GATEWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load(path: &Path, env: &Env, purpose: Purpose) -> Result<Loaded, ExitCode> {
    match state::load(path, env, purpose) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            Ok(loaded)
        }
        Err(problems) => {
            eprintln!("{}: configuration cannot be used:", path.display());
            for p in problems.iter() {
                eprintln!("  {}: {}", p.key, p.message);
            }
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

fn describe(loaded: &Loaded) -> String {
    let s = &loaded.settings;
    let audit = if s.process.audit.enabled {
        format!(
            "{} on_failure={}",
            s.process.audit.target, s.audit.on_failure
        )
    } else {
        "off".to_string()
    };
    let cluster = match &s.process.cluster {
        Some(c) => c.redis.to_string(),
        None => "off".to_string(),
    };
    format!(
        "mode={} listen={} tls={} upstream={}://{} key_source=\"{}\" key_fingerprint={} audit={} cluster={}",
        s.mode,
        s.process.listen,
        if s.tls.is_some() { "on" } else { "off" },
        s.upstream.scheme,
        s.upstream.authority,
        loaded.key_source,
        loaded.key.fingerprint(),
        audit,
        cluster
    )
}

/// The runtime, shaped by the cores this process may run on (affinity and cgroup quota, as
/// `available_parallelism` sees them). On one core, a current-thread runtime: with nothing to
/// steal work from, the multi-thread scheduler's queues, atomics and cross-thread wake-ups are
/// pure cost (benches/load.sh, pinned to one core: 6% less CPU per request and 16% lower p99 over
/// TLS). On more, the work-stealing runtime with a worker per core, which keeps a few busy
/// keep-alive connections (an SDK's pool) from piling onto one core, as a runtime per core with
/// `SO_REUSEPORT` would.
fn runtime() -> std::io::Result<(tokio::runtime::Runtime, String)> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if cores == 1 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok((rt, "current_thread".to_string()))
    } else {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .enable_all()
            .build()?;
        Ok((rt, format!("multi_thread/{cores}")))
    }
}

fn check(path: &Path) -> ExitCode {
    match load(path, &Env::from_process(), Purpose::Check) {
        Ok(loaded) => {
            println!("{}: OK ({})", path.display(), describe(&loaded));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn serve(path: &Path) -> ExitCode {
    let env = Env::from_process();
    let loaded = match load(path, &env, Purpose::Serve) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let (runtime, shape) = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let systemd = Arc::new(Notifier::from_env(&env));
        let listeners = match bind(&loaded.settings.process).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        tracing::info!("{} runtime={shape}", describe(&loaded));
        let options = Options {
            config_path: path.to_path_buf(),
            env,
            systemd,
            watch_files: true,
        };
        let running = match app::start(loaded, listeners, options, crate::signal::shutdown()) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        match running.finished().await {
            Drain::Clean => tracing::info!("drained cleanly; exiting"),
            Drain::TimedOut { remaining } => tracing::warn!(
                remaining,
                "drain deadline passed; closing the remaining connections"
            ),
        }
        ExitCode::SUCCESS
    })
}

/// The client listener (inherited from systemd when socket-activated) and the admin listener.
async fn bind(settings: &Process) -> Result<Listeners, ExitCode> {
    let listener = match crate::systemd::inherited_listener() {
        Ok(Some(std_listener)) => {
            let l = TcpListener::from_std(std_listener).map_err(|e| fail("inherited socket", e))?;
            tracing::info!(addr = ?l.local_addr().ok(), "socket-activated: serving the socket systemd passed; gateway.listen is not used");
            l
        }
        Ok(None) => TcpListener::bind(settings.listen)
            .await
            .map_err(|e| fail(&settings.listen.to_string(), e))?,
        Err(e) => return Err(fail("LISTEN_FDS", e)),
    };
    let admin = match settings.admin_listen {
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| fail(&format!("gateway.admin_listen {addr}"), e))?;
            tracing::info!(%addr, "admin listener: /healthz /readyz /metrics");
            Some(l)
        }
        None => None,
    };
    Ok(Listeners {
        client: listener,
        admin,
    })
}

fn fail(what: &str, e: std::io::Error) -> ExitCode {
    tracing::error!(error = %e, "cannot listen on {what}");
    ExitCode::FAILURE
}
