//! Provider token buckets across replicas: each provider key's RPM and TPM enforced
//! for the whole cluster by one atomic Lua script per admission on the shared Redis.
//!
//! RPM is a sliding log: a sorted set of admission times (future ones for requests
//! queued to wait). A request is placed at the earliest moment at which the 60 s
//! window ending there holds fewer than `rpm` admissions, so no 60 s window ever holds
//! more than `rpm` sends, whichever replicas sent them. TPM is a continuous bucket
//! (`tpm / 60` tokens a second, up to `tpm`), debited by the estimate at admission and
//! corrected by the real usage afterwards ([`GlobalLimits::reconcile`]). A request that
//! would wait longer than its budget reserves nothing and learns when the key frees up.
//! Redis's own clock (`TIME`) stamps every admission, so replicas' clocks do not matter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::Script;

use super::Redis;
use super::engine::reason;

/// Seconds per rate-limit window, in milliseconds: limits are per minute.
const WINDOW_MS: u64 = 60_000;
/// Added to the RPM window: between the admission and the provider's receipt lie the
/// replica's timer, the send and the network, which differ from request to request by
/// up to a few milliseconds (more on a loaded machine). Spacing the window's edge by
/// this much keeps any 60 s of the provider's own count within the limit, at a cost of
/// under 1 % of its use.
const GUARD_MS: u64 = 500;

/// KEYS: the RPM log, the TPM bucket. ARGV: rpm (0: none), tpm (0: none), tokens,
/// budget in ms, a unique member for the log, the RPM window in ms (60 s and
/// [`GUARD_MS`]). Returns {admitted 0|1, wait in ms}.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local window = 60000
local rpm_window = tonumber(ARGV[6])
local at = now
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - rpm_window)
  local n = redis.call('ZCARD', KEYS[1])
  if n >= rpm then
    local e = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
    at = math.max(at, tonumber(e[2]) + rpm_window)
  end
end
local level = 0
if tpm > 0 then
  local h = redis.call('HMGET', KEYS[2], 'level', 'ts')
  level = tonumber(h[1]) or tpm
  local ts = tonumber(h[2]) or now
  level = math.min(tpm, level + math.max(0, now - ts) * tpm / window)
  local need = math.min(tokens, tpm)
  if level < need then
    at = math.max(at, now + math.ceil((need - level) * window / tpm))
  end
end
local wait = at - now
if wait > budget then
  return {0, wait}
end
if rpm > 0 then
  redis.call('ZADD', KEYS[1], at, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window * 2 + wait)
end
if tpm > 0 then
  redis.call('HSET', KEYS[2], 'level', tostring(level - tokens), 'ts', now)
  redis.call('PEXPIRE', KEYS[2], window * 2)
end
return {1, wait}
";

/// KEYS: the TPM bucket. ARGV: tokens to give back (negative: to take).
const RECONCILE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'level', ARGV[1])
end
return 1
";

/// What the cluster said about one admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Reserved: send after this wait.
    Go(Duration),
    /// Not reserved: the key frees up for this request after this long.
    Saturated(Duration),
    /// The engine did not answer: the caller decides on local state.
    Unavailable,
}

/// One provider key's limits, as the cluster enforces them.
#[derive(Debug, Clone, Copy)]
pub struct KeyLimits {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

/// The cluster-wide buckets of every provider key.
#[derive(Debug)]
pub struct GlobalLimits {
    redis: Arc<Redis>,
    admit: Script,
    reconcile: Script,
    /// Makes each log member unique within this replica.
    seq: AtomicU64,
}

impl GlobalLimits {
    /// Buckets on `redis`.
    pub fn new(redis: Arc<Redis>) -> Self {
        Self {
            redis,
            admit: Script::new(ADMIT),
            reconcile: Script::new(RECONCILE),
            seq: AtomicU64::new(0),
        }
    }

    /// The engine these buckets live on.
    pub fn redis(&self) -> &Arc<Redis> {
        &self.redis
    }

    /// Reserves one request of `tokens` estimated tokens on the key named `key` (the
    /// provider and the key's fingerprint), waiting at most `budget`. One round trip;
    /// none while the engine is known to be down.
    pub async fn admit(
        &self,
        key: &str,
        limits: KeyLimits,
        tokens: u64,
        budget: Duration,
    ) -> Verdict {
        if !self.redis.is_up() {
            return Verdict::Unavailable;
        }
        let (log, bucket) = self.keys(key);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let member = format!("{}:{seq}", self.redis.me().replica_id);
        let mut conn = self.redis.conn();
        let reply: redis::RedisResult<(u8, u64)> = self
            .admit
            .key(log)
            .key(bucket)
            .arg(limits.rpm.unwrap_or(0))
            .arg(limits.tpm.unwrap_or(0))
            .arg(tokens)
            .arg(budget.as_millis().min(u128::from(WINDOW_MS * 10)) as u64)
            .arg(member)
            .arg(WINDOW_MS + GUARD_MS)
            .invoke_async(&mut conn)
            .await;
        match reply {
            Ok((admitted, wait_ms)) => {
                self.redis.mark(true);
                let wait = Duration::from_millis(wait_ms);
                if admitted == 1 {
                    Verdict::Go(wait)
                } else {
                    Verdict::Saturated(wait)
                }
            }
            Err(e) => {
                tracing::debug!(error = reason(&e), "cluster admission failed");
                self.redis.mark(false);
                Verdict::Unavailable
            }
        }
    }

    /// Corrects a TPM reservation of `estimated` tokens with the `actual` count, off the
    /// request path (a task of its own; a lost correction only skews the bucket until it
    /// refills).
    pub fn reconcile(self: &Arc<Self>, key: &str, estimated: u64, actual: u64) {
        if estimated == actual || !self.redis.is_up() {
            return;
        }
        let (_, bucket) = self.keys(key);
        let delta = estimated as f64 - actual as f64;
        let this = self.clone();
        actix_web::rt::spawn(async move {
            let mut conn = this.redis.conn();
            let r: redis::RedisResult<i64> = this
                .reconcile
                .key(bucket)
                .arg(delta)
                .invoke_async(&mut conn)
                .await;
            if r.is_err() {
                this.redis.mark(false);
            }
        });
    }

    /// The log and bucket keys, hash-tagged so a Redis Cluster keeps them on one node.
    fn keys(&self, key: &str) -> (String, String) {
        let tag = self.redis.key(&format!("{{rl:{key}}}"));
        (format!("{tag}:rpm"), format!("{tag}:tpm"))
    }
}
