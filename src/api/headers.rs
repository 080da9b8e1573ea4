//! Header names shared with clients, docs and dashboards (DESIGN.md "Names").

/// Request: route override.
pub const ROUTE: &str = "x-switchyard-route";
/// Response: the provider that answered.
pub const PROVIDER: &str = "x-switchyard-provider";
/// Response: the model that answered (the gateway's name for it).
pub const MODEL: &str = "x-switchyard-model";
/// Response: attempts made, failed ones included.
pub const ATTEMPTS: &str = "x-switchyard-attempts";
/// Request and response: the request id.
pub const REQUEST_ID: &str = "x-request-id";
/// Request: weights override, `price=0.7,latency=0.3`.
pub const WEIGHTS: &str = "x-switchyard-weights";
/// Request: hard cost limit in USD.
pub const MAX_COST: &str = "x-switchyard-max-cost-usd";
/// Request: hard latency limit in milliseconds.
pub const MAX_LATENCY: &str = "x-switchyard-max-latency-ms";
/// Request: a task tag for route rules.
pub const TASK: &str = "x-switchyard-task";
/// Request: `1` asks for the routing explanation; response: the explanation (JSON).
pub const EXPLAIN: &str = "x-switchyard-explain";
/// Request: the client's deadline for the whole request in milliseconds (the route's
/// `request_timeout_ms` still caps it).
pub const TIMEOUT: &str = "x-switchyard-timeout-ms";
/// Request: `bypass` or `use`; response: `hit`, `miss`, `coalesced` or `bypass`.
pub const CACHE: &str = crate::cache::outcome::HEADER;

/// The same names as [`HeaderName`]s built at compile time, for the request path: a
/// `&str` name is parsed and validated again on every lookup or insert (~150
/// instructions each, ~4k per request before these).
///
/// [`HeaderName`]: actix_web::http::header::HeaderName
pub mod name {
    use actix_web::http::header::HeaderName;

    pub const ROUTE: HeaderName = HeaderName::from_static(super::ROUTE);
    pub const PROVIDER: HeaderName = HeaderName::from_static(super::PROVIDER);
    pub const MODEL: HeaderName = HeaderName::from_static(super::MODEL);
    pub const ATTEMPTS: HeaderName = HeaderName::from_static(super::ATTEMPTS);
    pub const REQUEST_ID: HeaderName = HeaderName::from_static(super::REQUEST_ID);
    pub const WEIGHTS: HeaderName = HeaderName::from_static(super::WEIGHTS);
    pub const MAX_COST: HeaderName = HeaderName::from_static(super::MAX_COST);
    pub const MAX_LATENCY: HeaderName = HeaderName::from_static(super::MAX_LATENCY);
    pub const TASK: HeaderName = HeaderName::from_static(super::TASK);
    pub const EXPLAIN: HeaderName = HeaderName::from_static(super::EXPLAIN);
    pub const TIMEOUT: HeaderName = HeaderName::from_static(super::TIMEOUT);
    pub const CACHE: HeaderName = HeaderName::from_static(super::CACHE);
}
