//! Gauges sampled once per [`PUBLISH_INTERVAL`] instead of updated per request: each
//! route candidate's score (the planner's scoring of a typical request, not any real
//! request's), providers' in-flight counts and circuit states. One small task per
//! gateway reads the scheduler's published snapshot and the providers' live counters;
//! nothing on the request path waits for it. The same task folds histogram samples
//! into their buckets ([`super::run_upkeep`]), so that they do not pile up between
//! scrapes.

use std::time::Duration;

use actix_web::web;
use metrics::gauge;
use tokio::time::MissedTickBehavior;

use crate::api::AppState;

/// How often the sampled gauges are refreshed: below any sensible scrape interval
/// (Prometheus defaults to 15 s, the CI check scrapes every second), and cheap — one
/// scoring pass over the routes' candidates, a few dozen gauge sets.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the sampling task on the current actix system; it ends with the system.
pub fn spawn(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(PUBLISH_INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            publish(&state);
            super::run_upkeep();
        }
    });
}

/// Sets every sampled gauge once.
pub fn publish(state: &AppState) {
    let snap = state.board.load();
    for (route, m, score) in snap.planner.route_scores(&snap) {
        gauge!(
            "switchyard_candidate_score",
            "route" => route.to_owned(),
            "provider" => m.provider.name.clone(),
            "model" => m.name.clone(),
        )
        .set(score);
    }
    let live = state.dispatcher.providers();
    for p in &snap.config.providers {
        gauge!("switchyard_in_flight_requests", "provider" => p.name.clone())
            .set(f64::from(live.in_flight(p.index)));
        if let Some(h) = snap.providers.get(p.index) {
            gauge!("switchyard_circuit_state", "provider" => p.name.clone())
                .set(h.circuit.as_gauge());
        }
    }
}
