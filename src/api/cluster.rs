//! `GET /admin/cluster` (admin token): this replica, the live replicas with their
//! versions and config digests, and the shared-state engine's health. A gateway
//! without `[cluster]` answers `"mode": "embedded"`. Also the admin changes this
//! replica publishes to the others and applies from them (`state::events`).

use std::sync::Arc;

use actix::Addr;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::AppState;
use super::admin::authorize;
use crate::config::PartialWeights;
use crate::error::GatewayError;
use crate::scheduler::SchedulerActor;
use crate::scheduler::actor::{Scope, SetWeights};
use crate::state::Redis;
use crate::state::events::{ClusterEvent, OnEvent};

/// The `kind` of a weights change.
const WEIGHTS: &str = "weights";

/// Tells every other replica about a weights change this one applied.
pub fn publish_weights(redis: &Arc<Redis>, scope: &Scope, weights: &PartialWeights) {
    let (scope, name) = match scope {
        Scope::Global => ("global", None),
        Scope::Route(r) => ("route", Some(r.clone())),
        Scope::Tier(t) => ("tier", Some(t.clone())),
    };
    redis.publish(ClusterEvent {
        origin: redis.me().replica_id.clone(),
        kind: WEIGHTS.to_owned(),
        scope: scope.to_owned(),
        name,
        body: serde_json::to_value(weights).unwrap_or_default(),
    });
}

/// Applies other replicas' changes to this replica's scheduler.
pub fn applier(scheduler: Addr<SchedulerActor>) -> OnEvent {
    Box::new(move |event: ClusterEvent| {
        if event.kind != WEIGHTS {
            return;
        }
        let scope = match (event.scope.as_str(), event.name) {
            ("global", _) => Scope::Global,
            ("route", Some(r)) => Scope::Route(r),
            ("tier", Some(t)) => Scope::Tier(t),
            _ => return,
        };
        let Ok(weights) = serde_json::from_value::<PartialWeights>(event.body) else {
            return;
        };
        tracing::info!(origin = %event.origin, ?scope, "weights changed by another replica");
        scheduler.do_send(SetWeights { scope, weights });
    })
}

/// Registers `/admin/cluster`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/cluster", web::get().to(cluster));
}

async fn cluster(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let config = state.config();
    let Some(redis) = &state.cluster else {
        return Ok(HttpResponse::Ok().json(json!({
            "mode": "embedded",
            "config_digest": config.digest,
            "engines": {},
            "replicas": [],
        })));
    };
    let (replicas, error) = match redis.replicas().await {
        Ok(r) => (r, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Ok(HttpResponse::Ok().json(json!({
        "mode": "cluster",
        "replica_id": redis.me().replica_id,
        "version": redis.me().version,
        "config_digest": config.digest,
        "engines": {
            "redis": {
                "up": redis.is_up(),
                "error": error,
                "fallback": if redis.is_up() { None } else { Some("local share of every limit") },
            }
        },
        "replicas": replicas,
    })))
}
