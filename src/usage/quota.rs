//! Per-key and per-tenant limits, checked before any provider is called: requests and
//! tokens per calendar minute, spend per UTC day and month.
//!
//! Everything lives in memory (loaded from the ledger at start), so the check costs no
//! I/O: one map lookup per scope, each under a shard lock held for a few instructions.
//! Spend is charged when a request's record is made, so requests already in flight
//! when a budget is reached can overshoot it by their own cost; the next request is
//! refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use dashmap::DashMap;

use crate::config::Limits;
use crate::error::GatewayError;

/// Whose counters: a key (by id) or a tenant (by name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Key(Arc<str>),
    Tenant(Arc<str>),
}

impl Scope {
    fn describe(&self) -> String {
        match self {
            Self::Key(id) => format!("gateway key '{id}'"),
            Self::Tenant(t) => format!("tenant '{t}'"),
        }
    }
}

/// A calendar position in UTC: minute, day and month numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Seconds since the Unix epoch.
    pub unix_s: i64,
}

impl Clock {
    /// Now.
    pub fn now() -> Self {
        Self {
            unix_s: super::time::now_ms() / 1000,
        }
    }

    fn minute(self) -> i64 {
        self.unix_s.div_euclid(60)
    }

    fn day(self) -> i64 {
        self.unix_s.div_euclid(86_400)
    }

    fn month(self) -> i64 {
        super::time::month_index(self.unix_s)
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    minute: i64,
    requests: u64,
    tokens: u64,
    day: i64,
    day_usd: f64,
    month: i64,
    month_usd: f64,
}

impl Counters {
    /// Resets the windows that have passed.
    fn roll(&mut self, now: Clock) {
        if self.minute != now.minute() {
            self.minute = now.minute();
            self.requests = 0;
            self.tokens = 0;
        }
        if self.day != now.day() {
            self.day = now.day();
            self.day_usd = 0.0;
        }
        if self.month != now.month() {
            self.month = now.month();
            self.month_usd = 0.0;
        }
    }
}

/// Live counters for every key and tenant.
#[derive(Debug, Default)]
pub struct Quotas {
    /// Replaced by a config reload; counters are kept.
    tenants: ArcSwap<BTreeMap<String, Limits>>,
    counters: DashMap<Scope, Counters>,
}

impl Quotas {
    /// Counters starting empty, with the configured tenant limits.
    pub fn new(tenants: BTreeMap<String, Limits>) -> Self {
        Self {
            tenants: ArcSwap::from_pointee(tenants),
            counters: DashMap::new(),
        }
    }

    /// The configured limits of a tenant.
    pub fn tenant_limits(&self, tenant: &str) -> Limits {
        self.tenants.load().get(tenant).copied().unwrap_or_default()
    }

    /// Takes a reloaded config's tenant limits; spend and request counters stay.
    pub fn set_tenants(&self, tenants: BTreeMap<String, Limits>) {
        self.tenants.store(Arc::new(tenants));
    }

    /// Seeds spend from the ledger: `day_usd` and `month_usd` already spent.
    pub fn seed(&self, scope: Scope, day_usd: f64, month_usd: f64, now: Clock) {
        let mut c = self.counters.entry(scope).or_default();
        c.roll(now);
        c.day_usd += day_usd;
        c.month_usd += month_usd;
    }

    /// Admits one request of `key` (with its own limits) in `tenant`, counting it
    /// against the per-minute request limits; refuses with a 429 naming the limit.
    pub fn admit(
        &self,
        key: &Arc<str>,
        key_limits: &Limits,
        tenant: &Arc<str>,
        now: Clock,
    ) -> Result<(), GatewayError> {
        let tenant_limits = self.tenant_limits(tenant);
        let scopes = [
            (Scope::Key(key.clone()), key_limits),
            (Scope::Tenant(tenant.clone()), &tenant_limits),
        ];
        for (scope, limits) in &scopes {
            if limits.is_unlimited() {
                continue;
            }
            let mut c = self.counters.entry(scope.clone()).or_default();
            c.roll(now);
            check(scope, limits, &c, now)?;
        }
        for (scope, limits) in scopes {
            if limits.requests_per_minute.is_some() {
                let mut c = self.counters.entry(scope).or_default();
                c.roll(now);
                c.requests += 1;
            }
        }
        Ok(())
    }

    /// Charges a finished request's tokens and cost to its key and tenant.
    pub fn charge(
        &self,
        key: &Arc<str>,
        tenant: &Arc<str>,
        tokens: u64,
        cost_usd: f64,
        now: Clock,
    ) {
        for scope in [Scope::Key(key.clone()), Scope::Tenant(tenant.clone())] {
            let mut c = self.counters.entry(scope).or_default();
            c.roll(now);
            c.tokens += tokens;
            c.day_usd += cost_usd;
            c.month_usd += cost_usd;
        }
    }

    /// For every tenant with a USD budget: `(tenant, "day" | "month", spent ÷ budget)`.
    pub fn tenant_budget_use(&self, now: Clock) -> Vec<(String, &'static str, f64)> {
        let tenants = self.tenants.load();
        let mut out = Vec::new();
        for (name, limits) in tenants.iter() {
            let budgets = [
                ("day", limits.budget_usd_per_day),
                ("month", limits.budget_usd_per_month),
            ];
            if budgets.iter().all(|(_, b)| b.is_none()) {
                continue;
            }
            let (day, month) = self.spend(&Scope::Tenant(name.as_str().into()), now);
            for ((period, budget), spent) in budgets.into_iter().zip([day, month]) {
                if let Some(budget) = budget.filter(|b| *b > 0.0) {
                    out.push((name.clone(), period, spent / budget));
                }
            }
        }
        out
    }

    /// Spend of a scope today and this month (USD).
    pub fn spend(&self, scope: &Scope, now: Clock) -> (f64, f64) {
        self.counters.get(scope).map_or((0.0, 0.0), |c| {
            let mut c = *c;
            c.roll(now);
            (c.day_usd, c.month_usd)
        })
    }
}

/// The first limit `c` has reached, as the error the client gets.
fn check(scope: &Scope, limits: &Limits, c: &Counters, now: Clock) -> Result<(), GatewayError> {
    let who = scope.describe();
    if let Some(budget) = limits.budget_usd_per_day
        && c.day_usd >= budget
    {
        let wait = 86_400 - now.unix_s.rem_euclid(86_400);
        return Err(GatewayError::BudgetExceeded {
            message: format!(
                "{who} has spent ${:.4} of its daily budget of ${budget:.4}; the budget resets at 00:00 UTC (in {}) or when an operator raises it",
                c.day_usd,
                super::time::human_duration(wait)
            ),
            retry_after: Some(Duration::from_secs(wait.unsigned_abs())),
        });
    }
    if let Some(budget) = limits.budget_usd_per_month
        && c.month_usd >= budget
    {
        let wait = super::time::seconds_to_next_month(now.unix_s);
        return Err(GatewayError::BudgetExceeded {
            message: format!(
                "{who} has spent ${:.4} of its monthly budget of ${budget:.4}; the budget resets on the 1st at 00:00 UTC (in {}) or when an operator raises it",
                c.month_usd,
                super::time::human_duration(wait)
            ),
            retry_after: Some(Duration::from_secs(wait.unsigned_abs())),
        });
    }
    let wait = Duration::from_secs((60 - now.unix_s.rem_euclid(60)).unsigned_abs());
    if let Some(rpm) = limits.requests_per_minute
        && c.requests >= rpm
    {
        return Err(GatewayError::RateLimited {
            message: format!(
                "{who} is limited to {rpm} requests per minute; retry after {}s",
                wait.as_secs()
            ),
            retry_after: Some(wait),
        });
    }
    if let Some(tpm) = limits.tokens_per_minute
        && c.tokens >= tpm
    {
        return Err(GatewayError::RateLimited {
            message: format!(
                "{who} is limited to {tpm} tokens per minute; retry after {}s",
                wait.as_secs()
            ),
            retry_after: Some(wait),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix_s: i64) -> Clock {
        Clock { unix_s }
    }

    #[test]
    fn budget_refuses_once_spend_reaches_it_and_resets_next_day() {
        let q = Quotas::default();
        let key: Arc<str> = "k".into();
        let tenant: Arc<str> = "t".into();
        let limits = Limits {
            budget_usd_per_day: Some(0.01),
            ..Limits::default()
        };
        let t0 = at(10 * 86_400 + 100);
        assert!(q.admit(&key, &limits, &tenant, t0).is_ok());
        q.charge(&key, &tenant, 10, 0.006, t0);
        assert!(q.admit(&key, &limits, &tenant, t0).is_ok());
        q.charge(&key, &tenant, 10, 0.006, t0);
        let err = q.admit(&key, &limits, &tenant, t0).unwrap_err();
        assert_eq!(err.kind(), "budget_exceeded");
        assert!(err.to_string().contains("daily budget of $0.0100"), "{err}");
        assert!(q.admit(&key, &limits, &tenant, at(11 * 86_400)).is_ok());
    }

    #[test]
    fn tenant_limits_cover_all_its_keys() {
        let mut tenants = BTreeMap::new();
        tenants.insert(
            "t".to_owned(),
            Limits {
                requests_per_minute: Some(2),
                ..Limits::default()
            },
        );
        let q = Quotas::new(tenants);
        let tenant: Arc<str> = "t".into();
        let now = at(120);
        let none = Limits::default();
        assert!(q.admit(&"a".into(), &none, &tenant, now).is_ok());
        assert!(q.admit(&"b".into(), &none, &tenant, now).is_ok());
        let err = q.admit(&"c".into(), &none, &tenant, now).unwrap_err();
        assert_eq!(err.kind(), "rate_limited");
        assert!(q.admit(&"c".into(), &none, &tenant, at(180)).is_ok());
    }

    #[test]
    fn tokens_per_minute_counts_charged_tokens() {
        let q = Quotas::default();
        let key: Arc<str> = "k".into();
        let limits = Limits {
            tokens_per_minute: Some(100),
            ..Limits::default()
        };
        let now = at(60);
        assert!(q.admit(&key, &limits, &"t".into(), now).is_ok());
        q.charge(&key, &"t".into(), 100, 0.0, now);
        assert!(q.admit(&key, &limits, &"t".into(), now).is_err());
    }
}
