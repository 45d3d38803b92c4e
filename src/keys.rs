//! The master keys in force: the current one and, during a rotation, the previous one.
//!
//! Two questions are answered here, and they have different answers during a rotation:
//! - **which keys a client may present** (verify mode): the current key, and the previous one
//!   until `gateway.rotation.grace` has passed. Both digests are compared on every request, so
//!   the timing does not say which one matched.
//! - **which key Blnk accepts**: Blnk learns a new key only when it restarts, which never happens
//!   at the same instant as the gateway's reload. Until Blnk is seen accepting the new key (a
//!   probe, or a request that succeeded with it) the gateway sends the previous one, and a 401
//!   `AUTH_INVALID_API_KEY` from Blnk, which Blnk gives before doing anything, may be answered by
//!   sending the same request once more with the other key.
//!
//! A [`KeyRing`] is part of the immutable snapshot; the observation of which key Blnk accepts is
//! shared (`Arc<AtomicBool>`) between the snapshots of one rotation, so reloads that do not change
//! the key keep it. This module is the data; what moves a rotation along (the grace timer, the
//! probe loop, sending with either key) is `rotation`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderValue;
use tokio::time::Instant;

use crate::config::SecretSource;
use crate::secret::{KeyDigest, SecretKey};

/// Which of the two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Current,
    Previous,
}

/// A retired key, valid for clients until `expires_at`.
#[derive(Debug)]
pub struct Previous {
    pub key: Arc<SecretKey>,
    pub expires_at: Instant,
    /// Requests that presented this key during the window.
    pub uses: AtomicU64,
}

#[derive(Debug)]
pub struct KeyRing {
    pub current: Arc<SecretKey>,
    pub source: SecretSource,
    pub previous: Option<Arc<Previous>>,
    /// When `current` was first loaded.
    pub loaded_at: Instant,
    /// When the file `current` came from was last written, if it came from a file: the key's
    /// age for a rotation policy (a metric an alert watches), which a restart does not reset.
    pub written_at: Option<SystemTime>,
    /// True once Blnk is known (or assumed, with no rotation going on) to accept `current`.
    upstream_on_current: Arc<AtomicBool>,
}

impl KeyRing {
    pub fn new(current: SecretKey, source: SecretSource) -> Self {
        KeyRing {
            current: Arc::new(current),
            written_at: written_at(&source),
            source,
            previous: None,
            loaded_at: Instant::now(),
            upstream_on_current: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The ring after loading `key` again. Same key: everything carries over. New key: the old
    /// current key becomes the previous one for `grace` (none when `grace` is zero), and Blnk is
    /// assumed to still hold the old key until it is seen accepting the new one.
    pub fn next(
        &self,
        key: SecretKey,
        source: SecretSource,
        grace: Duration,
        now: Instant,
    ) -> KeyRing {
        if self.current.digest().matches(key.digest()) {
            return KeyRing {
                current: self.current.clone(),
                source,
                previous: self.previous.clone(),
                loaded_at: self.loaded_at,
                written_at: self.written_at,
                upstream_on_current: self.upstream_on_current.clone(),
            };
        }
        if grace.is_zero() {
            return KeyRing::new(key, source);
        }
        KeyRing {
            current: Arc::new(key),
            written_at: written_at(&source),
            source,
            previous: Some(Arc::new(Previous {
                key: self.current.clone(),
                expires_at: now + grace,
                uses: AtomicU64::new(0),
            })),
            loaded_at: now,
            upstream_on_current: Arc::new(AtomicBool::new(false)),
        }
    }

    /// This ring without its previous key (the grace ended, or Blnk took the new key in inject
    /// mode).
    pub fn without_previous(&self) -> KeyRing {
        KeyRing {
            current: self.current.clone(),
            source: self.source.clone(),
            previous: None,
            loaded_at: self.loaded_at,
            written_at: self.written_at,
            upstream_on_current: Arc::new(AtomicBool::new(true)),
        }
    }

    /// How old the current key is: since its file was written, else since it was loaded.
    pub fn age(&self) -> Duration {
        match self.written_at {
            Some(t) => SystemTime::now().duration_since(t).unwrap_or_default(),
            None => self.loaded_at.elapsed(),
        }
    }

    fn live_previous(&self, now: Instant) -> Option<&Previous> {
        self.previous.as_deref().filter(|p| now < p.expires_at)
    }

    /// Which key a client presented, if any. Both comparisons always run.
    pub fn verify(&self, presented: &[u8], now: Instant) -> Option<Which> {
        let digest = KeyDigest::of(presented);
        let current = self.current.digest().matches(&digest);
        let previous = match &self.previous {
            Some(p) => p.key.digest().matches(&digest) & (now < p.expires_at),
            None => false,
        };
        match (current, previous) {
            (true, _) => Some(Which::Current),
            (false, true) => {
                if let Some(p) = &self.previous {
                    p.uses.fetch_add(1, Ordering::Relaxed);
                }
                Some(Which::Previous)
            }
            (false, false) => None,
        }
    }

    /// True while Blnk may still hold either key: requests are then sent so that they can be
    /// repeated once with the other key.
    pub fn upstream_uncertain(&self, now: Instant) -> bool {
        self.live_previous(now).is_some() && !self.upstream_on_current.load(Ordering::Relaxed)
    }

    /// The key to send to Blnk now.
    pub fn upstream_key(&self, now: Instant) -> (Which, &HeaderValue) {
        match self.live_previous(now) {
            Some(p) if !self.upstream_on_current.load(Ordering::Relaxed) => {
                (Which::Previous, p.key.header_value())
            }
            _ => (Which::Current, self.current.header_value()),
        }
    }

    /// The other key, for the one repeat after Blnk refused the first.
    pub fn other_upstream_key(&self, which: Which, now: Instant) -> Option<(Which, &HeaderValue)> {
        match which {
            Which::Previous => Some((Which::Current, self.current.header_value())),
            Which::Current => self
                .live_previous(now)
                .map(|p| (Which::Previous, p.key.header_value())),
        }
    }

    /// Records that Blnk accepted `which`. Returns true when this changes the gateway's belief.
    pub fn upstream_accepted(&self, which: Which) -> bool {
        let on_current = which == Which::Current;
        self.upstream_on_current.swap(on_current, Ordering::Relaxed) != on_current
    }

    pub fn upstream_on_current(&self) -> bool {
        self.upstream_on_current.load(Ordering::Relaxed)
    }

    /// For `/metrics`: the current key's age and whether a rotation is in progress, now.
    pub fn gauges(&self) -> KeyGauges {
        KeyGauges {
            age_secs: i64::try_from(self.age().as_secs()).unwrap_or(i64::MAX),
            rotating: self.previous.is_some(),
        }
    }
}

/// The key ring's gauges at one moment.
#[derive(Debug, Clone, Copy)]
pub struct KeyGauges {
    age_secs: i64,
    rotating: bool,
}

impl KeyGauges {
    /// Writes the gauges (the snapshot's collector writes them with its own).
    pub fn write(
        &self,
        e: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        crate::metrics::gauge(
            e,
            "key_age_seconds",
            "Age of the current master key: since its file was last written, or since it was loaded when it is not from a file.",
            self.age_secs,
        )?;
        crate::metrics::gauge(
            e,
            "key_rotation_in_progress",
            "1 while a previous master key is still valid.",
            i64::from(self.rotating),
        )
    }
}

/// When the key's file was last modified, for a key read from a file.
fn written_at(source: &SecretSource) -> Option<SystemTime> {
    std::fs::metadata(source.path()?).ok()?.modified().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SecretKey {
        SecretKey::new(s.as_bytes().to_vec()).unwrap()
    }

    const GRACE: Duration = Duration::from_secs(900);

    #[tokio::test(start_paused = true)]
    async fn the_previous_key_is_valid_for_the_grace_only() {
        let t0 = Instant::now();
        let ring = KeyRing::new(
            key("old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            SecretSource::EnvVar,
        );
        let ring = ring.next(
            key("new-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            SecretSource::EnvVar,
            GRACE,
            t0,
        );
        assert_eq!(
            ring.verify(b"new-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", t0),
            Some(Which::Current)
        );
        assert_eq!(
            ring.verify(
                b"old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                t0 + GRACE - Duration::from_millis(1)
            ),
            Some(Which::Previous)
        );
        assert_eq!(
            ring.verify(b"old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", t0 + GRACE),
            None
        );
        assert_eq!(ring.verify(b"", t0), None);
        assert_eq!(
            ring.previous.as_ref().unwrap().uses.load(Ordering::Relaxed),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_rotation_retires_the_first_key_at_once() {
        let t0 = Instant::now();
        let ring = KeyRing::new(
            key("k1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            SecretSource::EnvVar,
        )
        .next(
            key("k2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            SecretSource::EnvVar,
            GRACE,
            t0,
        )
        .next(
            key("k3-ccccccccccccccccccccccccccccccccccc"),
            SecretSource::EnvVar,
            GRACE,
            t0,
        );
        assert_eq!(
            ring.verify(b"k1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", t0),
            None
        );
        assert_eq!(
            ring.verify(b"k2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", t0),
            Some(Which::Previous)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn upstream_keeps_the_old_key_until_it_accepts_the_new_one() {
        let t0 = Instant::now();
        let ring = KeyRing::new(
            key("old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            SecretSource::EnvVar,
        )
        .next(
            key("new-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            SecretSource::EnvVar,
            GRACE,
            t0,
        );
        assert!(ring.upstream_uncertain(t0));
        assert_eq!(ring.upstream_key(t0).0, Which::Previous);
        assert_eq!(
            ring.other_upstream_key(Which::Previous, t0).unwrap().0,
            Which::Current
        );
        assert!(ring.upstream_accepted(Which::Current));
        assert!(!ring.upstream_uncertain(t0));
        assert_eq!(ring.upstream_key(t0).0, Which::Current);
        // Reloading the same key keeps what was learned.
        let again = ring.next(
            key("new-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            SecretSource::EnvVar,
            GRACE,
            t0,
        );
        assert!(again.upstream_on_current());
        assert!(again.previous.is_some());
        // After the grace, the current key goes upstream whatever was believed.
        let fresh = KeyRing::new(
            key("old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            SecretSource::EnvVar,
        )
        .next(
            key("new-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            SecretSource::EnvVar,
            GRACE,
            t0,
        );
        assert_eq!(fresh.upstream_key(t0 + GRACE).0, Which::Current);
    }

    #[test]
    fn zero_grace_keeps_no_previous_key() {
        let now = Instant::now();
        let ring = KeyRing::new(
            key("old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            SecretSource::EnvVar,
        )
        .next(
            key("new-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            SecretSource::EnvVar,
            Duration::ZERO,
            now,
        );
        assert!(ring.previous.is_none());
        assert_eq!(
            ring.verify(b"old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", now),
            None
        );
    }

    #[test]
    fn a_key_from_a_file_is_as_old_as_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, "old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n").unwrap();
        let hundred_days = Duration::from_secs(100 * 86_400);
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - hundred_days).unwrap();
        let ring = KeyRing::new(
            key("old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            SecretSource::File(path),
        );
        assert!(ring.age() >= hundred_days, "{:?}", ring.age());
        let from_env = KeyRing::new(
            key("old-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            SecretSource::EnvVar,
        );
        assert!(from_env.age() < Duration::from_secs(60));
    }
}
