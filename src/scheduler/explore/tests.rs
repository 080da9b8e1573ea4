use super::*;
use crate::config::weights::Weights;
use crate::scheduler::score::{LatencySource, score};

fn cand(cost: f64, latency: f64, evidence: f64) -> CandidateInput {
    CandidateInput {
        cost_usd: cost,
        latency_ms: latency,
        latency_source: LatencySource::Live,
        slo_latency_ms: latency,
        error_rate: 0.0,
        half_open: false,
        in_flight: 0,
        evidence,
        overdue: false,
    }
}

fn scored(inputs: &[CandidateInput], w: Weights) -> Vec<Terms> {
    let mut t = Vec::new();
    score(inputs, &w, 2000.0, &mut t);
    t
}

/// Expected cost of exploring per request, in score units, over evenly spread draws.
fn expected_cost(inputs: &[CandidateInput], terms: &[Terms], budget: f64) -> f64 {
    let n = 200_000;
    let mut cost = 0.0;
    for i in 0..n {
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by(|a, b| terms[*a].total.total_cmp(&terms[*b].total));
        let best = terms[order[0]].total;
        if explore(
            inputs,
            terms,
            &mut order,
            budget,
            (i as f64 + 0.5) / n as f64,
        ) {
            cost += terms[order[0]].total - best;
        }
    }
    cost / n as f64
}

#[test]
fn exploration_never_exceeds_its_budget() {
    let all_price = Weights {
        price: 1.0,
        latency: 0.0,
        errors: 1.0,
    };
    // Fading estimates everywhere: every other candidate is due.
    let inputs = [
        cand(0.0002, 4800.0, 0.3),
        cand(0.0011, 2450.0, 0.1),
        cand(0.0060, 1000.0, 0.2),
    ];
    for (w, budget) in [
        (Weights::default(), 0.02),
        (all_price, 0.02),
        (all_price, 0.1),
    ] {
        let terms = scored(&inputs, w);
        let best = terms.iter().map(|t| t.total).fold(f64::INFINITY, f64::min);
        let spent = expected_cost(&inputs, &terms, budget);
        assert!(
            spent <= budget * best * 1.01, // the draws are a grid
            "spent {spent} of a budget {} under {w:?}",
            budget * best
        );
    }
}

#[test]
fn fresh_candidates_are_not_explored_and_zero_budget_never_explores() {
    let inputs = [cand(0.001, 1000.0, 5.0), cand(0.001, 1100.0, 3.0)];
    let terms = scored(&inputs, Weights::default());
    let mut order = vec![0, 1];
    assert!(!explore(&inputs, &terms, &mut order, 0.02, 0.0));
    let faded = [cand(0.001, 1000.0, 5.0), cand(0.001, 1100.0, 0.0)];
    let terms = scored(&faded, Weights::default());
    assert!(!explore(&faded, &terms, &mut order, 0.0, 0.0));
    assert!(explore(&faded, &terms, &mut order, 0.02, 0.0));
    assert_eq!(order, vec![1, 0]);
}

#[test]
fn an_overdue_candidate_is_probed_at_once_and_a_dear_one_rarely() {
    let all_price = Weights {
        price: 1.0,
        latency: 0.0,
        errors: 1.0,
    };
    let cheap = cand(0.0002, 4800.0, 5.0);
    let dear = cand(0.0060, 1000.0, 0.0);
    let terms = scored(&[cheap, dear], all_price);
    let chance = probe_chance(&dear, &terms[1], terms[0].total, 0.02);
    assert!(
        chance < 0.001,
        "the dearest model costs 30x the best: {chance}"
    );
    // Under even weights the same faded candidate may well be the best: probed at once.
    let terms = scored(&[cheap, dear], Weights::default());
    let best = terms[0].total.min(terms[1].total);
    assert_eq!(probe_chance(&dear, &terms[1], best, 0.02), 1.0);
    let overdue = CandidateInput {
        overdue: true,
        ..dear
    };
    assert_eq!(probe_chance(&overdue, &terms[1], terms[0].total, 0.02), 1.0);
}
