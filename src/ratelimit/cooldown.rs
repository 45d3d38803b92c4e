//! Sources in their failed-authentication cool-down, and until when.
//!
//! Empty in normal operation, so the check every request makes is one atomic load. Capped like
//! the limiter tables: when full, expired entries are dropped first; a source that still finds
//! no room is not put in cool-down (its failures stay limited by the failed-auth bucket).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use governor::clock::Reference;
use governor::nanos::Nanos;

pub struct Cooldowns<I> {
    map: DashMap<IpAddr, I>,
    len: AtomicUsize,
}

impl<I: Reference> Cooldowns<I> {
    pub fn new() -> Self {
        Cooldowns {
            map: DashMap::new(),
            len: AtomicUsize::new(0),
        }
    }

    /// How long `source` is still refused, if it is.
    pub fn remaining(&self, source: &IpAddr, now: I) -> Option<Nanos> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let until = *self.map.get(source)?;
        if until > now {
            return Some(until.duration_since(now));
        }
        if self.map.remove_if(source, |_, u| *u <= now).is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        None
    }

    /// Refuses `source` until `until`. False when the table is full of live cool-downs.
    pub fn start(&self, source: IpAddr, until: I, now: I, cap: usize) -> bool {
        if let Some(mut existing) = self.map.get_mut(&source) {
            *existing = until;
            return true;
        }
        if !self.reserve(cap) {
            self.prune(now);
            if !self.reserve(cap) {
                return false;
            }
        }
        match self.map.entry(source) {
            Entry::Occupied(mut e) => {
                e.insert(until);
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
            Entry::Vacant(e) => {
                e.insert(until);
            }
        }
        true
    }

    /// Counts an entry before inserting it, so concurrent inserts can never pass the cap.
    fn reserve(&self, cap: usize) -> bool {
        if self.len.fetch_add(1, Ordering::Relaxed) >= cap {
            self.len.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Drops the cool-downs that have ended.
    pub fn prune(&self, now: I) {
        let mut removed = 0;
        self.map.retain(|_, until| {
            let keep = *until > now;
            removed += usize::from(!keep);
            keep
        });
        self.len.fetch_sub(removed, Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_capped_and_ended_cool_downs_make_room() {
        let t = Cooldowns::<Nanos>::new();
        let at = |s: u64| Nanos::from(s * 1_000_000_000);
        let ip = |n: u8| IpAddr::from([192, 0, 2, n]);
        assert!(t.start(ip(1), at(10), at(0), 2));
        assert!(t.start(ip(2), at(20), at(0), 2));
        assert!(!t.start(ip(3), at(30), at(0), 2));
        // Restarting a cool-down in progress needs no room.
        assert!(t.start(ip(2), at(25), at(0), 2));
        assert_eq!(t.len(), 2);
        // Once the first has ended, the newcomer gets its place.
        assert!(t.start(ip(3), at(30), at(10), 2));
        assert_eq!(t.len(), 2);
        assert_eq!(t.remaining(&ip(1), at(10)), None);
        assert_eq!(t.remaining(&ip(2), at(20)), Some(at(5)));
        assert_eq!(t.remaining(&ip(3), at(31)), None);
        assert_eq!(t.len(), 1);
    }
}
