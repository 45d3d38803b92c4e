//! Validation of `gateway.rate_limit` into [`RateLimitSettings`]: defaults for what is omitted,
//! every problem named by its key path. A client id that cannot be read is never echoed (it may be
//! a key pasted where its fingerprint belongs).

use std::collections::HashMap;
use std::time::Duration;

use governor::Quota;

use super::identity::Identity;
use super::problems::Problems;
use super::quota::{self, ClientQuota, RateLimitSettings};
use super::raw::{RawQuota, RawRateLimit};
use crate::limits;
use crate::mode::Mode;

const KEY: &str = "gateway.rate_limit";

pub(super) fn rate_limit(
    raw: &RawRateLimit,
    mode: Mode,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> RateLimitSettings {
    let d = RateLimitSettings::default();
    let requests = quota(
        &format!("{KEY}.per_client"),
        raw.per_client,
        d.per_client.requests,
        problems,
    );
    let writes = raw
        .writes
        .map(|w| quota(&format!("{KEY}.writes"), w, requests, problems));
    let global = match raw.global {
        None => d.global,
        Some(None) => None,
        Some(Some(g)) => d
            .global
            .map(|default| quota(&format!("{KEY}.global"), g, default, problems)),
    };
    let fa = &raw.failed_auth;
    let failed_auth = quota(
        &format!("{KEY}.failed_auth"),
        RawQuota {
            per_second: fa.per_second,
            burst: fa.burst,
        },
        d.failed_auth,
        problems,
    );
    let cool_down = match fa.cool_down {
        Some(c) if c.is_zero() || c > limits::FAILED_AUTH_MAX_COOL_DOWN => {
            problems.push(
                format!("{KEY}.failed_auth.cool_down"),
                format!(
                    "must be greater than zero and at most {}s",
                    limits::FAILED_AUTH_MAX_COOL_DOWN.as_secs()
                ),
            );
            d.cool_down
        }
        Some(c) => c,
        None => d.cool_down,
    };
    let max_tracked = match raw.max_tracked {
        Some(n) if !(1..=limits::RATE_LIMIT_MAX_TRACKED_LIMIT).contains(&n) => {
            problems.push(
                format!("{KEY}.max_tracked"),
                format!(
                    "must be between 1 and {}",
                    limits::RATE_LIMIT_MAX_TRACKED_LIMIT
                ),
            );
            d.max_tracked
        }
        Some(n) => n,
        None => d.max_tracked,
    };
    let per_client = ClientQuota { requests, writes };
    RateLimitSettings {
        enabled: raw.enabled.unwrap_or(d.enabled),
        clients: clients(raw, per_client, mode, problems, warnings),
        per_client,
        global,
        failed_auth,
        cool_down,
        max_tracked,
    }
}

/// The per-client overrides. Omitted fields take `per_client`'s values.
fn clients(
    raw: &RawRateLimit,
    per_client: ClientQuota,
    mode: Mode,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> HashMap<Identity, ClientQuota> {
    if raw.clients.len() > limits::RATE_LIMIT_MAX_CLIENTS {
        problems.push(
            format!("{KEY}.clients"),
            format!("at most {} entries", limits::RATE_LIMIT_MAX_CLIENTS),
        );
        return HashMap::new();
    }
    let mut out = HashMap::with_capacity(raw.clients.len());
    for (i, c) in raw.clients.iter().enumerate() {
        let path = format!("{KEY}.clients[{i}]");
        let requests = quota(
            &path,
            RawQuota {
                per_second: c.per_second,
                burst: c.burst,
            },
            per_client.requests,
            problems,
        );
        let writes = c
            .writes
            .map(|w| quota(&format!("{path}.writes"), w, requests, problems));
        let id = match c.id.parse::<Identity>() {
            Ok(id) => id,
            Err(e) => {
                problems.push(format!("{path}.id"), e.to_string());
                continue;
            }
        };
        let never = match (id, mode) {
            (Identity::Cert(_), Mode::Verify) => Some("verify mode knows clients by key"),
            (Identity::Key(_), Mode::Inject) => Some("inject mode knows no key fingerprints"),
            (Identity::Client(_), Mode::Verify) => Some("client keys exist only in inject mode"),
            _ => None,
        };
        if let Some(why) = never {
            warnings.push(format!("{path}.id: {id} never matches: {why}"));
        }
        if out.insert(id, ClientQuota { requests, writes }).is_some() {
            problems.push(format!("{path}.id"), format!("{id} is listed twice"));
        }
    }
    out
}

/// A quota whose omitted fields keep `default`'s.
fn quota(path: &str, raw: RawQuota, default: Quota, problems: &mut Problems) -> Quota {
    let period = match raw.per_second {
        None => default.replenish_interval(),
        Some(ps) => quota::period(ps).unwrap_or_else(|| {
            problems.push(
                format!("{path}.per_second"),
                format!(
                    "must be a number between {} and {}",
                    limits::RATE_LIMIT_MIN_PER_SECOND,
                    limits::RATE_LIMIT_MAX_PER_SECOND
                ),
            );
            default.replenish_interval()
        }),
    };
    let burst = match raw.burst {
        None => default.burst_size(),
        Some(b) => quota::burst(b).unwrap_or_else(|| {
            problems.push(
                format!("{path}.burst"),
                format!("must be between 1 and {}", limits::RATE_LIMIT_MAX_BURST),
            );
            default.burst_size()
        }),
    };
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .map_or(default, |q| q.allow_burst(burst))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Env;

    fn load(gateway: &str, env: &[(&str, &str)]) -> (RateLimitSettings, Problems, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blnk.json");
        std::fs::write(&path, format!(r#"{{"gateway": {gateway}}}"#)).unwrap();
        let raw = super::super::load::load_raw(&path, &Env::from_pairs(env.iter().copied()))
            .unwrap_or_else(|p| panic!("{p}"));
        let mut problems = Problems::default();
        let mut warnings = Vec::new();
        let mode = raw.gateway.mode.unwrap_or_default();
        let s = rate_limit(&raw.gateway.rate_limit, mode, &mut problems, &mut warnings);
        (s, problems, warnings)
    }

    #[test]
    fn an_absent_section_is_the_defaults() {
        let (s, problems, _) = load("{}", &[]);
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(s, RateLimitSettings::default());
        assert!(s.enabled);
    }

    #[test]
    fn every_setting_is_read_and_omitted_fields_keep_their_defaults() {
        let (s, problems, warnings) = load(
            r#"{"rate_limit": {
                "per_client": {"per_second": 50},
                "writes": {"burst": 5},
                "global": null,
                "failed_auth": {"burst": 3, "cool_down": "90s"},
                "max_tracked": 500,
                "clients": [
                    {"id": "key:0123456789ab", "per_second": 500, "burst": 1000},
                    {"id": "ip:10.0.0.9", "writes": {"per_second": 1, "burst": 1}},
                    {"id": "cert:{}"}
                ]
            }}"#
            .replace("{}", &"ab".repeat(32))
            .as_str(),
            &[],
        );
        assert!(problems.is_empty(), "{problems}");
        let d = RateLimitSettings::default();
        assert_eq!(
            s.per_client.requests.replenish_interval(),
            Duration::from_millis(20)
        );
        assert_eq!(
            s.per_client.requests.burst_size(),
            d.per_client.requests.burst_size()
        );
        let w = s.per_client.writes.unwrap();
        assert_eq!(
            (w.replenish_interval(), w.burst_size().get()),
            (Duration::from_millis(20), 5)
        );
        assert_eq!(s.global, None);
        assert_eq!(s.failed_auth.burst_size().get(), 3);
        assert_eq!(
            s.failed_auth.replenish_interval(),
            d.failed_auth.replenish_interval()
        );
        assert_eq!(s.cool_down, Duration::from_secs(90));
        assert_eq!(s.max_tracked, 500);
        let key = s.clients[&"key:0123456789ab".parse().unwrap()];
        assert_eq!(key.requests.burst_size().get(), 1000);
        assert_eq!(key.writes, None);
        let ip = s.clients[&"ip:10.0.0.9".parse().unwrap()];
        assert_eq!(ip.requests, s.per_client.requests);
        assert_eq!(ip.writes.unwrap().burst_size().get(), 1);
        // Verify mode knows clients by key, so the certificate override is flagged.
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("clients[2].id"), "{warnings:?}");
    }

    #[test]
    fn every_problem_is_named_and_a_bad_id_is_not_echoed() {
        let secret = "mk-pasted-by-mistake-0123456789";
        let (_, problems, _) = load(
            &format!(
                r#"{{"rate_limit": {{
                "per_client": {{"per_second": 0, "burst": 0}},
                "writes": {{"per_second": 2000000}},
                "global": {{"burst": 100001}},
                "failed_auth": {{"per_second": -1, "cool_down": "0s"}},
                "max_tracked": 0,
                "clients": [
                    {{"id": "key:{secret}"}},
                    {{"id": "ip:10.0.0.1", "burst": 0}},
                    {{"id": "ip:::ffff:10.0.0.1"}}
                ]
            }}}}"#
            ),
            &[],
        );
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "gateway.rate_limit.per_client.per_second",
                "gateway.rate_limit.per_client.burst",
                "gateway.rate_limit.writes.per_second",
                "gateway.rate_limit.global.burst",
                "gateway.rate_limit.failed_auth.per_second",
                "gateway.rate_limit.failed_auth.cool_down",
                "gateway.rate_limit.max_tracked",
                "gateway.rate_limit.clients[0].id",
                "gateway.rate_limit.clients[1].burst",
                "gateway.rate_limit.clients[2].id",
            ]
        );
        assert!(!problems.to_string().contains("pasted"), "{problems}");
        assert!(problems.to_string().contains("listed twice"), "{problems}");
    }

    #[test]
    fn the_environment_can_turn_it_off() {
        let (s, problems, _) = load("{}", &[("BLNK_GATEWAY_RATE_LIMIT__ENABLED", "false")]);
        assert!(problems.is_empty(), "{problems}");
        assert!(!s.enabled);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blnk.json");
        let doc = r#"{"gateway": {"rate_limit": {"per_clients": {}}}}"#;
        std::fs::write(&path, doc).unwrap();
        let problems = super::super::load::load_raw(&path, &Env::default()).unwrap_err();
        assert!(
            problems.0[0]
                .key
                .starts_with("gateway.rate_limit.per_clients"),
            "{problems}"
        );
    }
}
