//! The admin API (`Authorization: Bearer <admin token>`): live provider health and
//! scores, weights at runtime, routes and tiers, recent routing decisions, and a crash
//! hook that stops a provider actor so its supervisor's restart can be exercised, and
//! `POST /admin/reload-keys`, which re-reads provider keys from their env/file sources,
//! and `POST /admin/reload`, which reloads the whole config file ([`crate::reload`]).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::bearer_token;
use crate::config::weights::PartialWeights;
use crate::config::{ConfigError, key_digest};
use crate::error::GatewayError;
use crate::providers::actor::Crash;
use crate::reload::ReloadError;
use crate::scheduler::actor::{Scope, SetWeights};

/// Registers `/admin/*`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/providers", web::get().to(providers))
        .route("/admin/providers/{name}/crash", web::post().to(crash))
        .route("/admin/weights", web::get().to(get_weights))
        .route("/admin/weights", web::put().to(put_weights))
        .route("/admin/routes", web::get().to(routes))
        .route("/admin/decisions", web::get().to(decisions))
        .route("/admin/reload-keys", web::post().to(reload_keys))
        .route("/admin/reload", web::post().to(reload))
        .route("/admin/cache", web::get().to(cache));
}

/// Checks the admin token (compared as SHA-256 digests, so in constant time with
/// respect to the token's content).
pub(crate) fn authorize(state: &AppState, req: &HttpRequest) -> Result<(), GatewayError> {
    let Some(expected) = state.admin_token() else {
        return Err(GatewayError::Unauthorized(
            "the admin API is disabled: no admin token is configured".to_owned(),
        ));
    };
    let given = bearer_token(req).ok_or_else(|| {
        GatewayError::Unauthorized(
            "missing admin token: send Authorization: Bearer <admin token>".to_owned(),
        )
    })?;
    if key_digest(given) == key_digest(expected.expose()) {
        Ok(())
    } else {
        Err(GatewayError::Unauthorized(
            "incorrect admin token".to_owned(),
        ))
    }
}

#[derive(Serialize)]
struct ModelView<'a> {
    name: &'a str,
    upstream: &'a str,
    latency_ms: crate::providers::window::Percentiles,
    ttft_ms: crate::providers::window::Percentiles,
    latency_5m_ms: crate::providers::window::Percentiles,
    ok: u64,
    errors: u64,
    error_rate: f64,
    expected_cost_usd: f64,
    expected_latency_ms: f64,
    latency_source: crate::scheduler::score::LatencySource,
    /// The score under the global weights for a 1000-token prompt (lower is better).
    score: crate::scheduler::score::Terms,
}

#[derive(Serialize)]
struct ProviderView<'a> {
    name: &'a str,
    kind: &'static str,
    #[serde(flatten)]
    health: &'a crate::providers::health::ProviderHealth,
    in_flight: u32,
    rate_limited_for_ms: u64,
    models: Vec<ModelView<'a>>,
}

async fn providers(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let snap = state.board.load();
    let scores = snap.planner.global_scores(&snap, &snap.config.models);
    let now = tokio::time::Instant::now();
    let data: Vec<ProviderView<'_>> = snap
        .config
        .providers
        .iter()
        .filter_map(|p| {
            let health = snap.providers.get(p.index)?;
            let models = snap
                .config
                .models
                .iter()
                .zip(&scores)
                .filter(|(m, _)| m.provider.index == p.index)
                .filter_map(|(m, (terms, input))| {
                    let h = snap.models.get(m.index)?;
                    Some(ModelView {
                        name: &m.name,
                        upstream: &m.upstream,
                        latency_ms: h.latency,
                        ttft_ms: h.ttft,
                        latency_5m_ms: h.latency_long,
                        ok: h.ok,
                        errors: h.errors,
                        error_rate: h.error_rate,
                        expected_cost_usd: input.cost_usd,
                        expected_latency_ms: input.latency_ms,
                        latency_source: input.latency_source,
                        score: *terms,
                    })
                })
                .collect();
            Some(ProviderView {
                name: &p.name,
                kind: p.kind.as_str(),
                health,
                in_flight: state.dispatcher.providers().in_flight(p.index),
                rate_limited_for_ms: health
                    .rate_limited_until
                    .map_or(0, |t| t.saturating_duration_since(now).as_millis() as u64),
                models,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "object": "list",
        "weights": snap.weights.global,
        "data": data,
    })))
}

async fn crash(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let config = state.config();
    let p = config
        .providers
        .iter()
        .find(|p| *p.name == **name)
        .ok_or_else(|| GatewayError::NotFound(format!("no provider named '{name}'")))?;
    if let Some(h) = state.dispatcher.providers().get(p.index) {
        h.addr.do_send(Crash);
    }
    Ok(HttpResponse::Accepted().json(serde_json::json!({"provider": p.name, "crashed": true})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeQuery {
    route: Option<String>,
    tier: Option<String>,
}

impl ScopeQuery {
    fn scope(&self) -> Result<Scope, GatewayError> {
        match (&self.route, &self.tier) {
            (None, None) => Ok(Scope::Global),
            (Some(r), None) => Ok(Scope::Route(r.clone())),
            (None, Some(t)) => Ok(Scope::Tier(t.clone())),
            (Some(_), Some(_)) => Err(GatewayError::invalid(
                "give either ?route= or ?tier=, not both",
                "route",
            )),
        }
    }
}

fn scope_query(req: &HttpRequest) -> Result<Scope, GatewayError> {
    web::Query::<ScopeQuery>::from_query(req.query_string())
        .map_err(|e| GatewayError::invalid(format!("invalid query: {e}"), "query"))?
        .scope()
}

async fn get_weights(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let scope = scope_query(&req)?;
    let snap = state.board.load();
    let table = &snap.weights;
    let body = match scope {
        Scope::Global => serde_json::to_value(table).map_err(|_| GatewayError::Internal)?,
        Scope::Route(r) => {
            if !table.routes.contains_key(&r) {
                return Err(GatewayError::NotFound(format!("no route named '{r}'")));
            }
            serde_json::json!({"route": r, "weights": table.resolve("", Some(&r), &PartialWeights::default())})
        }
        Scope::Tier(t) => {
            if !table.tiers.contains_key(&t) {
                return Err(GatewayError::NotFound(format!("no tier named '{t}'")));
            }
            serde_json::json!({"tier": t, "weights": table.resolve(&t, None, &PartialWeights::default())})
        }
    };
    Ok(HttpResponse::Ok().json(body))
}

async fn put_weights(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let scope = scope_query(&req)?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let weights: PartialWeights = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        let param = if path == "." {
            "weights".to_owned()
        } else {
            path
        };
        GatewayError::invalid(format!("invalid weights: {msg}"), param)
    })?;
    if weights.is_empty() {
        return Err(GatewayError::invalid(
            "give at least one of price, latency, errors",
            "weights",
        ));
    }
    let effective = state
        .scheduler
        .send(SetWeights {
            scope: scope.clone(),
            weights,
        })
        .await
        .map_err(|_| GatewayError::Internal)?
        .map_err(|e| GatewayError::invalid(e.message, e.field))?;
    let (key, name) = match &scope {
        Scope::Global => ("scope", "global".to_owned()),
        Scope::Route(r) => ("route", r.clone()),
        Scope::Tier(t) => ("tier", t.clone()),
    };
    tracing::info!(scope = key, name = %name, ?effective, "weights changed");
    if let Some(redis) = &state.cluster {
        super::cluster::publish_weights(redis, &scope, &weights);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ key: name, "weights": effective })))
}

/// `GET /admin/cache`: this gateway's response cache (entries, bytes, bound, evictions).
async fn cache(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    Ok(HttpResponse::Ok().json(state.cache.stats()))
}

async fn routes(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let c = state.config();
    let routes: serde_json::Map<String, serde_json::Value> = c
        .routes
        .iter()
        .map(|(name, r)| {
            (
                name.clone(),
                serde_json::json!({"candidates": r.candidates, "fallbacks": r.fallbacks, "weights": r.weights}),
            )
        })
        .collect();
    let tiers: serde_json::Map<String, serde_json::Value> = c
        .tiers
        .iter()
        .map(|(name, t)| {
            (
                name.clone(),
                serde_json::json!({"routes": t.routes, "fallbacks": t.fallbacks, "weights": t.weights}),
            )
        })
        .collect();
    let rules: Vec<serde_json::Value> = c
        .route_rules
        .iter()
        .map(|r| serde_json::json!({"route": r.route, "min_prompt_tokens": r.min_prompt_tokens, "tools": r.tools, "task": r.task}))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "default_route": "auto",
        "routes": routes,
        "route_rules": rules,
        "tiers": tiers,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionQuery {
    route: Option<String>,
}

async fn decisions(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let q = web::Query::<DecisionQuery>::from_query(req.query_string())
        .map_err(|e| GatewayError::invalid(format!("invalid query: {e}"), "route"))?;
    let snap = state.board.load();
    let name_of = |i: usize| {
        snap.config
            .models
            .get(i)
            .map_or_else(String::new, |m| format!("{}/{}", m.provider.name, m.name))
    };
    let routes: Vec<&String> = match &q.route {
        Some(r) => vec![r],
        None => snap.planner.route_names().iter().collect(),
    };
    let mut out = serde_json::Map::new();
    for r in routes {
        let list = snap
            .planner
            .decisions(r)
            .ok_or_else(|| GatewayError::NotFound(format!("no route named '{r}'")))?;
        let rendered: Vec<serde_json::Value> = list
            .iter()
            .map(|d| {
                serde_json::json!({
                    "at_unix_ms": d.at_unix_ms,
                    "chosen": name_of(d.chosen),
                    "explored": d.explored,
                    "ranked": d.ranked.iter().map(|(i, s)| serde_json::json!({"model": name_of(*i), "score": s})).collect::<Vec<_>>(),
                })
            })
            .collect();
        out.insert(r.clone(), serde_json::Value::Array(rendered));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "decisions": out })))
}

/// `POST /admin/reload-keys`: re-reads every provider's keys (the same as SIGHUP).
async fn reload_keys(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let loaded = state
        .dispatcher
        .providers()
        .reload_keys(&state.config())
        .map_err(|e| GatewayError::InvalidRequest {
            message: format!("keys not reloaded: {e}"),
            param: None,
            code: Some("reload_failed"),
        })?;
    let providers: serde_json::Map<String, serde_json::Value> = loaded
        .into_iter()
        .map(|(name, n)| (name, serde_json::json!({ "keys": n })))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "providers": providers })))
}

/// `POST /admin/reload`: re-reads, checks and applies the config file (see
/// [`crate::reload`]). 200 lists what changed; 400 names the invalid field; 409 lists
/// the changes that need a restart. Nothing changes unless the answer is 200.
async fn reload(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let done = state
        .reloader
        .reload(state.live())
        .await
        .map_err(|e| match e {
            ReloadError::NoFile => GatewayError::InvalidRequest {
                message: e.to_string(),
                param: None,
                code: Some("reload_unavailable"),
            },
            ReloadError::Invalid(ConfigError::Invalid { ref path, .. }) => {
                GatewayError::InvalidRequest {
                    param: Some(path.clone()),
                    message: e.to_string(),
                    code: Some("invalid_config"),
                }
            }
            ReloadError::Invalid(ConfigError::Read { .. }) => GatewayError::InvalidRequest {
                message: e.to_string(),
                param: None,
                code: Some("invalid_config"),
            },
            ReloadError::RestartRequired(_) => GatewayError::Conflict {
                message: e.to_string(),
                code: "restart_required",
            },
            ReloadError::InProgress => GatewayError::Conflict {
                message: e.to_string(),
                code: "reload_in_progress",
            },
            ReloadError::Internal => GatewayError::Internal,
        })?;
    let provider_keys: serde_json::Map<String, serde_json::Value> = done
        .provider_keys
        .into_iter()
        .map(|(name, n)| (name, serde_json::json!({ "keys": n })))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "reloaded": true,
        "changed": done.changed,
        // Weights set through `PUT /admin/weights` do not survive a reload.
        "weights": "reset_to_file",
        "providers": provider_keys,
        "warnings": done.warnings,
    })))
}
