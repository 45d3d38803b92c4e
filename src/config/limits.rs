//! Validation of `gateway.limits`: every deadline greater than zero, every count within the
//! bounds in `crate::limits`, the buffer budget large enough for one body of the largest size.

use std::time::Duration;

use super::problems::Problems;
use super::raw::RawLimits;
use crate::limits::{self, Limits};

/// The sizes of process-wide pools and budgets (`gateway.limits`, read once at start).
pub(super) struct Pools {
    pub(super) max_connections: usize,
    pub(super) max_buffered_bytes: u64,
    pub(super) upstream_max_connections: usize,
}

/// `gateway.limits`: deadlines, sizes and counts, each within its bounds.
pub(super) fn limits_from(
    raw: &RawLimits,
    blnk_body_mb: Option<u64>,
    problems: &mut Problems,
) -> (Limits, Pools) {
    let d = Limits::default();
    let mut duration = |name: &str, v: Option<Duration>, default: Duration| match v {
        Some(v) if v.is_zero() => {
            problems.push(
                format!("gateway.limits.{name}"),
                "must be greater than zero",
            );
            default
        }
        Some(v) => v,
        None => default,
    };
    let limits = Limits {
        handshake_timeout: duration(
            "handshake_timeout",
            raw.handshake_timeout,
            d.handshake_timeout,
        ),
        header_read_timeout: duration(
            "header_read_timeout",
            raw.header_read_timeout,
            d.header_read_timeout,
        ),
        idle_timeout: duration("idle_timeout", raw.idle_timeout, d.idle_timeout),
        body_read_timeout: duration(
            "body_read_timeout",
            raw.body_read_timeout,
            d.body_read_timeout,
        ),
        upstream_connect_timeout: duration(
            "upstream_connect_timeout",
            raw.upstream_connect_timeout,
            d.upstream_connect_timeout,
        ),
        upstream_response_timeout: duration(
            "upstream_response_timeout",
            raw.upstream_response_timeout,
            d.upstream_response_timeout,
        ),
        drain_timeout: duration("drain_timeout", raw.drain_timeout, d.drain_timeout),
        max_body_bytes: raw
            .max_body_bytes
            .or(blnk_body_mb.map(|mb| mb.saturating_mul(1024 * 1024)))
            .unwrap_or(d.max_body_bytes),
        ..counts(raw, &d, problems)
    };
    if limits.idle_timeout <= limits.upstream_response_timeout {
        problems.push(
            "gateway.limits.idle_timeout",
            format!(
                "must be longer than gateway.limits.upstream_response_timeout ({}): a client connection waiting for Blnk's answer makes no progress, so it would be closed first (set idle_timeout to at least {}, or shorten upstream_response_timeout)",
                humantime::format_duration(limits.upstream_response_timeout),
                humantime::format_duration(limits.upstream_response_timeout + Duration::from_secs(1)),
            ),
        );
    }
    if limits.max_body_bytes == 0 {
        problems.push("gateway.limits.max_body_bytes", "must be greater than zero");
    }
    let pools = pools(raw, limits.max_body_bytes, problems);
    (limits, pools)
}

/// A count within `min..=max`, or the default and a problem named `gateway.limits.<name>`.
fn bounded(
    name: &str,
    v: Option<usize>,
    default: usize,
    (min, max): (usize, usize),
    problems: &mut Problems,
) -> usize {
    match v {
        Some(v) if !(min..=max).contains(&v) => {
            problems.push(
                format!("gateway.limits.{name}"),
                format!("must be between {min} and {max}"),
            );
            default
        }
        Some(v) => v,
        None => default,
    }
}

/// The header and stream counts of `gateway.limits`; the rest of `d` is returned unchanged.
fn counts(raw: &RawLimits, d: &Limits, problems: &mut Problems) -> Limits {
    let streams = bounded(
        "h2_max_concurrent_streams",
        raw.h2_max_concurrent_streams.map(|v| v as usize),
        d.h2_max_concurrent_streams as usize,
        limits::H2_MAX_CONCURRENT_STREAMS_BOUNDS,
        problems,
    );
    Limits {
        max_header_bytes: bounded(
            "max_header_bytes",
            raw.max_header_bytes,
            d.max_header_bytes,
            limits::MAX_HEADER_BYTES_BOUNDS,
            problems,
        ),
        max_headers: bounded(
            "max_headers",
            raw.max_headers,
            d.max_headers,
            limits::MAX_HEADERS_BOUNDS,
            problems,
        ),
        h2_max_concurrent_streams: u32::try_from(streams)
            .unwrap_or(limits::H2_MAX_CONCURRENT_STREAMS),
        ..d.clone()
    }
}

fn pools(raw: &RawLimits, max_body_bytes: u64, problems: &mut Problems) -> Pools {
    let max_buffered_bytes = raw.max_buffered_bytes.unwrap_or(limits::MAX_BUFFERED_BYTES);
    let large_share =
        max_buffered_bytes - max_buffered_bytes / limits::BUFFER_SMALL_RESERVE_DIVISOR;
    if large_share < max_body_bytes {
        problems.push(
            "gateway.limits.max_buffered_bytes",
            format!(
                "must be at least 4/3 of gateway.limits.max_body_bytes ({max_body_bytes}): a quarter is kept for small bodies, and the rest must hold one body of the largest allowed size"
            ),
        );
    }
    Pools {
        max_connections: bounded(
            "max_connections",
            raw.max_connections,
            limits::MAX_CONNECTIONS,
            limits::MAX_CONNECTIONS_BOUNDS,
            problems,
        ),
        max_buffered_bytes,
        upstream_max_connections: bounded(
            "upstream_max_connections",
            raw.upstream_max_connections,
            limits::UPSTREAM_MAX_CONNECTIONS,
            limits::UPSTREAM_MAX_CONNECTIONS_BOUNDS,
            problems,
        ),
    }
}
