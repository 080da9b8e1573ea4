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
