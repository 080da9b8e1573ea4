//! Reads providers' rate-limit headers into one shape the limiter follows.
//!
//! - OpenAI family: `x-ratelimit-{limit,remaining}-{requests,tokens}` and
//!   `x-ratelimit-reset-{requests,tokens}` as Go durations (`6m0s`, `1.5s`, `12ms`).
//! - Anthropic: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, the
//!   reset as an RFC 3339 timestamp.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName};

/// `[limit, remaining, reset]` header names of: OpenAI requests, OpenAI tokens,
/// Anthropic requests, Anthropic tokens.
static NAMES: std::sync::LazyLock<[[HeaderName; 3]; 4]> = std::sync::LazyLock::new(|| {
    let n = HeaderName::from_static;
    [
        [
            n("x-ratelimit-limit-requests"),
            n("x-ratelimit-remaining-requests"),
            n("x-ratelimit-reset-requests"),
        ],
        [
            n("x-ratelimit-limit-tokens"),
            n("x-ratelimit-remaining-tokens"),
            n("x-ratelimit-reset-tokens"),
        ],
        [
            n("anthropic-ratelimit-requests-limit"),
            n("anthropic-ratelimit-requests-remaining"),
            n("anthropic-ratelimit-requests-reset"),
        ],
        [
            n("anthropic-ratelimit-tokens-limit"),
            n("anthropic-ratelimit-tokens-remaining"),
            n("anthropic-ratelimit-tokens-reset"),
        ],
    ]
});

/// What a provider said about one limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Time until the limit is replenished.
    pub reset: Option<Duration>,
}

impl Window {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Both limits, as one answer's headers gave them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed {
    pub requests: Window,
    pub tokens: Window,
}

impl Observed {
    /// Parses whichever family of headers is present; `None` when there are none.
    pub fn parse(headers: &HeaderMap, now: SystemTime) -> Option<Self> {
        // Runs on every answer: look headers up by pre-built names (no formatting,
        // no name parsing per lookup).
        let get = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let int = |name: &HeaderName| get(name).and_then(|v| v.trim().parse::<u64>().ok());
        let openai = |[limit, remaining, reset]: &[HeaderName; 3]| Window {
            limit: int(limit),
            remaining: int(remaining),
            reset: get(reset).and_then(parse_go_duration),
        };
        let anthropic = |[limit, remaining, reset]: &[HeaderName; 3]| Window {
            limit: int(limit),
            remaining: int(remaining),
            reset: get(reset)
                .and_then(parse_rfc3339)
                .map(|t| t.duration_since(now).unwrap_or(Duration::ZERO)),
        };
        let [
            openai_requests,
            openai_tokens,
            anthropic_requests,
            anthropic_tokens,
        ] = &*NAMES;
        let mut o = Self {
            requests: openai(openai_requests),
            tokens: openai(openai_tokens),
        };
        if o.requests.is_empty() && o.tokens.is_empty() {
            o = Self {
                requests: anthropic(anthropic_requests),
                tokens: anthropic(anthropic_tokens),
            };
        }
        (!(o.requests.is_empty() && o.tokens.is_empty())).then_some(o)
    }

    /// The wait a 429 without `Retry-After` implies: the reset of the exhausted limit
    /// (or of either, when neither says 0 remaining).
    pub fn retry_after(&self) -> Option<Duration> {
        let exhausted = [self.requests, self.tokens]
            .into_iter()
            .filter(|w| w.remaining == Some(0))
            .filter_map(|w| w.reset)
            .max();
        exhausted.or_else(|| {
            [self.requests.reset, self.tokens.reset]
                .into_iter()
                .flatten()
                .min()
        })
    }
}

/// Parses a Go `time.Duration` string: `6m0s`, `1h2m3.5s`, `12ms`, `0.5s`, `250us`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0.0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Parses an RFC 3339 UTC timestamp (`2025-01-01T00:00:30Z`, fractions and `+00:00`
/// allowed) into a `SystemTime`. Other offsets are applied too.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', 't'])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset_secs) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let mut t = clock.splitn(3, ':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let sec: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || sec >= 61.0 {
        return None;
    }
    let days = days_from_civil(y, mo, da);
    let secs = days * 86_400 + h * 3600 + mi * 60 - offset_secs;
    let whole = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(whole) + Duration::from_secs_f64(sec))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("7"), None);
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration("3 days"), None);
    }

    #[test]
    fn rfc3339_timestamps() {
        let t = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_millis());
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("2024-03-01T12:00:30.5Z"), Some(1_709_294_430_500));
        assert_eq!(t("2024-03-01T13:00:30.5+01:00"), Some(1_709_294_430_500));
        assert_eq!(t("2024-13-01T00:00:00Z"), None);
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn openai_and_anthropic_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit-requests", "60".parse().unwrap());
        h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        h.insert("x-ratelimit-reset-requests", "6s".parse().unwrap());
        h.insert("x-ratelimit-reset-tokens", "12ms".parse().unwrap());
        let o = Observed::parse(&h, SystemTime::now()).unwrap();
        assert_eq!(o.requests.limit, Some(60));
        assert_eq!(o.requests.remaining, Some(0));
        assert_eq!(o.retry_after(), Some(Duration::from_secs(6)));

        let now = UNIX_EPOCH + Duration::from_secs(1_709_294_400);
        let mut h = HeaderMap::new();
        h.insert("anthropic-ratelimit-requests-limit", "50".parse().unwrap());
        h.insert(
            "anthropic-ratelimit-requests-remaining",
            "49".parse().unwrap(),
        );
        h.insert(
            "anthropic-ratelimit-requests-reset",
            "2024-03-01T12:00:20Z".parse().unwrap(),
        );
        let o = Observed::parse(&h, now).unwrap();
        assert_eq!(o.requests.remaining, Some(49));
        assert_eq!(o.requests.reset, Some(Duration::from_secs(20)));
        assert_eq!(Observed::parse(&HeaderMap::new(), now), None);
    }
}
