//! `POST /v1/chat/completions`: authenticate, read and parse the body, plan, dispatch,
//! answer (JSON or SSE) with the `x-switchyard-*` headers. `POST /v1/messages`
//! (`super::messages`) takes the same flow, [`serve`]; what differs between the two
//! client APIs (auth header, body, answer and error shapes) is in `super::edge`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderName};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::AppState;
use super::edge;
use super::headers;
use crate::cache::{self, Reply, Served};
use crate::canonical::ChatRequest;
use crate::canonical::params::AskedParams;
use crate::config::UnsupportedParams;
use crate::config::weights::PartialWeights;
use crate::dispatch::Failed;
use crate::error::{GatewayError, echo};
use crate::inbound::Api;
use crate::scheduler::explain::Explanation;
use crate::scheduler::plan::Plan;
use crate::scheduler::{Draws, PlanRequest};
use crate::usage::Ticket;

/// The chat completions handler.
pub async fn completions(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    serve(&state, &req, payload, Api::ChatCompletions).await
}

/// One chat request of client API `api`, from authentication to the answer.
pub(super) async fn serve(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    api: Api,
) -> HttpResponse {
    let mut route = None;
    let caller = match edge::authenticate(state, req, api) {
        Ok(c) => c,
        Err(e) => {
            let resp = edge::error_response(&e, api);
            record_request(&resp, None, api);
            return resp;
        }
    };
    let request_id = req
        .extensions()
        .get::<crate::api::middleware::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    // Finished exactly once: below on failure, by the cache or the stream relay on an
    // answer, or by its Drop if the client hangs up.
    let mut ticket = Some(state.usage.ticket(&caller, request_id));
    if let Some(t) = ticket.as_mut() {
        t.set_api(api.as_str());
    }
    let result = match state.usage.admit(&caller) {
        Ok(()) => {
            let request = Request {
                req,
                api,
                caller: &caller,
            };
            handle(state, request, payload, &mut ticket, &mut route).await
        }
        Err(e) => Err(early(e)),
    };
    let resp = match result {
        Ok(resp) => resp,
        Err(Failed { error, attempts }) => {
            let mut resp = edge::error_response(&error, api);
            if let Some(t) = ticket.take() {
                t.failed(resp.status().as_u16(), attempts);
            }
            if attempts > 0 {
                resp.headers_mut()
                    .insert(headers::name::ATTEMPTS, attempts.into());
            }
            resp
        }
    };
    record_request(&resp, route.as_deref(), api);
    resp
}

/// Counts the answer under the provider and model its headers name.
fn record_request(resp: &HttpResponse, route: Option<&str>, api: Api) {
    let header = |name: &actix_web::http::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(crate::metrics::NONE)
    };
    crate::metrics::record_request(
        header(&headers::name::PROVIDER),
        header(&headers::name::MODEL),
        route,
        api.as_str(),
        resp.status().as_u16(),
    );
}

/// Who sent a request, and in which client API.
struct Request<'a> {
    req: &'a HttpRequest,
    api: Api,
    caller: &'a crate::usage::Caller,
}

fn early(error: GatewayError) -> Failed {
    Failed { error, attempts: 0 }
}

async fn handle(
    state: &AppState,
    request: Request<'_>,
    payload: web::Payload,
    ticket: &mut Option<Ticket>,
    route: &mut Option<Arc<str>>,
) -> Result<HttpResponse, Failed> {
    let Request { req, api, caller } = request;
    let chat = read_chat(state, req, payload, api).await.map_err(early)?;
    let hints = Hints::from_request(req).map_err(early)?;
    let prompt_tokens = chat.prompt_tokens_estimate();
    let mut plan = plan(state, caller, &chat, &hints, prompt_tokens).map_err(early)?;
    let asked = AskedParams::of(&chat);
    keep_capable(state, &mut plan, &asked).map_err(early)?;
    if let Some(t) = ticket.as_mut() {
        t.set_route(plan.route.as_deref());
    }
    route.clone_from(&plan.route);
    let call = cache::Call {
        caller,
        api,
        candidates: &plan.candidates,
        route: plan.route.as_deref(),
        route_header: hints.route,
        directive: crate::api::headers::cache_directive(req.headers()),
        ticket,
        prompt_tokens,
        timeout: hints.timeout_ms.map(|ms| Duration::from_millis(ms as u64)),
        latency_budget: hints
            .max_latency_ms
            .map(|ms| Duration::from_millis(ms as u64)),
        chat,
    };
    let reply = state.cache.serve(&state.dispatcher, call).await?;
    if reply.outcome.went_upstream() && reply.answered.attempts > 1 {
        crate::metrics::record_failover(plan.route.as_deref());
    }
    respond(
        reply,
        plan.explanation.as_ref(),
        &caller.tenant,
        api,
        &asked,
    )
    .map_err(early)
}

/// The request body, checked and parsed into the canonical request.
pub(super) async fn read_chat(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    api: Api,
) -> Result<ChatRequest, GatewayError> {
    check_content_type(req)?;
    let limits = BodyLimits::of(&state.board.load().config);
    let body = read_body(req, payload, &limits).await?;
    edge::parse(&body, api)
}

/// The scheduler's plan for `chat` under the caller's tier and the request's hints.
fn plan(
    state: &AppState,
    caller: &crate::usage::Caller,
    chat: &ChatRequest,
    hints: &Hints<'_>,
    prompt_tokens: u64,
) -> Result<Plan, GatewayError> {
    let plan_req = PlanRequest {
        target: hints.route.unwrap_or(&chat.model),
        tier: &caller.tier,
        task: hints.task,
        weights: hints.weights,
        max_cost_usd: hints.max_cost_usd,
        max_latency_ms: hints.max_latency_ms,
        input_tokens: prompt_tokens,
        max_output_tokens: chat.max_output_tokens(),
        has_tools: chat.tools.as_ref().is_some_and(|t| !t.is_empty()),
        stream: chat.stream,
        explain: hints.explain,
    };
    let snapshot = state.board.load();
    let providers = state.dispatcher.providers();
    let now = tokio::time::Instant::now();
    snapshot.planner.plan_at(
        &snapshot,
        |p| providers.load(p, now),
        &plan_req,
        Draws::random(),
        now,
    )
}

/// Under a route with `unsupported_params = "reject"`, keeps the candidates whose
/// provider takes every optional parameter the request set; with none left, a 400
/// `unsupported_parameter` naming what the first candidate lacks.
fn keep_capable(
    state: &AppState,
    plan: &mut Plan,
    asked: &AskedParams,
) -> Result<(), GatewayError> {
    if asked.is_empty() {
        return Ok(());
    }
    let Some(route) = plan.route.as_deref() else {
        return Ok(());
    };
    let rejects = state
        .board
        .load()
        .config
        .routes
        .get(route)
        .is_some_and(|r| r.unsupported_params == UnsupportedParams::Reject);
    if !rejects {
        return Ok(());
    }
    let lacking = plan.candidates.first().and_then(|m| {
        asked
            .dropped_by(m.provider.kind.adapter().accepts())
            .first()
            .map(|p| (*p).to_owned())
    });
    plan.candidates.retain(|m| {
        asked
            .dropped_by(m.provider.kind.adapter().accepts())
            .is_empty()
    });
    match (plan.candidates.is_empty(), lacking) {
        (true, Some(param)) => Err(GatewayError::InvalidRequest {
            message: format!(
                "unsupported parameter '{}': no candidate of route '{}' takes it, and the \
                 route rejects what it cannot forward",
                echo(&param),
                echo(route)
            ),
            param: Some(param),
            code: Some("unsupported_parameter"),
        }),
        _ => Ok(()),
    }
}

/// The answer with the `x-switchyard-*` headers: JSON, or the SSE stream.
fn respond(
    reply: Reply,
    explanation: Option<&Explanation>,
    tenant: &str,
    api: Api,
    asked: &AskedParams,
) -> Result<HttpResponse, GatewayError> {
    let Reply {
        served,
        answered,
        outcome: cached,
    } = reply;
    let mut resp = HttpResponse::Ok();
    // `from_static` names: a `&str` name is parsed into a fresh allocation per header.
    resp.insert_header((headers::name::PROVIDER, &*answered.model.provider.name))
        .insert_header((headers::name::MODEL, &*answered.model.name))
        .insert_header((headers::name::ATTEMPTS, answered.attempts))
        .insert_header((headers::name::CACHE, cached.as_str()));
    if let Some(dropped) = asked.dropped(answered.model.provider.kind.adapter().accepts()) {
        resp.insert_header((
            headers::name::DROPPED_PARAMS,
            headers::dropped_params(&dropped),
        ));
    }
    if let Some(explanation) = explanation
        && let Ok(json) = serde_json::to_string(explanation)
    {
        resp.insert_header((headers::name::EXPLAIN, json));
    }
    Ok(match served {
        Served::Complete(r) => {
            if cached.went_upstream() {
                crate::metrics::record_usage(&answered.model, tenant, &r.usage);
            }
            resp.content_type("application/json")
                .body(edge::answer_body(&r, api)?)
        }
        Served::Stream(sse) => resp
            .content_type("text/event-stream")
            .insert_header((CACHE_CONTROL, "no-cache"))
            .streaming(sse),
    })
}

/// Routing hints from request headers (DESIGN.md "Names").
struct Hints<'a> {
    route: Option<&'a str>,
    task: Option<&'a str>,
    weights: PartialWeights,
    max_cost_usd: Option<f64>,
    max_latency_ms: Option<f64>,
    timeout_ms: Option<f64>,
    explain: bool,
}

impl<'a> Hints<'a> {
    fn from_request(req: &'a HttpRequest) -> Result<Self, GatewayError> {
        use headers::name;
        let get = |name: &HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
        let weights = match get(&name::WEIGHTS) {
            None => PartialWeights::default(),
            Some(v) => PartialWeights::parse_header(v).map_err(|e| {
                GatewayError::invalid(
                    format!("invalid {} header: {e}", headers::WEIGHTS),
                    headers::WEIGHTS,
                )
            })?,
        };
        // Bad values are echoed shortened (`crate::error::echo`), never whole.
        let number = |key: &HeaderName| headers::number(req.headers(), key);
        Ok(Self {
            route: get(&name::ROUTE).filter(|r| !r.is_empty()),
            task: get(&name::TASK),
            weights,
            max_cost_usd: number(&name::MAX_COST)?,
            max_latency_ms: number(&name::MAX_LATENCY)?,
            timeout_ms: number(&name::TIMEOUT)?.filter(|ms| *ms > 0.0),
            explain: get(&name::EXPLAIN).is_some_and(|v| matches!(v.trim(), "1" | "true")),
        })
    }
}

/// JSON only; a missing content type is read as JSON (curl without -H), anything else is 415.
pub(super) fn check_content_type(req: &HttpRequest) -> Result<(), GatewayError> {
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

/// What a request body may cost: `[server]` `max_body_bytes` and the body timeouts.
pub(super) struct BodyLimits {
    max_bytes: usize,
    /// The longest wait for the next chunk.
    read_timeout: Duration,
    /// The longest the whole body may take.
    total_timeout: Duration,
}

impl BodyLimits {
    /// The limits of the running `config`.
    pub(super) fn of(config: &crate::config::Config) -> Self {
        Self {
            max_bytes: config.max_body_bytes,
            read_timeout: config.body_read_timeout,
            total_timeout: config.body_total_timeout,
        }
    }
}

/// The `code` of the 408 a stalled body is answered with.
pub const BODY_TIMEOUT_CODE: &str = "request_timeout";

/// A body that stopped arriving: 408 (`edge::error_response` sets the status). The connection closes after the
/// answer, since the rest of its body was never read.
fn body_timeout(limits: &BodyLimits, total: bool) -> GatewayError {
    let message = if total {
        format!(
            "the request body was not received within {} ms",
            limits.total_timeout.as_millis()
        )
    } else {
        format!(
            "the request body stalled: no data for {} ms",
            limits.read_timeout.as_millis()
        )
    };
    GatewayError::InvalidRequest {
        message,
        param: None,
        code: Some(BODY_TIMEOUT_CODE),
    }
}

/// Reads the body, refusing (early, by Content-Length when given) anything over the
/// size limit, and a body whose next chunk or whole takes longer than its timeouts.
pub(super) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limits: &BodyLimits,
) -> Result<BytesMut, GatewayError> {
    let limit = limits.max_bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::PayloadTooLarge(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    let deadline = tokio::time::Instant::now() + limits.total_timeout;
    loop {
        let next = tokio::time::timeout(limits.read_timeout, payload.next());
        let chunk = match tokio::time::timeout_at(deadline, next).await {
            Err(_) => return Err(body_timeout(limits, true)),
            Ok(Err(_)) => return Err(body_timeout(limits, false)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
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
