//! Simulated providers: mock upstreams that speak each provider's real wire format.
//!
//! One HTTP server hosts any number of simulated providers, each under its own path
//! prefix (`/{name}/…`, the rest of the path as the real provider has it) and each with
//! its own knobs (latency, jitter, time to first token, per-token delay, chunking, error
//! and 429 rates, overload, outage, a real per-minute limit, revoked keys) and counters. `/_mock` is the control endpoint:
//! `GET /_mock` reports knobs and counters, `PATCH /_mock/providers/{name}` changes
//! knobs at runtime, `POST /_mock/reset` restores defaults (docs/mock.md).
//!
//! `brain` decides what the model says; one file per wire format parses requests and
//! answers in that format; `reply` holds what their answers share (timing, the SSE
//! body, the garbage page, header lists).

pub mod anthropic;
pub mod brain;
pub mod gemini;
pub mod limits;
pub mod openai;
mod reply;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use reply::{batch, head_delay, pause, sse_response, total_delay};

/// Which wire format a simulated provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    OpenAi,
    Anthropic,
    Gemini,
    DeepSeek,
    Qwen,
    Mistral,
}

impl Format {
    /// Every format, in the order the demo lists them.
    pub const ALL: [Self; 6] = [
        Self::OpenAi,
        Self::Anthropic,
        Self::Gemini,
        Self::DeepSeek,
        Self::Qwen,
        Self::Mistral,
    ];

    /// The default provider name (and path prefix) for this format.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::DeepSeek => "deepseek",
            Self::Qwen => "qwen",
            Self::Mistral => "mistral",
        }
    }

    /// The path after `/{name}` that a gateway's `base_url` should end with.
    pub fn base_path(self) -> &'static str {
        match self {
            Self::OpenAi | Self::Mistral => "/v1",
            Self::Anthropic | Self::DeepSeek => "",
            Self::Gemini => "/v1beta",
            Self::Qwen => "/compatible-mode/v1",
        }
    }
}

/// Runtime-tunable behaviour of one simulated provider. All delays in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Delay before the response head.
    pub latency_ms: u64,
    /// Uniform random extra delay, 0..=jitter_ms, added to `latency_ms`.
    pub jitter_ms: u64,
    /// Delay between the head and the first token (streams; added to the total otherwise).
    pub ttft_ms: u64,
    /// Delay between stream events (added per event to a non-stream answer's total).
    pub token_delay_ms: u64,
    /// Tokens per stream event: 1 streams token by token, more batches them.
    pub tokens_per_event: usize,
    /// Share of requests (0..=1) answered with `error_status`.
    pub error_rate: f64,
    /// Status for injected errors: 500 or 503.
    pub error_status: u16,
    /// Share of requests (0..=1) answered 429 with `Retry-After: retry_after_s`.
    pub rate_limit_rate: f64,
    pub retry_after_s: u64,
    /// Share of requests (0..=1) answered "overloaded" (Anthropic 529, others 503).
    pub overload_rate: f64,
    /// Every chat and heartbeat call fails with 503 while set.
    pub outage: bool,
    /// Model-list (heartbeat) calls fail with 503 while set.
    pub heartbeat_fail: bool,
    /// Answer 200 with a body that is not the provider's format.
    pub garbage: bool,
    /// Close streams half-way, without a finish signal.
    pub cut_stream: bool,
    /// Chat calls allowed per 60-second window (0: no limit); over it, 429 with
    /// Retry-After. While set, every answer carries the format's rate-limit headers.
    pub rpm_limit: u64,
    /// Keys answered 401 (Gemini: 400 API_KEY_INVALID), chat and heartbeat alike.
    pub revoked_keys: Vec<String>,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            jitter_ms: 0,
            ttft_ms: 0,
            token_delay_ms: 0,
            tokens_per_event: 1,
            error_rate: 0.0,
            error_status: 500,
            rate_limit_rate: 0.0,
            retry_after_s: 1,
            overload_rate: 0.0,
            outage: false,
            heartbeat_fail: false,
            garbage: false,
            cut_stream: false,
            rpm_limit: 0,
            revoked_keys: Vec::new(),
        }
    }
}

/// A failure the knobs inject into one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    Outage,
    RateLimited { retry_after_s: u64 },
    Overloaded,
    Server(u16),
    Garbage,
}

/// Counters a test reads through `GET /_mock`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Chat calls received (before any injected failure).
    pub requests: AtomicU64,
    /// Model-list calls received.
    pub heartbeats: AtomicU64,
    /// Streams whose client went away before the last event.
    pub disconnects: AtomicU64,
    /// Chat calls refused with 429 because `rpm_limit` was reached.
    pub rate_limited: AtomicU64,
    /// Calls refused because their key is in `revoked_keys` (not counted as requests).
    pub unauthorized: AtomicU64,
    /// Calls of any kind that arrived over HTTP/2 (a gateway provider's `h2c = true`).
    pub http2: AtomicU64,
}

/// One simulated provider.
#[derive(Debug)]
pub struct MockProvider {
    pub name: String,
    pub format: Format,
    knobs: Mutex<Knobs>,
    rpm: Mutex<limits::RpmWindow>,
    pub counters: Counters,
    /// When each chat call arrived, in milliseconds since `started`: the ground truth
    /// for rate-limit tests (`arrivals_ms` in `GET /_mock`). Kept for the latest
    /// [`MAX_ARRIVALS`] calls.
    arrivals: Mutex<Vec<u64>>,
    started: std::time::Instant,
}

/// Chat-call arrival times kept per provider: an hour at 100 calls a second would be
/// far more than any test drives, and 100k times are 800 KiB.
pub const MAX_ARRIVALS: usize = 100_000;

impl MockProvider {
    fn new(name: &str, format: Format) -> Self {
        Self {
            name: name.to_owned(),
            format,
            knobs: Mutex::new(Knobs::default()),
            rpm: Mutex::new(limits::RpmWindow::default()),
            counters: Counters::default(),
            arrivals: Mutex::new(Vec::new()),
            started: std::time::Instant::now(),
        }
    }

    /// The arrival times recorded so far.
    pub fn arrivals(&self) -> Vec<u64> {
        self.arrivals.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// A copy of the current knobs.
    pub fn knobs(&self) -> Knobs {
        self.knobs.lock().map(|k| k.clone()).unwrap_or_default()
    }

    /// Counts a chat call and decides whether to fail it.
    pub fn on_chat(&self) -> (Knobs, Option<Injected>) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut a) = self.arrivals.lock()
            && a.len() < MAX_ARRIVALS
        {
            a.push(self.started.elapsed().as_millis() as u64);
        }
        let k = self.knobs();
        let over_limit = if k.rpm_limit > 0 {
            let mut w = self.rpm.lock().unwrap_or_else(|p| p.into_inner());
            w.admit(k.rpm_limit, std::time::Instant::now()).err()
        } else {
            None
        };
        let injected = if k.outage {
            Some(Injected::Outage)
        } else if let Some(wait) = over_limit {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            Some(Injected::RateLimited {
                retry_after_s: wait.as_secs_f64().ceil() as u64,
            })
        } else if roll(k.rate_limit_rate) {
            Some(Injected::RateLimited {
                retry_after_s: k.retry_after_s,
            })
        } else if roll(k.overload_rate) {
            Some(Injected::Overloaded)
        } else if roll(k.error_rate) {
            Some(Injected::Server(k.error_status))
        } else if k.garbage {
            Some(Injected::Garbage)
        } else {
            None
        };
        (k, injected)
    }

    /// Counts a heartbeat and says whether it should fail.
    pub fn on_heartbeat(&self) -> bool {
        self.counters.heartbeats.fetch_add(1, Ordering::Relaxed);
        let k = self.knobs();
        k.outage || k.heartbeat_fail
    }
}

fn roll(p: f64) -> bool {
    p > 0.0 && (p >= 1.0 || rand::random_bool(p))
}

/// Shared state of a mock server.
#[derive(Debug, Clone)]
pub struct MockState {
    pub providers: Arc<BTreeMap<String, Arc<MockProvider>>>,
}

impl MockState {
    /// Providers named by format, one per given `(name, format)`.
    pub fn new(specs: &[(&str, Format)]) -> Self {
        let providers = specs
            .iter()
            .map(|(name, f)| ((*name).to_owned(), Arc::new(MockProvider::new(name, *f))))
            .collect();
        Self {
            providers: Arc::new(providers),
        }
    }

    /// The six default providers, each named after its format.
    pub fn default_set() -> Self {
        let specs: Vec<(&str, Format)> = Format::ALL.iter().map(|f| (f.name(), *f)).collect();
        Self::new(&specs)
    }

    /// The six default providers with the demo's timings: each answers at its own
    /// speed (head latency, time to first token, per-token delay), so the demo's
    /// routes have real price/speed trade-offs. Cheapest is slowest:
    /// mistral > deepseek > qwen > openai > gemini > anthropic (fastest).
    pub fn demo_set() -> Self {
        let state = Self::default_set();
        // (provider, latency_ms, jitter_ms, ttft_ms, token_delay_ms)
        let timings = [
            ("anthropic", 120, 20, 60, 8),
            ("gemini", 160, 30, 80, 10),
            ("openai", 250, 50, 100, 15),
            ("qwen", 450, 80, 200, 20),
            ("deepseek", 700, 100, 300, 30),
            ("mistral", 1100, 150, 400, 35),
        ];
        for (name, latency_ms, jitter_ms, ttft_ms, token_delay_ms) in timings {
            if let Some(p) = state.provider(name)
                && let Ok(mut k) = p.knobs.lock()
            {
                *k = Knobs {
                    latency_ms,
                    jitter_ms,
                    ttft_ms,
                    token_delay_ms,
                    ..Knobs::default()
                };
            }
        }
        state
    }

    /// A provider by name.
    pub fn provider(&self, name: &str) -> Option<&Arc<MockProvider>> {
        self.providers.get(name)
    }
}

/// A running mock server.
pub struct MockServer {
    pub addr: SocketAddr,
    pub state: MockState,
    handle: ServerHandle,
}

impl MockServer {
    /// Starts `state`'s providers on `listen` (use `127.0.0.1:0` for an OS-chosen port).
    pub async fn start(listen: &str, state: MockState) -> std::io::Result<Self> {
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .configure(routes)
        })
        // HTTP/2 sends a response's head and body as separate frames: without
        // TCP_NODELAY, Nagle holds the body until the client ACKs the head (~40 ms).
        .on_connect(|conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
        })
        .workers(1)
        // Like real providers, stop generating when the caller hangs up, rather
        // than on the next token's failed write.
        .h1_allow_half_closed(false)
        .disable_signals()
        // HTTP/1.1, or HTTP/2 without TLS for clients that start with its preface
        // (a provider's `h2c = true`), as real providers offer HTTP/2 over TLS.
        .bind_auto_h2c(listen)?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| std::io::Error::other("mock server bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            addr,
            state,
            handle,
        })
    }

    /// `host:port`, as `{mock}` in a config expands to.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The base URL a gateway config uses for provider `name`.
    pub fn base_url(&self, name: &str) -> Option<String> {
        let p = self.state.provider(name)?;
        Some(format!(
            "http://{}/{}{}",
            self.addr,
            name,
            p.format.base_path()
        ))
    }

    /// Stops the server.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/_mock", web::get().to(control_state))
        .route("/_mock/reset", web::post().to(control_reset))
        .route("/_mock/providers/{name}", web::patch().to(control_patch))
        .route("/_mock/providers/{name}", web::post().to(control_patch))
        .route("/{name}/{tail:.*}", web::route().to(dispatch));
}

async fn dispatch(
    state: web::Data<MockState>,
    req: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
    body: Bytes,
) -> HttpResponse {
    let (name, tail) = path.into_inner();
    let Some(provider) = state.provider(&name).cloned() else {
        return HttpResponse::NotFound()
            .json(serde_json::json!({"error": format!("no simulated provider '{name}'")}));
    };
    if req.version() == actix_web::http::Version::HTTP_2 {
        provider.counters.http2.fetch_add(1, Ordering::Relaxed);
    }
    let tail = format!("/{tail}");
    let knobs = provider.knobs();
    if let Some(key) = limits::request_key(&req)
        && knobs.revoked_keys.iter().any(|k| k == key)
    {
        provider
            .counters
            .unauthorized
            .fetch_add(1, Ordering::Relaxed);
        return limits::unauthorized(provider.format);
    }
    let mut resp = match provider.format {
        Format::OpenAi | Format::DeepSeek | Format::Qwen | Format::Mistral => {
            openai::handle(provider.clone(), &req, &tail, &body).await
        }
        Format::Anthropic => anthropic::handle(provider.clone(), &req, &tail, &body).await,
        Format::Gemini => gemini::handle(provider.clone(), &req, &tail, &body).await,
    };
    if knobs.rpm_limit > 0 {
        let (remaining, reset) = provider
            .rpm
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state(knobs.rpm_limit, std::time::Instant::now());
        limits::add_headers(
            &mut resp,
            provider.format,
            knobs.rpm_limit,
            remaining,
            reset,
        );
    }
    resp
}

#[derive(Serialize)]
struct ProviderReport {
    format: Format,
    knobs: Knobs,
    requests: u64,
    heartbeats: u64,
    disconnects: u64,
    rate_limited: u64,
    unauthorized: u64,
    http2: u64,
    arrivals_ms: Vec<u64>,
}

fn report(state: &MockState) -> serde_json::Value {
    let providers: BTreeMap<&str, ProviderReport> = state
        .providers
        .iter()
        .map(|(name, p)| {
            (
                name.as_str(),
                ProviderReport {
                    format: p.format,
                    knobs: p.knobs(),
                    requests: p.counters.requests.load(Ordering::Relaxed),
                    heartbeats: p.counters.heartbeats.load(Ordering::Relaxed),
                    disconnects: p.counters.disconnects.load(Ordering::Relaxed),
                    rate_limited: p.counters.rate_limited.load(Ordering::Relaxed),
                    unauthorized: p.counters.unauthorized.load(Ordering::Relaxed),
                    http2: p.counters.http2.load(Ordering::Relaxed),
                    arrivals_ms: p.arrivals(),
                },
            )
        })
        .collect();
    serde_json::json!({ "providers": providers })
}

async fn control_state(state: web::Data<MockState>) -> HttpResponse {
    HttpResponse::Ok().json(report(&state))
}

async fn control_reset(state: web::Data<MockState>) -> HttpResponse {
    for p in state.providers.values() {
        if let Ok(mut k) = p.knobs.lock() {
            *k = Knobs::default();
        }
        p.counters.requests.store(0, Ordering::Relaxed);
        p.counters.heartbeats.store(0, Ordering::Relaxed);
        p.counters.disconnects.store(0, Ordering::Relaxed);
        p.counters.rate_limited.store(0, Ordering::Relaxed);
        p.counters.unauthorized.store(0, Ordering::Relaxed);
        p.counters.http2.store(0, Ordering::Relaxed);
        if let Ok(mut a) = p.arrivals.lock() {
            a.clear();
        }
        if let Ok(mut w) = p.rpm.lock() {
            *w = limits::RpmWindow::default();
        }
    }
    HttpResponse::Ok().json(report(&state))
}

async fn control_patch(
    state: web::Data<MockState>,
    name: web::Path<String>,
    body: Bytes,
) -> HttpResponse {
    let Some(p) = state.provider(&name) else {
        return HttpResponse::NotFound()
            .json(serde_json::json!({"error": format!("no simulated provider '{name}'")}));
    };
    // Merge the patch into the current knobs, then re-validate the whole.
    let mut current = serde_json::to_value(p.knobs()).unwrap_or_default();
    let patch: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return HttpResponse::BadRequest()
                .json(serde_json::json!({"error": format!("invalid JSON: {e}")}));
        }
    };
    if let (Some(cur), Some(patch)) = (current.as_object_mut(), patch.as_object()) {
        for (k, v) in patch {
            cur.insert(k.clone(), v.clone());
        }
    }
    match serde_json::from_value::<Knobs>(current) {
        Ok(k) => {
            if let Ok(mut guard) = p.knobs.lock() {
                *guard = k;
            }
            HttpResponse::Ok().json(report(&state))
        }
        Err(e) => HttpResponse::BadRequest().json(serde_json::json!({"error": e.to_string()})),
    }
}
