//! Scoring: pure arithmetic over one request's candidates. Lower is better.
//!
//! Each eligible candidate gets
//!
//! ```text
//! score = w_price   * cost / max_cost        (expected USD, normalised over the candidates)
//!       + w_latency * latency / reference    (decayed mean ms, floored at 50, fixed reference)
//!       + w_errors  * error_rate             (decayed, 0..1)
//!       + penalty                            (0.25 half-open)
//! ```
//!
//! The price term is normalised by the dearest candidate, the latency term by a fixed
//! reference (`scheduler.latency_reference_ms`), so that one candidate slowing down
//! does not make every other latency count for less; with price 0.7 and latency 0.3, a
//! candidate at half the cost of another gains 0.35 on it, one a reference faster 0.3.
//! Load is not a term: queueing shows in the decayed latency within a half-life.
//! docs/scheduling.md works an example through.

use serde::Serialize;

use crate::config::weights::Weights;

/// Latencies below this many milliseconds count as equal: differences of a few
/// milliseconds are noise next to LLM generation times, and normalising them would
/// turn 2 ms vs 3 ms into a 33 % gap.
pub const LATENCY_FLOOR_MS: f64 = 50.0;

/// Penalty of a half-open circuit: it may probe, but healthy peers go first.
pub const HALF_OPEN_PENALTY: f64 = 0.25;

/// Where a latency estimate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencySource {
    /// The decayed mean of measured requests (time to first token for streams).
    Live,
    /// No recent requests: the heartbeat round trip.
    Heartbeat,
    /// Nothing measured yet: the model's configured prior.
    Prior,
}

/// What the scorer knows about one candidate.
#[derive(Debug, Clone, Copy)]
pub struct CandidateInput {
    pub cost_usd: f64,
    /// The expected latency the score uses (a mean).
    pub latency_ms: f64,
    pub latency_source: LatencySource,
    /// The latency hard limits are checked against: the window's p90 when measured.
    pub slo_latency_ms: f64,
    pub error_rate: f64,
    pub half_open: bool,
    pub in_flight: u32,
    /// How much is known: the estimates' decayed weight, plus a share per request in
    /// flight (whose answer is about to add to it).
    pub evidence: f64,
    /// Nothing measured within `scheduler.max_estimate_age_ms`, nothing in flight.
    pub overdue: bool,
}

/// The terms of one candidate's score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Terms {
    pub price: f64,
    pub latency: f64,
    pub errors: f64,
    pub penalty: f64,
    pub total: f64,
}

/// Scores every input into `out` (same order); `reference_ms` is the latency that
/// weighs as much as the dearest candidate's price.
pub fn score(inputs: &[CandidateInput], w: &Weights, reference_ms: f64, out: &mut Vec<Terms>) {
    out.clear();
    let max_cost = inputs.iter().map(|c| c.cost_usd).fold(0.0, f64::max);
    let reference = reference_ms.max(LATENCY_FLOOR_MS);
    for c in inputs {
        let price = w.price * ratio(c.cost_usd, max_cost);
        let latency = w.latency * c.latency_ms.max(LATENCY_FLOOR_MS) / reference;
        let errors = w.errors * c.error_rate.clamp(0.0, 1.0);
        let penalty = if c.half_open { HALF_OPEN_PENALTY } else { 0.0 };
        out.push(Terms {
            price,
            latency,
            errors,
            penalty,
            total: price + latency + errors + penalty,
        });
    }
}

fn ratio(v: f64, max: f64) -> f64 {
    if max > 0.0 { v / max } else { 0.0 }
}

/// Orders candidate indices best first. Candidates within `tie_band` of the best are
/// a tie: `pick` (a uniform draw in 0..1) chooses which of them leads, so equal
/// candidates share traffic instead of one taking it all.
pub fn rank(terms: &[Terms], tie_band: f64, pick: f64, order: &mut Vec<usize>) {
    order.clear();
    order.extend(0..terms.len());
    order.sort_by(|a, b| terms[*a].total.total_cmp(&terms[*b].total));
    let Some(&best) = order.first() else { return };
    let best_total = terms[best].total;
    let tied = order
        .iter()
        .take_while(|i| terms[**i].total <= best_total + tie_band)
        .count();
    if tied > 1 {
        let chosen = ((pick.clamp(0.0, 0.999_999) * tied as f64) as usize).min(tied - 1);
        order[..tied].rotate_left(chosen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(cost: f64, latency: f64) -> CandidateInput {
        CandidateInput {
            cost_usd: cost,
            latency_ms: latency,
            latency_source: LatencySource::Live,
            slo_latency_ms: latency,
            error_rate: 0.0,
            half_open: false,
            in_flight: 0,
            evidence: 10.0,
            overdue: false,
        }
    }

    fn best(inputs: &[CandidateInput], w: Weights) -> usize {
        let mut t = Vec::new();
        score(inputs, &w, 1000.0, &mut t);
        let mut o = Vec::new();
        rank(&t, 0.0, 0.0, &mut o);
        o[0]
    }

    #[test]
    fn price_weight_picks_cheap_latency_weight_picks_fast() {
        let c = [cand(0.001, 2000.0), cand(0.010, 200.0)];
        let w = |p, l| Weights {
            price: p,
            latency: l,
            errors: 1.0,
        };
        assert_eq!(best(&c, w(1.0, 0.0)), 0);
        assert_eq!(best(&c, w(0.0, 1.0)), 1);
    }

    #[test]
    fn worked_example_from_the_docs() {
        let c = [cand(0.00019, 1200.0), cand(0.0025, 400.0)];
        let mut t = Vec::new();
        score(
            &c,
            &Weights {
                price: 0.7,
                latency: 0.3,
                errors: 1.0,
            },
            2000.0,
            &mut t,
        );
        assert!((t[0].total - (0.7 * 0.076 + 0.3 * 0.6)).abs() < 1e-9);
        assert!((t[1].total - (0.7 * 1.0 + 0.3 * 0.2)).abs() < 1e-9);
    }

    #[test]
    fn errors_and_half_open_push_a_candidate_down() {
        let mut bad = cand(0.001, 100.0);
        bad.error_rate = 0.6;
        let c = [bad, cand(0.002, 200.0)];
        assert_eq!(best(&c, Weights::default()), 1);
        let mut probing = cand(0.001, 100.0);
        probing.half_open = true;
        assert_eq!(best(&[probing, cand(0.0011, 110.0)], Weights::default()), 1);
    }

    #[test]
    fn score_is_monotone_in_cost_and_latency() {
        let w = Weights::default();
        let mut t = Vec::new();
        for step in 1..50 {
            let x = step as f64;
            score(
                &[cand(0.01, 500.0), cand(0.01 + x * 0.001, 500.0 + x)],
                &w,
                2000.0,
                &mut t,
            );
            assert!(t[1].total >= t[0].total);
        }
    }

    #[test]
    fn ties_are_spread_by_the_pick() {
        let t = [
            Terms {
                price: 0.0,
                latency: 0.0,
                errors: 0.0,
                penalty: 0.0,
                total: 0.50,
            },
            Terms {
                price: 0.0,
                latency: 0.0,
                errors: 0.0,
                penalty: 0.0,
                total: 0.51,
            },
            Terms {
                price: 0.0,
                latency: 0.0,
                errors: 0.0,
                penalty: 0.0,
                total: 0.90,
            },
        ];
        let mut o = Vec::new();
        rank(&t, 0.02, 0.0, &mut o);
        assert_eq!(o, vec![0, 1, 2]);
        rank(&t, 0.02, 0.9, &mut o);
        assert_eq!(o, vec![1, 0, 2]);
    }
}
