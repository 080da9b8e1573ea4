//! Gauges sampled once per [`SAMPLE_INTERVAL`] instead of updated per request: each
//! route candidate's score (the planner's scoring of a typical request, not any real
//! request's), providers' in-flight counts and circuit states, and the share of each
//! tenant's USD budgets spent. One small task per
//! gateway reads the scheduler's published snapshot and the providers' live counters;
//! nothing on the request path waits for it. The same task folds histogram samples
//! into their buckets ([`crate::metrics::run_upkeep`]), so that they do not pile up
//! between scrapes.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::MissedTickBehavior;

use super::Snapshot;
use crate::providers::Providers;
use crate::usage::Accounting;
use crate::usage::quota::Clock;

/// How often the sampled gauges are refreshed: below any sensible scrape interval
/// (Prometheus defaults to 15 s, the CI check scrapes every second), and cheap — one
/// scoring pass over the routes' candidates, a few dozen gauge sets.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the sampling task on the current actix system; it ends with the system.
pub fn spawn(board: Arc<ArcSwap<Snapshot>>, providers: Arc<Providers>, usage: Arc<Accounting>) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            sample(&board.load(), &providers);
            for (tenant, period, used) in usage.quotas().tenant_budget_use(Clock::now()) {
                crate::metrics::record_budget_used(&tenant, period, used);
            }
            crate::metrics::run_upkeep();
        }
    });
}

/// Sets every sampled gauge once.
pub fn sample(snap: &Snapshot, providers: &Providers) {
    for (route, m, score) in snap.planner.route_scores(snap) {
        crate::metrics::record_candidate_score(route, &m.provider.name, &m.name, score);
    }
    for p in &snap.config.providers {
        crate::metrics::record_in_flight(&p.name, providers.in_flight(p.index));
        if let Some(h) = snap.providers.get(p.index) {
            crate::metrics::record_circuit(&p.name, h.circuit.as_gauge());
        }
    }
}
