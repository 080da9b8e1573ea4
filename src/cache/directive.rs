//! What the client asked of the cache. The API reads it from the request headers
//! (`x-switchyard-cache`, `Cache-Control`); what the cache did is a
//! [`crate::usage::CacheStatus`].

/// What the client asked of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// The route's mode and the determinism rule decide.
    Default,
    /// `x-switchyard-cache: use`: cache this answer even if it is not deterministic.
    Use,
    /// `x-switchyard-cache: bypass`, or `Cache-Control: no-cache` / `no-store`.
    Bypass,
}
