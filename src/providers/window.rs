//! Sliding windows of request statistics: a ring of time slots, each with its own
//! lazily allocated HDR histograms (latency, time to first token) and counters. A slot
//! is reset when the ring comes round to it again, so old data ages out without any
//! sweeping; reading merges the slots that fall inside the span asked for.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::error::ErrorClass;

/// Slots per latency window: the window slides in steps of 1/12 of its length.
pub const SLOTS_PER_WINDOW: u32 = 12;
/// The ring covers this many latency windows (the "5 minute" view at the default).
pub const WINDOWS_KEPT: u32 = 5;
/// Histogram range in milliseconds: 1 ms to 1 hour, 2 significant digits.
const HIST_MAX_MS: u64 = 3_600_000;
const HIST_SIGFIG: u8 = 2;

/// One observation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Whole-request latency (successes only).
    pub latency: Option<Duration>,
    /// Time to the first stream event (streams only).
    pub ttft: Option<Duration>,
    /// `None` for a success.
    pub error: Option<ErrorClass>,
    /// Output tokens of a success, to learn the expected answer length.
    pub output_tokens: Option<u64>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub count: u64,
}

/// What a window holds over a span.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub latency: Percentiles,
    pub ttft: Percentiles,
    pub ok: u64,
    pub errors: u64,
    /// Errors by class, in `ErrorClass` order of first appearance.
    pub errors_by_class: Vec<(ErrorClass, u64)>,
    pub avg_output_tokens: Option<f64>,
}

impl Summary {
    /// Errors over all outcomes, 0 when there were none.
    pub fn error_rate(&self) -> f64 {
        let total = self.ok + self.errors;
        if total == 0 {
            0.0
        } else {
            self.errors as f64 / total as f64
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    /// Which slot-length period since the window's origin this slot holds.
    epoch: u64,
    latency: Option<Histogram<u64>>,
    ttft: Option<Histogram<u64>>,
    ok: u64,
    errors: Vec<(ErrorClass, u64)>,
    output_tokens: u64,
    output_samples: u64,
}

/// A ring of slots.
#[derive(Debug)]
pub struct Window {
    origin: Instant,
    slot_len: Duration,
    slots: Vec<Slot>,
    last_sample: Option<Instant>,
}

impl Window {
    /// A window sliding over `span`, keeping `WINDOWS_KEPT` spans of history.
    pub fn new(span: Duration, now: Instant) -> Self {
        let slot_len = (span / SLOTS_PER_WINDOW).max(Duration::from_millis(10));
        let n = (SLOTS_PER_WINDOW * WINDOWS_KEPT) as usize;
        Self {
            origin: now,
            slot_len,
            slots: (0..n).map(|_| Slot::default()).collect(),
            last_sample: None,
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.origin).as_nanos() / self.slot_len.as_nanos()) as u64
    }

    /// Records one observation at `now`.
    pub fn record(&mut self, now: Instant, s: Sample) {
        let epoch = self.epoch(now);
        let n = self.slots.len() as u64;
        let slot = &mut self.slots[(epoch % n) as usize];
        if slot.epoch != epoch {
            *slot = Slot {
                epoch,
                ..Slot::default()
            };
        }
        self.last_sample = Some(now);
        if let Some(e) = s.error {
            match slot.errors.iter_mut().find(|(c, _)| *c == e) {
                Some((_, n)) => *n += 1,
                None => slot.errors.push((e, 1)),
            }
            return;
        }
        slot.ok += 1;
        if let Some(l) = s.latency {
            add(&mut slot.latency, l);
        }
        if let Some(t) = s.ttft {
            add(&mut slot.ttft, t);
        }
        if let Some(tokens) = s.output_tokens {
            slot.output_tokens += tokens;
            slot.output_samples += 1;
        }
    }

    /// When the last sample was recorded.
    pub fn last_sample(&self) -> Option<Instant> {
        self.last_sample
    }

    /// Merges the slots inside the last `span`.
    pub fn summary(&self, now: Instant, span: Duration) -> Summary {
        let current = self.epoch(now);
        let n_slots = (span.as_nanos() / self.slot_len.as_nanos()).max(1) as u64;
        let n_slots = n_slots.min(self.slots.len() as u64);
        let oldest = current.saturating_sub(n_slots - 1);
        let mut latency: Option<Histogram<u64>> = None;
        let mut ttft: Option<Histogram<u64>> = None;
        let mut out = Summary::default();
        let (mut tokens, mut token_samples) = (0u64, 0u64);
        for slot in &self.slots {
            if slot.epoch < oldest || slot.epoch > current {
                continue;
            }
            // Slot 0 of a fresh window has epoch 0 and no data; counting it is harmless.
            out.ok += slot.ok;
            for (class, n) in &slot.errors {
                out.errors += n;
                match out.errors_by_class.iter_mut().find(|(c, _)| c == class) {
                    Some((_, m)) => *m += n,
                    None => out.errors_by_class.push((*class, *n)),
                }
            }
            merge(&mut latency, slot.latency.as_ref());
            merge(&mut ttft, slot.ttft.as_ref());
            tokens += slot.output_tokens;
            token_samples += slot.output_samples;
        }
        out.latency = percentiles(latency.as_ref());
        out.ttft = percentiles(ttft.as_ref());
        out.avg_output_tokens = (token_samples > 0).then(|| tokens as f64 / token_samples as f64);
        out
    }
}

fn new_hist() -> Option<Histogram<u64>> {
    Histogram::new_with_bounds(1, HIST_MAX_MS, HIST_SIGFIG).ok()
}

fn add(h: &mut Option<Histogram<u64>>, d: Duration) {
    if h.is_none() {
        *h = new_hist();
    }
    if let Some(h) = h {
        let ms = (d.as_millis() as u64).clamp(1, HIST_MAX_MS);
        h.saturating_record(ms);
    }
}

fn merge(into: &mut Option<Histogram<u64>>, from: Option<&Histogram<u64>>) {
    let Some(from) = from else { return };
    if into.is_none() {
        *into = new_hist();
    }
    if let Some(into) = into {
        let _ = into.add(from);
    }
}

fn percentiles(h: Option<&Histogram<u64>>) -> Percentiles {
    match h {
        Some(h) if !h.is_empty() => Percentiles {
            p50: h.value_at_quantile(0.50) as f64,
            p90: h.value_at_quantile(0.90) as f64,
            p95: h.value_at_quantile(0.95) as f64,
            p99: h.value_at_quantile(0.99) as f64,
            count: h.len(),
        },
        _ => Percentiles::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ms: u64) -> Sample {
        Sample {
            latency: Some(Duration::from_millis(ms)),
            ..Sample::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn old_samples_age_out_of_the_span() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), t0);
        for _ in 0..10 {
            w.record(t0, ok(900));
        }
        let s = w.summary(t0, Duration::from_secs(60));
        assert_eq!(s.latency.count, 10);
        assert!((s.latency.p50 - 900.0).abs() < 10.0);
        let later = t0 + Duration::from_secs(70);
        w.record(later, ok(100));
        let s = w.summary(later, Duration::from_secs(60));
        assert_eq!(
            s.latency.count, 1,
            "the 900 ms samples are older than the span"
        );
        // ...but still inside the long view.
        assert_eq!(w.summary(later, Duration::from_secs(300)).latency.count, 11);
    }

    #[tokio::test(start_paused = true)]
    async fn ring_reuse_resets_a_slot() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(12), t0);
        w.record(t0, ok(500));
        // 60 slots of 1 s later the same slot is reused.
        let t1 = t0 + Duration::from_secs(60);
        w.record(t1, ok(50));
        let s = w.summary(t1, Duration::from_secs(60));
        assert_eq!(s.latency.count, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn error_rate_and_classes() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), t0);
        w.record(t0, ok(10));
        for class in [
            ErrorClass::RateLimited,
            ErrorClass::RateLimited,
            ErrorClass::Server,
        ] {
            w.record(
                t0,
                Sample {
                    error: Some(class),
                    ..Sample::default()
                },
            );
        }
        let s = w.summary(t0, Duration::from_secs(60));
        assert_eq!(s.error_rate(), 0.75);
        assert_eq!(s.errors_by_class[0], (ErrorClass::RateLimited, 2));
    }
}
