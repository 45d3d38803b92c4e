//! Turning one figment error into a problem an operator can act on: the key path, what is wrong
//! in plain words, and a hint where one helps (`"10s"` for a number where a duration belongs, the
//! accepted values of a mode, the nearest known key for a typo). Never a secret's value: a key
//! whose path mentions a secret, Redis or a password is described by its type only.

use figment::error::{Actual, Kind};

/// How durations are written, for every hint about one.
const DURATION_FORMS: &str =
    "durations are written with a unit: \"500ms\", \"10s\", \"2m\", \"1h\"";

/// The key path and the message for `err`. `source` names where the value came from (the file or
/// the environment variable), when known.
pub(super) fn describe(err: &figment::Error, source: Option<String>) -> (String, String) {
    let mut key = err.path.join(".");
    let mut message = match &err.kind {
        Kind::UnknownField(field, known) => {
            // figment's path sometimes already ends with the field, sometimes not.
            if err.path.last() != Some(field) {
                key = if key.is_empty() {
                    field.clone()
                } else {
                    format!("{key}.{field}")
                };
            }
            format!("unknown key{}", did_you_mean(field, known))
        }
        kind => what(kind, is_secret(&key)),
    };
    if let Some(source) = source {
        message.push_str(&format!(" (in {source})"));
    }
    if key.is_empty() {
        key = "config".to_string();
    }
    (shown_key(&key), message)
}

/// A Redis URL or password may hold a secret too.
fn is_secret(key: &str) -> bool {
    ["secret", "redis", "password"]
        .iter()
        .any(|word| key.contains(word))
}

/// What is wrong, for every kind but an unknown key.
fn what(kind: &Kind, secret: bool) -> String {
    match kind {
        Kind::UnknownVariant(found, known) => {
            let accepted = known
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let found = if secret {
                "the value".into()
            } else {
                format!("{found:?}")
            };
            format!(
                "{found} is not one of {accepted}{}",
                did_you_mean(&found, known)
            )
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected)
            if expected.contains("duration") =>
        {
            duration_hint(actual, secret)
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            let found = if secret {
                kind_of(actual)
            } else {
                shown(actual)
            };
            format!("expected {}, found {found}", plain(expected))
        }
        Kind::Message(_) if secret => "invalid value".to_string(),
        Kind::InvalidLength(len, expected) => format!("{len} items, expected {}", plain(expected)),
        other => other.to_string().replace('`', "\""),
    }
}

/// A value where a duration belongs: the value with a unit when a number was written.
fn duration_hint(actual: &Actual, secret: bool) -> String {
    let number = match actual {
        Actual::Unsigned(n) => Some(n.to_string()),
        Actual::Str(s) if !s.is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.trim().to_string())
        }
        _ => None,
    };
    match number {
        Some(n) if !secret => {
            format!(
                "{} has no unit: write \"{n}s\" for seconds ({DURATION_FORMS})",
                shown(actual)
            )
        }
        _ if secret => format!("not a duration ({DURATION_FORMS})"),
        _ => format!("{} is not a duration ({DURATION_FORMS})", shown(actual)),
    }
}

/// serde's names for what it expected, in an operator's words.
fn plain(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "a list ([...])".into(),
        "a map" => "an object ({...})".into(),
        e => e.replace('`', "\""),
    }
}

/// A value as written, quoted when it is text.
fn shown(actual: &Actual) -> String {
    match actual {
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(f) => f.to_string(),
        Actual::Char(c) => format!("{:?}", c.to_string()),
        Actual::Str(s) => format!("{s:?}"),
        other => kind_of(other),
    }
}

/// What kind of value it is, without the value.
fn kind_of(actual: &Actual) -> String {
    match actual {
        Actual::Bool(_) => "true or false",
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Seq => "a list",
        Actual::Map => "an object",
        Actual::Unit | Actual::Option => "null",
        _ => "another kind of value",
    }
    .to_string()
}

/// `; did you mean "x"?` when one known name is within two edits of `found`, else nothing.
fn did_you_mean(found: &str, known: &[&str]) -> String {
    let found = found.trim_matches('"').to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edits(&found, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!("; did you mean \"{k}\"?"))
        .unwrap_or_default()
}

/// Levenshtein distance, for short names only (keys and modes are under 40 bytes; longer input
/// is not compared).
fn edits(a: &str, b: &str) -> usize {
    const MAX: usize = 64;
    if a.len() > MAX || b.len() > MAX {
        return usize::MAX;
    }
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// A key as problems name it: list indices in brackets (`clients[0].burst`).
pub(super) fn shown_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    for part in key.split('.').filter(|p| !p.is_empty()) {
        if part.bytes().all(|b| b.is_ascii_digit()) && !out.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(path: &str, kind: Kind) -> figment::Error {
        let mut e = figment::Error::from(kind);
        e.path = path.split('.').map(str::to_string).collect();
        e
    }

    #[test]
    fn a_number_where_a_duration_belongs_gets_its_unit() {
        let e = err(
            "gateway.limits.idle_timeout",
            Kind::InvalidValue(Actual::Str("10".into()), "a duration".into()),
        );
        let (key, msg) = describe(&e, Some("blnk.json".into()));
        assert_eq!(key, "gateway.limits.idle_timeout");
        assert!(msg.contains("write \"10s\""), "{msg}");
        assert!(msg.ends_with("(in blnk.json)"), "{msg}");
        let e = err(
            "gateway.limits.idle_timeout",
            Kind::InvalidType(Actual::Unsigned(30), "a duration".into()),
        );
        assert!(describe(&e, None).1.contains("\"30s\""));
        let e = err(
            "gateway.limits.idle_timeout",
            Kind::InvalidValue(Actual::Str("10 sec0nds".into()), "a duration".into()),
        );
        assert!(describe(&e, None).1.contains("\"500ms\""));
    }

    #[test]
    fn a_typo_names_the_accepted_values_without_garbled_quotes() {
        const MODES: &[&str] = &["verify", "inject"];
        let e = err("gateway.mode", Kind::UnknownVariant("injekt".into(), MODES));
        let msg = describe(&e, None).1;
        assert_eq!(
            msg,
            "\"injekt\" is not one of \"verify\", \"inject\"; did you mean \"inject\"?"
        );
        assert!(!msg.contains('`'));
        const KEYS: &[&str] = &["idle_timeout", "drain_timeout"];
        let e = err(
            "gateway.limits",
            Kind::UnknownField("idle_timout".into(), KEYS),
        );
        let (key, msg) = describe(&e, None);
        assert_eq!(key, "gateway.limits.idle_timout");
        assert_eq!(msg, "unknown key; did you mean \"idle_timeout\"?");
    }

    #[test]
    fn secrets_are_described_by_kind_only() {
        let e = err(
            "gateway.cluster.redis",
            Kind::InvalidType(Actual::Str("redis://u:hunter2@h".into()), "a map".into()),
        );
        let msg = describe(&e, None).1;
        assert!(!msg.contains("hunter2"), "{msg}");
        let e = err(
            "server.secret_key",
            Kind::UnknownVariant("hunter2".into(), &["hunter3"]),
        );
        assert!(!describe(&e, None).1.contains("hunter2"));
    }

    #[test]
    fn types_are_named_in_plain_words() {
        let e = err(
            "gateway.limits.max_headers",
            Kind::InvalidType(Actual::Str("many".into()), "usize".into()),
        );
        assert_eq!(
            describe(&e, None).1,
            "expected a whole number, found \"many\""
        );
    }
}
