//! `POST /v1/chat/completions`: authenticate, read and parse the body, plan, dispatch,
//! answer (JSON or SSE) with the `x-switchyard-*` headers.

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::AppState;
use super::headers;
use crate::canonical::request::parse_request;
use crate::dispatch::{Failed, Outcome};
use crate::error::GatewayError;

/// The chat completions handler.
pub async fn completions(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match handle(&state, &req, payload).await {
        Ok(resp) => resp,
        Err(Failed { error, attempts }) => {
            let mut resp = error.error_response();
            if attempts > 0 {
                resp.headers_mut().insert(
                    actix_web::http::header::HeaderName::from_static(headers::ATTEMPTS),
                    attempts.into(),
                );
            }
            resp
        }
    }
}

fn early(error: GatewayError) -> Failed {
    Failed { error, attempts: 0 }
}

async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Failed> {
    let _caller = state.keys.authenticate(req).map_err(early)?;
    check_content_type(req).map_err(early)?;
    let body = read_body(req, payload, state.max_body_bytes)
        .await
        .map_err(early)?;
    let chat = parse_request(&body).map_err(early)?;
    chat.validate().map_err(early)?;
    let target = req
        .headers()
        .get(headers::ROUTE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(&chat.model);
    let plan = state.router.plan(target).map_err(early)?;
    let (outcome, answered) = state.dispatcher.run(&chat, &plan).await?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header((headers::PROVIDER, answered.model.provider.name.as_str()))
        .insert_header((headers::MODEL, answered.model.name.as_str()))
        .insert_header((headers::ATTEMPTS, answered.attempts));
    Ok(match outcome {
        Outcome::Complete(r) => {
            let bytes = serde_json::to_vec(&r).map_err(|_| early(GatewayError::Internal))?;
            resp.content_type("application/json").body(bytes)
        }
        Outcome::Stream(relay) => resp
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .streaming(relay.into_sse()),
    })
}

/// JSON only; a missing content type is read as JSON (curl without -H), anything else is 415.
fn check_content_type(req: &HttpRequest) -> Result<(), GatewayError> {
    match req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(()),
        Some(ct) => {
            let mime = ct.split(';').next().unwrap_or("").trim();
            if mime.eq_ignore_ascii_case("application/json") {
                Ok(())
            } else {
                Err(GatewayError::UnsupportedMediaType(mime.to_owned()))
            }
        }
    }
}

/// Reads the body, refusing (early, by Content-Length when given) anything over `limit`.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<BytesMut, GatewayError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::PayloadTooLarge(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| GatewayError::InvalidRequest {
            message: "the request body could not be read".to_owned(),
            param: None,
            code: None,
        })?;
        if body.len() + chunk.len() > limit {
            return Err(GatewayError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
