//! `GET /v1/usage` (totals and breakdowns, JSON or CSV) and `GET /v1/usage/records`
//! (raw records, paged). A gateway key sees its own tenant only; the admin token sees
//! every tenant. Queries run on the blocking pool, never on the async workers.

use std::fmt::Write as _;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::bearer_token;
use crate::config::key_digest;
use crate::error::GatewayError;
use crate::usage::query::{Filter, GroupBy, Summary, Totals};
use crate::usage::time::{format_ms, now_ms, parse_instant};

/// Records per page unless `limit` says otherwise.
const DEFAULT_PAGE: usize = 100;
/// Largest page: keeps one answer's JSON around a megabyte.
const MAX_PAGE: usize = 1000;

/// Registers `/v1/usage` and `/v1/usage/records`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/usage", web::get().to(summary))
        .route("/v1/usage/records", web::get().to(records));
}

/// The query string of both endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
    format: Option<String>,
    tenant: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

fn params(req: &HttpRequest) -> Result<Params, GatewayError> {
    web::Query::<Params>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| GatewayError::InvalidRequest {
            message: format!(
                "invalid query string: {e}; known parameters: from, to, group_by, format, tenant, limit, after"
            ),
            param: None,
            code: None,
        })
}

/// Resolves who asks and which tenant's usage they may see.
fn filter(state: &AppState, req: &HttpRequest, p: &Params) -> Result<Filter, GatewayError> {
    let is_admin = match (&state.admin_token(), bearer_token(req)) {
        (Some(admin), Some(given)) => key_digest(given) == key_digest(admin.expose()),
        _ => false,
    };
    let tenant = if is_admin {
        p.tenant.clone()
    } else {
        let caller = state.keys.authenticate(req)?;
        if let Some(asked) = &p.tenant
            && asked.as_str() != &*caller.tenant
        {
            return Err(GatewayError::Forbidden(format!(
                "this key belongs to tenant '{}' and cannot read the usage of tenant '{asked}'",
                caller.tenant
            )));
        }
        Some(caller.tenant.to_string())
    };
    let instant = |name: &'static str, v: &Option<String>, default: i64| match v {
        None => Ok(default),
        Some(v) => parse_instant(v).ok_or_else(|| {
            GatewayError::invalid(
                format!(
                    "invalid {name} '{v}': expected RFC 3339 (2025-06-01T00:00:00Z) or Unix seconds"
                ),
                name,
            )
        }),
    };
    let from_ms = instant("from", &p.from, 0)?;
    let to_ms = instant("to", &p.to, now_ms() + 1)?;
    if to_ms < from_ms {
        return Err(GatewayError::invalid("`to` is before `from`", "to"));
    }
    Ok(Filter {
        from_ms,
        to_ms,
        tenant,
    })
}

#[derive(Serialize)]
struct SummaryBody<'a> {
    object: &'static str,
    from: String,
    to: String,
    tenant: Option<&'a str>,
    group_by: Option<&'static str>,
    totals: &'a Totals,
    data: &'a [crate::usage::query::Group],
}

async fn summary(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    let p = params(&req)?;
    let filter = filter(&state, &req, &p)?;
    let group_by = match p.group_by.as_deref() {
        None | Some("") => None,
        Some(g) => Some(GroupBy::parse(g).ok_or_else(|| {
            GatewayError::invalid(
                format!("invalid group_by '{g}': expected tenant, key, model, provider, route, day or hour"),
                "group_by",
            )
        })?),
    };
    let csv = match p.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(GatewayError::invalid(
                format!("invalid format '{other}': expected json or csv"),
                "format",
            ));
        }
        None => req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };
    let usage = state.usage.clone();
    let f = filter.clone();
    let result: Summary = web::block(move || usage.readers().summary(&f, group_by))
        .await
        .map_err(|_| GatewayError::Internal)?
        .map_err(query_failed)?;
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(to_csv(group_by, &result)));
    }
    Ok(HttpResponse::Ok().json(SummaryBody {
        object: "usage",
        from: format_ms(filter.from_ms),
        to: format_ms(filter.to_ms),
        tenant: filter.tenant.as_deref(),
        group_by: group_by.map(GroupBy::as_str),
        totals: &result.totals,
        data: &result.groups,
    }))
}

async fn records(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    let p = params(&req)?;
    let filter = filter(&state, &req, &p)?;
    let limit = match p.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(GatewayError::invalid(
                    format!("invalid limit '{v}': expected 1 to {MAX_PAGE}"),
                    "limit",
                ));
            }
        },
    };
    let after = match p.after.as_deref() {
        None => 0,
        Some(v) => v.parse::<i64>().map_err(|_| {
            GatewayError::invalid(
                format!("invalid after '{v}': pass the next_after of the previous page"),
                "after",
            )
        })?,
    };
    let usage = state.usage.clone();
    let page = web::block(move || usage.readers().records(&filter, after, limit))
        .await
        .map_err(|_| GatewayError::Internal)?
        .map_err(query_failed)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "object": "list",
        "data": page.data,
        "next_after": page.next_after,
    })))
}

fn query_failed(e: crate::usage::UsageError) -> GatewayError {
    tracing::error!(error = %e, "usage query failed");
    GatewayError::Internal
}

/// One row per group (or one `total` row), totals' fields as columns.
fn to_csv(group_by: Option<GroupBy>, s: &Summary) -> String {
    let mut out = format!(
        "{},requests,errors,estimated,cache_hits,prompt_tokens,completion_tokens,cached_tokens,cache_write_tokens,reasoning_tokens,total_tokens,cost_usd,saving_usd\n",
        group_by.map_or("group", GroupBy::as_str)
    );
    let mut row = |name: &str, t: &Totals| {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{:.6},{:.6}",
            csv_cell(name),
            t.requests,
            t.errors,
            t.estimated,
            t.cache_hits,
            t.prompt_tokens,
            t.completion_tokens,
            t.cached_tokens,
            t.cache_write_tokens,
            t.reasoning_tokens,
            t.total_tokens,
            t.cost_usd,
            t.saving_usd
        );
    };
    if group_by.is_some() {
        for g in &s.groups {
            row(&g.group, &g.totals);
        }
    } else {
        row("total", &s.totals);
    }
    out
}

/// Quotes a cell when it needs it (RFC 4180), and defuses spreadsheet formulas.
fn csv_cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}
