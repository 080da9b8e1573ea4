//! Why a plan is what it is: the explanation returned with `x-switchyard-explain: 1`
//! and the per-route log of recent decisions behind `GET /admin/decisions`.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use super::score::{CandidateInput, LatencySource, Terms};
use crate::config::ModelConfig;
use crate::config::weights::Weights;

/// Decisions kept per route for `GET /admin/decisions`.
const DECISIONS_KEPT: usize = 32;

/// The ranked candidates with every term of their score.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub route: Option<std::sync::Arc<str>>,
    pub weights: Weights,
    pub input_tokens: u64,
    pub output_tokens_default: u64,
    /// The fixed latency the latency term divides by.
    pub latency_reference_ms: f64,
    pub explored: bool,
    pub candidates: Vec<Explained>,
}

/// One candidate in an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub model: String,
    pub provider: String,
    /// 1-based position in the plan; `None` when excluded.
    pub rank: Option<usize>,
    pub fallback: bool,
    pub expected_cost_usd: f64,
    /// The decayed mean the score uses (time to first token for streams).
    pub expected_latency_ms: f64,
    pub latency_source: LatencySource,
    /// The weight of the estimates plus requests in flight (see `scheduler::explore`).
    pub evidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms: Option<Terms>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<&'static str>,
}

/// An explanation entry for `m`, before its rank and terms are known.
pub(super) fn explain_entry(
    m: &ModelConfig,
    c: &CandidateInput,
    excluded: Option<&'static str>,
    fallback: bool,
) -> Explained {
    Explained {
        model: m.name.to_string(),
        provider: m.provider.name.to_string(),
        rank: None,
        fallback,
        expected_cost_usd: c.cost_usd,
        expected_latency_ms: c.latency_ms,
        latency_source: c.latency_source,
        evidence: c.evidence,
        terms: None,
        excluded,
    }
}

/// A recorded routing decision; models by `ModelConfig::index` (names are looked up
/// when the admin API renders it, so recording allocates one small vector).
#[derive(Debug, Clone)]
pub struct Decision {
    pub at_unix_ms: u64,
    pub chosen: usize,
    pub explored: bool,
    /// `(model index, score)` of up to four scored candidates, best first.
    pub ranked: Vec<(usize, f64)>,
}

/// The last decisions of one route. The mutex guards a push or a copy, never I/O.
#[derive(Debug, Default)]
pub(super) struct DecisionLog(Mutex<VecDeque<Decision>>);

impl DecisionLog {
    /// Records a decision, dropping the oldest beyond `DECISIONS_KEPT`.
    pub(super) fn record(&self, chosen: usize, ranked: Vec<(usize, f64)>, explored: bool) {
        let decision = Decision {
            at_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            chosen,
            explored,
            ranked,
        };
        if let Ok(mut d) = self.0.lock() {
            if d.len() == DECISIONS_KEPT {
                d.pop_front();
            }
            d.push_back(decision);
        }
    }

    /// The kept decisions, newest first.
    pub(super) fn recent(&self) -> Vec<Decision> {
        self.0
            .lock()
            .map(|d| d.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}
