//! One candidate as the planner sees it for one request: its expected cost and latency
//! (the [`CandidateInput`] that `score` ranks), and why it may be left out
//! ([`Exclusion`]: the provider's health, or the request's own limits).
//!
//! An [`Assessor`] carries what every candidate of a request is assessed against (the
//! snapshot, the request, live load, the expected answer length and the time), and
//! words the error when every candidate is left out.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::actor::Snapshot;
use super::plan::PlanRequest;
use super::score::{CandidateInput, LatencySource};
use crate::config::ModelConfig;
use crate::error::GatewayError;
use crate::providers::breaker::CircuitState;
use crate::providers::health::Load;

/// Why a candidate was left out of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// The provider's circuit is open.
    CircuitOpen,
    /// The circuit is half-open and its one probe request is already in flight.
    ProbeInFlight,
    /// The provider asked us to back off and the time has not passed yet.
    RateLimited,
    /// Expected to cost more than the request's `max_cost_usd`.
    OverMaxCost,
    /// Expected to take longer than the request's `max_latency_ms`.
    OverMaxLatency,
}

impl Exclusion {
    /// The reason as the explanation (`x-switchyard-explain`) spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CircuitOpen => "circuit_open",
            Self::ProbeInFlight => "probe_in_flight",
            Self::RateLimited => "rate_limited",
            Self::OverMaxCost => "over_max_cost",
            Self::OverMaxLatency => "over_max_latency",
        }
    }

    /// Whether the request's own limits left the candidate out (rather than its
    /// provider's health).
    pub fn is_limit(self) -> bool {
        matches!(self, Self::OverMaxCost | Self::OverMaxLatency)
    }
}

/// Which kinds of exclusion a pool's candidates met, for the error when none is left.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Excluded {
    pub(super) health: bool,
    pub(super) limits: bool,
    /// Some candidate was left out for its provider's back-off (a 429's wait).
    pub(super) backing_off: bool,
}

impl Excluded {
    /// Notes that one candidate was left out for `why`.
    pub(super) fn note(&mut self, why: Exclusion) {
        if why.is_limit() {
            self.limits = true;
        } else if why == Exclusion::RateLimited {
            self.backing_off = true;
        } else {
            self.health = true;
        }
    }
}

/// Assesses the candidates of one request against one snapshot.
pub(super) struct Assessor<'a, F> {
    pub(super) snap: &'a Snapshot,
    pub(super) req: &'a PlanRequest<'a>,
    /// The pool the request resolved to (its fallbacks are assessed alike).
    pub(super) candidates: &'a [Arc<ModelConfig>],
    /// `in_flight(provider index)` reads live load.
    in_flight: &'a F,
    /// The expected answer length when the request sets no `max_tokens`.
    learned_output: f64,
    clock: Clock,
}

impl<'a, F: Fn(usize) -> Load> Assessor<'a, F> {
    pub(super) fn new(
        snap: &'a Snapshot,
        req: &'a PlanRequest<'a>,
        in_flight: &'a F,
        candidates: &'a [Arc<ModelConfig>],
        default_output_tokens: u64,
        clock: Clock,
    ) -> Self {
        Self {
            snap,
            req,
            candidates,
            in_flight,
            learned_output: learned_output(snap, candidates, default_output_tokens),
            clock,
        }
    }

    /// `m`'s expected cost and latency, and why it is left out, if it is.
    pub(super) fn assess(&self, m: &ModelConfig) -> (CandidateInput, Option<Exclusion>) {
        let load = (self.in_flight)(m.provider.index);
        let input = candidate_input(
            self.snap,
            m,
            load,
            self.req,
            self.learned_output,
            self.clock,
        );
        let excluded = health_exclusion(self.snap, m, load.requests, self.clock.now)
            .or_else(|| over_limit(&input, self.req));
        (input, excluded)
    }

    /// The error when every candidate was left out: the request's limits when only they
    /// excluded candidates, unavailability otherwise.
    pub(super) fn nothing_eligible(&self, excluded: Excluded) -> GatewayError {
        match excluded {
            Excluded {
                limits: true,
                health: false,
                backing_off: false,
            } => self.over_limits(),
            // Every candidate is waiting out its provider's own 429: the client gets
            // 429 with the soonest wait, as it would from the provider itself.
            Excluded {
                limits: false,
                health: false,
                backing_off: true,
            } => self.backing_off(),
            _ => self.unavailable(),
        }
    }

    /// Every candidate's provider asked us to wait: 429 with the soonest end.
    fn backing_off(&self) -> GatewayError {
        let GatewayError::Unavailable { retry_after, .. } = self.unavailable() else {
            return self.unavailable();
        };
        GatewayError::Saturated {
            message: format!(
                "every candidate for '{}' is rate limited by its provider; retry after the indicated time",
                self.req.target
            ),
            retry_after: retry_after.map(|d| d.max(std::time::Duration::from_secs(1))),
        }
    }

    /// Names the cheapest and the fastest candidate's expectations against the limits.
    fn over_limits(&self) -> GatewayError {
        let (snap, req) = (self.snap, self.req);
        let inputs: Vec<CandidateInput> = self
            .candidates
            .iter()
            .map(|m| {
                candidate_input(
                    snap,
                    m,
                    Load::default(),
                    req,
                    self.learned_output,
                    self.clock,
                )
            })
            .collect();
        let cheapest = inputs
            .iter()
            .map(|c| c.cost_usd)
            .fold(f64::INFINITY, f64::min);
        let fastest = inputs
            .iter()
            .map(|c| c.slo_latency_ms)
            .fold(f64::INFINITY, f64::min);
        let mut parts = Vec::new();
        if let Some(max) = req.max_cost_usd {
            parts.push(format!(
                "the cheapest candidate is expected to cost ${cheapest:.6} (limit ${} from x-switchyard-max-cost-usd)",
                crate::error::echo_number(max)
            ));
        }
        if let Some(max) = req.max_latency_ms {
            parts.push(format!(
                "the fastest is expected to take {fastest:.0} ms (limit {} ms from x-switchyard-max-latency-ms)",
                crate::error::echo_number(max)
            ));
        }
        GatewayError::InvalidRequest {
            message: format!(
                "no candidate meets the request's limits: {}",
                parts.join("; ")
            ),
            param: None,
            code: Some("no_candidate_within_limits"),
        }
    }

    /// Unavailable, retrying after the earliest rate limit ends (or in a second).
    fn unavailable(&self) -> GatewayError {
        let retry_after = self
            .candidates
            .iter()
            .filter_map(|m| {
                let p = self.snap.providers.get(m.provider.index)?;
                p.rate_limited_until
                    .map(|t| t.saturating_duration_since(self.clock.now))
            })
            .min();
        GatewayError::Unavailable {
            message: format!(
                "every candidate for '{}' is unavailable (circuit open or rate limited); retry shortly",
                self.req.target
            ),
            retry_after: retry_after.or(Some(std::time::Duration::from_secs(1))),
        }
    }
}

/// Why the provider's health leaves `m` out, if it does.
fn health_exclusion(
    snap: &Snapshot,
    m: &ModelConfig,
    in_flight: u32,
    now: Instant,
) -> Option<Exclusion> {
    let p = snap.providers.get(m.provider.index)?;
    match p.circuit {
        CircuitState::Open => return Some(Exclusion::CircuitOpen),
        CircuitState::HalfOpen if in_flight > 0 => return Some(Exclusion::ProbeInFlight),
        _ => {}
    }
    if p.rate_limited_until.is_some_and(|t| t > now) {
        return Some(Exclusion::RateLimited);
    }
    None
}

/// Which of the request's limits `c` breaks, if any.
fn over_limit(c: &CandidateInput, req: &PlanRequest<'_>) -> Option<Exclusion> {
    if req.max_cost_usd.is_some_and(|max| c.cost_usd > max) {
        return Some(Exclusion::OverMaxCost);
    }
    if req.max_latency_ms.is_some_and(|max| c.slo_latency_ms > max) {
        return Some(Exclusion::OverMaxLatency);
    }
    None
}

/// The answer length a request without `max_tokens` is expected to have: the mean
/// of the measured averages of `candidates` (the same for all of them, so the cost
/// comparison stays fair), or `default_output_tokens` before any data.
pub(super) fn learned_output(
    snap: &Snapshot,
    candidates: &[Arc<ModelConfig>],
    default_output_tokens: u64,
) -> f64 {
    let (sum, n) = candidates
        .iter()
        .filter_map(|m| snap.models.get(m.index)?.avg_output_tokens)
        .fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        default_output_tokens as f64
    } else {
        sum / f64::from(n)
    }
}

/// What is known of candidates as of one moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub(super) now: Instant,
    /// `scheduler.max_estimate_age`.
    pub(super) max_age: Duration,
}

/// How much one request in flight counts as evidence: its answer is coming, so the
/// candidate is being measured, but a slow answer must not block re-measuring for long.
pub const IN_FLIGHT_EVIDENCE: f64 = 0.2;
/// Half-lives without an answer after which a candidate's estimates count as faded.
pub const FADED_AFTER_HALF_LIVES: f64 = 2.0;
/// In-flight requests' mean age times this estimates the whole latency (2 would be
/// unbiased for evenly spread starts; less keeps on-time noise from counting).
pub const LATE_FACTOR: f64 = 1.6;
/// Requests in flight needed before their ages count: a busy candidate's, not a few
/// probes' (a probe sent while a provider was slow is still late after it recovered).
pub const MIN_LATE_REQUESTS: u32 = 5;

/// `m`'s expected cost, latency and error rate for `req`, from the decayed estimates
/// (the window's p90 for hard latency limits).
pub(super) fn candidate_input(
    snap: &Snapshot,
    m: &ModelConfig,
    load: Load,
    req: &PlanRequest<'_>,
    learned_output: f64,
    clock: Clock,
) -> CandidateInput {
    let health = snap.models.get(m.index);
    let provider = snap.providers.get(m.provider.index);
    let output_tokens = req.max_output_tokens.map_or(learned_output, f64::from);
    let cost_usd =
        (req.input_tokens as f64 * m.prices.input + output_tokens * m.prices.output) / 1e6;
    let estimate = health.map(|h| &h.estimate);
    let (latency_ms, latency_source) =
        match estimate.and_then(|e| e.latency_at(req.stream, clock.now)) {
            Some((ms, _)) => (ms * lateness(estimate, load), LatencySource::Live),
            // Nothing measured: the prior stands for generation time, the heartbeat
            // round trip adds what the network costs today.
            None => match provider.filter(|p| p.heartbeat.rtt.count > 0) {
                Some(p) => (
                    m.prior_latency_ms + p.heartbeat.rtt.p50,
                    LatencySource::Heartbeat,
                ),
                None => (m.prior_latency_ms, LatencySource::Prior),
            },
        };
    let errors = estimate.and_then(|e| e.errors_at(clock.now));
    let age = estimate
        .and_then(|e| e.last_update())
        .map(|t| clock.now.saturating_duration_since(t));
    CandidateInput {
        cost_usd,
        latency_ms,
        latency_source,
        slo_latency_ms: health
            .and_then(|h| h.live_estimate_ms(req.stream))
            .unwrap_or(latency_ms),
        error_rate: errors.map_or_else(|| provider.map_or(0.0, |p| p.error_rate), |e| e.0),
        half_open: provider.is_some_and(|p| p.circuit == CircuitState::HalfOpen),
        in_flight: load.requests,
        evidence: evidence(estimate, errors, age) + IN_FLIGHT_EVIDENCE * f64::from(load.requests),
        overdue: load.requests == 0 && age.is_none_or(|a| a > clock.max_age),
    }
}

/// The estimates' weight, or none once nothing fed them for [`FADED_AFTER_HALF_LIVES`]:
/// a candidate that carried heavy traffic until it was left would otherwise wait for
/// all that weight to decay before anyone looks at it again.
fn evidence(
    estimate: Option<&crate::providers::estimate::Estimate>,
    errors: Option<(f64, f64)>,
    age: Option<Duration>,
) -> f64 {
    let (Some(e), Some((_, weight)), Some(age)) = (estimate, errors, age) else {
        return 0.0;
    };
    if age > e.half_life.mul_f64(FADED_AFTER_HALF_LIVES) {
        0.0
    } else {
        weight
    }
}

/// How much later than the estimate the requests in flight are running: with requests
/// started evenly over the last latency, their mean age is half of it, so
/// `LATE_FACTOR × mean age` above the estimated whole latency means the provider has
/// slowed, seen before any slow answer is back. 1 when they are on time.
fn lateness(estimate: Option<&crate::providers::estimate::Estimate>, load: Load) -> f64 {
    let Some(whole) = estimate.map(|e| e.latency_ms.mean).filter(|m| *m > 0.0) else {
        return 1.0;
    };
    if load.requests < MIN_LATE_REQUESTS {
        return 1.0;
    }
    let late = LATE_FACTOR * load.age_ms_sum / f64::from(load.requests);
    (late / whole).max(1.0)
}
