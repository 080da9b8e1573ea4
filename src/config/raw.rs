//! The config file as written: serde structs that reject unknown keys.
//! [`super::validate`] turns them into a checked [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::secret::SecretSource;
use crate::adapters::ProviderKind;

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
    pub providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub models: Vec<RawModel>,
    #[serde(default)]
    pub routes: BTreeMap<String, RawRoute>,
    #[serde(default)]
    pub keys: Vec<RawGatewayKey>,
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
    #[serde(default)]
    pub keys: Vec<SecretSource>,
    /// Whole-request timeout. Default 120000.
    pub timeout_ms: Option<u64>,
    /// Time allowed until the response head (non-stream) or first stream event. Default 30000.
    pub first_byte_timeout_ms: Option<u64>,
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
    /// USD per million input tokens.
    pub input_per_mtok_usd: f64,
    /// USD per million output tokens.
    pub output_per_mtok_usd: f64,
    /// USD per million cached input tokens. Default: the input price.
    pub cached_input_per_mtok_usd: Option<f64>,
    /// Context window in tokens.
    pub context_window: u32,
    /// Output cap sent when the client gives none (required by Anthropic). Default 4096.
    pub max_output_tokens: Option<u32>,
}

/// `[routes.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Model names (or `provider/model`) that may answer, in preference order.
    pub candidates: Vec<String>,
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
}
