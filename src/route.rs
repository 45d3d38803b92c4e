//! Blnk's route table as far as the gateway needs it: the scope [`Resource`] a path belongs to
//! and the [`Action`] a method is, computed once per request from the normalised path that is
//! forwarded, and used alike by client-key scopes, metrics and the audit record; and the one
//! definition of a write ([`is_write`]), which the writes quota and the audit log's
//! `refuse_writes` both use.
//!
//! Mirrors `api/middleware/scope.go` (docs/blnk.md section 3): the resource is the first path
//! segment, with three aliases. Paths whose first segment names no resource (`/balances-snapshots`,
//! `/backup-s3`, `/<entity-id>/metadata`) are master-key-only in Blnk: [`Resource::Unknown`].

use http::Method;

/// Blnk's scope resources, plus the gateway's two labels for what is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Ledgers,
    Balances,
    Accounts,
    Identities,
    Transactions,
    BalanceMonitors,
    Hooks,
    ApiKeys,
    Search,
    Reconciliation,
    Metadata,
    Backup,
    /// `/`, `/health` and `/metrics`: Blnk's unauthenticated routes.
    System,
    /// A first segment that names no resource: master key only in Blnk.
    Unknown,
}

impl Resource {
    /// Every value, in label order; `resource as usize` indexes it.
    pub const ALL: [Resource; 14] = [
        Resource::Ledgers,
        Resource::Balances,
        Resource::Accounts,
        Resource::Identities,
        Resource::Transactions,
        Resource::BalanceMonitors,
        Resource::Hooks,
        Resource::ApiKeys,
        Resource::Search,
        Resource::Reconciliation,
        Resource::Metadata,
        Resource::Backup,
        Resource::System,
        Resource::Unknown,
    ];

    /// The resource of a normalised path.
    pub fn of(path: &str) -> Resource {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match first {
            "" | "health" | "metrics" => Resource::System,
            "mocked-account" => Resource::Accounts,
            "multi-search" => Resource::Search,
            "refund-transaction" => Resource::Transactions,
            other => Resource::named(other).unwrap_or(Resource::Unknown),
        }
    }

    /// One of Blnk's scope resources by its name in a scope (`ledgers`, `api-keys`, ...).
    pub fn named(name: &str) -> Option<Resource> {
        Resource::ALL
            .into_iter()
            .find(|r| r.is_blnk() && r.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Ledgers => "ledgers",
            Resource::Balances => "balances",
            Resource::Accounts => "accounts",
            Resource::Identities => "identities",
            Resource::Transactions => "transactions",
            Resource::BalanceMonitors => "balance-monitors",
            Resource::Hooks => "hooks",
            Resource::ApiKeys => "api-keys",
            Resource::Search => "search",
            Resource::Reconciliation => "reconciliation",
            Resource::Metadata => "metadata",
            Resource::Backup => "backup",
            Resource::System => "system",
            Resource::Unknown => "unknown",
        }
    }

    /// One of Blnk's own scope resources (not `system` or `unknown`).
    pub fn is_blnk(self) -> bool {
        !matches!(self, Resource::System | Resource::Unknown)
    }

    /// Ledger data: what the gateway's `data:read` and `data:write` scopes cover. The other Blnk
    /// resources (hooks, api-keys, backup, metadata) fall under `admin`.
    pub fn is_data(self) -> bool {
        match self {
            Resource::Ledgers
            | Resource::Balances
            | Resource::Accounts
            | Resource::Identities
            | Resource::Transactions
            | Resource::BalanceMonitors
            | Resource::Search
            | Resource::Reconciliation => true,
            Resource::Hooks
            | Resource::ApiKeys
            | Resource::Metadata
            | Resource::Backup
            | Resource::System
            | Resource::Unknown => false,
        }
    }
}

/// Whether a request with this method may change the ledger: every method but GET, HEAD and
/// OPTIONS. DELETE does; so does a method the gateway does not know (an extension method such as
/// `PURGE`): what a method does is Blnk's to decide, so an unknown one fails closed. The writes
/// quota charges it, and the audit log's `refuse_writes` refuses it.
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// What a method does, in Blnk's scope vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Delete,
}

impl Action {
    /// GET and HEAD read; POST, PUT and PATCH write; DELETE deletes. Any other method has no
    /// action, and so no client-key scope grants it; OPTIONS is not a write, any other is
    /// ([`is_write`]).
    pub fn of(method: &Method) -> Option<Action> {
        if !is_write(method) {
            return (*method != Method::OPTIONS).then_some(Action::Read);
        }
        match *method {
            Method::POST | Method::PUT | Method::PATCH => Some(Action::Write),
            Method::DELETE => Some(Action::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Delete => "delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_segment_with_blnks_aliases() {
        let of = Resource::of;
        assert_eq!(of("/ledgers/abc"), Resource::Ledgers);
        assert_eq!(of("/balances/indicator/x/currency/USD"), Resource::Balances);
        assert_eq!(of("/mocked-account"), Resource::Accounts);
        assert_eq!(of("/multi-search"), Resource::Search);
        assert_eq!(of("/refund-transaction/txn_1"), Resource::Transactions);
        assert_eq!(
            of("/transactions/inflight/bulk/commit"),
            Resource::Transactions
        );
        assert_eq!(
            of("/balance-monitors/balances/b1"),
            Resource::BalanceMonitors
        );
        assert_eq!(of("/balances-snapshots"), Resource::Unknown);
        assert_eq!(of("/backup-s3"), Resource::Unknown);
        assert_eq!(of("/bln_123/metadata"), Resource::Unknown);
        assert_eq!(of("/health"), Resource::System);
        assert_eq!(of("/"), Resource::System);
    }

    #[test]
    fn a_write_is_every_method_but_get_head_and_options_and_actions_agree() {
        let purge = Method::from_bytes(b"PURGE").unwrap();
        let cases = [
            (Method::GET, false, Some(Action::Read)),
            (Method::HEAD, false, Some(Action::Read)),
            (Method::OPTIONS, false, None),
            (Method::POST, true, Some(Action::Write)),
            (Method::PUT, true, Some(Action::Write)),
            (Method::PATCH, true, Some(Action::Write)),
            (Method::DELETE, true, Some(Action::Delete)),
            (Method::TRACE, true, None),
            (Method::CONNECT, true, None),
            (purge, true, None),
        ];
        for (method, write, action) in cases {
            assert_eq!(is_write(&method), write, "{method}");
            assert_eq!(Action::of(&method), action, "{method}");
        }
    }

    #[test]
    fn the_table_indexes_itself_and_names_round_trip() {
        for (i, r) in Resource::ALL.into_iter().enumerate() {
            assert_eq!(r as usize, i);
            assert_eq!(Resource::named(r.as_str()), r.is_blnk().then_some(r));
        }
    }
}
