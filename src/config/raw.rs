//! The config file as written: serde structs that reject unknown keys.
//! [`super::validate()`] turns them into a checked [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::cache::{CacheMode, RawCache};
use super::secret::SecretSource;
use crate::config::ProviderKind;
use crate::config::weights::PartialWeights;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub dispatch: RawDispatch,
    #[serde(default)]
    pub streaming: RawStreaming,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub models: Vec<RawModel>,
    #[serde(default)]
    pub routes: BTreeMap<String, RawRoute>,
    #[serde(default)]
    pub route_rules: Vec<RawRouteRule>,
    #[serde(default)]
    pub tiers: BTreeMap<String, RawTier>,
    #[serde(default)]
    pub keys: Vec<RawGatewayKey>,
    #[serde(default)]
    pub health: RawHealth,
    #[serde(default)]
    pub scheduler: RawScheduler,
    #[serde(default)]
    pub cache: RawCache,
    /// `[usage]`: the ledger.
    #[serde(default)]
    pub usage: super::usage::RawUsage,
    /// `[tenants.NAME]`: limits shared by every key of the tenant.
    #[serde(default)]
    pub tenants: BTreeMap<String, super::usage::Limits>,
    /// `[cluster]`: shared state across replicas; absent: everything in process.
    pub cluster: Option<super::cluster::RawCluster>,
}

/// `[health]`: how provider actors measure and judge health.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    /// Heartbeat period per provider. Default 10000.
    pub heartbeat_interval_ms: Option<u64>,
    /// A heartbeat slower than this fails. Default 5000.
    pub heartbeat_timeout_ms: Option<u64>,
    /// Consecutive failed requests that open the circuit. Default 5.
    pub failure_threshold: Option<u32>,
    /// Consecutive failed heartbeats that open the circuit. Default 2.
    pub heartbeat_failure_threshold: Option<u32>,
    /// How long an open circuit stays open before a probe. Default 10000.
    pub open_cooldown_ms: Option<u64>,
    /// The recent-latency window the scheduler scores from. Default 60000.
    pub latency_window_ms: Option<u64>,
    /// How often a provider actor publishes its health when it changed. Default 250.
    pub publish_interval_ms: Option<u64>,
    /// Half-life of the scheduler's decayed latency and error estimates. Default 1500.
    pub estimate_half_life_ms: Option<u64>,
}

/// `[scheduler]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScheduler {
    /// Global weights. Default price 0.5, latency 0.5, errors 1.0.
    pub weights: Option<PartialWeights>,
    /// Share of the objective (0..=0.5) spent re-measuring candidates whose estimates
    /// have faded. Default 0.02.
    pub exploration: Option<f64>,
    /// Scores within this distance of the best are a tie, spread at random. Default 0.02.
    pub tie_band: Option<f64>,
    /// Output tokens expected when the request gives no max_tokens and the model has
    /// no measured average. Default 256.
    pub default_output_tokens: Option<u64>,
    /// The latency that scores as much as the dearest candidate's price. Default 2000.
    pub latency_reference_ms: Option<u64>,
    /// No candidate's estimate grows older than this while exploration is on. Default 30000.
    pub max_estimate_age_ms: Option<u64>,
}

/// `[[route_rules]]`: picks a route for requests to `auto`; the first match wins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteRule {
    /// The route to use.
    pub route: String,
    /// Match when the estimated prompt has at least this many tokens.
    pub min_prompt_tokens: Option<u64>,
    /// Match when the request offers tools (true) or offers none (false).
    pub tools: Option<bool>,
    /// Match when the `x-switchyard-task` header equals this.
    pub task: Option<String>,
}

/// `[tiers.NAME]`: what gateway keys of this tier are entitled to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTier {
    /// Routes the tier may use; absent = every route.
    pub routes: Option<Vec<String>>,
    /// Weights for this tier's requests (a route's own weights override them).
    pub weights: Option<PartialWeights>,
    /// Models tried after the route's candidates, in order.
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address to listen on; `--listen` overrides it. Default 127.0.0.1:8080.
    pub listen: Option<String>,
    /// Largest accepted request body in bytes. Default 4 MiB.
    pub max_body_bytes: Option<usize>,
    /// actix worker threads. Default: one per core.
    pub workers: Option<usize>,
    /// Serve `GET /metrics` on this address (e.g. `127.0.0.1:9464`) instead of the
    /// main listener, so the API port need not expose it. Default: the main listener.
    pub metrics_listen: Option<String>,
    /// Bearer token `/metrics` asks for on the main listener (it names tenants and key
    /// fingerprints). Default: none, `/metrics` is open (docs/observability.md).
    pub metrics_token: Option<SecretSource>,
    /// A request body must send its next bytes within this. Default 5000.
    pub body_read_timeout_ms: Option<u64>,
    /// The whole request body must arrive within this. Default 30000.
    pub body_total_timeout_ms: Option<u64>,
    /// Most client connections open at once; more wait in the listen backlog.
    /// Default: 80 % of the open-files limit, halved for the upstream connections.
    pub max_connections: Option<usize>,
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Bearer token for `/admin/*`; without it the admin API answers 401 to everyone.
    pub token: Option<SecretSource>,
}

/// `[dispatch]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDispatch {
    /// Wait before trying the next candidate after a retryable failure. Default 500.
    pub retry_delay_ms: Option<u64>,
    /// Most attempts per request, across all candidates. Default 3.
    pub max_attempts: Option<u32>,
    // The rest of the retry policy; `[routes.X]` may override each (docs/failover.md).
    /// `none` (every wait is `retry_delay_ms`) or `exponential` (doubling, with jitter).
    /// Default none.
    pub backoff: Option<crate::config::policy::Backoff>,
    /// Cap on an exponential wait. Default 8000.
    pub max_retry_delay_ms: Option<u64>,
    /// The whole request, queueing and retries included, must be answered within this.
    /// Default 300000.
    pub request_timeout_ms: Option<u64>,
    /// A context-length error falls back to a candidate with a larger window. Default true.
    pub context_fallback: Option<bool>,
}

/// `[streaming]`: how relayed streams are shaped for clients.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStreaming {
    /// Re-chunk text deltas so every provider streams alike; off when absent.
    /// `rechunk = {}` turns it on with the defaults.
    pub rechunk: Option<RawRechunk>,
}

/// `[streaming.rechunk]`: join tiny text deltas, split huge ones. The first text
/// delta, finish and usage are never delayed; tool-call deltas pass unchanged.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRechunk {
    /// Text deltas arriving within this many milliseconds of the first held one go out
    /// as one chunk; 0 joins nothing. At most 1000. Default 20.
    pub coalesce_ms: Option<u64>,
    /// Longest text chunk sent, in characters; longer deltas are split. Default 200.
    pub max_chunk_chars: Option<usize>,
}

/// `[providers.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    /// Wire format: openai, anthropic, gemini, deepseek, qwen, mistral, openai-compatible.
    pub kind: ProviderKind,
    /// The base URL the provider's own SDK uses, e.g. `https://api.openai.com/v1`.
    /// `{mock}` stands for the simulated providers' address (demo only).
    pub base_url: String,
    /// API keys; requests spread across them.
    #[serde(default, deserialize_with = "super::secret::provider_keys")]
    pub keys: Vec<SecretSource>,
    /// Whole-request timeout. Default 120000.
    pub timeout_ms: Option<u64>,
    /// Time allowed until the response head (non-stream) or first stream event. Default 30000.
    pub first_byte_timeout_ms: Option<u64>,
    /// Requests per minute per key; the gateway queues or reroutes above it. Default: none.
    pub rpm: Option<u32>,
    /// Tokens (prompt estimate + max_tokens) per minute per key. Default: none.
    pub tpm: Option<u32>,
    /// Longest a request waits for this provider's bucket before moving on. Default 1000.
    pub max_queue_ms: Option<u64>,
    /// Most requests waiting for this provider's buckets at once. Default 64.
    pub max_queue: Option<usize>,
    /// Speak HTTP/2 without TLS (prior knowledge) to this provider: `true` for all its
    /// requests, `"streams"` for streamed ones only (one-shot calls then use HTTP/1.1
    /// keep-alive, which costs less per call than HTTP/2's framing), `false` for none.
    /// Over HTTP/2 a provider's requests share one connection per worker thread
    /// instead of holding one connection each. Only for `http://` base URLs of servers
    /// that accept it, such as `switchyard mock`; `https://` providers negotiate HTTP/2
    /// during the TLS handshake by themselves. Default false.
    #[serde(default)]
    pub h2c: H2c,
}

/// Which of a provider's requests go over HTTP/2 without TLS (`h2c`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum H2c {
    /// HTTP/1.1 keep-alive for every request.
    #[default]
    Off,
    /// HTTP/2 for every request.
    All,
    /// HTTP/2 for streamed requests; HTTP/1.1 for one-shot calls and heartbeats.
    Streams,
}

impl H2c {
    /// Whether a request (streamed or not) goes over HTTP/2.
    pub fn for_request(self, stream: bool) -> bool {
        match self {
            Self::Off => false,
            Self::All => true,
            Self::Streams => stream,
        }
    }
}

impl<'de> Deserialize<'de> for H2c {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = H2c;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(r#"true, false or "streams""#)
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<H2c, E> {
                Ok(if v { H2c::All } else { H2c::Off })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<H2c, E> {
                match v {
                    "streams" => Ok(H2c::Streams),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `[[models]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// The name clients use. Several providers may offer the same name.
    pub name: String,
    /// Which `[providers.NAME]` serves it.
    pub provider: String,
    /// The provider's own model id. Default: `name`.
    pub upstream: Option<String>,
    /// USD per million input tokens. Default: the built-in catalogue's.
    pub input_per_mtok_usd: Option<f64>,
    /// USD per million output tokens. Default: the catalogue's.
    pub output_per_mtok_usd: Option<f64>,
    /// USD per million cached input tokens. Default: the catalogue's, else the input
    /// price.
    pub cached_input_per_mtok_usd: Option<f64>,
    /// Context window in tokens. Default: the catalogue's.
    pub context_window: Option<u32>,
    /// Output cap sent when the client gives none (required by Anthropic). Default
    /// 4096 (or the catalogue's model limit, if lower).
    pub max_output_tokens: Option<u32>,
    /// Latency (ms) the scheduler assumes before it has measured anything. Default 1000.
    pub prior_latency_ms: Option<u64>,
}

/// `[routes.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Model names (or `provider/model`) the scheduler ranks.
    pub candidates: Vec<String>,
    /// This route's weights (override tier and global ones term by term).
    pub weights: Option<PartialWeights>,
    /// Models tried, in order, after the ranked candidates.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Wait before the next attempt; overrides `[dispatch]`.
    pub retry_delay_ms: Option<u64>,
    /// Most attempts; overrides `[dispatch]`.
    pub max_attempts: Option<u32>,
    // The rest of the retry policy, overriding `[dispatch]` field by field.
    /// `none` (every wait is `retry_delay_ms`) or `exponential` (doubling, with jitter).
    /// Default none.
    pub backoff: Option<crate::config::policy::Backoff>,
    /// Cap on an exponential wait. Default 8000.
    pub max_retry_delay_ms: Option<u64>,
    /// The whole request, queueing and retries included, must be answered within this.
    /// Default 300000.
    pub request_timeout_ms: Option<u64>,
    /// A context-length error falls back to a candidate with a larger window. Default true.
    pub context_fallback: Option<bool>,
    /// off | coalesce | cache (docs/caching.md). Default: `[cache] default_mode`.
    pub cache: Option<CacheMode>,
    /// `drop` (answer without the parameters the provider does not take, named in
    /// `x-switchyard-dropped-params`) or `reject` (only candidates that take them all;
    /// else 400 `unsupported_parameter`). Default drop.
    pub unsupported_params: Option<crate::config::routes::UnsupportedParams>,
    /// How long this route's answers are replayed. Default: `[cache] ttl_ms`.
    pub cache_ttl_ms: Option<u64>,
}

/// `[[keys]]`: a gateway key clients authenticate with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayKey {
    /// Stable id shown in usage records (never the key).
    pub id: String,
    /// The key itself (`{ env | file | value }`).
    pub key: Option<SecretSource>,
    /// Or its SHA-256 in hex, so the config need not hold the key.
    pub key_sha256: Option<String>,
    /// Who is billed.
    pub tenant: String,
    /// What the key is entitled to. Default "default".
    pub tier: Option<String>,
    /// Requests per minute for this key.
    pub requests_per_minute: Option<u64>,
    /// Tokens per minute for this key.
    pub tokens_per_minute: Option<u64>,
    /// USD per UTC day for this key.
    pub budget_usd_per_day: Option<f64>,
    /// USD per UTC month for this key.
    pub budget_usd_per_month: Option<f64>,
}
