//! Time-decayed estimates: the scheduler's view of a model's mean latency, mean time to
//! first token and error rate. Every observation weighs 1 when it is made and half as
//! much every `half_life` after, so an estimate follows a change within a few half-lives
//! of traffic, and the weight left says how much is known: an estimate nobody has fed
//! for a while carries little weight, which is what tells the planner to re-measure it.
//! Published as plain values with the time of their last update; readers decay them
//! to their own `now`.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// A latency this many times above or below the mean marks a change of regime: far
/// outside what jitter does to a latency (σ 0.8 log-normal reaches it in under 10 % of
/// answers).
pub const SHIFT_RATIO: f64 = 4.0;
/// The share of its weight the history keeps at a change of regime.
pub const SHIFT_KEEP: f64 = 0.1;

/// One decayed mean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Decayed {
    /// The weighted mean of the observations.
    pub mean: f64,
    /// The observations' total weight at `at`.
    pub weight: f64,
    #[serde(skip)]
    pub at: Option<Instant>,
}

/// `2^(-elapsed / half_life)`.
fn decay(elapsed: Duration, half_life: Duration) -> f64 {
    let h = half_life.as_secs_f64().max(1e-3);
    (-elapsed.as_secs_f64() / h * std::f64::consts::LN_2).exp()
}

impl Decayed {
    /// Adds one observation at `now`.
    pub fn observe(&mut self, x: f64, now: Instant, half_life: Duration) {
        let w = self.weight_at(now, half_life);
        self.mean = (self.mean * w + x) / (w + 1.0);
        self.weight = w + 1.0;
        self.at = Some(now);
    }

    /// Adds a latency: one that differs from the mean by [`SHIFT_RATIO`] or more is
    /// taken for a change of regime (a slowdown, a recovery), and what came before
    /// keeps only [`SHIFT_KEEP`] of its weight, so one answer moves the estimate.
    pub fn observe_latency(&mut self, x: f64, now: Instant, half_life: Duration) {
        let shifted = self.at.is_some()
            && self.mean > 0.0
            && x > 0.0
            && (x / self.mean).max(self.mean / x) >= SHIFT_RATIO;
        if shifted {
            self.weight *= SHIFT_KEEP;
        }
        self.observe(x, now, half_life);
    }

    /// The weight left at `now` (0 before any observation).
    pub fn weight_at(&self, now: Instant, half_life: Duration) -> f64 {
        match self.at {
            Some(at) => self.weight * decay(now.saturating_duration_since(at), half_life),
            None => 0.0,
        }
    }
}

/// A model's decayed estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// Whole-request latency of successes, ms (streams count to their last byte).
    pub latency_ms: Decayed,
    /// Time to first token of streamed successes, ms.
    pub ttft_ms: Decayed,
    /// 1 per failed attempt, 0 per success: the recent error rate.
    pub errors: Decayed,
    #[serde(serialize_with = "millis")]
    pub half_life: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl Estimate {
    /// Nothing observed yet.
    pub fn new(half_life: Duration) -> Self {
        Self {
            half_life,
            ..Self::default()
        }
    }

    /// Adds one attempt's outcome: its latencies when it succeeded, and whether it
    /// failed.
    pub fn observe(&mut self, now: Instant, ok: Option<(Duration, Option<Duration>)>) {
        let h = self.half_life;
        match ok {
            Some((latency, ttft)) => {
                self.latency_ms.observe_latency(ms(latency), now, h);
                if let Some(t) = ttft {
                    self.ttft_ms.observe_latency(ms(t), now, h);
                }
                self.errors.observe(0.0, now, h);
            }
            None => self.errors.observe(1.0, now, h),
        }
    }

    /// The latency a request would see, ms, with the weight behind it at `now`: the
    /// time to first token for streams (once any stream was measured), else the whole.
    pub fn latency_at(&self, stream: bool, now: Instant) -> Option<(f64, f64)> {
        let d = if stream && self.ttft_ms.at.is_some() {
            &self.ttft_ms
        } else {
            &self.latency_ms
        };
        d.at.map(|_| (d.mean, d.weight_at(now, self.half_life)))
    }

    /// The error rate with the weight behind it at `now`.
    pub fn errors_at(&self, now: Instant) -> Option<(f64, f64)> {
        let e = &self.errors;
        e.at.map(|_| (e.mean, e.weight_at(now, self.half_life)))
    }

    /// When anything was last observed.
    pub fn last_update(&self) -> Option<Instant> {
        self.errors.at
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(2);

    #[tokio::test(start_paused = true)]
    async fn a_change_is_followed_within_a_few_half_lives() {
        let t0 = Instant::now();
        let mut d = Decayed::default();
        for i in 0..40 {
            d.observe(5000.0, t0 + Duration::from_millis(100 * i), H);
        }
        let t1 = t0 + Duration::from_secs(4);
        for i in 0..20 {
            d.observe(1000.0, t1 + Duration::from_millis(100 * i), H);
        }
        assert!(
            d.mean < 3000.0,
            "one half-life of fast samples outweighs: {}",
            d.mean
        );
        for i in 20..60 {
            d.observe(1000.0, t1 + Duration::from_millis(100 * i), H);
        }
        assert!(
            d.mean < 1500.0,
            "two half-lives later the change is nearly done: {}",
            d.mean
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_shift_of_regime_outweighs_the_history_at_once() {
        let t0 = Instant::now();
        let mut d = Decayed::default();
        for _ in 0..50 {
            d.observe_latency(8000.0, t0, H);
        }
        d.observe_latency(800.0, t0, H);
        d.observe_latency(800.0, t0, H);
        assert!(
            d.mean < 4000.0,
            "two recovered answers outweigh 50: {}",
            d.mean
        );
    }

    #[tokio::test(start_paused = true)]
    async fn weight_halves_every_half_life() {
        let t0 = Instant::now();
        let mut d = Decayed::default();
        d.observe(1.0, t0, H);
        d.observe(1.0, t0, H);
        assert!((d.weight_at(t0 + H, H) - 1.0).abs() < 1e-9);
        assert!((d.weight_at(t0 + H * 2, H) - 0.5).abs() < 1e-9);
        assert_eq!(Decayed::default().weight_at(t0, H), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn streams_read_ttft_and_errors_count_failures() {
        let t0 = Instant::now();
        let mut e = Estimate::new(H);
        let s = Duration::from_millis;
        e.observe(t0, Some((s(3000), Some(s(200)))));
        e.observe(t0, None);
        assert_eq!(e.latency_at(true, t0).map(|l| l.0), Some(200.0));
        assert_eq!(e.latency_at(false, t0).map(|l| l.0), Some(3000.0));
        assert_eq!(e.errors_at(t0).map(|x| x.0), Some(0.5));
    }
}
