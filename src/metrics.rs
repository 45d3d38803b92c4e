//! Counters and histograms for `/metrics`, in Prometheus text format.
//!
//! Every series is a fixed atomic, indexed by small enums (mode, status class, route resource),
//! so recording on the hot path is a few relaxed atomic adds: no lock, no map, no allocation.
//! Rendering happens only when the admin listener is scraped. This module owns the numbers; what
//! the numbers mean is decided where they are recorded.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::config::Mode;
use crate::error::Reject;
use crate::proxy::route::{RESOURCES, SYSTEM, UNKNOWN};
use crate::ratelimit::Scope;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Route resources as labels: Blnk's, then `system`, then `unknown`.
const RESOURCE_LABELS: usize = RESOURCES.len() + 2;
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const MODES: [&str; 2] = ["verify", "inject"];

pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Why a request was refused at authentication, as metric labels.
const AUTH_REASONS: [&str; 6] = [
    "missing_key",
    "invalid_key",
    "expired_key",
    "network_not_allowed",
    "certificate_mismatch",
    "insufficient_scope",
];
/// Upstream failure kinds, as metric labels.
const UPSTREAM_ERRORS: [&str; 3] = ["unavailable", "timeout", "broken"];
/// Which limiter refused a request, as metric labels (`ratelimit::Scope`).
const RATE_LIMIT_SCOPES: [&str; 3] = ["client", "global", "failed_auth"];

#[derive(Default)]
pub struct Metrics {
    requests: [[[AtomicU64; RESOURCE_LABELS]; 5]; 2],
    pub request_duration: Histogram,
    pub upstream_duration: Histogram,
    upstream_errors: [AtomicU64; 3],
    auth_failures: [AtomicU64; 6],
    rate_limited: [AtomicU64; 3],
    pub open_connections: AtomicI64,
    pub tls_handshakes: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    /// Requests answered 503 because the request-body buffer budget was full.
    pub buffer_busy: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn resource_index(resource: &str) -> usize {
    match resource {
        SYSTEM => RESOURCES.len(),
        UNKNOWN => RESOURCES.len() + 1,
        r => RESOURCES
            .iter()
            .position(|x| *x == r)
            .unwrap_or(RESOURCES.len() + 1),
    }
}

fn resource_label(i: usize) -> &'static str {
    RESOURCES
        .get(i)
        .copied()
        .unwrap_or(if i == RESOURCES.len() {
            SYSTEM
        } else {
            UNKNOWN
        })
}

impl Metrics {
    /// One finished request (response head sent).
    pub fn request(&self, mode: Mode, resource: &str, status: u16, elapsed: Duration) {
        let m = usize::from(mode == Mode::Inject);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[m][class][resource_index(resource)].fetch_add(1, Ordering::Relaxed);
        self.request_duration.observe(elapsed);
    }

    /// A request the gateway answered itself, for the reason-specific counters.
    pub fn rejected(&self, reject: Reject) {
        use Reject::*;
        let (table, i): (&[AtomicU64], usize) = match reject {
            MissingKey => (&self.auth_failures, 0),
            InvalidKey | AmbiguousKey => (&self.auth_failures, 1),
            ExpiredKey => (&self.auth_failures, 2),
            NetworkNotAllowed => (&self.auth_failures, 3),
            CertificateMismatch => (&self.auth_failures, 4),
            UnknownResource | InsufficientScope { .. } => (&self.auth_failures, 5),
            UpstreamUnavailable => (&self.upstream_errors, 0),
            UpstreamTimeout => (&self.upstream_errors, 1),
            UpstreamBroken => (&self.upstream_errors, 2),
            RateLimited(l) => match l.scope {
                Scope::Client => (&self.rate_limited, 0),
                Scope::Global => (&self.rate_limited, 1),
                Scope::FailedAuth => (&self.rate_limited, 2),
            },
            Busy => {
                self.buffer_busy.fetch_add(1, Ordering::Relaxed);
                return;
            }
            BadPath | MethodNotAllowed | PayloadTooLarge | BodyTimeout | BadBody | BadRequest
            | UriTooLong | UnsupportedCoding | BodyNotAllowed | MalformedH2 => return,
            // Counted by the audit log itself (`blnk_gateway_audit_refused_writes_total`).
            AuditUnavailable => return,
        };
        table[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Renders every series; `extra` adds gauges owned elsewhere (reloads, key age).
    pub fn render(&self, extra: &[(&str, &str, &str, f64)]) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let name = "blnk_gateway_requests_total";
        let _ = writeln!(out, "# HELP {name} Requests answered, by mode, status class and Blnk route resource.\n# TYPE {name} counter");
        for (m, by_class) in self.requests.iter().enumerate() {
            for (c, by_resource) in by_class.iter().enumerate() {
                for (r, n) in by_resource.iter().enumerate() {
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "{name}{{mode=\"{}\",status_class=\"{}\",resource=\"{}\"}} {n}",
                            MODES[m],
                            STATUS_CLASSES[c],
                            resource_label(r)
                        );
                    }
                }
            }
        }
        self.request_duration.render(
            &mut out,
            "blnk_gateway_request_duration_seconds",
            "Time from request head to response head.",
        );
        self.upstream_duration.render(
            &mut out,
            "blnk_gateway_upstream_duration_seconds",
            "Time Blnk took to answer, per attempt.",
        );
        labelled(
            &mut out,
            "blnk_gateway_upstream_errors_total",
            "Upstream failures by kind.",
            "kind",
            &UPSTREAM_ERRORS,
            &self.upstream_errors,
        );
        labelled(
            &mut out,
            "blnk_gateway_auth_failures_total",
            "Requests refused at authentication, by reason.",
            "reason",
            &AUTH_REASONS,
            &self.auth_failures,
        );
        labelled(
            &mut out,
            "blnk_gateway_rate_limited_total",
            "Requests answered 429, by the limiter that refused them.",
            "scope",
            &RATE_LIMIT_SCOPES,
            &self.rate_limited,
        );
        gauge(
            &mut out,
            "blnk_gateway_open_connections",
            "Client connections open now.",
            "gauge",
            self.open_connections.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "blnk_gateway_tls_handshakes_total",
            "Completed TLS handshakes.",
            "counter",
            self.tls_handshakes.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "blnk_gateway_tls_handshake_failures_total",
            "Failed or timed-out TLS handshakes.",
            "counter",
            self.tls_handshake_failures.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "blnk_gateway_buffer_busy_total",
            "Requests answered 503 because gateway.limits.max_buffered_bytes was in use.",
            "counter",
            self.buffer_busy.load(Ordering::Relaxed) as f64,
        );
        for (name, help, kind, value) in extra {
            gauge(&mut out, name, help, kind, *value);
        }
        out
    }
}

fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: &[&str],
    counts: &[AtomicU64],
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (v, n) in values.iter().zip(counts) {
        let _ = writeln!(
            out,
            "{name}{{{label}=\"{v}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
}

fn gauge(out: &mut String, name: &str, help: &str, kind: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_their_series() {
        let m = Metrics::default();
        m.request(Mode::Verify, "ledgers", 201, Duration::from_millis(3));
        m.request(Mode::Inject, "unknown", 502, Duration::from_millis(30));
        m.rejected(Reject::InvalidKey);
        m.rejected(Reject::RateLimited(crate::ratelimit::Limited::new(
            Scope::FailedAuth,
            10,
            Duration::from_secs(300),
        )));
        let text = m.render(&[("blnk_gateway_reloads_total", "Reloads.", "counter", 2.0)]);
        assert!(text.contains(r#"blnk_gateway_requests_total{mode="verify",status_class="2xx",resource="ledgers"} 1"#), "{text}");
        assert!(text.contains(r#"blnk_gateway_requests_total{mode="inject",status_class="5xx",resource="unknown"} 1"#), "{text}");
        assert!(
            text.contains(r#"blnk_gateway_auth_failures_total{reason="invalid_key"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"blnk_gateway_request_duration_seconds_bucket{le="0.005"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("blnk_gateway_request_duration_seconds_count 2"),
            "{text}"
        );
        assert!(text.contains("blnk_gateway_reloads_total 2"), "{text}");
        assert!(
            text.contains(r#"blnk_gateway_rate_limited_total{scope="failed_auth"} 1"#),
            "{text}"
        );
    }
}
