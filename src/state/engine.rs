//! The Redis connection every replica shares state through.
//!
//! The connection (`redis`'s `ConnectionManager`: one multiplexed connection that
//! reconnects by itself) is driven by a thread of its own with a single-threaded tokio
//! runtime, so no actix worker owns it and a slow engine never stalls a worker's other
//! requests. Every command has a short response timeout: an unreachable Redis fails a
//! command in [`RESPONSE_TIMEOUT`], marks the engine down, and callers fall back to
//! local state at once until the heartbeat finds it again ([`HEARTBEAT_INTERVAL`]).
//! The heartbeat also keeps this replica in the registry that `/admin/cluster` lists.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use super::StateError;
use crate::config::cluster::ClusterConfig;

/// How long one command may take before the engine counts as down: far above a
/// healthy round trip on a LAN (~0.1-0.5 ms), short enough that a request waiting on a
/// dead engine is barely slowed before it falls back to local state.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How often the heartbeat checks the engine and refreshes this replica's entry.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// A replica not heard from for this long is no longer listed.
pub const REPLICA_TTL: Duration = Duration::from_secs(5);

/// One replica as the registry lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplicaInfo {
    pub replica_id: String,
    pub version: String,
    /// SHA-256 of the config text the replica runs (first 16 hex characters).
    pub config_digest: String,
    /// Milliseconds since the Unix epoch of the replica's latest heartbeat.
    pub seen_ms: i64,
}

/// The shared engine, its health, and this replica's identity.
pub struct Redis {
    client: redis::Client,
    /// The engine thread's runtime, for the tasks that live as long as the engine.
    runtime: tokio::runtime::Handle,
    conn: ConnectionManager,
    up: AtomicBool,
    prefix: String,
    me: ReplicaInfo,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("Redis")
            .field("up", &self.is_up())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Starts the engine thread and connects lazily: a replica starts (on local state)
    /// even while Redis is unreachable, and joins when it answers.
    pub fn start(config: &ClusterConfig, config_digest: &str) -> Result<Arc<Self>, StateError> {
        let client = redis::Client::open(config.redis_url.expose())
            .map_err(|e| StateError::Start(format!("invalid cluster.redis_url: {}", reason(&e))))?;
        let me = ReplicaInfo {
            replica_id: config.replica_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_digest: config_digest.to_owned(),
            seen_ms: 0,
        };
        let prefix = config.key_prefix.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("cluster-engine".to_owned())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(StateError::Start(e.to_string())));
                        return;
                    }
                };
                rt.block_on(async move {
                    let cfg = ConnectionManagerConfig::new()
                        .set_response_timeout(Some(RESPONSE_TIMEOUT))
                        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
                        .set_number_of_retries(1)
                        .set_max_delay(HEARTBEAT_INTERVAL);
                    let conn = match ConnectionManager::new_lazy_with_config(client.clone(), cfg) {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = tx.send(Err(StateError::Start(reason(&e))));
                            return;
                        }
                    };
                    let redis = Arc::new(Redis {
                        client,
                        runtime: tokio::runtime::Handle::current(),
                        conn,
                        up: AtomicBool::new(false),
                        prefix,
                        me,
                    });
                    crate::metrics::record_cluster_engine_up("redis", false);
                    let _ = tx.send(Ok(redis.clone()));
                    redis.heartbeat_forever().await;
                });
            })
            .map_err(|e| StateError::Start(e.to_string()))?;
        rx.recv()
            .map_err(|_| StateError::Start("the engine thread ended".to_owned()))?
    }

    /// Whether the latest command or heartbeat reached the engine.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records whether a command reached the engine; says so on a change.
    pub fn mark(&self, ok: bool) {
        if self.up.swap(ok, Ordering::Relaxed) != ok {
            if ok {
                tracing::info!(engine = "redis", "cluster engine reachable: sharing state");
            } else {
                tracing::warn!(
                    engine = "redis",
                    "cluster engine unreachable: serving on local state at this replica's share of every limit"
                );
            }
            crate::metrics::record_cluster_engine_up("redis", ok);
        }
    }

    /// The client, for connections of their own (subscriptions).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Runs `task` on the engine's thread, for as long as the process.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(task);
    }

    /// A handle for one command (clones share the one connection).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `prefix:name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// This replica.
    pub fn me(&self) -> &ReplicaInfo {
        &self.me
    }

    /// Every replica heard from within [`REPLICA_TTL`], by id.
    pub async fn replicas(&self) -> Result<Vec<ReplicaInfo>, String> {
        let mut conn = self.conn();
        let all: Vec<(String, String)> = match conn.hgetall(self.key("replicas")).await {
            Ok(v) => v,
            Err(e) => {
                self.mark(false);
                return Err(reason(&e));
            }
        };
        self.mark(true);
        let oldest = now_ms() - REPLICA_TTL.as_millis() as i64;
        let mut out: Vec<ReplicaInfo> = all
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_str::<ReplicaInfo>(&v).ok())
            .filter(|r| r.seen_ms >= oldest)
            .collect();
        out.sort_by(|a, b| a.replica_id.cmp(&b.replica_id));
        Ok(out)
    }

    async fn heartbeat_forever(self: Arc<Self>) {
        let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let ok = self.beat().await.is_ok();
            self.mark(ok);
        }
    }

    /// Refreshes this replica's entry and drops entries long unheard of.
    async fn beat(&self) -> redis::RedisResult<()> {
        let mut me = self.me.clone();
        me.seen_ms = now_ms();
        let json = serde_json::to_string(&me).unwrap_or_default();
        let mut conn = self.conn();
        let key = self.key("replicas");
        let _: () = conn.hset(&key, &me.replica_id, json).await?;
        // Entries of replicas gone for a minute are garbage.
        let all: Vec<(String, String)> = conn.hgetall(&key).await?;
        let stale = me.seen_ms - 60_000;
        for (id, v) in all {
            let seen = serde_json::from_str::<ReplicaInfo>(&v).map_or(0, |r| r.seen_ms);
            if seen < stale {
                let _: () = conn.hdel(&key, id).await?;
            }
        }
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// An engine error's kind, for logs and errors: never its text, which could quote the
/// URL (and a password in it).
pub fn reason(e: &redis::RedisError) -> String {
    format!("{:?}", e.kind())
}
