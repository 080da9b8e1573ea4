//! `[scheduler]`: how candidates are scored: the global weights, the share of requests
//! that re-measure a stale candidate, the band within which scores tie, and the output
//! length assumed when nothing better is known.

use super::raw::RawScheduler;
use super::{ConfigError, Weights, invalid, weights};

/// Default `exploration`: one request in twenty notices a recovered candidate soon,
/// and costs little while it is still slow.
pub const DEFAULT_EXPLORATION: f64 = 0.05;
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

/// How candidates are scored.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    pub weights: Weights,
    pub exploration: f64,
    pub tie_band: f64,
    pub default_output_tokens: u64,
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
    })
}
