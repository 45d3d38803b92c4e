//! The request path's counters and histograms, and their Prometheus exposition.
//!
//! Recording is a few relaxed atomic adds into tables indexed by label enums (mode, status class,
//! [`Resource`], refusal reason): no lock, no map, no allocation per request. Exposition goes
//! through `prometheus-client` (OpenMetrics text, names and escaping done by the crate): this
//! module's [`Metrics`] is one collector, and every other part of the gateway that has numbers to
//! show (audit log, rate limiter, reloads) registers its own next to it (see `admin`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::error::Reject;
use crate::mode::Mode;
use crate::quota::Scope;
use crate::route::Resource;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const MODES: [Mode; 2] = [Mode::Verify, Mode::Inject];
/// Every metric's name starts with this.
pub const PREFIX: &str = "blnk_gateway";

/// A latency histogram of fixed buckets.
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

    fn encode(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
    ) -> Result<(), std::fmt::Error> {
        let count = self.count.load(Ordering::Relaxed);
        let mut buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, n)| (*b, n.load(Ordering::Relaxed)))
            .collect();
        let below: u64 = buckets.iter().map(|(_, n)| n).sum();
        buckets.push((f64::MAX, count.saturating_sub(below)));
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        encoder
            .encode_descriptor(name, help, None, MetricType::Histogram)?
            .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

/// Why a request was refused at authentication, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthReason {
    MissingKey,
    InvalidKey,
    ExpiredKey,
    NetworkNotAllowed,
    CertificateMismatch,
    InsufficientScope,
}

impl AuthReason {
    const ALL: [AuthReason; 6] = [
        AuthReason::MissingKey,
        AuthReason::InvalidKey,
        AuthReason::ExpiredKey,
        AuthReason::NetworkNotAllowed,
        AuthReason::CertificateMismatch,
        AuthReason::InsufficientScope,
    ];

    fn label(self) -> &'static str {
        match self {
            AuthReason::MissingKey => "missing_key",
            AuthReason::InvalidKey => "invalid_key",
            AuthReason::ExpiredKey => "expired_key",
            AuthReason::NetworkNotAllowed => "network_not_allowed",
            AuthReason::CertificateMismatch => "certificate_mismatch",
            AuthReason::InsufficientScope => "insufficient_scope",
        }
    }
}

/// How the exchange with Blnk failed, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpstreamError {
    Unavailable,
    Timeout,
    Broken,
}

impl UpstreamError {
    const ALL: [UpstreamError; 3] = [
        UpstreamError::Unavailable,
        UpstreamError::Timeout,
        UpstreamError::Broken,
    ];

    fn label(self) -> &'static str {
        match self {
            UpstreamError::Unavailable => "unavailable",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Broken => "broken",
        }
    }
}

/// The counter a refusal moves, if any.
enum Counted {
    Auth(AuthReason),
    Upstream(UpstreamError),
    RateLimited(Scope),
    BufferBusy,
}

/// Which counter each refusal moves: the one exhaustive table.
fn counted(reject: Reject) -> Option<Counted> {
    use Reject::*;
    Some(match reject {
        MissingKey => Counted::Auth(AuthReason::MissingKey),
        InvalidKey | AmbiguousKey => Counted::Auth(AuthReason::InvalidKey),
        ExpiredKey => Counted::Auth(AuthReason::ExpiredKey),
        NetworkNotAllowed => Counted::Auth(AuthReason::NetworkNotAllowed),
        CertificateMismatch => Counted::Auth(AuthReason::CertificateMismatch),
        UnknownResource | InsufficientScope { .. } => Counted::Auth(AuthReason::InsufficientScope),
        UpstreamUnavailable | UpstreamSaturated => Counted::Upstream(UpstreamError::Unavailable),
        UpstreamTimeout => Counted::Upstream(UpstreamError::Timeout),
        UpstreamBroken => Counted::Upstream(UpstreamError::Broken),
        RateLimited(l) => Counted::RateLimited(l.scope),
        Busy => Counted::BufferBusy,
        BadPath | MethodNotAllowed | PayloadTooLarge | BodyTimeout | BadBody | BadRequest
        | UriTooLong | UnsupportedCoding | BodyNotAllowed | MalformedH2 => return None,
        // Counted by the audit log itself (`blnk_gateway_audit_refused_writes_total`).
        AuditUnavailable => return None,
    })
}

/// The request path's numbers.
#[derive(Default)]
pub struct Metrics {
    requests: [[[AtomicU64; Resource::ALL.len()]; STATUS_CLASSES.len()]; MODES.len()],
    pub request_duration: Histogram,
    pub upstream_duration: Histogram,
    upstream_errors: [AtomicU64; UpstreamError::ALL.len()],
    auth_failures: [AtomicU64; AuthReason::ALL.len()],
    rate_limited: [AtomicU64; Scope::ALL.len()],
    buffer_busy: AtomicU64,
    pub open_connections: AtomicI64,
    pub tls_handshakes: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// One finished request (response head sent).
    pub fn request(&self, mode: Mode, resource: Resource, status: u16, elapsed: Duration) {
        let m = usize::from(mode == Mode::Inject);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[m][class][resource as usize].fetch_add(1, Ordering::Relaxed);
        self.request_duration.observe(elapsed);
    }

    /// A request the gateway answered itself, for the reason-specific counters.
    pub fn rejected(&self, reject: Reject) {
        let counter = match counted(reject) {
            Some(Counted::Auth(r)) => &self.auth_failures[r as usize],
            Some(Counted::Upstream(e)) => &self.upstream_errors[e as usize],
            Some(Counted::RateLimited(s)) => &self.rate_limited[s as usize],
            Some(Counted::BufferBusy) => &self.buffer_busy,
            None => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The request path's metrics as a collector.
#[derive(Debug)]
pub struct Collect(pub Arc<Metrics>);

impl Collector for Collect {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = &self.0;
        let mut family = encoder.encode_descriptor(
            "requests",
            "Requests answered, by mode, status class and Blnk route resource.",
            None,
            MetricType::Counter,
        )?;
        for (mode, by_class) in MODES.iter().zip(&m.requests) {
            for (class, by_resource) in STATUS_CLASSES.iter().zip(by_class) {
                for (resource, n) in Resource::ALL.iter().zip(by_resource) {
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        let labels = [
                            ("mode", mode.as_str()),
                            ("status_class", class),
                            ("resource", resource.as_str()),
                        ];
                        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        m.request_duration.encode(
            &mut encoder,
            "request_duration_seconds",
            "Time from request head to response head.",
        )?;
        m.upstream_duration.encode(
            &mut encoder,
            "upstream_duration_seconds",
            "Time Blnk took to answer, per attempt.",
        )?;
        let upstream = UpstreamError::ALL.map(UpstreamError::label);
        labelled(
            &mut encoder,
            "upstream_errors",
            "Upstream failures by kind.",
            "kind",
            &upstream,
            &m.upstream_errors,
        )?;
        let auth = AuthReason::ALL.map(AuthReason::label);
        labelled(
            &mut encoder,
            "auth_failures",
            "Requests refused at authentication, by reason.",
            "reason",
            &auth,
            &m.auth_failures,
        )?;
        let scopes = Scope::ALL.map(Scope::label);
        labelled(
            &mut encoder,
            "rate_limited",
            "Requests answered 429, by the limiter that refused them.",
            "scope",
            &scopes,
            &m.rate_limited,
        )?;
        counter(
            &mut encoder,
            "buffer_busy",
            "Requests answered 503 because gateway.limits.max_buffered_bytes was in use.",
            m.buffer_busy.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut encoder,
            "open_connections",
            "Client connections open now.",
            m.open_connections.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "tls_handshakes",
            "Completed TLS handshakes.",
            m.tls_handshakes.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "tls_handshake_failures",
            "Failed or timed-out TLS handshakes.",
            m.tls_handshake_failures.load(Ordering::Relaxed),
        )
    }
}

/// A counter family with one label, a value per label.
fn labelled(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: &[&str],
    counts: &[AtomicU64],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (v, n) in values.iter().zip(counts) {
        let labels = [(label, *v)];
        ConstCounter::new(n.load(Ordering::Relaxed)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One counter without labels.
pub fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// One gauge without labels.
pub fn gauge<V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<V>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// Renders every collector registered under the `blnk_gateway` prefix, in the OpenMetrics text
/// format (what `/metrics` serves, with [`CONTENT_TYPE`]).
pub fn render(collectors: Vec<Box<dyn Collector>>) -> String {
    let mut registry = Registry::with_prefix(PREFIX);
    for c in collectors {
        registry.register_collector(c);
    }
    let mut out = String::with_capacity(8 * 1024);
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_their_series() {
        let m = Arc::new(Metrics::default());
        m.request(
            Mode::Verify,
            Resource::Ledgers,
            201,
            Duration::from_millis(3),
        );
        m.request(
            Mode::Inject,
            Resource::Unknown,
            502,
            Duration::from_millis(30),
        );
        m.rejected(Reject::InvalidKey);
        m.rejected(Reject::RateLimited(crate::quota::Limited::new(
            Scope::FailedAuth,
            10,
            Duration::from_secs(300),
        )));
        let text = render(vec![Box::new(Collect(m))]);
        for line in [
            r#"blnk_gateway_requests_total{mode="verify",status_class="2xx",resource="ledgers"} 1"#,
            r#"blnk_gateway_requests_total{mode="inject",status_class="5xx",resource="unknown"} 1"#,
            r#"blnk_gateway_auth_failures_total{reason="invalid_key"} 1"#,
            r#"blnk_gateway_request_duration_seconds_bucket{le="0.005"} 1"#,
            "blnk_gateway_request_duration_seconds_count 2",
            r#"blnk_gateway_rate_limited_total{scope="failed_auth"} 1"#,
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }
}
