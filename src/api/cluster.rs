//! `GET /admin/cluster` (admin token): this replica, the live replicas with their
//! versions and config digests, and the shared-state engine's health. A gateway
//! without `[cluster]` answers `"mode": "embedded"`. Also the changes this replica
//! publishes to the others and applies from them (`state::events`): weights, and a
//! provider's request to wait on one key.

use std::sync::Arc;

use actix::Addr;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::AppState;
use super::admin::authorize;
use crate::config::PartialWeights;
use crate::error::GatewayError;
use crate::providers::Providers;
use crate::scheduler::SchedulerActor;
use crate::scheduler::actor::{Scope, SetWeights};
use crate::state::Redis;
use crate::state::events::{BACKOFF, ClusterEvent, OnEvent, WEIGHTS};

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

/// Applies other replicas' changes to this replica's scheduler and key pools.
pub fn applier(scheduler: Addr<SchedulerActor>, providers: Arc<Providers>) -> OnEvent {
    Box::new(move |event: ClusterEvent| {
        if event.kind == BACKOFF {
            apply_backoff(&providers, &event);
            return;
        }
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

/// Another replica's provider asked it to wait on one key: so does this replica.
fn apply_backoff(providers: &Providers, event: &ClusterEvent) {
    let (Some(fingerprint), Some(wait_ms)) = (&event.name, event.body["wait_ms"].as_u64()) else {
        return;
    };
    let applied = providers.key_pool_named(&event.scope).is_some_and(|pool| {
        pool.back_off_shared(fingerprint, std::time::Duration::from_millis(wait_ms))
    });
    if applied {
        tracing::info!(
            origin = %event.origin,
            provider = %event.scope,
            key = %fingerprint,
            wait_ms,
            "provider asked another replica to wait; this one waits too"
        );
    }
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
