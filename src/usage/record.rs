//! The canonical usage record: one per client request, whatever provider answered.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

/// How the response cache took part in a request (`x-switchyard-cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// Replayed from the cache: no provider was called.
    Hit,
    /// Looked up, not found, answered by a provider.
    Miss,
    /// Shared the answer of an identical request already in flight.
    Coalesced,
    /// The client asked to skip the cache (`x-switchyard-cache: bypass`).
    Bypass,
    /// No cache is involved (disabled, or the request failed before the lookup).
    None,
}

impl CacheStatus {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Bypass => "bypass",
            Self::None => "none",
        }
    }

    /// Whether this request itself cost an upstream call.
    pub fn went_upstream(self) -> bool {
        matches!(self, Self::Miss | Self::Bypass)
    }

    /// Whether the answer came without a provider call of its own.
    pub fn is_served_from_cache(self) -> bool {
        matches!(self, Self::Hit | Self::Coalesced)
    }
}

/// The client API of records from before it was recorded, and the default.
pub const DEFAULT_API: &str = "openai-chat";

/// The `'static` label for a stored API name (unknown names read as the default).
pub fn api_label(stored: &str) -> &'static str {
    match stored {
        "anthropic-messages" => "anthropic-messages",
        "openai-responses" => "openai-responses",
        _ => DEFAULT_API,
    }
}

/// One request's usage, as stored in the ledger and returned by
/// `GET /v1/usage/records`. Token counts follow OpenAI's convention:
/// `prompt_tokens` includes cached and cache-write tokens, `completion_tokens`
/// includes reasoning tokens.
#[derive(Debug, Clone, Serialize)]
pub struct UsageRecord {
    /// Unique per record (the ledger ignores a second insert with the same id).
    pub id: String,
    /// The request's `x-request-id` (client-supplied ids may repeat; `id` does not).
    pub request_id: String,
    /// When the request ended, in milliseconds since the Unix epoch.
    pub ts_ms: i64,
    pub tenant: Arc<str>,
    pub key_id: Arc<str>,
    /// The route the plan came from, when the request named or matched one.
    pub route: Option<String>,
    /// The provider that answered ("" when none did).
    pub provider: Arc<str>,
    /// The model that answered ("" when none did).
    pub model: Arc<str>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    /// The provider reported no usage; the gateway estimated it.
    pub estimated: bool,
    /// What the provider charges for this request, from the configured prices.
    pub cost_usd: f64,
    /// What a cache hit saved: the cost the request would have had.
    pub saving_usd: f64,
    /// From the request's arrival to its last byte (or failure).
    pub latency_ms: u64,
    /// Time to the first streamed event, for streams.
    pub ttft_ms: Option<u64>,
    /// The HTTP status the client got; 499 when the client went away first.
    pub status: u16,
    /// Upstream attempts made.
    pub attempts: u32,
    pub cache: CacheStatus,
    /// The client API the request arrived in: `openai-chat` or `anthropic-messages`.
    pub api: &'static str,
    /// When the record was handed to the ledger, for the write-lag metric.
    #[serde(skip)]
    pub ended: Instant,
}

impl UsageRecord {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// `use_`, the record's time in milliseconds as 8 base-62 digits, then 16 random
/// alphanumerics (95 bits): unique per record, and ordered by time to the
/// millisecond. The order matters to the ledger: the unique index on `id` then grows
/// at its right edge, as the rowid does, where random ids would scatter each
/// batch's inserts over pages all through an index of millions.
pub fn record_id(ts_ms: i64) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    /// Base-62 digits in ASCII order, so that the ids sort as the times do.
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(28);
    id.push_str("use_");
    let mut t = ts_ms.max(0) as u64;
    let mut time = [b'0'; 8];
    for d in time.iter_mut().rev() {
        *d = DIGITS[(t % 62) as usize];
        t /= 62;
    }
    id.extend(time.iter().map(|&b| char::from(b)));
    Alphanumeric.append_string(&mut rand::rng(), &mut id, 16);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_as_their_times_do() {
        let times = [
            0,
            61,
            62,
            1_795_497_539_035,
            1_795_497_539_036,
            1_800_000_000_000,
        ];
        let ids: Vec<String> = times.iter().map(|&t| record_id(t)).collect();
        for id in &ids {
            assert_eq!(id.len(), 28);
            assert!(id.starts_with("use_"));
            assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        assert_eq!(&ids[0][4..12], "00000000");
        assert_eq!(&ids[1][4..12], "0000000z");
        assert_eq!(&ids[2][4..12], "00000010");
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn ids_in_the_same_millisecond_differ() {
        assert_ne!(record_id(7), record_id(7));
    }
}
