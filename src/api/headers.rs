//! Header names shared with clients, docs and dashboards (DESIGN.md "Names"), and
//! the reading of the cache directive from them.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::cache::Directive;
use crate::error::{GatewayError, echo};

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
pub const CACHE: &str = "x-switchyard-cache";
/// Response: the request's optional parameters the answering provider did not
/// receive, comma-separated (`seed,logit_bias`); absent when none was dropped.
pub const DROPPED_PARAMS: &str = "x-switchyard-dropped-params";

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
    pub const DROPPED_PARAMS: HeaderName = HeaderName::from_static(super::DROPPED_PARAMS);
}

/// A numeric limit header (`x-switchyard-max-cost-usd`, `-max-latency-ms`,
/// `-timeout-ms`): absent, or a finite number >= 0. A bad value is a 400 naming the
/// header and repeating the value only through [`echo`], so a huge header does not come
/// back whole.
pub fn number(headers: &HeaderMap, name: &HeaderName) -> Result<Option<f64>, GatewayError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(v.as_bytes());
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(GatewayError::invalid(
            format!(
                "invalid {name} header: expected a number >= 0, got '{}'",
                echo(&text)
            ),
            name.as_str(),
        )),
    }
}

/// Most parameter names `x-switchyard-dropped-params` lists, and the most bytes of
/// each, so a body of ten thousand unknown keys does not become a huge header.
const DROPPED_NAMES_MAX: usize = 32;
const DROPPED_NAME_BYTES_MAX: usize = 64;

/// The `x-switchyard-dropped-params` value for `names`: comma-separated, each name
/// percent-encoded where it is not visible ASCII (a client's key may hold any
/// character), long names cut, and a last `+N` when more names were dropped than listed.
pub fn dropped_params(names: &[&str]) -> HeaderValue {
    let mut out = String::new();
    for (i, name) in names.iter().take(DROPPED_NAMES_MAX).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let bytes = name.as_bytes();
        for &b in &bytes[..bytes.len().min(DROPPED_NAME_BYTES_MAX)] {
            if b.is_ascii_graphic() && b != b',' && b != b'%' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    if names.len() > DROPPED_NAMES_MAX {
        out.push_str(&format!(",+{}", names.len() - DROPPED_NAMES_MAX));
    }
    // Only visible ASCII was written, which every header value may hold.
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static("?"))
}

/// What the request's headers ask of the cache. Unknown values of
/// `x-switchyard-cache` are ignored; `Cache-Control: no-cache` or `no-store` bypass.
pub fn cache_directive(headers: &HeaderMap) -> Directive {
    let no_cache = headers
        .get_all(actix_web::http::header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| {
            let d = d.trim();
            d.eq_ignore_ascii_case("no-cache") || d.eq_ignore_ascii_case("no-store")
        });
    let ours = headers
        .get(&name::CACHE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match ours {
        _ if no_cache => Directive::Bypass,
        Some(v) if v.eq_ignore_ascii_case("bypass") => Directive::Bypass,
        Some(v) if v.eq_ignore_ascii_case("use") => Directive::Use,
        _ => Directive::Default,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dropped_params_are_a_legal_bounded_header_whatever_the_keys() {
        assert_eq!(
            super::dropped_params(&["seed", "logit_bias"]),
            "seed,logit_bias"
        );
        assert_eq!(
            super::dropped_params(&["\u{0}\u{202e}😀\"\\", "a,b", "50%"]),
            "%00%E2%80%AE%F0%9F%98%80\"\\,a%2Cb,50%25"
        );
        let long = "k".repeat(1000);
        let many: Vec<&str> = std::iter::repeat_n(long.as_str(), 40).collect();
        let v = super::dropped_params(&many);
        let text = v.to_str().unwrap();
        assert!(text.ends_with(",+8"), "{text}");
        assert_eq!(text.len(), 32 * 64 + 31 + 3);
    }

    use actix_web::http::header::HeaderValue;

    use super::*;

    fn directive(pairs: &[(&'static str, &'static str)]) -> Directive {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        cache_directive(&h)
    }

    #[test]
    fn bad_numbers_are_echoed_short() {
        let mut h = HeaderMap::new();
        assert_eq!(number(&h, &name::MAX_COST).unwrap(), None);
        h.insert(name::MAX_COST, HeaderValue::from_static(" 0.5 "));
        assert_eq!(number(&h, &name::MAX_COST).unwrap(), Some(0.5));
        let huge = "9".repeat(100_000) + "x";
        h.insert(name::MAX_COST, HeaderValue::from_str(&huge).unwrap());
        let e = number(&h, &name::MAX_COST).unwrap_err();
        let body = e.body();
        assert!(body.error.message.len() < 300, "{}", body.error.message);
        assert!(body.error.message.contains(MAX_COST));
        assert_eq!(body.error.param.as_deref(), Some(MAX_COST));
    }

    #[test]
    fn headers_choose_the_directive() {
        assert_eq!(directive(&[]), Directive::Default);
        assert_eq!(directive(&[(CACHE, "bypass")]), Directive::Bypass);
        assert_eq!(directive(&[(CACHE, "USE")]), Directive::Use);
        assert_eq!(
            directive(&[("cache-control", "max-age=0, no-cache")]),
            Directive::Bypass
        );
        assert_eq!(
            directive(&[("cache-control", "no-store"), (CACHE, "use")]),
            Directive::Bypass
        );
        assert_eq!(directive(&[(CACHE, "maybe")]), Directive::Default);
    }
}
