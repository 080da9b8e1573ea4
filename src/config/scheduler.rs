//! `[scheduler]`: how candidates are scored: the global weights, the share of the
//! objective spent re-measuring faded estimates and the oldest an estimate may grow,
//! the band within which scores tie, the fixed latency reference, and the output
//! length assumed when nothing better is known.

use super::raw::RawScheduler;
use super::{ConfigError, Weights, invalid, weights};

/// Default `exploration`: 2 % of the objective may go to re-measuring candidates whose
/// estimates faded; in steady state the probes cost well under 1 %, because a
/// candidate is only probed once its estimate has lost its weight.
pub const DEFAULT_EXPLORATION: f64 = 0.02;
/// Largest `exploration`: past half, re-measuring would outweigh the scores.
pub const MAX_EXPLORATION: f64 = 0.5;
/// Default `tie_band`: score differences this small are noise, and spreading such
/// ties keeps traffic from piling onto one provider.
pub const DEFAULT_TIE_BAND: f64 = 0.02;
/// Largest `tie_band`: at 1 every candidate ties with the best.
pub const MAX_TIE_BAND: f64 = 1.0;
/// Default `default_output_tokens`: about a short chat answer, for requests without
/// `max_tokens` to a model whose answers are not measured yet.
pub const DEFAULT_OUTPUT_TOKENS: u64 = 256;
/// Default `latency_reference_ms`: a latency of two seconds weighs as much as the
/// dearest candidate's price; fixed, so that one candidate slowing down does not make
/// the others' latencies count for less.
pub const DEFAULT_LATENCY_REFERENCE_MS: u64 = 2_000;
/// Default `max_estimate_age_ms`: every candidate is measured at least twice a minute.
pub const DEFAULT_MAX_ESTIMATE_AGE_MS: u64 = 30_000;

/// How candidates are scored.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    pub weights: Weights,
    pub exploration: f64,
    pub tie_band: f64,
    pub default_output_tokens: u64,
    pub latency_reference_ms: f64,
    pub max_estimate_age: std::time::Duration,
}

/// Checks `[scheduler]`.
pub(super) fn validate(s: &RawScheduler) -> Result<SchedulerConfig, ConfigError> {
    let partial = weights::validate_at("scheduler", s.weights)?;
    let exploration = s.exploration.unwrap_or(DEFAULT_EXPLORATION);
    if !(0.0..=MAX_EXPLORATION).contains(&exploration) {
        return Err(invalid(
            "scheduler.exploration",
            "expected a share from 0 to 0.5",
        ));
    }
    let tie_band = s.tie_band.unwrap_or(DEFAULT_TIE_BAND);
    if !(0.0..=MAX_TIE_BAND).contains(&tie_band) {
        return Err(invalid(
            "scheduler.tie_band",
            "expected a number from 0 to 1",
        ));
    }
    Ok(SchedulerConfig {
        weights: partial.apply(Weights::default()),
        exploration,
        tie_band,
        default_output_tokens: s.default_output_tokens.unwrap_or(DEFAULT_OUTPUT_TOKENS),
        latency_reference_ms: super::positive(
            "scheduler",
            "latency_reference_ms",
            s.latency_reference_ms,
            DEFAULT_LATENCY_REFERENCE_MS,
        )? as f64,
        max_estimate_age: std::time::Duration::from_millis(super::positive(
            "scheduler",
            "max_estimate_age_ms",
            s.max_estimate_age_ms,
            DEFAULT_MAX_ESTIMATE_AGE_MS,
        )?),
    })
}
