//! What differs between the client APIs on the shared request flow (`super::chat`):
//! how the key is sent, how the body reads into the canonical request, and how an
//! answer and an error are written. Everything between them is the same for every
//! API. A streamed answer's encoder is chosen by the cache from the request's
//! [`Api`] (`crate::cache::client`).

use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::AppState;
use crate::canonical::request::parse_request;
use crate::canonical::{ChatRequest, ChatResponse, ids};
use crate::error::GatewayError;
use crate::inbound::Api;
use crate::inbound::messages::{self, response::MessageBody};
use crate::usage::Caller;

/// A typical answer fits: the buffer is not regrown while it is written.
const ANSWER_BYTES_HINT: usize = 1024;

/// The caller: a bearer key for Chat Completions, `x-api-key` (or a bearer key) for
/// Anthropic's API.
pub fn authenticate(state: &AppState, req: &HttpRequest, api: Api) -> Result<Caller, GatewayError> {
    match api {
        Api::ChatCompletions => state.keys.authenticate(req),
        Api::Messages => state.keys.authenticate_api_key(req),
    }
}

/// The body as the canonical request, checked.
pub fn parse(body: &[u8], api: Api) -> Result<ChatRequest, GatewayError> {
    match api {
        Api::ChatCompletions => {
            let chat = parse_request(body)?;
            chat.validate()?;
            Ok(chat)
        }
        Api::Messages => messages::read(body, true),
    }
}

/// A complete answer's JSON body: a `chat.completion` or an Anthropic `message`.
pub fn answer_body(r: &ChatResponse, api: Api) -> Result<Vec<u8>, GatewayError> {
    let mut bytes = Vec::with_capacity(ANSWER_BYTES_HINT);
    let written = match api {
        Api::ChatCompletions => serde_json::to_writer(&mut bytes, r),
        Api::Messages => {
            let id = ids::message_id();
            serde_json::to_writer(
                &mut bytes,
                &MessageBody {
                    id: &id,
                    response: r,
                },
            )
        }
    };
    written.map_err(|_| GatewayError::Internal)?;
    Ok(bytes)
}

/// The error answer in the API's shape.
pub fn error_response(e: &GatewayError, api: Api) -> HttpResponse {
    let mut resp = match api {
        Api::ChatCompletions => e.error_response(),
        Api::Messages => messages::error::response(e),
    };
    // A stalled body is a client error the client did not make in what it sent.
    if let GatewayError::InvalidRequest {
        code: Some(super::chat::BODY_TIMEOUT_CODE),
        ..
    } = e
    {
        *resp.status_mut() = actix_web::http::StatusCode::REQUEST_TIMEOUT;
    }
    resp
}
