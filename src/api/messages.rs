//! Anthropic's Messages API: `POST /v1/messages` through the shared request flow
//! (`super::chat::serve`), so the same scheduler, failover, limits, cache and usage
//! records apply, and `POST /v1/messages/count_tokens`, the gateway's estimate.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::chat;
use crate::error::GatewayError;
use crate::inbound::Api;
use crate::inbound::messages;

/// Says that `count_tokens` answers with an estimate, not a provider's tokenizer.
pub const TOKEN_COUNT_HEADER: &str = "x-switchyard-token-count";

/// `POST /v1/messages`.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    chat::serve(&state, &req, payload, Api::Messages).await
}

#[derive(Serialize)]
struct TokenCount {
    input_tokens: u64,
}

/// `POST /v1/messages/count_tokens`: the prompt-token estimate the gateway itself
/// routes and admits by (`ChatRequest::prompt_tokens_estimate`), marked as one.
pub async fn count_tokens(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match count(&state, &req, payload).await {
        Ok(input_tokens) => HttpResponse::Ok()
            .insert_header((TOKEN_COUNT_HEADER, "estimate"))
            .json(TokenCount { input_tokens }),
        Err(e) => super::edge::error_response(&e, Api::Messages),
    }
}

async fn count(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<u64, GatewayError> {
    state.keys.authenticate_api_key(req)?;
    chat::check_content_type(req)?;
    let limits = chat::BodyLimits::of(&state.board.load().config);
    let body = chat::read_body(req, payload, &limits).await?;
    let chat = messages::read(&body, false)?;
    Ok(chat.prompt_tokens_estimate())
}

/// Any other path under `/v1/messages/` (batches are not offered), in Anthropic's
/// error shape.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    messages::error::response(&GatewayError::NotFound(format!(
        "unknown request URL: {} {}; the gateway offers /v1/messages and /v1/messages/count_tokens",
        req.method(),
        crate::error::echo(req.path())
    )))
}

/// Any other method on the Messages endpoints, in Anthropic's error shape.
pub async fn method_not_allowed() -> HttpResponse {
    messages::error::response(&GatewayError::MethodNotAllowed)
}
