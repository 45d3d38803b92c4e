//! Reading the file and the environment into a [`RawConfig`] with figment.
//!
//! The environment is passed in as a list of pairs rather than read here, so the same code serves
//! `serve`, `check` and tests that cannot share one process environment. Overrides follow figment's
//! convention: `BLNK_GATEWAY_<FIELD>` with `__` for nesting, plus Blnk's own names
//! (`BLNK_SERVER_*`, `BLNK_REDIS_DNS`) for the keys of its sections the gateway reads.

use std::path::Path;
use std::str::FromStr;

use figment::error::Kind;
use figment::providers::{Format, Json, Serialized};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::env::Env;
use super::problems::Problems;
use super::raw::RawConfig;
use crate::limits::MAX_CONFIG_BYTES;

/// Prefix of the gateway's own environment overrides.
pub const GATEWAY_ENV_PREFIX: &str = "BLNK_GATEWAY_";
/// Blnk's own environment names for the keys of its sections the gateway reads (the secret is
/// resolved separately, see `source`).
const BLNK_ENV: &[(&str, &str)] = &[
    ("BLNK_SERVER_SECURE", "server.secure"),
    ("BLNK_SERVER_PORT", "server.port"),
    (
        "BLNK_SERVER_MAX_REQUEST_BODY_SIZE_MB",
        "server.max_request_body_size_mb",
    ),
    ("BLNK_REDIS_DNS", "redis.dns"),
];
/// Variables with the gateway prefix that are not settings: the log filter and format, read by
/// `cli` before the configuration is loaded, and the Redis password's sources, read by
/// `cluster` (never through figment, whose errors could echo a value).
const NOT_SETTINGS: &[&str] = &[
    "BLNK_GATEWAY_LOG",
    "BLNK_GATEWAY_LOG_FORMAT",
    super::cluster::PASSWORD_ENV,
    super::cluster::PASSWORD_FILE_ENV,
];

/// One environment variable as a figment provider, so errors name the variable.
struct EnvVar {
    name: String,
    key: String,
    value: Value,
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("environment variable {}", self.name))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(figment::util::nest(&self.key, self.value.clone())).data()
    }
}

fn env_overrides(env: &Env) -> Vec<EnvVar> {
    let mut out = Vec::new();
    for (name, raw) in env.iter() {
        let key = if let Some(rest) = name.strip_prefix(GATEWAY_ENV_PREFIX) {
            if rest.is_empty() || NOT_SETTINGS.contains(&name) {
                continue;
            }
            format!("gateway.{}", rest.to_ascii_lowercase().replace("__", "."))
        } else if let Some((_, key)) = BLNK_ENV.iter().find(|(n, _)| *n == name) {
            (*key).to_string()
        } else {
            continue;
        };
        let value = Value::from_str(raw).unwrap_or_else(|never| match never {});
        out.push(EnvVar {
            name: name.to_string(),
            key,
            value,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Reads `path` and the environment overrides. Every problem is reported, by key path.
pub fn load_raw(path: &Path, env: &Env) -> Result<RawConfig, Problems> {
    let mut problems = Problems::default();
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_CONFIG_BYTES => {
            problems.push(
                "config",
                format!("{}: larger than {MAX_CONFIG_BYTES} bytes", path.display()),
            );
            return Err(problems);
        }
        Ok(_) => {}
        Err(e) => {
            problems.push(
                "config",
                format!("{}: {}", path.display(), super::problems::io_reason(&e)),
            );
            return Err(problems);
        }
    }
    let mut figment = Figment::new().merge(Json::file_exact(path));
    // `GATEWAY_SECRET_KEY_FILE` is a plain setting; `BLNK_SERVER_SECRET_KEY*` are read by `source`.
    for var in env_overrides(env) {
        figment = figment.merge(var);
    }
    figment.extract::<RawConfig>().map_err(|e| {
        for err in e {
            let (key, message) = describe(&err);
            problems.push(key, message);
        }
        problems
    })
}

/// Turns a figment error into (key path, message) without ever echoing a secret's value.
fn describe(err: &figment::Error) -> (String, String) {
    let mut key = err.path.join(".");
    // A Redis URL or password may hold a secret too.
    let secret = ["secret", "redis", "password"]
        .iter()
        .any(|word| key.contains(word));
    let mut message = match &err.kind {
        Kind::UnknownField(field, _) => {
            // figment's path sometimes already ends with the field, sometimes not.
            if err.path.last() != Some(field) {
                key = if key.is_empty() {
                    field.clone()
                } else {
                    format!("{key}.{field}")
                };
            }
            "unknown key".to_string()
        }
        Kind::InvalidType(_, expected) if secret => format!("invalid type, expected {expected}"),
        Kind::InvalidValue(_, expected) if secret => format!("invalid value, expected {expected}"),
        Kind::Message(_) if secret => "invalid value".to_string(),
        other => other.to_string(),
    };
    if let Some(meta) = &err.metadata {
        match &meta.source {
            Some(source) => message.push_str(&format!(" (in {source})")),
            None => message.push_str(&format!(" (in {})", meta.name)),
        }
    }
    if key.is_empty() {
        key = "config".to_string();
    }
    (key, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_and_password_variables_are_not_settings() {
        let env = Env::from_pairs([
            ("BLNK_GATEWAY_LOG", "trace"),
            ("BLNK_GATEWAY_LOG_FORMAT", "json"),
            ("BLNK_GATEWAY_LISTEN", "127.0.0.1:1"),
            ("BLNK_GATEWAY_CLUSTER_PASSWORD", "hunter2"),
            ("BLNK_GATEWAY_CLUSTER_PASSWORD_FILE", "/run/redis.pass"),
            ("BLNK_REDIS_DNS", "redis:6379"),
        ]);
        let keys: Vec<String> = env_overrides(&env).into_iter().map(|v| v.key).collect();
        assert_eq!(keys, ["gateway.listen", "redis.dns"]);
    }
}
