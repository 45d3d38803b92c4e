//! Validation of `gateway.cluster` into [`ClusterSettings`]: which Redis the gateways share, with
//! which credentials, under which key prefix, and how long one operation may take. Read once at
//! start (a restart applies a change).
//!
//! The Redis is `gateway.cluster.redis`, else Blnk's own `redis.dns` (`BLNK_REDIS_DNS`) from the
//! same file, in any form Blnk accepts: `redis://[user[:password]@]host[:port][/db]`,
//! `rediss://...` (TLS), or a bare `host:port`. The password is, first found:
//! `BLNK_GATEWAY_CLUSTER_PASSWORD_FILE`, `gateway.cluster.password_file`, the systemd credential
//! `redis_password`, `BLNK_GATEWAY_CLUSTER_PASSWORD`, the URL's. It is never logged or printed.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Serialize, Serializer};
use zeroize::Zeroizing;

use super::env::Env;
use super::problems::Problems;
use super::raw::{RawCluster, RawConfig};
use crate::limits;

const KEY: &str = "gateway.cluster";
/// Environment variable naming a file that holds the Redis password.
pub const PASSWORD_FILE_ENV: &str = "BLNK_GATEWAY_CLUSTER_PASSWORD_FILE";
/// Environment variable holding the Redis password itself.
pub const PASSWORD_ENV: &str = "BLNK_GATEWAY_CLUSTER_PASSWORD";
/// The systemd credential (`LoadCredential=redis_password:...`) holding it.
pub const PASSWORD_CREDENTIAL: &str = "redis_password";

/// Cluster mode: what every gateway of the deployment shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSettings {
    pub redis: RedisEndpoint,
    pub key_prefix: String,
    /// The longest one Redis operation may take before the gateway carries on without it.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long a batch of tokens leased from a shared bucket lasts (zero: every request asks
    /// Redis).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How many gateways share the limits, for the per-process share used while Redis is away
    /// (`None`: the number last seen alive).
    pub gateways: Option<u32>,
}

/// Where Redis is. `Display` and `Debug` never show the password.
#[derive(Clone, PartialEq, Serialize)]
pub struct RedisEndpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub db: i64,
    pub username: Option<String>,
    #[serde(serialize_with = "changed_marker")]
    pub password: Option<RedisPassword>,
}

/// A Redis password: redacted, zeroed on drop.
#[derive(Clone, PartialEq)]
pub struct RedisPassword(pub Zeroizing<String>);

impl fmt::Debug for RedisPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The password is serialised (for the reload's list of changed keys) as a digest, so a new
/// password shows as a change without the value ever being written.
fn changed_marker<S: Serializer>(p: &Option<RedisPassword>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_str(&crate::secret::Fingerprint::of(p.0.as_bytes()).to_string()),
        None => s.serialize_none(),
    }
}

impl fmt::Display for RedisEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        write!(f, "{scheme}://")?;
        if let Some(u) = &self.username {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}/{}", self.host, self.port, self.db)
        } else {
            write!(f, "{}:{}/{}", self.host, self.port, self.db)
        }
    }
}

impl fmt::Debug for RedisEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisEndpoint({self})")
    }
}

/// `None` when cluster mode is off (or invalid: the problem is pushed).
pub(super) fn validate(
    raw: &RawConfig,
    base: &Path,
    env: &Env,
    problems: &mut Problems,
) -> Option<ClusterSettings> {
    let c = &raw.gateway.cluster;
    if !c.enabled.unwrap_or(false) {
        return None;
    }
    let (url, url_key) = match (&c.redis, &raw.redis.dns) {
        (Some(u), _) => (u.0.as_str(), format!("{KEY}.redis")),
        (None, Some(d)) => (d.0.as_str(), "redis.dns".to_string()),
        (None, None) => {
            problems.push(
                format!("{KEY}.redis"),
                "cluster mode needs a Redis: set gateway.cluster.redis or Blnk's redis.dns",
            );
            return None;
        }
    };
    let mut redis = match parse_url(url) {
        Ok(r) => r,
        Err(why) => {
            problems.push(url_key, why);
            return None;
        }
    };
    if let Some(u) = &c.username {
        redis.username = Some(u.clone());
    }
    match password(c, base, env) {
        Ok(Some(p)) => redis.password = Some(p),
        Ok(None) => {}
        Err((key, why)) => problems.push(key, why),
    }
    Some(ClusterSettings {
        redis,
        key_prefix: key_prefix(c, problems),
        timeout: bounded_duration(
            "timeout",
            c.timeout,
            limits::CLUSTER_TIMEOUT,
            limits::CLUSTER_TIMEOUT_BOUNDS,
            problems,
        ),
        lease: bounded_duration(
            "lease",
            c.lease,
            limits::CLUSTER_LEASE,
            (Duration::ZERO, limits::CLUSTER_LEASE_MAX),
            problems,
        ),
        gateways: match c.gateways {
            Some(0) => {
                problems.push(format!("{KEY}.gateways"), "must be at least 1");
                None
            }
            n => n,
        },
    })
}

fn key_prefix(c: &RawCluster, problems: &mut Problems) -> String {
    let prefix = c
        .key_prefix
        .clone()
        .unwrap_or_else(|| limits::CLUSTER_KEY_PREFIX.to_string());
    let printable = prefix.bytes().all(|b| b.is_ascii_graphic());
    if prefix.is_empty() || prefix.len() > 64 || !printable {
        problems.push(
            format!("{KEY}.key_prefix"),
            "must be 1 to 64 visible ASCII characters",
        );
    }
    prefix
}

fn bounded_duration(
    name: &str,
    v: Option<Duration>,
    default: Duration,
    (min, max): (Duration, Duration),
    problems: &mut Problems,
) -> Duration {
    match v {
        Some(d) if d < min || d > max => {
            problems.push(
                format!("{KEY}.{name}"),
                format!(
                    "must be between {} and {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            );
            default
        }
        Some(d) => d,
        None => default,
    }
}

type Found = Result<Option<RedisPassword>, (String, String)>;

/// The password from a file, a credential or the environment; `None` leaves the URL's.
fn password(c: &RawCluster, base: &Path, env: &Env) -> Found {
    let from_file = |key: String, path: &Path| -> Found {
        let bytes = super::source::read_key_file(path)
            .map_err(|e| (key.clone(), format!("{}: {e}", path.display())))?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| (key, format!("{}: not UTF-8 text", path.display())))?;
        Ok(Some(RedisPassword(Zeroizing::new(text))))
    };
    if let Some(p) = env.get(PASSWORD_FILE_ENV) {
        return from_file(PASSWORD_FILE_ENV.into(), Path::new(p));
    }
    if let Some(p) = &c.password_file {
        return from_file(format!("{KEY}.password_file"), &base.join(p));
    }
    if let Some(dir) = env.get("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(PASSWORD_CREDENTIAL);
        if p.exists() {
            return from_file(format!("credential {PASSWORD_CREDENTIAL}"), &p);
        }
    }
    Ok(env
        .get(PASSWORD_ENV)
        .map(|p| RedisPassword(Zeroizing::new(p.to_string()))))
}

/// Parses a Redis address as Blnk does (go-redis `ParseURL`, or a bare `host:port`).
fn parse_url(text: &str) -> Result<RedisEndpoint, String> {
    let text = text.trim();
    let (tls, rest) = if let Some(r) = text.strip_prefix("rediss://") {
        (true, r)
    } else if let Some(r) = text.strip_prefix("redis://") {
        (false, r)
    } else if text.contains("://") {
        return Err("not a redis:// or rediss:// URL, nor host:port".into());
    } else {
        (false, text)
    };
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, rest),
    };
    let (hostport, db) = match rest.split_once('/') {
        Some((h, "")) => (h, 0),
        Some((h, d)) => (
            h,
            d.parse::<i64>()
                .ok()
                .filter(|n| (0..=limits::REDIS_MAX_DB).contains(n))
                .ok_or("the database after / is not a number")?,
        ),
        None => (rest, 0),
    };
    let (host, port) = split_host_port(hostport)?;
    // go-redis reads `redis://secret@host` as a password (Blnk rewrites it to `:secret@`).
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (
                Some(user).filter(|u| !u.is_empty()).map(decode),
                Some(pass).filter(|p| !p.is_empty()).map(decode),
            ),
            None => (None, Some(decode(u))),
        },
    };
    Ok(RedisEndpoint {
        tls,
        host,
        port,
        db,
        username,
        password: password.map(|p| RedisPassword(Zeroizing::new(p))),
    })
}

fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address without its ]")?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() || host.contains(['/', '?', '#', ' ']) {
        return Err("no host".into());
    }
    let port = match port {
        None => limits::REDIS_DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or("the port is not a number from 1 to 65535")?,
    };
    Ok((host.to_string(), port))
}

/// Percent-decoding of a URL's user or password.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = || std::str::from_utf8(b.get(i + 1..i + 3)?).ok();
        match (b[i], hex().and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_as_blnk_reads_them() {
        let r = parse_url("127.0.0.1:6379").unwrap();
        assert_eq!(
            (r.tls, r.host.as_str(), r.port, r.db),
            (false, "127.0.0.1", 6379, 0)
        );
        let r = parse_url("redis:6379").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("redis", 6379));
        let r = parse_url("rediss://user:p%40ss@cache.internal:6380/2").unwrap();
        assert_eq!((r.tls, r.port, r.db), (true, 6380, 2));
        assert_eq!(r.username.as_deref(), Some("user"));
        assert_eq!(r.password.as_ref().unwrap().0.as_str(), "p@ss");
        let r = parse_url("redis://secret@host").unwrap();
        assert_eq!((r.username, r.port), (None, 6379));
        assert_eq!(r.password.unwrap().0.as_str(), "secret");
        let r = parse_url("redis://[::1]:7000/").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("::1", 7000));
        for bad in [
            "http://x:1",
            "redis://:1",
            "redis://h:0",
            "redis://h:1/x",
            "redis://[::1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_never_shows() {
        let r = parse_url("redis://u:hunter2hunter2@h:1/0").unwrap();
        for shown in [
            format!("{r}"),
            format!("{r:?}"),
            serde_json::to_string(&r).unwrap(),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert_eq!(r.to_string(), "redis://u@h:1/0");
    }
}
