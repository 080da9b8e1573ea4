//! Simulated provider-side limits: a real requests-per-minute limit (`rpm_limit`) with
//! the rate-limit headers real providers send on every answer, and revoked keys
//! (`revoked_keys`) answered 401.
//!
//! The limit is a fixed 60-second window opened by the first chat call after the
//! previous window ended. OpenAI-family answers carry `x-ratelimit-limit-requests`,
//! `x-ratelimit-remaining-requests` and `x-ratelimit-reset-requests` (a Go duration);
//! Anthropic answers carry `anthropic-ratelimit-requests-{limit,remaining,reset}` (the
//! reset as an RFC 3339 timestamp). Gemini sends none, as the real one. The timestamp
//! formatting here also serves Anthropic's injected 429s.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::HttpResponse;
use serde_json::json;

use super::Format;
use super::reply::insert_headers;

/// The per-minute window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One provider's current window.
#[derive(Debug, Default)]
pub struct RpmWindow {
    started: Option<Instant>,
    count: u64,
}

impl RpmWindow {
    /// Counts a chat call against `limit`; `Err(wait)` when over it.
    pub fn admit(&mut self, limit: u64, now: Instant) -> Result<(), Duration> {
        let start = match self.started {
            Some(s) if now.duration_since(s) < WINDOW => s,
            _ => {
                self.started = Some(now);
                self.count = 0;
                now
            }
        };
        if self.count >= limit {
            return Err(WINDOW.saturating_sub(now.duration_since(start)));
        }
        self.count += 1;
        Ok(())
    }

    /// `(remaining, reset)` for the headers.
    pub fn state(&self, limit: u64, now: Instant) -> (u64, Duration) {
        match self.started {
            Some(s) if now.duration_since(s) < WINDOW => (
                limit.saturating_sub(self.count),
                WINDOW.saturating_sub(now.duration_since(s)),
            ),
            _ => (limit, WINDOW),
        }
    }
}

/// Adds the format's rate-limit headers to an answer.
pub fn add_headers(
    resp: &mut HttpResponse,
    f: Format,
    limit: u64,
    remaining: u64,
    reset: Duration,
) {
    let reset_ms = reset.as_millis() as u64;
    let pairs: Vec<(&'static str, String)> = match f {
        Format::Gemini => return,
        Format::Anthropic => {
            let at = SystemTime::now() + reset;
            vec![
                ("anthropic-ratelimit-requests-limit", limit.to_string()),
                (
                    "anthropic-ratelimit-requests-remaining",
                    remaining.to_string(),
                ),
                ("anthropic-ratelimit-requests-reset", rfc3339(at, true)),
            ]
        }
        _ => vec![
            ("x-ratelimit-limit-requests", limit.to_string()),
            ("x-ratelimit-remaining-requests", remaining.to_string()),
            (
                "x-ratelimit-reset-requests",
                format!("{}.{:03}s", reset_ms / 1000, reset_ms % 1000),
            ),
        ],
    };
    insert_headers(resp, pairs);
}

/// The key a request carries, in whichever header its format uses.
pub fn request_key(req: &actix_web::HttpRequest) -> Option<&str> {
    let h = req.headers();
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| get("x-api-key"))
        .or_else(|| get("x-goog-api-key"))
        .or_else(|| {
            req.query_string()
                .split('&')
                .find_map(|kv| kv.strip_prefix("key="))
        })
}

/// The format's answer to a revoked key.
pub fn unauthorized(f: Format) -> HttpResponse {
    match f {
        Format::Anthropic => HttpResponse::Unauthorized().json(json!({
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"}
        })),
        Format::Gemini => HttpResponse::BadRequest().json(json!({
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]
            }
        })),
        _ => HttpResponse::Unauthorized().json(json!({
            "error": {
                "message": "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error",
                "param": null,
                "code": "invalid_api_key"
            }
        })),
    }
}

/// `2025-01-01T00:00:30Z`, or with `millis` `2025-01-01T00:00:30.500Z`.
pub(super) fn rfc3339(t: SystemTime, millis: bool) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    let fraction = if millis {
        format!(".{:03}", d.subsec_millis())
    } else {
        String::new()
    };
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_admits_its_limit_then_says_how_long() {
        let now = Instant::now();
        let mut w = RpmWindow::default();
        assert_eq!(w.state(2, now), (2, WINDOW));
        assert!(w.admit(2, now).is_ok());
        assert!(w.admit(2, now).is_ok());
        let later = now + Duration::from_secs(10);
        assert_eq!(w.admit(2, later), Err(Duration::from_secs(50)));
        assert_eq!(w.state(2, later), (0, Duration::from_secs(50)));
        assert!(w.admit(2, now + WINDOW).is_ok());
    }

    #[test]
    fn timestamps_round_trip_through_the_gateway_parser() {
        let t = UNIX_EPOCH + Duration::from_millis(1_709_294_430_500);
        let rfc3339 = |t| rfc3339(t, true);
        assert_eq!(rfc3339(t), "2024-03-01T12:00:30.500Z");
        assert_eq!(
            crate::providers::ratelimit_headers::parse_rfc3339(&rfc3339(t)),
            Some(t)
        );
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        let rfc3339 = |t| rfc3339(t, false);
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199); // leap year, Feb 29
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
    }
}
