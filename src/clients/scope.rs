//! Scopes in Blnk's own vocabulary, and the decision for one request.
//!
//! A scope is `resource:action` exactly as Blnk's API keys have them (resources from
//! `api/middleware/scope.go`, or `*`; actions `read`, `write`, `delete`, or `*`), plus three
//! gateway scopes: `data:read` and `data:write` (Blnk Cloud's coarse app permissions: read, or
//! write and delete, on every ledger-data resource) and `admin` (the routes only Blnk's master key
//! may use). The decision mirrors Blnk: the action comes from the method (GET/HEAD read;
//! POST/PUT/PATCH write; DELETE delete; others denied), the resource from the first segment of the
//! normalised path (see `proxy::route`).

use std::fmt;

use http::Method;

use crate::error::Reject;
use crate::proxy::route::{self, RESOURCES, SYSTEM, UNKNOWN};

/// Resources holding ledger data: what `data:read` and `data:write` cover.
pub const DATA_RESOURCES: &[&str] = &[
    "ledgers",
    "balances",
    "accounts",
    "identities",
    "transactions",
    "balance-monitors",
    "search",
    "reconciliation",
];
/// Resources Blnk's scoped keys may hold but that the gateway files under `admin` too.
const ADMIN_RESOURCES: &[&str] = &["hooks", "api-keys", "backup", "metadata"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Delete,
}

impl Action {
    pub fn of(method: &Method) -> Option<Action> {
        match *method {
            Method::GET | Method::HEAD => Some(Action::Read),
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `resource:action`; `None` stands for `*`.
    Grant {
        resource: Option<&'static str>,
        action: Option<Action>,
    },
    DataRead,
    DataWrite,
    Admin,
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, String> {
        match s {
            "data:read" => return Ok(Scope::DataRead),
            "data:write" => return Ok(Scope::DataWrite),
            "admin" => return Ok(Scope::Admin),
            _ => {}
        }
        let Some((res, act)) = s.split_once(':') else {
            return Err(format!(
                "{s:?} is not resource:action, data:read, data:write or admin"
            ));
        };
        let resource = match res {
            "*" => None,
            r => Some(*RESOURCES.iter().find(|x| **x == r).ok_or_else(|| {
                format!("{r:?} is not a Blnk resource ({})", RESOURCES.join(", "))
            })?),
        };
        let action = match act {
            "*" => None,
            "read" => Some(Action::Read),
            "write" => Some(Action::Write),
            "delete" => Some(Action::Delete),
            a => return Err(format!("{a:?} is not an action (read, write, delete, *)")),
        };
        Ok(Scope::Grant { resource, action })
    }

    fn grants(&self, resource: &str, action: Action) -> bool {
        match self {
            Scope::Grant {
                resource: r,
                action: a,
            } => r.is_none_or(|r| r == resource) && a.is_none_or(|a| a == action),
            Scope::DataRead => action == Action::Read && DATA_RESOURCES.contains(&resource),
            Scope::DataWrite => action != Action::Read && DATA_RESOURCES.contains(&resource),
            Scope::Admin => ADMIN_RESOURCES.contains(&resource),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Grant { resource, action } => {
                write!(
                    f,
                    "{}:{}",
                    resource.unwrap_or("*"),
                    action.map_or("*", Action::as_str)
                )
            }
            Scope::DataRead => f.write_str("data:read"),
            Scope::DataWrite => f.write_str("data:write"),
            Scope::Admin => f.write_str("admin"),
        }
    }
}

/// May a client with `scopes` make this request? `path` is the normalised, forwarded path.
pub fn decide(method: &Method, path: &str, scopes: &[Scope]) -> Result<(), Reject> {
    let resource = route::resource(path);
    if resource == SYSTEM {
        return Ok(());
    }
    let Some(action) = Action::of(method) else {
        return Err(Reject::InsufficientScope {
            resource,
            action: "unknown",
        });
    };
    let admin = scopes.contains(&Scope::Admin);
    if resource == UNKNOWN {
        // /balances-snapshots, /backup-s3, /<entity-id>/metadata: master key only in Blnk.
        return if admin {
            Ok(())
        } else {
            Err(Reject::UnknownResource)
        };
    }
    if resource == "hooks" && !admin {
        // Blnk checks the master key explicitly on hook management.
        return Err(Reject::InsufficientScope {
            resource,
            action: action.as_str(),
        });
    }
    if scopes.iter().any(|s| s.grants(resource, action)) {
        Ok(())
    } else {
        Err(Reject::InsufficientScope {
            resource,
            action: action.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<Scope> {
        list.iter().map(|s| Scope::parse(s).unwrap()).collect()
    }

    #[test]
    fn parses_blnks_vocabulary_and_round_trips() {
        for s in [
            "ledgers:read",
            "transactions:*",
            "*:read",
            "*:*",
            "balance-monitors:delete",
            "data:read",
            "data:write",
            "admin",
        ] {
            assert_eq!(Scope::parse(s).unwrap().to_string(), s);
        }
        for bad in ["ledgers", "ledger:read", "ledgers:list", "", ":", "hooks"] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn coarse_scopes_cover_data_but_not_admin() {
        let read = scopes(&["data:read"]);
        assert!(decide(&Method::GET, "/transactions/t1", &read).is_ok());
        assert!(decide(&Method::POST, "/transactions", &read).is_err());
        let write = scopes(&["data:write"]);
        assert!(decide(&Method::DELETE, "/identities/i1", &write).is_ok());
        assert!(decide(&Method::GET, "/identities/i1", &write).is_err());
        assert!(decide(&Method::GET, "/backup", &read).is_err());
        assert!(decide(&Method::GET, "/api-keys", &read).is_err());
    }
}
