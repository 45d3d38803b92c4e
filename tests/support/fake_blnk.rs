//! The fake Blnk the tests run against: the workspace's `fake-blnk` crate, which the
//! conformance suite (`tests/conformance/`) holds to what a real Blnk does.

pub use fake_blnk::{Behavior, FakeBlnk};

/// A transfer Blnk accepts on its queued path: `amount` units (precision 100) from `@world`,
/// which may overdraw, to `@alice`.
pub fn transfer(reference: &str, amount: u64) -> String {
    format!(
        r#"{{"amount":{amount},"precision":100,"reference":"{reference}","currency":"USD","source":"@world","destination":"@alice","allow_overdraft":true,"description":"test"}}"#
    )
}

/// A reference no other call in this process returns.
pub fn reference(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{tag}-{}", N.fetch_add(1, Ordering::Relaxed))
}
