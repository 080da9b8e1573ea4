//! The middleware every request passes through: it assigns the request id (the
//! client's `x-request-id` when usable), echoes it on the answer, and writes the
//! access log line.

use std::future::Future;
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage};

use crate::api::headers;
use crate::canonical::ids;
use crate::logging::access::AccessEntry;

/// The request id of the request being served (a request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// For `App::wrap_fn`: tags the request with its [`RequestId`], serves it, then logs
/// the access line and sets `x-request-id` on the answer.
pub fn request_id_and_access_log<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    let id = incoming_request_id(&req).unwrap_or_else(ids::request_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let started = Instant::now();
    let method = req.method().clone();
    // A `Uri` clone shares its bytes: no copy of the path per request.
    let uri = req.uri().clone();
    let fut = srv.call(req);
    async move {
        let mut res = fut.await?;
        let h = res.headers();
        let get = |name: &HeaderName| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("-");
        crate::logging::access::log(&AccessEntry {
            request_id: &id,
            method: method.as_str(),
            path: uri.path(),
            status: res.status().as_u16(),
            provider: get(&headers::name::PROVIDER),
            model: get(&headers::name::MODEL),
            attempts: get(&headers::name::ATTEMPTS),
            duration: started.elapsed(),
        });
        if let Ok(v) = HeaderValue::from_str(&id) {
            res.headers_mut().insert(headers::name::REQUEST_ID, v);
        }
        Ok(res)
    }
}

/// A client-supplied `x-request-id`, if it is short and printable.
fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let v = req
        .headers()
        .get(&headers::name::REQUEST_ID)?
        .to_str()
        .ok()?;
    let ok = !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| v.to_owned())
}
