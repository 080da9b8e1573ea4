//! Gateway keys through the admin API: `POST /admin/keys` creates one and returns the
//! plain key exactly once, `GET /admin/keys` lists ids, tenants, tiers and limits
//! (never keys), `DELETE /admin/keys/{id}` revokes. Created keys are stored hashed in
//! the usage database, so they survive restarts; keys from the config file are changed
//! by editing the config.

use actix_web::{HttpRequest, HttpResponse, web};
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::admin::authorize;
use super::auth::{KeySource, KeyView};
use crate::config::usage::is_valid_tenant;
use crate::config::{Limits, key_digest};
use crate::error::GatewayError;
use crate::usage::keys::{KeyWriteError, StoredKey};

/// Random characters in a generated key: 40 alphanumerics carry about 238 bits.
const KEY_RANDOM_CHARS: usize = 40;

/// Registers `/admin/keys`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/keys", web::get().to(list))
        .route("/admin/keys", web::post().to(create))
        .route("/admin/keys/{id}", web::delete().to(revoke));
}

/// `POST /admin/keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    /// Default: a generated `key_…` id.
    id: Option<String>,
    tenant: String,
    /// Default "default".
    tier: Option<String>,
    #[serde(flatten)]
    limits: CreateLimits,
}

/// The limit fields of [`CreateKey`] (flattened, so listed again without deny).
#[derive(Debug, Default, Deserialize)]
struct CreateLimits {
    requests_per_minute: Option<u64>,
    tokens_per_minute: Option<u64>,
    budget_usd_per_day: Option<f64>,
    budget_usd_per_month: Option<f64>,
}

#[derive(Serialize)]
struct Created {
    /// The plain key: shown now and never again.
    key: String,
    #[serde(flatten)]
    view: KeyView,
}

async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "object": "list",
        "data": state.keys.list(),
    })))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let c = parse_create(&body)?;
    let (key, stored) = new_key(&state, c)?;
    let stored = store(&state, stored).await?;
    state.keys.insert(
        stored.sha256,
        &stored.id,
        &stored.tenant,
        &stored.tier,
        stored.limits,
        KeySource::Admin,
    );
    tracing::info!(key_id = %stored.id, tenant = %stored.tenant, "gateway key created");
    Ok(HttpResponse::Created().json(Created {
        key,
        view: KeyView {
            id: stored.id,
            tenant: stored.tenant,
            tier: stored.tier,
            limits: stored.limits,
            source: KeySource::Admin,
        },
    }))
}

/// Parses a `POST /admin/keys` body, rejecting fields it does not know.
fn parse_create(body: &[u8]) -> Result<CreateKey, GatewayError> {
    let c: CreateKey = serde_json::from_slice(body).map_err(|e| GatewayError::InvalidRequest {
        message: format!("invalid key request: {e}; expected {{\"tenant\": \"…\", \"tier\"?, \"id\"?, \"requests_per_minute\"?, \"tokens_per_minute\"?, \"budget_usd_per_day\"?, \"budget_usd_per_month\"?}}"),
        param: None,
        code: None,
    })?;
    // With `flatten`, serde cannot reject unknown fields itself.
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(unknown) = m.keys().find(|k| {
            !matches!(
                k.as_str(),
                "id" | "tenant"
                    | "tier"
                    | "requests_per_minute"
                    | "tokens_per_minute"
                    | "budget_usd_per_day"
                    | "budget_usd_per_month"
            )
        })
    {
        return Err(GatewayError::invalid(
            format!("unknown field '{unknown}'"),
            unknown.clone(),
        ));
    }
    Ok(c)
}

/// Checks a request against the config and the keys in use, fills in the defaults and
/// generates the key: the plain key, and the record that stores it hashed.
fn new_key(state: &AppState, c: CreateKey) -> Result<(String, StoredKey), GatewayError> {
    if !is_valid_tenant(&c.tenant) {
        return Err(GatewayError::invalid(
            "tenant: expected 1 to 64 letters, digits, '-', '_' or '.'",
            "tenant",
        ));
    }
    let tier = c.tier.unwrap_or_else(|| "default".to_owned());
    if tier != "default" && !state.board.load().config.tiers.contains_key(&tier) {
        return Err(GatewayError::invalid(
            format!("no tier named '{tier}'"),
            "tier",
        ));
    }
    let limits = Limits {
        requests_per_minute: c.limits.requests_per_minute,
        tokens_per_minute: c.limits.tokens_per_minute,
        budget_usd_per_day: c.limits.budget_usd_per_day,
        budget_usd_per_month: c.limits.budget_usd_per_month,
    };
    if let Err(e) = limits.validate("body") {
        return Err(GatewayError::invalid(e.to_string(), "body"));
    }
    let id = match c.id {
        Some(id) if is_valid_tenant(&id) => id,
        Some(_) => {
            return Err(GatewayError::invalid(
                "id: expected 1 to 64 letters, digits, '-', '_' or '.'",
                "id",
            ));
        }
        None => format!("key_{}", Alphanumeric.sample_string(&mut rand::rng(), 12)),
    };
    if state.keys.contains_id(&id) {
        return Err(conflict(&id));
    }
    let key = format!(
        "sk-sy-{}",
        Alphanumeric.sample_string(&mut rand::rng(), KEY_RANDOM_CHARS)
    );
    let stored = StoredKey {
        id,
        sha256: key_digest(&key),
        tenant: c.tenant,
        tier,
        limits,
        created_ms: crate::usage::time::now_ms(),
    };
    Ok((key, stored))
}

/// Writes the key to the usage database (on a blocking thread).
async fn store(state: &AppState, stored: StoredKey) -> Result<StoredKey, GatewayError> {
    let usage = state.usage.clone();
    let written = web::block(move || {
        usage
            .with_admin(|conn| crate::usage::keys::insert(conn, &stored))
            .map_err(KeyWriteError::from)
            .and_then(|r| r.map(|()| stored))
    })
    .await
    .map_err(|_| GatewayError::Internal)?;
    match written {
        Ok(s) => Ok(s),
        Err(KeyWriteError::DuplicateId(id)) => Err(conflict(&id)),
        Err(KeyWriteError::Store(e)) => {
            tracing::error!(error = %e, "storing a gateway key failed");
            Err(GatewayError::Internal)
        }
    }
}

async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, GatewayError> {
    authorize(&state, &req)?;
    let id = path.into_inner();
    match state.keys.source_of(&id) {
        None => {
            return Err(GatewayError::NotFound(format!(
                "no gateway key with id '{id}'"
            )));
        }
        Some(KeySource::Config) => {
            return Err(GatewayError::invalid(
                format!(
                    "gateway key '{id}' is defined in the config file; remove it there and reload"
                ),
                "id",
            ));
        }
        Some(KeySource::Admin) => {}
    }
    let usage = state.usage.clone();
    let key_id = id.clone();
    let revoked = web::block(move || {
        usage.with_admin(|conn| {
            crate::usage::keys::revoke(conn, &key_id, crate::usage::time::now_ms())
        })
    })
    .await
    .map_err(|_| GatewayError::Internal)?;
    if let Err(e) | Ok(Err(e)) = revoked {
        tracing::error!(error = %e, "revoking a gateway key failed");
        return Err(GatewayError::Internal);
    }
    state.keys.remove_id(&id);
    tracing::info!(key_id = %id, "gateway key revoked");
    Ok(HttpResponse::Ok().json(serde_json::json!({"id": id, "object": "key", "deleted": true})))
}

fn conflict(id: &str) -> GatewayError {
    GatewayError::invalid(format!("a gateway key with id '{id}' already exists"), "id")
}
