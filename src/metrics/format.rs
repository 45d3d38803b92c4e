//! Which text format a scrape gets: OpenMetrics when its `Accept` asks for
//! `application/openmetrics-text` (as Prometheus does by default), the classic Prometheus text
//! format (0.0.4) otherwise, which is what `curl`, `promtool check metrics` and older scrapers
//! read. prometheus-client writes OpenMetrics only; [`to_classic`] rewrites its output, which
//! differs from the classic format in a few fixed places.

use super::encode::CONTENT_TYPE;

/// Content type of the classic text format.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition format a scrape asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Classic,
}

impl Format {
    /// Negotiates from an `Accept` header: OpenMetrics when it lists
    /// `application/openmetrics-text` with a quality above zero and not below `text/plain`'s;
    /// classic otherwise, and when there is no header.
    pub fn from_accept(accept: Option<&[u8]>) -> Format {
        let Some(accept) = accept.and_then(|a| std::str::from_utf8(a).ok()) else {
            return Format::Classic;
        };
        let (mut openmetrics, mut text) = (0.0_f32, 0.0_f32);
        // Bounded: a header is at most MAX_HEADER_BYTES; ranges past the first 32 are ignored.
        for range in accept.split(',').take(32) {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Classic
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => CONTENT_TYPE,
            Format::Classic => CLASSIC_CONTENT_TYPE,
        }
    }
}

/// Rewrites OpenMetrics text in the classic format: a counter's HELP and TYPE name its `_total`
/// series, `unknown` is `untyped`, and `# UNIT` and `# EOF` lines and `_created` samples (which
/// the classic format does not have) are left out. Samples are otherwise the same text.
pub fn to_classic(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // The family the lines belong to, from its `# TYPE` line, and whether it is a counter.
    let mut counter: Option<&str> = None;
    let types: std::collections::HashMap<&str, &str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .collect();
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            match types.get(name) {
                Some(&"counter") => out.push_str(&format!("# HELP {name}_total {help}\n")),
                _ => out.push_str(&format!("# HELP {name} {help}\n")),
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            counter = (kind == "counter").then_some(name);
            match kind {
                "counter" => out.push_str(&format!("# TYPE {name}_total counter\n")),
                "unknown" => out.push_str(&format!("# TYPE {name} untyped\n")),
                _ => out.push_str(&format!("# TYPE {name} {kind}\n")),
            }
            continue;
        }
        if let Some(name) = counter {
            let series = line.split(['{', ' ']).next().unwrap_or("");
            if series.strip_prefix(name) == Some("_created") {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_asked_for() {
        let f = |a: &str| Format::from_accept(Some(a.as_bytes()));
        assert_eq!(Format::from_accept(None), Format::Classic);
        assert_eq!(f("*/*"), Format::Classic);
        assert_eq!(f("text/plain"), Format::Classic);
        assert_eq!(f("text/plain;version=0.0.4"), Format::Classic);
        assert_eq!(f("application/openmetrics-text"), Format::OpenMetrics);
        // Prometheus's default scrape header.
        assert_eq!(
            f("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            Format::OpenMetrics
        );
        // Prometheus configured for the classic format first.
        assert_eq!(
            f("text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5"),
            Format::Classic
        );
        assert_eq!(f("application/openmetrics-text;q=0"), Format::Classic);
        assert_eq!(
            f("Application/OpenMetrics-Text; version=1.0.0"),
            Format::OpenMetrics
        );
    }

    #[test]
    fn counters_are_named_by_their_series_and_openmetrics_lines_go() {
        let om = "# HELP x_requests Requests.\n# TYPE x_requests counter\n# UNIT x_requests requests\nx_requests_total{a=\"b\"} 3\nx_requests_created 1.5\n# HELP x_open Open.\n# TYPE x_open gauge\nx_open 2\n# TYPE x_what unknown\nx_what 1\n# EOF\n";
        assert_eq!(
            to_classic(om),
            "# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\nx_requests_total{a=\"b\"} 3\n# HELP x_open Open.\n# TYPE x_open gauge\nx_open 2\n# TYPE x_what untyped\nx_what 1\n"
        );
    }
}
