//! The response cache proper: finished flights by key, each with its own expiry, under
//! a memory bound in bytes with least-recently-used eviction.
//!
//! Plain data, no locking and no I/O: [`super::Cache`] holds it in its one mutex
//! together with the flights in progress. Recency is a tick per access; `order` maps
//! ticks back to keys, so the least recently used entry is the first in `order`.
//! Expired entries are dropped when looked up or when they are the eviction candidate.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use tokio::time::Instant;

use super::flight::Flight;
use super::key::Key;

#[derive(Debug)]
struct Slot {
    flight: Arc<Flight>,
    bytes: usize,
    expires: Instant,
    tick: u64,
}

/// Counters of one store, for `GET /admin/cache`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StoreStats {
    pub entries: usize,
    pub bytes: usize,
    pub max_bytes: usize,
    /// Entries dropped to make room (expired ones are not counted).
    pub evictions: u64,
    pub expired: u64,
}

/// Finished answers by key.
#[derive(Debug)]
pub struct Store {
    slots: HashMap<Key, Slot>,
    order: BTreeMap<u64, Key>,
    tick: u64,
    stats: StoreStats,
}

impl Store {
    /// An empty store holding at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            slots: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            stats: StoreStats {
                max_bytes,
                ..StoreStats::default()
            },
        }
    }

    /// The live answer for `key`, marked as just used.
    pub fn get(&mut self, key: &Key, now: Instant) -> Option<Arc<Flight>> {
        let expired = self.slots.get(key)?.expires <= now;
        if expired {
            self.remove(key);
            self.stats.expired += 1;
            return None;
        }
        self.tick += 1;
        let tick = self.tick;
        let slot = self.slots.get_mut(key)?;
        self.order.remove(&slot.tick);
        slot.tick = tick;
        self.order.insert(tick, key.clone());
        Some(slot.flight.clone())
    }

    /// Stores a finished answer of `bytes` until `expires`, evicting the least
    /// recently used answers to stay within the bound. An answer larger than the whole
    /// bound is not stored. Returns how many entries were evicted.
    pub fn insert(&mut self, key: Key, flight: Arc<Flight>, bytes: usize, expires: Instant) -> u64 {
        if bytes > self.stats.max_bytes {
            return 0;
        }
        self.remove(&key);
        let now = Instant::now();
        let mut evicted = 0;
        while self.stats.bytes + bytes > self.stats.max_bytes {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            let expired = self.slots.get(&oldest).is_some_and(|s| s.expires <= now);
            self.remove(&oldest);
            if expired {
                self.stats.expired += 1;
            } else {
                evicted += 1;
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.slots.insert(
            key,
            Slot {
                flight,
                bytes,
                expires,
                tick: self.tick,
            },
        );
        self.stats.bytes += bytes;
        self.stats.entries = self.slots.len();
        self.stats.evictions += evicted;
        crate::metrics::record_cache_size(bytes as f64, 1.0);
        evicted
    }

    fn remove(&mut self, key: &Key) {
        if let Some(slot) = self.slots.remove(key) {
            self.order.remove(&slot.tick);
            self.stats.bytes -= slot.bytes;
            self.stats.entries = self.slots.len();
            crate::metrics::record_cache_size(-(slot.bytes as f64), -1.0);
        }
    }

    /// Current counters.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // The gauges are process-wide; take this store's share back out.
        crate::metrics::record_cache_size(-(self.stats.bytes as f64), -(self.slots.len() as f64));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::canonical::request::parse_request;

    fn key(n: usize) -> Key {
        let body = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{n}"}}]}}"#);
        let req = parse_request(body.as_bytes()).unwrap();
        let target = super::super::key::Target {
            model: "m",
            route_header: None,
            route: None,
        };
        Key::new(&Arc::from("t"), target, &req)
    }

    fn flight() -> Arc<Flight> {
        Arc::new(Flight::new(true))
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_their_ttl() {
        let mut s = Store::new(1000);
        let now = Instant::now();
        s.insert(key(1), flight(), 10, now + Duration::from_millis(100));
        assert!(s.get(&key(1), now).is_some());
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(s.get(&key(1), Instant::now()).is_none());
        assert_eq!(
            (s.stats().entries, s.stats().bytes, s.stats().expired),
            (0, 0, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_least_recently_used_go_first_and_the_bound_holds() {
        let mut s = Store::new(300);
        let later = Instant::now() + Duration::from_secs(60);
        for n in 0..3 {
            s.insert(key(n), flight(), 100, later);
        }
        assert!(s.get(&key(0), Instant::now()).is_some());
        assert_eq!(s.insert(key(3), flight(), 100, later), 1);
        assert!(
            s.get(&key(1), Instant::now()).is_none(),
            "1 was least recently used"
        );
        assert!(s.get(&key(0), Instant::now()).is_some());
        assert_eq!(s.insert(key(4), flight(), 250, later), 3);
        assert_eq!(s.stats().bytes, 250);
        assert_eq!(s.stats().evictions, 4);
        assert_eq!(
            s.insert(key(5), flight(), 301, later),
            0,
            "too large to store"
        );
        assert!(s.get(&key(5), Instant::now()).is_none());
    }
}
