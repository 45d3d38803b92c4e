//! `blnk-gateway keys`: issue, list and revoke scoped client keys.
//!
//! `keys new` prints the key exactly once (standard output) and either adds its record to the
//! clients file atomically or, without a file, prints the record to add by hand. `keys list`
//! never shows a secret. `keys revoke` disables a key in the file; a running gateway reloads the
//! file and refuses the key within a second.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::clients::file::{self, ClientsFile};
use crate::clients::now_unix;
use crate::clients::ClientRate;
use crate::config::Problems;
use crate::limits::{KEYS_ADMIN_MAX_BYTES, KEYS_ADMIN_TIMEOUT};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a client key; prints it once.
    #[command(
        after_help = "Example:\n  blnk-gateway keys new --config /etc/blnk-gateway/blnk.json --name payments \\\n      --scopes transactions:write,ledgers:read,balances:read --expires 90d"
    )]
    New {
        /// A name for people: the service or integration that will hold the key.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: resource:action (Blnk's), data:read, data:write, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Expiry: a duration from now ("90d", "12h") or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
        /// Comma-separated networks the key may be used from.
        #[arg(long, value_delimiter = ',')]
        networks: Vec<String>,
        /// SHA-256 (hex) of the client certificate the key is bound to.
        #[arg(long)]
        cert_sha256: Option<String>,
        /// Per-key rate limit, PER_SECOND:BURST.
        #[arg(long)]
        rate: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// List keys: ids, names, scopes, expiry, status and last use. Never a secret.
    #[command(
        after_help = "Example:\n  blnk-gateway keys list --config /etc/blnk-gateway/blnk.json"
    )]
    List {
        #[command(flatten)]
        target: Target,
        /// The gateway's admin listener, for last-use times (default: from --config).
        #[arg(long)]
        admin: Option<SocketAddr>,
    },
    /// Disable a key (it stays in the file, marked revoked).
    #[command(
        after_help = "Example:\n  blnk-gateway keys revoke 3f9a0c1b2d4e --config /etc/blnk-gateway/blnk.json"
    )]
    Revoke {
        /// The key's id: the part between `bgw_` and the next `_`, as `keys list` shows it.
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

/// Which clients file: given directly, or read from the gateway's config.
#[derive(Debug, Args)]
pub struct Target {
    /// The clients file (the gateway's gateway.clients_file).
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    file: Option<PathBuf>,
    /// The gateway config; its gateway.clients_file is used.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl Target {
    fn path(&self) -> Result<Option<PathBuf>, String> {
        if let Some(f) = &self.file {
            return Ok(Some(f.clone()));
        }
        let Some(cfg) = &self.config else {
            return Ok(None);
        };
        if let Ok(p) = std::env::var("BLNK_GATEWAY_CLIENTS_FILE") {
            return Ok(Some(PathBuf::from(p)));
        }
        let text = std::fs::read_to_string(cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", cfg.display()))?;
        let Some(rel) = doc["gateway"]["clients_file"].as_str() else {
            return Err(format!(
                "{}: gateway.clients_file is not set. Client keys are for inject mode: add \"mode\": \"inject\" and \"clients_file\": \"clients.json\" to the gateway section (a path relative to the config file; keys new creates the file), or give the file with --file",
                cfg.display()
            ));
        };
        Ok(Some(cfg.parent().unwrap_or(Path::new(".")).join(rel)))
    }

    fn admin(&self) -> Option<SocketAddr> {
        let text = std::fs::read_to_string(self.config.as_ref()?).ok()?;
        let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
        doc["gateway"]["admin_listen"]
            .as_str()
            .unwrap_or("127.0.0.1:9901")
            .parse()
            .ok()
    }
}

pub fn run(cmd: KeysCommand) -> ExitCode {
    let result = match cmd {
        KeysCommand::New {
            name,
            scopes,
            expires,
            networks,
            cert_sha256,
            rate,
            target,
        } => new(
            &name,
            scopes,
            expires.as_deref(),
            networks,
            cert_sha256,
            rate.as_deref(),
            &target,
        ),
        KeysCommand::List { target, admin } => list(&target, admin.or_else(|| target.admin())),
        KeysCommand::Revoke { id, target } => revoke(&id, &target),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::EXIT_CONFIG)
        }
    }
}

fn new(
    name: &str,
    scopes: Vec<String>,
    expires: Option<&str>,
    networks: Vec<String>,
    cert_sha256: Option<String>,
    rate: Option<&str>,
    target: &Target,
) -> Result<(), String> {
    let path = target.path()?;
    let mut doc = match &path {
        Some(p) => file::read(p)?,
        None => ClientsFile::default(),
    };
    let (key, mut record) = file::generate(&doc, name, scopes)?;
    record.expires_at = expires.map(expiry).transpose()?;
    record.allow_networks = networks;
    record.client_cert_sha256 = cert_sha256.map(|s| s.to_ascii_lowercase());
    record.rate_limit = rate.map(parse_rate).transpose()?;
    doc.clients.push(record.clone());
    let mut problems = Problems::default();
    if file::check(&doc, "new key", &mut problems).is_none() {
        return Err(problems.to_string());
    }
    match &path {
        Some(p) => {
            file::write_atomic(p, &doc)?;
            eprintln!(
                "added client {} ({name}) to {}; a running gateway picks it up on its own",
                record.id,
                p.display()
            );
            eprintln!("the key is shown once, below; store it in the client's secret store:");
            println!("{key}");
        }
        None => {
            eprintln!("the key is shown once; store it in the client's secret store:");
            println!("{key}");
            eprintln!("add this record to the clients file (gateway.clients_file):");
            eprintln!(
                "{}",
                serde_json::to_string_pretty(&record).map_err(|e| e.to_string())?
            );
        }
    }
    Ok(())
}

/// `--expires`: a duration from now or an RFC 3339 time; an error names both forms.
fn expiry(text: &str) -> Result<String, String> {
    let duration = match humantime::parse_duration(text) {
        Ok(d) => return Ok(file::format_time(now_unix().saturating_add(d.as_secs()))),
        Err(e) => e,
    };
    file::parse_time(text).map(file::format_time).map_err(|_| {
        format!(
            "--expires {text:?} is neither a duration from now ({duration}; write it like \"90d\", \"12h\", \"30m\") nor an RFC 3339 time (like \"2026-12-31T00:00:00Z\")"
        )
    })
}

fn parse_rate(text: &str) -> Result<ClientRate, String> {
    let (per_second, burst) = text
        .split_once(':')
        .ok_or("--rate is PER_SECOND:BURST, e.g. 20:40")?;
    let n = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("--rate: {s:?} is not a number"))
    };
    Ok(ClientRate {
        per_second: n(per_second)?,
        burst: n(burst)?,
    })
}

fn list(target: &Target, admin: Option<SocketAddr>) -> Result<(), String> {
    let path = target.path()?.ok_or("give --file or --config")?;
    let doc = file::read(&path)?;
    let last_used = admin.and_then(fetch_last_used).unwrap_or_default();
    let now = now_unix();
    println!(
        "{:<12}  {:<20}  {:<8}  {:<20}  {:<20}  SCOPES",
        "ID", "NAME", "STATUS", "EXPIRES", "LAST USED"
    );
    for c in &doc.clients {
        let expired = c
            .expires_at
            .as_deref()
            .and_then(|t| file::parse_time(t).ok())
            .is_some_and(|t| now >= t);
        let status = if c.disabled {
            "revoked"
        } else if expired {
            "expired"
        } else {
            "active"
        };
        let used = last_used
            .get(&c.id)
            .copied()
            .filter(|t| *t > 0)
            .map_or("-".to_string(), file::format_time);
        println!(
            "{:<12}  {:<20}  {:<8}  {:<20}  {:<20}  {}",
            c.id,
            c.name,
            status,
            c.expires_at.as_deref().unwrap_or("never"),
            used,
            c.scopes.join(",")
        );
    }
    Ok(())
}

/// Last-use times from the admin listener's `/clients`; none if it does not answer in time.
fn fetch_last_used(addr: SocketAddr) -> Option<std::collections::HashMap<String, u64>> {
    let mut s = TcpStream::connect_timeout(&addr, KEYS_ADMIN_TIMEOUT).ok()?;
    s.set_read_timeout(Some(KEYS_ADMIN_TIMEOUT)).ok()?;
    s.write_all(b"GET /clients HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut buf = Vec::new();
    s.take(KEYS_ADMIN_MAX_BYTES).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let (_, body) = text.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

fn revoke(id: &str, target: &Target) -> Result<(), String> {
    let path = target.path()?.ok_or("give --file or --config")?;
    let mut doc = file::read(&path)?;
    let client = doc
        .clients
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(|| format!("no client with id {id}"))?;
    client.disabled = true;
    client.revoked_at = Some(file::format_time(now_unix()));
    let name = client.name.clone();
    file::write_atomic(&path, &doc)?;
    eprintln!("revoked {id} ({name}) in {}; a running gateway refuses it after its next reload (within a second)", path.display());
    Ok(())
}
