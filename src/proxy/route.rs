//! Blnk's route table, as far as the gateway needs it: which scope resource a path belongs to.
//!
//! Mirrors `api/middleware/scope.go` (docs/blnk.md section 3): the resource is the FIRST path segment,
//! with three aliases. Paths whose first segment names no resource (`/balances-snapshots`,
//! `/backup-s3`, `/<entity-id>/metadata`) are master-key-only in Blnk. Used for metrics labels now
//! and for client-key scopes later; always applied to the path exactly as it is forwarded.

/// Blnk's scope resources, plus `system` for the unauthenticated routes.
pub const RESOURCES: &[&str] = &[
    "ledgers",
    "balances",
    "accounts",
    "identities",
    "transactions",
    "balance-monitors",
    "hooks",
    "api-keys",
    "search",
    "reconciliation",
    "metadata",
    "backup",
];

/// The label for routes that map to no resource.
pub const UNKNOWN: &str = "unknown";
/// The label for `/`, `/health` and `/metrics`.
pub const SYSTEM: &str = "system";

/// The resource of `path`, or [`UNKNOWN`].
pub fn resource(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let first = match first {
        "mocked-account" => "accounts",
        "multi-search" => "search",
        "refund-transaction" => "transactions",
        "" | "health" | "metrics" => return SYSTEM,
        other => other,
    };
    RESOURCES
        .iter()
        .find(|r| **r == first)
        .copied()
        .unwrap_or(UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_segment_with_blnks_aliases() {
        assert_eq!(resource("/ledgers/abc"), "ledgers");
        assert_eq!(resource("/balances/indicator/x/currency/USD"), "balances");
        assert_eq!(resource("/mocked-account"), "accounts");
        assert_eq!(resource("/multi-search"), "search");
        assert_eq!(resource("/refund-transaction/txn_1"), "transactions");
        assert_eq!(
            resource("/transactions/inflight/bulk/commit"),
            "transactions"
        );
        assert_eq!(
            resource("/balance-monitors/balances/b1"),
            "balance-monitors"
        );
        assert_eq!(resource("/balances-snapshots"), UNKNOWN);
        assert_eq!(resource("/backup-s3"), UNKNOWN);
        assert_eq!(resource("/bln_123/metadata"), UNKNOWN);
        assert_eq!(resource("/health"), SYSTEM);
        assert_eq!(resource("/"), SYSTEM);
    }
}
