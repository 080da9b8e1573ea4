//! Per-thread caches of metric handles, keyed by metric name and label values.
//!
//! `counter!(name, "label" => value)` builds a key with owned label strings and looks
//! it up in the recorder's shared registry on every call: on the request path that
//! was ~20k instructions per request (a quarter of them allocating and freeing label
//! strings). Label values here come from closed sets (config names, status classes,
//! error kinds), so each thread keeps the handles it has used in a small map and
//! reaches them with one hash of borrowed strings; the handles share their atomics
//! with the registry, so `/metrics` sees every increment.
//!
//! A handle is created the first time a thread needs it, through the global recorder
//! installed at that moment (the gateway installs its recorder before serving).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use metrics::{Counter, Gauge, Histogram, Label};

/// Label names with their values for this event.
pub type Labels<'a> = &'a [(&'static str, &'a str)];

/// One cached handle with what it was created for (to tell hash collisions apart).
struct Entry<H> {
    name: &'static str,
    values: Box<[Box<str>]>,
    handle: H,
}

impl<H> Entry<H> {
    fn is(&self, name: &'static str, labels: Labels<'_>) -> bool {
        self.name == name
            && self.values.len() == labels.len()
            && self
                .values
                .iter()
                .zip(labels)
                .all(|(have, (_, want))| **have == **want)
    }
}

type Cache<H> = RefCell<HashMap<u64, Vec<Entry<H>>, foldhash::fast::FixedState>>;

thread_local! {
    static COUNTERS: Cache<Counter> = RefCell::new(HashMap::with_hasher(seed()));
    static HISTOGRAMS: Cache<Histogram> = RefCell::new(HashMap::with_hasher(seed()));
    static GAUGES: Cache<Gauge> = RefCell::new(HashMap::with_hasher(seed()));
}

fn seed() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0)
}

/// foldhash, not SipHash: the keys are our own config names, not attacker input, and
/// SipHash over them was ~4k instructions per request.
fn hash(name: &str, labels: Labels<'_>) -> u64 {
    let mut h = seed().build_hasher();
    name.hash(&mut h);
    for (k, v) in labels {
        k.hash(&mut h);
        v.hash(&mut h);
    }
    h.finish()
}

fn with_handle<H>(
    cache: &'static std::thread::LocalKey<Cache<H>>,
    name: &'static str,
    labels: Labels<'_>,
    make: fn(&'static str, Vec<Label>) -> H,
    use_it: impl FnOnce(&H),
) {
    cache.with_borrow_mut(|map| {
        let bucket = map.entry(hash(name, labels)).or_default();
        if let Some(e) = bucket.iter().find(|e| e.is(name, labels)) {
            use_it(&e.handle);
            return;
        }
        let owned = labels
            .iter()
            .map(|(k, v)| Label::new(*k, (*v).to_owned()))
            .collect();
        let handle = make(name, owned);
        use_it(&handle);
        bucket.push(Entry {
            name,
            values: labels.iter().map(|(_, v)| Box::from(*v)).collect(),
            handle,
        });
    });
}

/// Adds `n` to counter `name` with `labels`.
pub fn count(name: &'static str, labels: Labels<'_>, n: u64) {
    with_handle(
        &COUNTERS,
        name,
        labels,
        |name, labels| metrics::counter!(name, labels),
        |c| c.increment(n),
    );
}

/// Records `value` in histogram `name` with `labels`.
pub fn observe(name: &'static str, labels: Labels<'_>, value: f64) {
    with_handle(
        &HISTOGRAMS,
        name,
        labels,
        |name, labels| metrics::histogram!(name, labels),
        |h| h.record(value),
    );
}

/// Sets gauge `name` with `labels` to `value`.
pub fn set(name: &'static str, labels: Labels<'_>, value: f64) {
    with_handle(
        &GAUGES,
        name,
        labels,
        |name, labels| metrics::gauge!(name, labels),
        |g| g.set(value),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_handle_per_name_and_label_values() {
        count("switchyard_test_handles_total", &[("a", "x")], 1);
        count("switchyard_test_handles_total", &[("a", "x")], 1);
        count("switchyard_test_handles_total", &[("a", "y")], 1);
        observe("switchyard_test_handles_seconds", &[("a", "x")], 0.5);
        let entries = COUNTERS.with_borrow(|m| m.values().map(Vec::len).sum::<usize>());
        assert_eq!(entries, 2);
        assert_eq!(HISTOGRAMS.with_borrow(|m| m.len()), 1);
    }
}
