//! Reading the file and the environment into a [`RawConfig`] with figment.
//!
//! The environment is passed in as a list of pairs rather than read here, so the same code serves
//! `serve`, `check` and tests that cannot share one process environment. Overrides follow figment's
//! convention: `BLNK_GATEWAY_<FIELD>` with `__` for nesting, plus Blnk's own names
//! (`BLNK_SERVER_*`, `BLNK_REDIS_DNS`) for the keys of its sections the gateway reads.

use std::path::Path;
use std::str::FromStr;

use figment::providers::{Format, Json, Serialized};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::env::Env;
use super::problems::Problems;
use super::raw::RawConfig;
use crate::limits::{MAX_CONFIG_BYTES, MAX_CONFIG_PROBLEMS};

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

/// Reads `path` and the environment overrides, for tests that need the raw config or its
/// problems alone.
#[cfg(test)]
pub fn load_raw(path: &Path, env: &Env) -> Result<RawConfig, Problems> {
    match load_lenient(path, env) {
        (Some(raw), problems) if problems.is_empty() => Ok(raw),
        (_, problems) => Err(problems),
    }
}

/// Reads `path` and the environment overrides, reporting every key that cannot be read (a wrong
/// type, a value that does not parse, an unknown key) rather than only the first: each broken key
/// is recorded, left out, and the rest read again, so validation can go on with what is usable.
/// The config is `None` only when the file cannot be read or parsed as JSON at all. The keys left
/// out are in `RawConfig::unreadable`.
pub fn load_lenient(path: &Path, env: &Env) -> (Option<RawConfig>, Problems) {
    let mut problems = Problems::default();
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_CONFIG_BYTES => {
            problems.push(
                "config",
                format!("{}: larger than {MAX_CONFIG_BYTES} bytes", path.display()),
            );
            return (None, problems);
        }
        Ok(_) => {}
        Err(e) => {
            problems.push(
                "config",
                format!("{}: {}", path.display(), super::problems::io_reason(&e)),
            );
            return (None, problems);
        }
    }
    // Readable, not only there: a file the user cannot read is named as such, with the user.
    if let Err(e) = std::fs::File::open(path) {
        let why = super::problems::io_reason(&e);
        problems.push("config", format!("{}: {why}", path.display()));
        return (None, problems);
    }
    let mut figment = Figment::new().merge(Json::file_exact(path));
    // `GATEWAY_SECRET_KEY_FILE` is a plain setting; `BLNK_SERVER_SECRET_KEY*` are read by `source`.
    for var in env_overrides(env) {
        figment = figment.merge(var);
    }
    let raw = extract_every_problem(&figment, &mut problems);
    (raw, problems)
}

/// Extracts the config, leaving out each key serde refuses until the rest reads (at most
/// `MAX_CONFIG_PROBLEMS` rounds). Problems name where each value came from, as `figment` knows it.
fn extract_every_problem(original: &Figment, problems: &mut Problems) -> Option<RawConfig> {
    let mut pruned: Option<Figment> = None;
    let mut unreadable: Vec<String> = Vec::new();
    for _ in 0..MAX_CONFIG_PROBLEMS {
        let current = pruned.as_ref().unwrap_or(original);
        let errors = match current.extract::<RawConfig>() {
            Ok(mut raw) => {
                raw.unreadable = unreadable;
                return Some(raw);
            }
            Err(e) => e,
        };
        let Ok(mut data) = current.data() else {
            // The file is not JSON (or not an object): nothing to read around.
            report(original, errors, problems, &mut Vec::new());
            return None;
        };
        let mut keys = Vec::new();
        report(original, errors, problems, &mut keys);
        let removed = keys
            .iter()
            .filter(|k| data.values_mut().any(|dict| remove(dict, k)))
            .cloned()
            .collect::<Vec<_>>();
        if removed.is_empty() {
            return None;
        }
        unreadable.extend(removed.iter().map(|k| super::explain::shown_key(k)));
        let dict = data.remove(&Profile::Default).unwrap_or_default();
        pruned = Some(Figment::from(Serialized::defaults(dict)));
    }
    None
}

/// Records each error as a problem and its key (as figment names it) in `keys`. Where the value
/// came from is looked up in the original figment, whose providers know it (a pruned one does
/// not): at the key, else at the nearest enclosing key.
fn report(
    original: &Figment,
    errors: figment::Error,
    problems: &mut Problems,
    keys: &mut Vec<String>,
) {
    for err in errors {
        let key = err.path.join(".");
        let parts: Vec<&str> = key.split('.').collect();
        let source = (1..=parts.len())
            .rev()
            .find_map(|len| original.find_metadata(&parts[..len].join(".")))
            .map(|meta| match &meta.source {
                Some(source) => source.to_string(),
                None => meta.name.to_string(),
            });
        let (shown, message) = super::explain::describe(&err, source);
        problems.push(shown, message);
        let figment_key = match &err.kind {
            figment::error::Kind::UnknownField(field, _) if err.path.last() != Some(field) => {
                format!("{key}.{field}")
            }
            _ => key,
        };
        keys.push(figment_key.trim_start_matches('.').to_string());
    }
}

/// Removes `key` (dotted, list indices as numbers) from `dict`, or else the longest part of it
/// that exists. False when nothing could be removed.
fn remove(dict: &mut Dict, key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    for len in (1..=parts.len()).rev() {
        if remove_path(dict, &parts[..len]) {
            return true;
        }
    }
    false
}

fn remove_path(dict: &mut Dict, parts: &[&str]) -> bool {
    match parts {
        [] => false,
        [last] => dict.remove(*last).is_some(),
        [first, rest @ ..] => dict
            .get_mut(*first)
            .is_some_and(|inner| remove_in(inner, rest)),
    }
}

fn remove_in(value: &mut Value, parts: &[&str]) -> bool {
    match value {
        Value::Dict(_, inner) => remove_path(inner, parts),
        Value::Array(_, items) => {
            let Some((first, rest)) = parts.split_first() else {
                return false;
            };
            let Ok(i) = first.parse::<usize>() else {
                return false;
            };
            match rest {
                [] if i < items.len() => {
                    items.remove(i);
                    true
                }
                _ => items.get_mut(i).is_some_and(|v| remove_in(v, rest)),
            }
        }
        _ => false,
    }
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

    #[test]
    fn every_unreadable_key_is_reported_and_the_rest_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blnk.json");
        std::fs::write(
            &path,
            r#"{"gateway": {"mode": "injekt", "listen": "127.0.0.1:1", "limits": {"idle_timeout": 5},
                "rate_limit": {"clients": [{"id": "ip:10.0.0.1", "burst": "x"}]}}}"#,
        )
        .unwrap();
        let env = Env::from_pairs([("BLNK_GATEWAY_ALLOW_PLAINTEXT", "yes")]);
        let (raw, problems) = load_lenient(&path, &env);
        let raw = raw.unwrap();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "gateway.allow_plaintext",
                "gateway.limits.idle_timeout",
                "gateway.mode",
                "gateway.rate_limit.clients[0].burst"
            ],
            "{problems}"
        );
        assert!(problems
            .to_string()
            .contains("environment variable BLNK_GATEWAY_ALLOW_PLAINTEXT"));
        assert!(!problems.to_string().contains("load.rs"), "{problems}");
        // What could be read was read.
        assert_eq!(raw.gateway.listen.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(raw.gateway.rate_limit.clients.len(), 1);
        assert_eq!(raw.unreadable.len(), 4);
    }

    #[test]
    fn a_file_that_is_not_json_is_one_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blnk.json");
        std::fs::write(&path, "{\"gateway\": {").unwrap();
        let (raw, problems) = load_lenient(&path, &Env::default());
        assert!(raw.is_none());
        assert_eq!(problems.0.len(), 1, "{problems}");
        assert!(problems.to_string().contains("line 1"), "{problems}");
    }

    #[test]
    fn keys_show_list_indices_in_brackets() {
        assert_eq!(
            super::super::explain::shown_key("gateway.rate_limit.clients.0.burst"),
            "gateway.rate_limit.clients[0].burst"
        );
        assert_eq!(
            super::super::explain::shown_key("gateway.mode"),
            "gateway.mode"
        );
    }
}
