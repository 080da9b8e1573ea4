//! The objective every policy is judged by: the scheduler's own documented score with a
//! fixed latency reference, evaluated on the market's true state:
//!
//! ```text
//! J = w_price × cost / max cost over the candidates
//!   + w_latency × latency / LATENCY_REFERENCE_MS
//!   + w_errors × P(attempt fails)
//! ```
//!
//! Cost and latency are expectations given what is known when the request arrives: its
//! prompt, whether it streams (latency is the time to first token then, the whole
//! answer otherwise) and the phase's mean answer length; the oracle knows the true
//! state of every provider, not the length of this answer. Counterfactual policies are
//! scored on the same requests.

use switchyard::config::weights::Weights;

use super::market::{self, Phase};

/// The fixed latency reference, ms: the scheduler's default
/// (`scheduler.latency_reference_ms`), about the steady-state optimum's whole answer.
pub const LATENCY_REFERENCE_MS: f64 =
    switchyard::config::scheduler::DEFAULT_LATENCY_REFERENCE_MS as f64;

/// What the objective knows about a request.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub prompt_tokens: f64,
    pub stream: bool,
    /// The phase's mean answer length.
    pub mean_output: f64,
}

/// J of sending `ask` to each candidate during `phase`.
pub fn all(phase: &Phase, ask: Ask, weights: &Weights) -> [f64; 4] {
    let prices = market::prices(phase);
    let cost = |i: usize| {
        let (input, output) = prices[i];
        (ask.prompt_tokens * input + ask.mean_output * output) / 1e6
    };
    let max_cost = (0..4).map(cost).fold(0.0, f64::max);
    let mut out = [0.0; 4];
    for (i, j) in out.iter_mut().enumerate() {
        let t = &phase.truth[i];
        let latency = if ask.stream {
            t.ttft(ask.prompt_tokens)
        } else {
            t.latency(ask.prompt_tokens, ask.mean_output)
        };
        *j = weights.price * cost(i) / max_cost
            + weights.latency * latency / LATENCY_REFERENCE_MS
            + weights.errors * t.p_fail();
    }
    out
}

/// J of a request nobody was chosen for (the planner refused it).
pub fn refused(weights: &Weights) -> f64 {
    weights.errors
}

/// The counterfactual picks for one request: oracle, round-robin, static cheapest,
/// static fastest.
pub fn counterfactuals(j: &[f64; 4], seq: usize) -> [usize; 4] {
    let oracle = (0..4).min_by(|a, b| j[*a].total_cmp(&j[*b])).unwrap_or(0);
    [oracle, seq % 4, market::CHEAPEST, market::FASTEST]
}

/// The policies' names, in the order of [`counterfactuals`].
pub const POLICIES: [&str; 4] = ["oracle", "round_robin", "static_cheapest", "static_fastest"];
