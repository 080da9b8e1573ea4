//! actix-web handlers: the OpenAI-compatible API, Anthropic's Messages API, health, and
//! the JSON 404/405 answers.
//! Shared request state lives in [`AppState`].

pub mod admin;
pub mod auth;
pub mod chat;
pub mod cluster;
mod edge;
pub mod headers;
pub mod keys;
pub mod messages;
pub mod middleware;
pub mod models;
pub mod usage;

use std::sync::Arc;

use actix::Addr;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use arc_swap::ArcSwap;

use crate::config::{Config, MetricsAccess, Secret, key_digest};
use crate::dispatch::Dispatcher;
use crate::error::GatewayError;
use crate::scheduler::{SchedulerActor, Snapshot};
use auth::KeyStore;

/// What every handler reads. Everything here is immutable or lock-free; what a
/// config reload replaces is either in the scheduler's snapshot (config, planner,
/// weights) or behind an `ArcSwap` of its own (dispatch policy, cache modes, tenant
/// limits, key pools, gateway keys).
pub struct AppState {
    /// The scheduler's latest published snapshot, with the running config and planner.
    pub board: Arc<ArcSwap<Snapshot>>,
    pub scheduler: Addr<SchedulerActor>,
    pub dispatcher: Dispatcher,
    /// Single-flight table and response cache in front of the dispatcher.
    pub cache: crate::cache::Cache,
    pub keys: KeyStore,
    /// Usage ledger, quotas and budgets.
    pub usage: Arc<crate::usage::Accounting>,
    /// `POST /admin/reload`: where the config came from, one reload at a time.
    pub reloader: crate::reload::Reloader,
    /// With `[cluster]`: the shared-state engine (`/admin/cluster`).
    pub cluster: Option<Arc<crate::state::Redis>>,
}

impl AppState {
    /// The running config (its latest reload).
    pub fn config(&self) -> Arc<Config> {
        self.board.load().config.clone()
    }

    /// The parts a config reload swaps the new config into.
    pub fn live(&self) -> crate::reload::Live<'_> {
        crate::reload::Live {
            board: &self.board,
            scheduler: &self.scheduler,
            dispatcher: &self.dispatcher,
            cache: &self.cache,
            usage: &self.usage,
            keys: &self.keys,
        }
    }

    /// The admin token of the running config.
    pub fn admin_token(&self) -> Option<Secret> {
        self.board.load().config.admin_token.clone()
    }
}

/// Registers every route but `/metrics` ([`configure_metrics`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/chat/completions")
            .route(web::post().to(chat::completions))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/messages")
            .route(web::post().to(messages::create))
            .default_service(web::to(messages::method_not_allowed)),
    )
    .service(
        web::resource("/v1/messages/count_tokens")
            .route(web::post().to(messages::count_tokens))
            .default_service(web::to(messages::method_not_allowed)),
    )
    .service(web::resource("/v1/messages/{tail:.*}").to(messages::not_found))
    .service(
        web::resource("/v1/models")
            .route(web::get().to(models::list))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/models/{id:.*}")
            .route(web::get().to(models::retrieve))
            .default_service(web::to(method_not_allowed)),
    )
    .configure(admin::configure)
    .configure(cluster::configure)
    .configure(keys::configure)
    .configure(usage::configure)
    .service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(not_found));
}

/// Registers `GET /metrics` (on the main listener, or alone on `server.metrics_listen`).
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(web::to(method_not_allowed)),
    );
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /metrics`; with `server.metrics_token`, only for requests that carry it (the
/// text names tenants and key fingerprints).
async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = authorize_metrics(&state.config().metrics_access, &req) {
        return e.error_response();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render())
}

/// Checks `/metrics`' bearer token (compared as SHA-256 digests, as the admin token).
fn authorize_metrics(access: &MetricsAccess, req: &HttpRequest) -> Result<(), GatewayError> {
    let expected = match access {
        MetricsAccess::Open => return Ok(()),
        MetricsAccess::Token(token) => token,
        MetricsAccess::Closed => {
            return Err(GatewayError::Unauthorized(
                "metrics are disabled: the metrics token's environment variable is not set"
                    .to_owned(),
            ));
        }
    };
    let given = auth::bearer_token(req).ok_or_else(|| {
        GatewayError::Unauthorized(
            "missing metrics token: send Authorization: Bearer <metrics token>".to_owned(),
        )
    })?;
    if key_digest(given) == key_digest(expected.expose()) {
        Ok(())
    } else {
        Err(GatewayError::Unauthorized(
            "incorrect metrics token".to_owned(),
        ))
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    GatewayError::NotFound(format!(
        "unknown request URL: {} {}; see the README for the endpoints",
        req.method(),
        req.path()
    ))
    .error_response()
}

async fn method_not_allowed() -> HttpResponse {
    GatewayError::MethodNotAllowed.error_response()
}
