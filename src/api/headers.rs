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
