//! Usage accounting: one canonical [`UsageRecord`] per client request, its cost from the
//! configured prices, a ledger that writes records off the request path in batches to
//! an embedded SQLite database, and the live counters that enforce per-key and
//! per-tenant rate limits and budgets without I/O.
//!
//! - [`caller`]: who a request is from (key, tenant, tier, limits);
//! - [`record`]: the record and the cache status it carries;
//! - [`ledger`]: the bounded queue and the writer thread (batching, crash window);
//! - [`store`]: the SQLite schema and batch insert;
//! - [`query`]: totals, group-by breakdowns and record pages for the usage API;
//! - [`quota`]: requests/tokens per minute and USD per day/month, in memory;
//! - [`keys`]: admin-created gateway keys, persisted (hashed) beside the records;
//! - [`time`]: UTC calendar arithmetic.
//!
//! The request path touches this module through [`Accounting::admit`] (before any
//! provider is called) and one [`Ticket`] per request, finished exactly once: by the
//! handler when the request failed before an answer, by the cache's client stream
//! (`cache::client::Record`) when the answer ends, early or not, or by its `Drop` when
//! the client went away before an answer.

pub mod caller;
pub mod keys;
pub mod ledger;
pub mod query;
pub mod quota;
pub mod record;
pub mod store;
pub mod time;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::canonical::Usage;
use crate::config::{Limits, ModelConfig, UsageConfig};
use crate::error::GatewayError;
pub use caller::Caller;
pub use ledger::Ledger;
pub use query::Readers;
use quota::{Clock, Quotas, Scope};
pub use record::{CacheStatus, UsageRecord};

/// The status recorded when the client went away before its answer was complete
/// (nginx's convention; no response was finished).
pub const STATUS_CLIENT_CLOSED: u16 = 499;

/// A failure of the usage database.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("cannot open the usage database {path}: {message}")]
    Open { path: String, message: String },
    #[error("usage database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the usage ledger is closed")]
    Closed,
}

/// The ledger, the read connections and the live quotas.
#[derive(Debug)]
pub struct Accounting {
    ledger: Ledger,
    quotas: Quotas,
    readers: Readers,
    /// For admin key writes (rare, through `web::block`).
    admin: Mutex<Connection>,
}

impl Accounting {
    /// Opens the ledger and seeds today's and this month's spend from it. Blocking.
    pub fn open(
        config: &UsageConfig,
        tenants: BTreeMap<String, Limits>,
    ) -> Result<Arc<Self>, UsageError> {
        let ledger = Ledger::start(
            config.database.clone(),
            config.flush_interval,
            config.queue_capacity,
        )?;
        let admin = store::open_writer(&config.database)?;
        let quotas = Quotas::new(tenants);
        let now = Clock::now();
        let month = store::spend_since(&admin, time::month_start(now.unix_s) * 1000)?;
        let day = store::spend_since(&admin, time::day_start(now.unix_s) * 1000)?;
        let mut seeds: BTreeMap<Scope, (f64, f64)> = BTreeMap::new();
        for (rows, today) in [(month, false), (day, true)] {
            for (tenant, key, usd) in rows {
                for scope in [
                    Scope::Key(key.as_str().into()),
                    Scope::Tenant(tenant.as_str().into()),
                ] {
                    let e = seeds.entry(scope).or_default();
                    if today {
                        e.0 += usd;
                    } else {
                        e.1 += usd;
                    }
                }
            }
        }
        for (scope, (day_usd, month_usd)) in seeds {
            quotas.seed(scope, day_usd, month_usd, now);
        }
        Ok(Arc::new(Self {
            readers: Readers::new(config.database.clone()),
            ledger,
            quotas,
            admin: Mutex::new(admin),
        }))
    }

    /// Refuses a request whose key or tenant is over a rate limit or budget; counts it
    /// otherwise. No I/O.
    pub fn admit(&self, caller: &Caller) -> Result<(), GatewayError> {
        self.quotas
            .admit(&caller.key_id, &caller.limits, &caller.tenant, Clock::now())
    }

    /// A ticket for one request of `caller`, to be finished when it ends.
    pub fn ticket(self: &Arc<Self>, caller: &Caller, request_id: String) -> Ticket {
        Ticket {
            accounting: self.clone(),
            request_id,
            tenant: caller.tenant.clone(),
            key_id: caller.key_id.clone(),
            route: None,
            model: None,
            attempts: 0,
            started: Instant::now(),
            ttft: None,
            cache: CacheStatus::None,
            api: record::DEFAULT_API,
            done: false,
        }
    }

    /// The query side.
    pub fn readers(&self) -> &Readers {
        &self.readers
    }

    /// The writer.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The live counters.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// Runs `f` on the admin connection. Blocking.
    pub fn with_admin<T>(&self, f: impl FnOnce(&Connection) -> T) -> Result<T, UsageError> {
        let conn = self.admin.lock().map_err(|_| UsageError::Closed)?;
        Ok(f(&conn))
    }

    /// Commits everything queued and stops the writer (graceful shutdown). Blocking.
    pub fn close(&self) {
        self.ledger.close();
    }

    fn submit(&self, record: UsageRecord) {
        let now = Clock {
            unix_s: record.ts_ms / 1000,
        };
        self.quotas.charge(
            &record.key_id,
            &record.tenant,
            record.total_tokens(),
            record.cost_usd,
            now,
        );

        self.ledger.submit(record);
    }
}

/// One request's accounting, finished exactly once (see the module doc).
#[derive(Debug)]
pub struct Ticket {
    accounting: Arc<Accounting>,
    request_id: String,
    tenant: Arc<str>,
    key_id: Arc<str>,
    route: Option<String>,
    model: Option<Arc<ModelConfig>>,
    attempts: u32,
    started: Instant,
    /// From the request's arrival to the first event its client was sent (streams).
    ttft: Option<Duration>,
    cache: CacheStatus,
    /// The client API the request arrived in (`openai-chat`, `anthropic-messages`).
    api: &'static str,
    done: bool,
}

impl Ticket {
    /// The tenant the request is billed to (the cache keys its entries by it).
    pub fn tenant(&self) -> &Arc<str> {
        &self.tenant
    }

    /// The client API the request arrived in, as the metrics label it.
    pub fn set_api(&mut self, api: &'static str) {
        self.api = api;
    }

    /// The route the plan came from.
    pub fn set_route(&mut self, route: Option<&str>) {
        self.route = route.map(str::to_owned);
    }

    /// Which model answered and after how many attempts.
    pub fn set_answered(&mut self, model: &Arc<ModelConfig>, attempts: u32) {
        self.model = Some(model.clone());
        self.attempts = attempts;
    }

    /// How the cache took part (miss, bypass, …).
    pub fn set_cache(&mut self, cache: CacheStatus) {
        self.cache = cache;
    }

    /// The client is being sent its first stream event (the first call counts).
    pub fn first_event(&mut self) {
        if self.ttft.is_none() {
            self.ttft = Some(self.started.elapsed());
        }
    }

    /// The request ended with `status` after the provider reported (or the gateway
    /// estimated) `usage`; cost comes from the answering model's prices.
    pub fn finish(mut self, usage: &Usage, status: u16) {
        self.close(usage, status);
    }

    /// The request failed before any answer with `status` after `attempts`.
    pub fn failed(mut self, status: u16, attempts: u32) {
        self.attempts = attempts;
        self.close(&Usage::default(), status);
    }

    /// The cache answered (`Hit` or `Coalesced`) with a stored answer of `model` and
    /// its `usage`: the record carries zero provider cost and the cost it saved.
    pub fn cache_hit(mut self, model: &Arc<ModelConfig>, usage: &Usage, cache: CacheStatus) {
        self.model = Some(model.clone());
        self.attempts = 0;
        self.cache = cache;
        self.close(usage, 200);
    }

    fn close(&mut self, usage: &Usage, status: u16) {
        if self.done {
            return;
        }
        self.done = true;
        let (provider, model, price) = match &self.model {
            Some(m) => (
                m.provider.name.clone(),
                m.name.clone(),
                m.prices.cost_usd(usage),
            ),
            None => (Arc::from(""), Arc::from(""), 0.0),
        };
        let (cost_usd, saving_usd) = if self.cache.is_served_from_cache() {
            (0.0, price)
        } else {
            (price, 0.0)
        };
        let ts_ms = time::now_ms();
        let record = UsageRecord {
            id: record::record_id(ts_ms),
            request_id: std::mem::take(&mut self.request_id),
            ts_ms,
            tenant: self.tenant.clone(),
            key_id: self.key_id.clone(),
            route: self.route.take(),
            provider,
            model,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_tokens: usage.cached_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            estimated: usage.estimated,
            cost_usd,
            saving_usd,
            latency_ms: self.started.elapsed().as_millis() as u64,
            ttft_ms: self.ttft.map(|t| t.as_millis() as u64),
            status,
            attempts: self.attempts,
            cache: self.cache,
            api: self.api,
            ended: Instant::now(),
        };
        self.accounting.submit(record);
    }
}

/// A ticket nobody finished: the handler's future was dropped because the client
/// went away before an answer. The provider may have been called; nothing is known
/// of its usage, so the record says 499 with no tokens.
impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            self.close(
                &Usage {
                    estimated: true,
                    ..Usage::default()
                },
                STATUS_CLIENT_CLOSED,
            );
        }
    }
}
