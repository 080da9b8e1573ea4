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
use tokio::sync::{mpsc, oneshot};

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

/// Admits a batch of requests in order, each as if alone. KEYS: per request its RPM
/// log and TPM bucket. ARGV: the RPM window in ms (60 s and [`GUARD_MS`]), then per
/// request rpm (0: none), tpm (0: none), tokens, budget in ms, a unique log member.
/// Returns per request {admitted 0|1, wait in ms}.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = 60000
local rpm_window = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local log, bucket = KEYS[2 * i - 1], KEYS[2 * i]
  local a = 1 + (i - 1) * 5
  local rpm = tonumber(ARGV[a + 1])
  local tpm = tonumber(ARGV[a + 2])
  local tokens = tonumber(ARGV[a + 3])
  local budget = tonumber(ARGV[a + 4])
  local at = now
  if rpm > 0 then
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - rpm_window)
    local n = redis.call('ZCARD', log)
    if n >= rpm then
      local e = redis.call('ZRANGE', log, n - rpm, n - rpm, 'WITHSCORES')
      at = math.max(at, tonumber(e[2]) + rpm_window)
    end
  end
  local level = 0
  if tpm > 0 then
    local h = redis.call('HMGET', bucket, 'level', 'ts')
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
    out[i] = {0, wait}
  else
    if rpm > 0 then
      redis.call('ZADD', log, at, ARGV[a + 5])
      redis.call('PEXPIRE', log, window * 2 + wait)
    end
    if tpm > 0 then
      redis.call('HSET', bucket, 'level', tostring(level - tokens), 'ts', now)
      redis.call('PEXPIRE', bucket, window * 2)
    end
    out[i] = {1, wait}
  end
end
return out
";

/// Admissions sent in one script call at most: a call's arguments stay small, and a
/// batch this size runs in well under a millisecond in Redis.
const MAX_BATCH: usize = 128;

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

/// One admission waiting for the batcher.
struct Pending {
    log: String,
    bucket: String,
    limits: KeyLimits,
    tokens: u64,
    budget_ms: u64,
    member: String,
    reply: oneshot::Sender<Option<(u8, u64)>>,
}

/// The cluster-wide buckets of every provider key. Admissions go to a batcher on the
/// engine's thread: the ones that arrive while a script call is in flight go together
/// in the next, so under load a replica makes one round trip for many admissions, and
/// a lone request waits for no one.
pub struct GlobalLimits {
    redis: Arc<Redis>,
    reconcile: Script,
    /// Makes each log member unique within this replica.
    seq: AtomicU64,
    queue: mpsc::UnboundedSender<Pending>,
}

impl std::fmt::Debug for GlobalLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalLimits")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl GlobalLimits {
    /// The engine the buckets live on (for the events that go with them).
    pub fn engine(&self) -> &Arc<Redis> {
        &self.redis
    }

    /// Buckets on `redis`; starts the batcher on the engine's thread.
    pub fn new(redis: Arc<Redis>) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        redis.spawn(batcher(redis.clone(), rx));
        Self {
            redis,
            reconcile: Script::new(RECONCILE),
            seq: AtomicU64::new(0),
            queue,
        }
    }

    /// The engine these buckets live on.
    pub fn redis(&self) -> &Arc<Redis> {
        &self.redis
    }

    /// Reserves one request of `tokens` estimated tokens on the key named `key` (the
    /// provider and the key's fingerprint), waiting at most `budget`. One round trip
    /// (shared with the admissions batched with it); none while the engine is down.
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
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            log,
            bucket,
            limits,
            tokens,
            budget_ms: budget.as_millis().min(u128::from(WINDOW_MS * 10)) as u64,
            member: format!("{}:{seq}", self.redis.me().replica_id),
            reply,
        };
        if self.queue.send(pending).is_err() {
            return Verdict::Unavailable;
        }
        match answer.await {
            Ok(Some((1, wait_ms))) => Verdict::Go(Duration::from_millis(wait_ms)),
            Ok(Some((_, wait_ms))) => Verdict::Saturated(Duration::from_millis(wait_ms)),
            _ => Verdict::Unavailable,
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

/// Sends the queued admissions in batches of up to [`MAX_BATCH`], one call in flight.
async fn batcher(redis: Arc<Redis>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let admit = Script::new(ADMIT);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut call = admit.prepare_invoke();
        call.arg(WINDOW_MS + GUARD_MS);
        for p in &batch {
            call.key(&p.log).key(&p.bucket);
            call.arg(p.limits.rpm.unwrap_or(0))
                .arg(p.limits.tpm.unwrap_or(0))
                .arg(p.tokens)
                .arg(p.budget_ms)
                .arg(&p.member);
        }
        let mut conn = redis.conn();
        let reply: redis::RedisResult<Vec<(u8, u64)>> = call.invoke_async(&mut conn).await;
        match reply {
            Ok(verdicts) if verdicts.len() == batch.len() => {
                redis.mark(true);
                for (p, v) in batch.drain(..).zip(verdicts) {
                    let _ = p.reply.send(Some(v));
                }
            }
            Ok(_) => batch.clear(),
            Err(e) => {
                tracing::debug!(error = %reason(&e), n = batch.len(), "cluster admission failed");
                redis.mark(false);
                batch.clear();
            }
        }
    }
}
