//! Switchyard: a self-hosted LLM gateway. Applications speak the OpenAI API to it; it
//! picks the model for each request, translates to that provider's wire format,
//! normalises the answer (and its stream) back, and fails over when a provider breaks.
//!
//! Module map, following a request (docs/ARCHITECTURE.md has the layers, which
//! `tests/layers.rs` checks, and the request's route function by function):
//! - [`app`]: the composition root: builds every part and serves them;
//! - [`api`]: actix-web handlers (auth, body limits, errors in the client's API shape),
//!   the request-id and access-log middleware;
//! - [`canonical`]: the OpenAI-shaped contract every adapter translates to and from;
//! - [`inbound`]: the client APIs besides Chat Completions (Anthropic Messages),
//!   translated into the canonical request and their answers written back;
//! - [`scheduler`]: turns the request's `model` (model, `provider/model`, or route) into
//!   an ordered plan of candidates, scored by weighted cost + latency from live health;
//! - [`cache`]: identical requests of one tenant share one upstream call (in flight)
//!   or a stored answer (within its TTL); every client's stream encoder;
//! - [`dispatch`]: runs the plan: sends, retries, fails over, decodes streams
//!   (optionally re-chunked, `[streaming.rechunk]`);
//! - [`providers`]: one supervised actor per provider: latency windows, breaker,
//!   heartbeats, key pools, token buckets, health published to the scheduler;
//! - [`upstream`]: the HTTP client to providers (per-thread pools, timeouts, classes);
//! - [`adapters`]: one pure translator per provider wire format, plus the SSE reader;
//! - [`usage`]: who a request is from, one usage record per request, the SQLite
//!   ledger written off the request path, per-key/per-tenant rate limits and budgets;
//! - [`metrics`]: every exported metric and the `/metrics` exposition;
//! - [`state`]: what replicas share through Redis with `[cluster]` (provider buckets,
//!   the replica registry);
//! - [`config`]: TOML in, validated [`config::Config`] out; prices, weights, retry
//!   policy; secrets never printed;
//! - [`reload`]: `POST /admin/reload`, the config file swapped in while serving;
//! - [`error`]: upstream error classes and the one HTTP error mapping;
//! - [`logging`]: the log subscriber, its buffered stderr writer, and the access log line;
//! - [`mock`]: simulated providers speaking the six real wire formats;
//! - [`heap`]: the allocator (jemalloc), set to hand freed memory back after bursts.

pub mod adapters;
pub mod api;
pub mod app;
pub mod cache;
pub mod canonical;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod heap;
pub mod inbound;
pub mod logging;
pub mod metrics;
pub mod mock;
pub mod providers;
pub mod reload;
pub mod scheduler;
pub mod state;
pub mod upstream;
pub mod usage;

/// The demo configuration, embedded so `switchyard demo` works from any directory.
pub const DEMO_CONFIG: &str = include_str!("../config/demo.toml");
