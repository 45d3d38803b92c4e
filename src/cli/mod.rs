//! The command line: `serve`, `check`, `keys`, `audit verify` and `audit keygen`, `idempotency
//! pending`, `completions`, their output and their exit codes.
//!
//! Exit codes: 0 success; 78 (`EX_CONFIG`) when the configuration, the key or the certificates
//! cannot be used, before anything is bound; 1 for a runtime failure such as a busy port, or a
//! serve task that crashed (a panic) rather than drained.
//! `audit verify`: 0 intact, 1 broken, 2 when a file (or a key, or an anchors file) cannot be
//! read.

mod audit;
mod describe;
mod docs;
mod idempotency;
mod keys;

use self::describe::{describe, idempotency_capacity, log_start};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tokio::net::TcpListener;

use std::sync::Arc;

use crate::app::{self, Crashed, Listeners, Options, StartError};
use crate::config::{Env, Process, Purpose};
use crate::server::Drain;
use crate::state::{self, Loaded};
use crate::systemd::Notifier;
use crate::EXIT_CONFIG;

#[derive(Debug, Parser)]
#[command(
    name = "blnk-gateway",
    version,
    // clap's own `help` subcommand refuses `help --help`; ours is an ordinary command.
    disable_help_subcommand = true,
    about = "Secure-mode TLS gateway for a self-hosted Blnk ledger",
    long_about = "Secure-mode TLS gateway for a self-hosted Blnk ledger.\n\nIt terminates TLS in front of Blnk Core, enforces Blnk's secure mode (verify mode) or keeps the master key from clients and injects it itself (inject mode), forwards only complete requests with a deadline on every wait, makes retried transfers safe, rate limits, and keeps a hash-chained audit log of every request. It reads Blnk's own blnk.json (the server section) plus a gateway section.",
    after_help = "Examples:\n  blnk-gateway check --config /etc/blnk-gateway/blnk.json\n  blnk-gateway serve --config /etc/blnk-gateway/blnk.json\n  blnk-gateway keys list --config /etc/blnk-gateway/blnk.json\n  blnk-gateway audit verify /var/log/blnk-gateway/audit.log\n\nEach command's --help has its own examples. Guide: README.md (in the package: /usr/share/doc/blnk-gateway/)."
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
    #[command(
        after_help = "Examples:\n  blnk-gateway serve --config /etc/blnk-gateway/blnk.json\n  BLNK_GATEWAY_LOG=debug blnk-gateway --log-format json serve --config config/dev.json"
    )]
    Serve {
        /// The blnk.json-style configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Load and validate everything `serve` would; exit 0 if usable, 78 otherwise. Every
    /// problem is printed, by key path.
    #[command(
        after_help = "Examples:\n  blnk-gateway check --config /etc/blnk-gateway/blnk.json\n  sudo -u blnk-gateway env STATE_DIRECTORY=/var/lib/blnk-gateway blnk-gateway check --config /etc/blnk-gateway/blnk.json"
    )]
    Check {
        /// The blnk.json-style configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Issue, list and revoke scoped client keys (inject mode).
    #[command(
        disable_help_subcommand = true,
        after_help = "Example:\n  blnk-gateway keys new --config /etc/blnk-gateway/blnk.json --name payments --scopes data:read --expires 90d"
    )]
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Audit log tools.
    #[command(
        disable_help_subcommand = true,
        after_help = "Example:\n  blnk-gateway audit verify /var/log/blnk-gateway/audit.log.1 /var/log/blnk-gateway/audit.log"
    )]
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Idempotency keys after an incident: which are in flight or of unknown outcome.
    #[command(
        after_help = "Example:\n  blnk-gateway idempotency pending --config /etc/blnk-gateway/blnk.json"
    )]
    Idempotency {
        #[command(subcommand)]
        command: idempotency::IdempotencyCommand,
    },
    /// Print shell completions for bash, zsh, fish, elvish or PowerShell to standard output.
    #[command(
        after_help = "Example:\n  blnk-gateway completions bash > ~/.local/share/bash-completion/completions/blnk-gateway"
    )]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the help of a command: `help keys new` is `keys new --help`.
    #[command(after_help = "Examples:\n  blnk-gateway help\n  blnk-gateway help keys new")]
    Help {
        /// The command, and its subcommand, whose help to print; none for the overview.
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Write the man pages (blnk-gateway.1 and one per command) into a directory. For packaging.
    #[command(hide = true)]
    Manpages {
        /// The directory to write them into (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
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
        Command::Idempotency { command } => idempotency::run(command),
        Command::Completions { shell } => docs::completions(Cli::command(), shell),
        Command::Help { command } => docs::help(Cli::command(), &command),
        Command::Manpages { dir } => docs::manpages(Cli::command(), &dir),
    }
}

/// The log filter when `BLNK_GATEWAY_LOG` does not say otherwise.
const DEFAULT_LOG_FILTER: &str = "info";
/// rustls logs some per-handshake events at WARN (a client that sends an IP address as SNI, as
/// wrk and some libraries do), which at production connection rates floods the journal; the
/// gateway counts failed handshakes itself (`blnk_gateway_tls_handshake_failures_total`). So
/// rustls is heard only for errors, unless `BLNK_GATEWAY_LOG` names `rustls` itself
/// (`BLNK_GATEWAY_LOG=info,rustls=debug`).
const RUSTLS_DIRECTIVE: &str = "rustls=error";

/// The filter: `BLNK_GATEWAY_LOG` (or `info`), with rustls quieted unless the variable names it.
pub fn log_filter(var: Option<&str>) -> String {
    let base = var
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_LOG_FILTER);
    if base.contains("rustls") {
        base.to_string()
    } else {
        format!("{base},{RUSTLS_DIRECTIVE}")
    }
}

fn init_logging(format: LogFormat) {
    let var = std::env::var("BLNK_GATEWAY_LOG").ok();
    let filter =
        tracing_subscriber::EnvFilter::try_new(log_filter(var.as_deref())).unwrap_or_else(|e| {
            eprintln!("BLNK_GATEWAY_LOG: {e}; using {DEFAULT_LOG_FILTER}");
            tracing_subscriber::EnvFilter::new(log_filter(None))
        });
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
            if let Some(line) = idempotency_capacity(&loaded) {
                println!("idempotency store: {line}");
            }
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
        log_start(&loaded, &shape);
        let options = Options {
            config_path: path.to_path_buf(),
            env,
            systemd,
            watch_files: true,
        };
        let running = match app::start(loaded, listeners, options, crate::signal::shutdown()) {
            Ok(r) => r,
            Err(StartError::Config(why)) => {
                // As a problem found by `load`: named by key, exit 78, so systemd does not
                // restart into the same failure.
                eprintln!("{}: configuration cannot be used:\n  {why}", path.display());
                return ExitCode::from(EXIT_CONFIG);
            }
            Err(StartError::Io(e)) => {
                tracing::error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        ended(running.finished().await)
    })
}

/// How `serve` ended, in the log and the exit status. A drain is a shutdown someone asked for
/// (exit 0, even when its deadline cut connections off); a crashed serve task is a failure
/// (exit 1), so systemd's `Restart=on-failure` restarts the gateway.
fn ended(finished: Result<Drain, Crashed>) -> ExitCode {
    match finished {
        Ok(Drain::Clean) => tracing::info!("drained cleanly; exiting"),
        Ok(Drain::TimedOut { remaining }) => tracing::warn!(
            remaining,
            "drain deadline passed; closing the remaining connections"
        ),
        Err(crashed) => {
            tracing::error!("{crashed}; exiting with status 1");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
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
            .map_err(|e| fail(&format!("gateway.listen {}", settings.listen), e))?,
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

/// A listener that cannot be bound: named by its key, with what usually causes it. A runtime
/// failure (exit 1): the port may be free a moment later, so systemd's restart is right.
fn fail(what: &str, e: std::io::Error) -> ExitCode {
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            " (another process listens there: a gateway already running? `ss -ltnp` shows which)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need CAP_NET_BIND_SERVICE, or socket activation)"
        }
        _ => "",
    };
    tracing::error!(error = %e, "cannot listen on {what}: {e}{hint}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use std::process::ExitCode;
    use std::sync::{Arc, Mutex};

    use clap::CommandFactory;

    use super::{ended, Cli};
    use crate::app::Crashed;
    use crate::server::Drain;

    /// What `ended` logged, and the exit status it chose.
    fn ended_with(finished: Result<Drain, Crashed>) -> (ExitCode, String) {
        #[derive(Clone)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let log = Captured(Arc::new(Mutex::new(Vec::new())));
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let code = tracing::subscriber::with_default(subscriber, || ended(finished));
        let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
        (code, text)
    }

    /// A serve task that panicked exits 1 and says why, with the panic's message; a drain whose
    /// deadline passed is a shutdown that was asked for, and exits 0.
    #[test]
    fn a_crashed_serve_task_exits_1_and_says_why_a_late_drain_exits_0() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let panicked = rt
            .block_on(async { tokio::spawn(async { panic!("injected: accept broke") }).await })
            .unwrap_err();
        let (code, log) = ended_with(Err(Crashed::from(panicked)));
        assert_eq!(code, ExitCode::FAILURE, "{log}");
        assert!(log.contains("ERROR"), "{log}");
        assert!(
            log.contains("the serve task panicked: injected: accept broke; exiting with status 1"),
            "{log}"
        );
        assert!(!log.contains("drain"), "{log}");

        let (code, log) = ended_with(Ok(Drain::TimedOut { remaining: 2 }));
        assert_eq!(code, ExitCode::SUCCESS, "{log}");
        assert!(log.contains("drain deadline passed"), "{log}");
        let (code, log) = ended_with(Ok(Drain::Clean));
        assert_eq!(code, ExitCode::SUCCESS, "{log}");
        assert!(log.contains("drained cleanly"), "{log}");
    }

    /// Every argument an operator can give says what it is, in `--help`, the man pages and the
    /// completions alike.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = Cli::command();
        cmd.build();
        walk(&cmd, "blnk-gateway", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
