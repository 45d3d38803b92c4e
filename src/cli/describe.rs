//! What `check` prints and `serve` logs about a loaded configuration: one line of facts (mode,
//! listener, upstream, where the key, the audit log and the idempotency keys are), and what the
//! idempotency store holds at capacity.

use crate::config::SecretSource;
use crate::state::Loaded;

pub(super) fn describe(loaded: &Loaded) -> String {
    let s = &loaded.settings;
    let fingerprint = match loaded.key_source {
        SecretSource::Pending(_) => "none-yet".to_string(),
        _ => loaded.key.fingerprint().to_string(),
    };
    format!(
        "mode={} listen={} tls={} upstream={}://{} key_source=\"{}\" key_fingerprint={} audit={} idempotency={} cluster={}",
        s.mode,
        s.process.listen,
        if s.tls.is_some() { "on" } else { "off" },
        s.upstream.scheme,
        s.upstream.authority,
        loaded.key_source,
        fingerprint,
        audit_target(loaded),
        idempotency_store(loaded),
        cluster_target(loaded)
    )
}

/// Where idempotency keys are kept: the file `check` looked at, Redis, or off.
fn idempotency_store(loaded: &Loaded) -> String {
    let p = &loaded.settings.process;
    match (p.idempotency.enabled, &p.cluster) {
        (false, _) => "off".into(),
        (true, Some(_)) => "redis".into(),
        (true, None) => p.idempotency.path.display().to_string(),
    }
}

/// What the configured idempotency store holds (keys, sustained rate, disk or Redis memory).
pub(super) fn idempotency_capacity(loaded: &Loaded) -> Option<String> {
    let p = &loaded.settings.process;
    p.idempotency.enabled.then(|| {
        crate::idempotency::Sizing {
            max_entries: p.idempotency.max_entries,
            remember: p.idempotency.remember,
            ttl: loaded.settings.idempotency.ttl,
        }
        .describe(p.cluster.is_some())
    })
}

/// The start line: each fact a field of its own, so `--log-format json` has them as JSON fields.
pub(super) fn log_start(loaded: &Loaded, runtime: &str) {
    let s = &loaded.settings;
    let (audit, cluster) = (audit_target(loaded), cluster_target(loaded));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        mode = %s.mode,
        listen = %s.process.listen,
        tls = s.tls.is_some(),
        upstream = %format_args!("{}://{}", s.upstream.scheme, s.upstream.authority),
        key_source = %loaded.key_source,
        key_fingerprint = %loaded.key.fingerprint(),
        audit = %audit,
        cluster = %cluster,
        cert_sha256 = %loaded.cert.as_ref().map_or("none".into(), |c| c.sha256.clone()),
        cert_not_after = %loaded.cert.as_ref().map_or("none".into(), |c| c.not_after_text()),
        runtime = %runtime,
        "blnk-gateway starting"
    );
}

fn audit_target(loaded: &Loaded) -> String {
    let a = &loaded.settings.process.audit;
    if a.enabled {
        format!(
            "{} on_failure={}",
            a.target, loaded.settings.audit.on_failure
        )
    } else {
        "off".to_string()
    }
}

fn cluster_target(loaded: &Loaded) -> String {
    match &loaded.settings.process.cluster {
        Some(c) => c.redis.to_string(),
        None => "off".to_string(),
    }
}
