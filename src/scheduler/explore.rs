//! Exploration: which candidate, if any, leads a plan to be re-measured instead of the
//! best one. A candidate is **due** when its estimates have faded (their decayed weight
//! plus its requests in flight is below [`DUE_EVIDENCE`]) or are older than
//! `scheduler.max_estimate_age_ms`. A due candidate is probed with the chance that keeps
//! the expected cost of probing within `scheduler.exploration` of the best score:
//! `exploration × best / gap`, where the gap is how much worse it scores than the
//! best on its last estimate. Once nothing is left of its estimates (no answer for two
//! half-lives, nothing in flight) only its price is known, and the gap is its price
//! term's: a candidate that may well have recovered is re-measured at once unless its
//! price alone rules it out, so a dear one is probed rarely when price counts. An
//! overdue one is probed at once, so no estimate grows older than the bound. The
//! budget is thus kept on what the planner knows; on candidates it knows nothing of
//! it spends what their price allows.

use super::score::{CandidateInput, Terms};

/// Evidence below which a candidate's estimates count as faded.
pub const DUE_EVIDENCE: f64 = 0.5;

/// Whether `c` should be re-measured.
fn due(c: &CandidateInput) -> bool {
    c.evidence < DUE_EVIDENCE || c.overdue
}

/// The chance of probing `c` (scored `t`) on one request when the best scores `best`.
pub fn probe_chance(c: &CandidateInput, t: &Terms, best: f64, budget: f64) -> f64 {
    if c.overdue {
        return 1.0;
    }
    // Nothing left of its estimates (and nothing in flight): only its price is known,
    // so only its price can make it look worse than the best.
    let gap = if c.evidence <= 0.0 {
        t.price + t.penalty - best
    } else {
        t.total - best
    };
    if gap <= 0.0 {
        1.0
    } else {
        (budget * best.max(1e-9) / gap).min(1.0)
    }
}

/// With `draw` (uniform in 0..1), moves a due candidate to the front of `order`
/// (positions into `inputs` and `terms`, best first); true when it did. Each due
/// candidate gets its chance divided by how many are due, so the whole stays within
/// one budget.
pub fn explore(
    inputs: &[CandidateInput],
    terms: &[Terms],
    order: &mut [usize],
    budget: f64,
    draw: f64,
) -> bool {
    if order.len() < 2 || budget <= 0.0 {
        return false;
    }
    let best = terms[order[0]].total;
    let n_due = order[1..].iter().filter(|&&k| due(&inputs[k])).count();
    if n_due == 0 {
        return false;
    }
    let mut cum = 0.0;
    for pos in 1..order.len() {
        let k = order[pos];
        if !due(&inputs[k]) {
            continue;
        }
        cum += probe_chance(&inputs[k], &terms[k], best, budget) / n_due as f64;
        if draw < cum {
            order[..=pos].rotate_right(1);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
