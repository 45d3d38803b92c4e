//! Which configuration keys differ between two settings: both are serialised under their key
//! names and compared leaf by leaf, so what a reload reports is derived from the settings' types,
//! never from a list kept by hand.

use serde::Serialize;
use serde_json::Value;

/// The dotted key paths whose values differ between `old` and `new`. Keys are written under
/// `prefix` unless they are already full paths (they contain a dot).
pub fn changed<T: Serialize>(prefix: &str, old: &T, new: &T) -> Vec<String> {
    let (Ok(old), Ok(new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(prefix, &old, &new, &mut out);
    out
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let child = if k.contains('.') || path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(
                    &child,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(path.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Inner {
        a: u32,
        b: Option<String>,
    }

    #[derive(Serialize)]
    struct Outer {
        #[serde(rename = "server.secure")]
        secure: bool,
        limits: Inner,
    }

    #[test]
    fn names_each_changed_leaf_by_its_key_path() {
        let old = Outer {
            secure: true,
            limits: Inner { a: 1, b: None },
        };
        let new = Outer {
            secure: false,
            limits: Inner {
                a: 1,
                b: Some("x".into()),
            },
        };
        assert_eq!(
            changed("gateway", &old, &new),
            ["gateway.limits.b", "server.secure"]
        );
        assert!(changed("gateway", &old, &old).is_empty());
    }

    /// What needs a restart is named by the types: the keys of `Process` that differ.
    #[test]
    fn restart_only_settings_are_named_by_their_configuration_keys() {
        use crate::config::{AuditTarget, AuditWriter, IdempotencyStore, Process};
        let old = Process {
            listen: "127.0.0.1:8443".parse().unwrap(),
            admin_listen: None,
            max_connections: 10,
            max_buffered_bytes: 1 << 20,
            upstream_max_connections: 4,
            audit: AuditWriter::default(),
            idempotency: IdempotencyStore {
                enabled: true,
                path: "/var/lib/x".into(),
                max_entries: 10,
                remember: std::time::Duration::from_secs(60),
            },
            cluster: None,
        };
        let new = Process {
            listen: "127.0.0.1:9443".parse().unwrap(),
            max_connections: 20,
            audit: AuditWriter {
                target: AuditTarget::File("/var/log/x".into()),
                ..AuditWriter::default()
            },
            ..old.clone()
        };
        assert_eq!(
            changed("", &old, &new),
            [
                "gateway.audit.path",
                "gateway.limits.max_connections",
                "gateway.listen"
            ]
        );
    }
}
