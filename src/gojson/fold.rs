//! Which struct field an object key binds to: Go's `encoding/json` looks the (unquoted) key up
//! by exact name, then by `foldName` (`fold.go`): ASCII letters upper-cased, every other rune
//! replaced by the smallest rune of its `unicode.SimpleFold` orbit.
//!
//! Blnk's JSON names are ASCII (lower-case letters and `_`). The only non-ASCII runes whose fold
//! orbit holds an ASCII letter are `ſ` (U+017F, with `s` and `S`) and the Kelvin sign `K`
//! (U+212A, with `k` and `K`), checked over every rune with Go's own `unicode` tables; so a key
//! binds to such a name exactly when, rune by rune, it matches the name's letter in either case,
//! or is `ſ` for `s` or `K` for `k`. Any other non-ASCII rune never binds.

/// Whether `key` binds to the field whose JSON name is `name` (ASCII).
pub(super) fn binds(key: &str, name: &str) -> bool {
    let (k, n) = (key.as_bytes(), name.as_bytes());
    if k.len() == n.len() {
        return k.eq_ignore_ascii_case(n);
    }
    // `ſ` takes two bytes in UTF-8 and `K` three, for one byte of the name.
    if k.len() < n.len() || k.len() > 3 * n.len() {
        return false;
    }
    let mut chars = key.chars();
    for &want in n {
        let folded = match chars.next() {
            Some(c) if c.is_ascii() => c as u8,
            Some('\u{017F}') => b's',
            Some('\u{212A}') => b'k',
            _ => return false,
        };
        if !folded.eq_ignore_ascii_case(&want) {
            return false;
        }
    }
    chars.next().is_none()
}

/// Whether `key` could fold to a name it is not equal to: only with an upper-case ASCII letter or
/// a non-ASCII rune, since names are lower-case ASCII ([`is_name`]).
pub(super) fn may_fold(key: &str) -> bool {
    key.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii())
}

/// A JSON name this module can match: lower-case ASCII letters and `_`.
pub(super) const fn is_name(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_lowercase() || b[i] == b'_') {
            return false;
        }
        i += 1;
    }
    !b.is_empty()
}

/// The field `key` binds to among a struct's `(field, JSON name)` pairs.
pub(super) fn lookup<F: Copy>(
    key: &str,
    fields: &[(F, &'static str)],
) -> Option<(F, &'static str)> {
    fields.iter().copied().find(|(_, name)| binds(key, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_ascii_case_bind() {
        assert!(binds("reference", "reference"));
        assert!(binds("REFERENCE", "reference"));
        assert!(binds("ReFeReNcE", "reference"));
        assert!(!binds("referenc", "reference"));
        assert!(!binds("references", "reference"));
        assert!(!binds("skip-queue", "skip_queue"));
    }

    #[test]
    fn long_s_and_kelvin_bind_to_s_and_k() {
        assert!(binds("\u{017F}kip_queue", "skip_queue"));
        assert!(binds("s\u{212A}ip_queue", "skip_queue"));
        assert!(binds("\u{017F}\u{212A}IP_QUEUE", "skip_queue"));
        assert!(binds("de\u{017F}tinations", "destinations"));
        assert!(binds("\u{017F}ource", "source"));
        // The fold is of the key's rune to the name's letter, not of any two letters.
        assert!(!binds("\u{017F}mount", "amount"));
        assert!(!binds("\u{212A}mount", "amount"));
    }

    #[test]
    fn other_non_ascii_runes_never_bind() {
        assert!(!binds("r\u{00E9}ference", "reference"));
        // Dotted capital I and dotless i fold only in Turkish rules, not in SimpleFold.
        assert!(!binds("\u{0130}nflight", "inflight"));
        assert!(!binds("\u{0131}nflight", "inflight"));
        // Fullwidth letters are other runes.
        assert!(!binds("\u{FF41}mount", "amount"));
        assert!(!binds("\u{FFFD}mount", "amount"));
    }

    #[test]
    fn only_upper_case_or_non_ascii_keys_need_folding() {
        assert!(!may_fold("skip_queue"));
        assert!(!may_fold("skip-queue2"));
        assert!(may_fold("Skip_queue"));
        assert!(may_fold("\u{17F}kip_queue"));
        assert!(is_name("skip_queue") && !is_name("Skip") && !is_name("a1") && !is_name(""));
    }
}
