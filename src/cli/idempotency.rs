//! `blnk-gateway idempotency pending`: the keys a running gateway holds in flight or of unknown
//! outcome, each with the request it was and what Blnk holds for it now (asked by the gateway
//! through its admin listener, `/idempotency/pending`), for an operator settling them with
//! clients after an incident (docs/idempotency.md, "After an incident").

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use crate::config::{Env, Purpose};
use crate::limits::{PENDING_ADMIN_MAX_BYTES, PENDING_ADMIN_TIMEOUT};

#[derive(Debug, Subcommand)]
pub enum IdempotencyCommand {
    /// List the keys in flight or of unknown outcome, with what Blnk holds for each.
    #[command(
        after_help = "Examples:\n  blnk-gateway idempotency pending --config /etc/blnk-gateway/blnk.json\n  blnk-gateway idempotency pending --admin 127.0.0.1:9901 --json"
    )]
    Pending {
        /// The gateway's configuration, for its admin listener's address.
        #[arg(long, short, required_unless_present = "admin")]
        config: Option<PathBuf>,
        /// The admin listener's address (default: gateway.admin_listen of --config).
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Print the report as JSON, as the admin listener gives it.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: IdempotencyCommand) -> ExitCode {
    let IdempotencyCommand::Pending {
        config,
        admin,
        json,
    } = command;
    let addr = match (admin, config) {
        (Some(a), _) => a,
        (None, Some(path)) => match crate::state::load(&path, &Env::from_process(), Purpose::Check)
        {
            Ok(loaded) => match loaded.settings.process.admin_listen {
                Some(a) => a,
                None => {
                    eprintln!(
                        "gateway.admin_listen is off in {}: nothing to ask (give --admin)",
                        path.display()
                    );
                    return ExitCode::from(crate::EXIT_CONFIG);
                }
            },
            Err(problems) => {
                eprintln!(
                    "{}: configuration cannot be used:\n{problems}",
                    path.display()
                );
                return ExitCode::from(crate::EXIT_CONFIG);
            }
        },
        (None, None) => return ExitCode::from(2),
    };
    let report = match fetch(addr) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "cannot ask the gateway's admin listener at {addr}: {e} (is the gateway running?)"
            );
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{report}");
    } else {
        print_table(&report);
    }
    ExitCode::SUCCESS
}

fn fetch(addr: SocketAddr) -> Result<Value, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, PENDING_ADMIN_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(PENDING_ADMIN_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /idempotency/pending HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.take(PENDING_ADMIN_MAX_BYTES)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or_default().to_string());
    }
    serde_json::from_str(body).map_err(|e| e.to_string())
}

fn print_table(report: &Value) {
    println!("store: {}", report["store"].as_str().unwrap_or("?"));
    if let Some(e) = report["error"].as_str() {
        println!("error: {e}");
        return;
    }
    let pending = report["pending"].as_array().cloned().unwrap_or_default();
    if pending.is_empty() {
        println!("no key is in flight or of unknown outcome");
        return;
    }
    for p in pending {
        println!(
            "{} {:9} since {}  {} {}  {}",
            p["key"].as_str().unwrap_or(""),
            p["state"].as_str().unwrap_or(""),
            p["since"].as_str().unwrap_or(""),
            p["method"].as_str().unwrap_or(""),
            p["path"].as_str().unwrap_or(""),
            p["reference"].as_str().unwrap_or(""),
        );
        println!("    Blnk holds: {}", p["blnk"]);
    }
}
