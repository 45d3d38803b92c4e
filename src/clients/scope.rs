//! Scopes in Blnk's own vocabulary, and the decision for one request.
//!
//! A scope is `resource:action` exactly as Blnk's API keys have them (resources from
//! `api/middleware/scope.go`, or `*`; actions `read`, `write`, `delete`, or `*`), plus three
//! gateway scopes: `data:read` and `data:write` (Blnk Cloud's coarse app permissions: read, or
//! write and delete, on every ledger-data resource) and `admin` (the routes only Blnk's master key
//! may use). The decision mirrors Blnk: the action comes from the method (GET/HEAD read;
//! POST/PUT/PATCH write; DELETE delete; others denied), the resource from the first segment of the
//! normalised path (see `route`).

use std::fmt;

use http::Method;

use crate::error::Reject;
use crate::route::{Action, Resource};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `resource:action`; `None` stands for `*`.
    Grant {
        resource: Option<Resource>,
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
            r => Some(Resource::named(r).ok_or_else(|| {
                let names: Vec<&str> = Resource::ALL
                    .into_iter()
                    .filter(|r| r.is_blnk())
                    .map(Resource::as_str)
                    .collect();
                format!("{r:?} is not a Blnk resource ({})", names.join(", "))
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

    fn grants(&self, resource: Resource, action: Action) -> bool {
        match self {
            Scope::Grant {
                resource: r,
                action: a,
            } => r.is_none_or(|r| r == resource) && a.is_none_or(|a| a == action),
            Scope::DataRead => action == Action::Read && resource.is_data(),
            Scope::DataWrite => action != Action::Read && resource.is_data(),
            Scope::Admin => !resource.is_data(),
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
                    resource.map_or("*", Resource::as_str),
                    action.map_or("*", Action::as_str)
                )
            }
            Scope::DataRead => f.write_str("data:read"),
            Scope::DataWrite => f.write_str("data:write"),
            Scope::Admin => f.write_str("admin"),
        }
    }
}

/// May a client with `scopes` make this request to `resource`, the resource of the normalised,
/// forwarded path?
pub fn decide(method: &Method, resource: Resource, scopes: &[Scope]) -> Result<(), Reject> {
    let action = Action::of(method);
    let refused = Reject::InsufficientScope { resource, action };
    let admin = scopes.contains(&Scope::Admin);
    match resource {
        Resource::System => Ok(()),
        _ if action.is_none() => Err(refused),
        // /balances-snapshots, /backup-s3, /<entity-id>/metadata: master key only in Blnk.
        Resource::Unknown if admin => Ok(()),
        Resource::Unknown => Err(Reject::UnknownResource),
        // Blnk checks the master key explicitly on hook management.
        Resource::Hooks if !admin => Err(refused),
        _ => match action {
            Some(action) if scopes.iter().any(|s| s.grants(resource, action)) => Ok(()),
            _ => Err(refused),
        },
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
        assert!(decide(&Method::GET, Resource::Transactions, &read).is_ok());
        assert!(decide(&Method::POST, Resource::Transactions, &read).is_err());
        let write = scopes(&["data:write"]);
        assert!(decide(&Method::DELETE, Resource::Identities, &write).is_ok());
        assert!(decide(&Method::GET, Resource::Identities, &write).is_err());
        assert!(decide(&Method::GET, Resource::Backup, &read).is_err());
        assert!(decide(&Method::GET, Resource::ApiKeys, &read).is_err());
    }
}
