//! Exposition: the request path's [`Metrics`] as a prometheus-client collector, helpers other
//! parts use for their own collectors, and the rendering of them all in OpenMetrics text.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::table::{
    AuthReason, IdempotencyOutcome, Metrics, ProtocolRefusal, UpstreamError, MODES, STATUS_CLASSES,
};
use crate::quota::Scope;
use crate::route::Resource;

/// Every metric's name starts with this.
pub const PREFIX: &str = "blnk_gateway";

impl Metrics {
    /// `requests_total`, one series per mode, status class and resource that has requests.
    fn encode_requests(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "requests",
            "Requests answered, by mode, status class and Blnk route resource.",
            None,
            MetricType::Counter,
        )?;
        for (mode, by_class) in MODES.iter().zip(&self.requests) {
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
        Ok(())
    }
}

/// The request path's metrics as a collector.
#[derive(Debug)]
pub struct Collect(pub Arc<Metrics>);

impl Collector for Collect {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = &self.0;
        m.encode_requests(&mut encoder)?;
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
        m.encode_families(&mut encoder)?;
        m.encode_connections(&mut encoder)
    }
}

impl Metrics {
    /// The counters with one label: why requests failed or were refused.
    fn encode_families(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = self;
        let upstream = UpstreamError::ALL.map(UpstreamError::label);
        labelled(
            encoder,
            "upstream_errors",
            "Upstream failures by kind.",
            "kind",
            &upstream,
            &m.upstream_errors,
        )?;
        let auth = AuthReason::ALL.map(AuthReason::label);
        labelled(
            encoder,
            "auth_failures",
            "Requests refused at authentication, by reason.",
            "reason",
            &auth,
            &m.auth_failures,
        )?;
        let outcomes = IdempotencyOutcome::ALL.map(IdempotencyOutcome::label);
        labelled(
            encoder,
            "idempotency",
            "Requests with an idempotency key or a transaction reference, by what the store said.",
            "outcome",
            &outcomes,
            &m.idempotency,
        )?;
        let scopes = Scope::ALL.map(Scope::label);
        labelled(
            encoder,
            "rate_limited",
            "Requests answered 429, by the limiter that refused them.",
            "scope",
            &scopes,
            &m.rate_limited,
        )?;
        let refusals = ProtocolRefusal::ALL.map(ProtocolRefusal::label);
        labelled(
            encoder,
            "protocol_refusals",
            "Requests refused by the HTTP layer before the gateway's checks saw them, by reason (HTTP/1.1 heads hyper could not parse or that were too large; HTTP/2 streams reset as malformed or refused, connections ended with an error).",
            "reason",
            &refusals,
            &m.protocol_refusals,
        )?;
        Ok(())
    }

    /// The plain counters and gauges: buffers, connections, handshakes.
    fn encode_connections(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = self;
        counter(
            encoder,
            "buffer_busy",
            "Requests answered 503 because gateway.limits.max_buffered_bytes was in use.",
            m.buffer_busy.load(Ordering::Relaxed),
        )?;
        gauge(
            encoder,
            "open_connections",
            "Client connections open now.",
            m.open_connections.load(Ordering::Relaxed),
        )?;
        counter(
            encoder,
            "tls_handshakes",
            "Completed TLS handshakes.",
            m.tls_handshakes.load(Ordering::Relaxed),
        )?;
        counter(
            encoder,
            "tls_handshake_failures",
            "Failed or timed-out TLS handshakes.",
            m.tls_handshake_failures.load(Ordering::Relaxed),
        )
    }
}

/// A counter family with one label, a value per label.
pub fn labelled(
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
    use std::time::Duration;

    use super::*;
    use crate::error::Reject;
    use crate::mode::Mode;

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
