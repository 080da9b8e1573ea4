//! What the cache did for one request, what the client asked of it, and what a hit
//! saved: the small vocabulary the handler, the response header, the metrics and the
//! usage ledger share.

use actix_web::http::header::{CACHE_CONTROL, HeaderMap};

use crate::canonical::Usage;
use crate::config::ModelConfig;

/// Request and response header `x-switchyard-cache`.
pub const HEADER: &str = "x-switchyard-cache";

/// What happened to one request (the `x-switchyard-cache` response header and the
/// `result` label of `switchyard_cache_events_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Replayed from the response cache; no upstream call.
    Hit,
    /// This request made the upstream call (others may have shared it).
    Miss,
    /// Shared the upstream call of an identical request in flight.
    Coalesced,
    /// Did not touch the cache: the client bypassed it, or the route's mode is `off`.
    Bypass,
}

impl CacheOutcome {
    /// The header value and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Bypass => "bypass",
        }
    }

    /// Whether this request itself cost an upstream call.
    pub fn went_upstream(self) -> bool {
        matches!(self, Self::Miss | Self::Bypass)
    }
}

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

impl Directive {
    /// Reads the request headers. Unknown values of `x-switchyard-cache` are ignored.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let no_cache = headers
            .get_all(CACHE_CONTROL)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|d| {
                let d = d.trim();
                d.eq_ignore_ascii_case("no-cache") || d.eq_ignore_ascii_case("no-store")
            });
        let ours = headers
            .get(&crate::api::headers::name::CACHE)
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        match ours {
            _ if no_cache => Self::Bypass,
            Some(v) if v.eq_ignore_ascii_case("bypass") => Self::Bypass,
            Some(v) if v.eq_ignore_ascii_case("use") => Self::Use,
            _ => Self::Default,
        }
    }
}

/// What answering `usage` at `model` cost the provider, in USD: what a cache hit saved.
/// The usage ledger records a hit as zero provider cost plus this saving.
pub fn saved_cost_usd(model: &ModelConfig, usage: &Usage) -> f64 {
    let p = &model.prices;
    let cached = usage.cached_tokens.min(usage.prompt_tokens);
    let fresh = usage.prompt_tokens - cached;
    (fresh as f64 * p.input
        + cached as f64 * p.cached_input
        + usage.completion_tokens as f64 * p.output)
        / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;
    use crate::adapters::ProviderKind;

    fn directive(pairs: &[(&'static str, &'static str)]) -> Directive {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                actix_web::http::header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        Directive::from_headers(&h)
    }

    #[test]
    fn headers_choose_the_directive() {
        assert_eq!(directive(&[]), Directive::Default);
        assert_eq!(directive(&[(HEADER, "bypass")]), Directive::Bypass);
        assert_eq!(directive(&[(HEADER, "USE")]), Directive::Use);
        assert_eq!(
            directive(&[("cache-control", "max-age=0, no-cache")]),
            Directive::Bypass
        );
        assert_eq!(
            directive(&[("cache-control", "no-store"), (HEADER, "use")]),
            Directive::Bypass
        );
        assert_eq!(directive(&[(HEADER, "maybe")]), Directive::Default);
    }

    #[test]
    fn saving_prices_fresh_cached_and_output_tokens() {
        let mut m = ModelConfig::standalone(ProviderKind::Openai, "http://x", "m", 16);
        m.prices.input = 2.0;
        m.prices.cached_input = 0.5;
        m.prices.output = 8.0;
        let u = Usage {
            prompt_tokens: 1_000_000,
            cached_tokens: 400_000,
            completion_tokens: 500_000,
            ..Usage::default()
        };
        let saved = saved_cost_usd(&m, &u);
        assert!((saved - (1.2 + 0.2 + 4.0)).abs() < 1e-9, "{saved}");
    }
}
