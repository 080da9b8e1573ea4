//! Switchyard: a self-hosted LLM gateway. Applications speak the OpenAI API to it; it
//! picks the model for each request, translates to that provider's wire format,
//! normalises the answer (and its stream) back, and fails over when a provider breaks.
//!
//! Module map, following a request:
//! - [`api`]: actix-web handlers (auth, body limits, OpenAI-style errors);
//! - [`canonical`]: the OpenAI-shaped contract every adapter translates to and from;
//! - [`cache`]: identical requests of one tenant share one upstream call (in flight)
//!   or a stored answer (within its TTL);
//! - [`scheduler`]: turns the request's `model` (model, `provider/model`, or route) into
//!   an ordered plan of candidates, scored by weighted cost + latency from live health;
//! - [`providers`]: one supervised actor per provider: latency windows, breaker,
//!   heartbeats, health published to the scheduler;
//! - [`metrics`]: every exported metric and the `/metrics` exposition;
//! - [`usage`]: one usage record per request, its cost, the SQLite ledger written off
//!   the request path, and per-key/per-tenant rate limits and budgets;
//! - [`dispatch`]: runs the plan: sends, retries, fails over, relays streams (optionally
//!   re-chunked, `[streaming.rechunk]`);
//! - [`adapters`]: one pure translator per provider wire format, plus the SSE reader;
//! - [`config`]: TOML in, validated [`config::Config`] out; secrets never printed;
//! - [`mock`]: simulated providers speaking the six real wire formats;
//! - [`app`]: wires it all into a running server;
//! - [`reload`]: `POST /admin/reload`, the config file swapped in while serving;
//! - [`error`]: upstream error classes and the one HTTP error mapping;
//! - [`logging`]: the log subscriber, its buffered stderr writer, and the access log line;
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
pub mod logging;
pub mod metrics;
pub mod mock;
pub mod providers;
pub mod reload;
pub mod scheduler;
pub mod upstream;
pub mod usage;

/// The demo configuration, embedded so `switchyard demo` works from any directory.
pub const DEMO_CONFIG: &str = include_str!("../config/demo.toml");
