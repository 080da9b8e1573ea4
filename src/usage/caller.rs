//! Who a request is from, as authentication resolved it: the identity every usage
//! record, quota and cache partition is keyed by.

use std::sync::Arc;

use crate::config::Limits;

/// Who a request is from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: Arc<str>,
    pub tenant: Arc<str>,
    pub tier: Arc<str>,
    /// The key's own limits (the tenant's are looked up by name).
    pub limits: Limits,
}
