//! `GET /v1/models` and `GET /v1/models/{id}`: the routes, models and `provider/model`
//! pins clients may name as `model`; in Anthropic's shape (and with its key header and
//! errors) when the request carries `anthropic-version`, as the Anthropic SDKs send.

use std::borrow::Cow;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::AppState;
use crate::error::GatewayError;
use crate::inbound::messages;
use crate::scheduler::Planner;

/// The header every Anthropic client sends.
const ANTHROPIC_VERSION: &str = "anthropic-version";

/// `created_at` of every entry in Anthropic's shape: the gateway knows no release dates.
const CREATED_AT: &str = "1970-01-01T00:00:00Z";

/// A model in Anthropic's shape.
#[derive(Serialize)]
struct AnthropicModel<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: &'static str,
}

impl<'a> From<&'a ModelObject<'a>> for AnthropicModel<'a> {
    fn from(m: &'a ModelObject<'a>) -> Self {
        Self {
            kind: "model",
            id: &m.id,
            display_name: &m.id,
            created_at: CREATED_AT,
        }
    }
}

/// Anthropic's page of models: everything on one page.
#[derive(Serialize)]
struct AnthropicList<'a> {
    data: Vec<AnthropicModel<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

fn is_anthropic(req: &HttpRequest) -> bool {
    req.headers().contains_key(ANTHROPIC_VERSION)
}

#[derive(Serialize)]
struct ModelObject<'a> {
    id: Cow<'a, str>,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelObject<'a>>,
}

fn entries(planner: &Planner) -> Vec<ModelObject<'_>> {
    let mut data: Vec<ModelObject<'_>> = planner
        .route_names()
        .iter()
        .map(|r| ModelObject {
            id: Cow::Borrowed(r),
            object: "model",
            created: 0,
            owned_by: "switchyard",
        })
        .collect();
    let mut offers: Vec<_> = planner.offers().collect();
    offers.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.provider.name.cmp(&b.provider.name))
    });
    // Each model name once (the scheduler picks among the providers offering it)...
    let mut names = offers.clone();
    names.dedup_by(|a, b| a.name == b.name);
    data.extend(names.into_iter().map(|m| ModelObject {
        id: Cow::Borrowed(&m.name),
        object: "model",
        created: 0,
        owned_by: &m.provider.name,
    }));
    // ...then every offer as `provider/model`, which pins the provider.
    data.extend(offers.into_iter().map(|m| ModelObject {
        id: Cow::Owned(format!("{}/{}", m.provider.name, m.name)),
        object: "model",
        created: 0,
        owned_by: &m.provider.name,
    }));
    data
}

/// Lists routes, then models, then `provider/model` pins.
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if !is_anthropic(&req) {
        return match state.keys.authenticate(&req) {
            Ok(_) => {
                let snap = state.board.load();
                HttpResponse::Ok().json(ModelList {
                    object: "list",
                    data: entries(&snap.planner),
                })
            }
            Err(e) => actix_web::ResponseError::error_response(&e),
        };
    }
    if let Err(e) = state.keys.authenticate_api_key(&req) {
        return messages::error::response(&e);
    }
    let snap = state.board.load();
    let entries = entries(&snap.planner);
    let data: Vec<AnthropicModel<'_>> = entries.iter().map(AnthropicModel::from).collect();
    HttpResponse::Ok().json(AnthropicList {
        first_id: data.first().map(|m| m.id),
        last_id: data.last().map(|m| m.id),
        has_more: false,
        data,
    })
}

/// One model or route by id.
pub async fn retrieve(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let anthropic = is_anthropic(&req);
    let auth = if anthropic {
        state.keys.authenticate_api_key(&req)
    } else {
        state.keys.authenticate(&req)
    };
    let snap = state.board.load();
    let entries = entries(&snap.planner);
    let found = auth.and_then(|_| {
        entries
            .iter()
            .find(|m| m.id == id.as_str())
            .ok_or_else(|| GatewayError::ModelNotFound(id.to_string()))
    });
    match (found, anthropic) {
        (Ok(m), false) => HttpResponse::Ok().json(m),
        (Ok(m), true) => HttpResponse::Ok().json(AnthropicModel::from(m)),
        (Err(e), false) => actix_web::ResponseError::error_response(&e),
        (Err(e), true) => messages::error::response(&e),
    }
}
