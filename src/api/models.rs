//! `GET /v1/models` and `GET /v1/models/{id}`: the routes, models and `provider/model`
//! pins clients may name as `model`.

use std::borrow::Cow;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::AppState;
use crate::error::GatewayError;
use crate::scheduler::Planner;

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
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, GatewayError> {
    state.keys.authenticate(&req)?;
    let snap = state.board.load();
    Ok(HttpResponse::Ok().json(ModelList {
        object: "list",
        data: entries(&snap.planner),
    }))
}

/// One model or route by id.
pub async fn retrieve(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, GatewayError> {
    state.keys.authenticate(&req)?;
    let snap = state.board.load();
    let entries = entries(&snap.planner);
    let found = entries
        .into_iter()
        .find(|m| m.id == id.as_str())
        .ok_or_else(|| GatewayError::ModelNotFound(id.to_string()))?;
    Ok(HttpResponse::Ok().json(found))
}
