//! actix-web handlers: the OpenAI-compatible API, health, and the JSON 404/405 answers.
//! Shared request state lives in [`AppState`].

pub mod auth;
pub mod chat;
pub mod headers;
pub mod models;

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::config::Secret;
use crate::dispatch::Dispatcher;
use crate::error::GatewayError;
use crate::scheduler::Router;
use auth::KeyStore;

/// What every handler reads. Immutable after start-up.
pub struct AppState {
    pub router: Router,
    pub dispatcher: Dispatcher,
    pub keys: KeyStore,
    pub admin_token: Option<Secret>,
    pub max_body_bytes: usize,
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/chat/completions")
            .route(web::post().to(chat::completions))
            .default_service(web::to(method_not_allowed)),
    )
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
    .service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(not_found));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
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
