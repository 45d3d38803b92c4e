//! The request path's counters and histograms, and their Prometheus exposition.
//!
//! Recording is a few relaxed atomic adds into tables indexed by label enums (mode, status class,
//! [`Resource`], refusal reason): no lock, no map, no allocation per request. Exposition goes
//! through `prometheus-client` (OpenMetrics text, names and escaping done by the crate; the
//! classic text format for a scrape that does not ask for OpenMetrics, see `format`): this
//! module's [`Metrics`] is one collector, and every other part of the gateway that has numbers to
//! show (audit log, rate limiter, reloads) registers its own next to it (see `admin`).

mod encode;
mod format;
mod histogram;
mod table;

pub use self::encode::{counter, gauge, labelled, render, Collect, CONTENT_TYPE, PREFIX};
pub use self::format::{to_classic, Format, CLASSIC_CONTENT_TYPE};
pub use self::histogram::Histogram;
pub use self::table::{IdempotencyOutcome, Metrics, ProtocolRefusal};
