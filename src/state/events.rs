//! Changes every replica applies: a replica that changes its weights, or whose
//! provider asked it to wait (a 429/529 with Retry-After on one key), publishes that on
//! `prefix:events`, and every other replica applies the same change to its own
//! scheduler or key pool. Redis pub/sub delivers within milliseconds; a replica that was
//! cut off misses what was published meanwhile (it keeps its weights until the next
//! change or reload), which `/admin/cluster` makes visible through the engine's health.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::Redis;
use super::engine::{HEARTBEAT_INTERVAL, reason};

/// One published change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// The replica that made the change (it does not apply its own event twice).
    pub origin: String,
    /// What changed; `weights` is the one kind today.
    pub kind: String,
    /// `global`, `route` or `tier`.
    pub scope: String,
    /// The route's or tier's name.
    pub name: Option<String>,
    /// The change as the admin API took it (for weights, the `PUT` body).
    pub body: serde_json::Value,
}

/// `kind` of a weights change: `scope` is global/route/tier, `body` the `PUT` body.
pub const WEIGHTS: &str = "weights";
/// `kind` of a provider's request to wait: `scope` is the provider, `name` the key's
/// fingerprint, `body` `{"wait_ms": N}`.
pub const BACKOFF: &str = "backoff";

/// Receives other replicas' events, on the engine's thread: must not block.
pub type OnEvent = Box<dyn Fn(ClusterEvent) + Send + Sync>;

impl Redis {
    fn channel(&self) -> String {
        self.key("events")
    }

    /// Publishes `event` to every replica, off the caller's path.
    pub fn publish(self: &Arc<Self>, event: ClusterEvent) {
        let this = self.clone();
        self.spawn(async move {
            let json = serde_json::to_string(&event).unwrap_or_default();
            let mut conn = this.conn();
            let sent: redis::RedisResult<i64> = conn.publish(this.channel(), json).await;
            if let Err(e) = sent {
                tracing::warn!(error = %reason(&e), kind = %event.kind, "cluster event not published");
                this.mark(false);
            }
        });
    }

    /// Tells every replica that `provider` asked for `wait` on the key `fingerprint`.
    pub fn publish_backoff(self: &Arc<Self>, provider: &str, fingerprint: &str, wait: Duration) {
        self.publish(ClusterEvent {
            origin: self.me().replica_id.clone(),
            kind: BACKOFF.to_owned(),
            scope: provider.to_owned(),
            name: Some(fingerprint.to_owned()),
            body: serde_json::json!({ "wait_ms": u64::try_from(wait.as_millis()).unwrap_or(u64::MAX) }),
        });
    }

    /// Calls `on_event` for every event another replica publishes, resubscribing
    /// after a lost connection.
    pub fn subscribe(self: &Arc<Self>, on_event: OnEvent) {
        let this = self.clone();
        self.spawn(async move {
            loop {
                match this.client().get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(this.channel()).await.is_ok() {
                            let mut messages = pubsub.on_message();
                            while let Some(msg) = messages.next().await {
                                let Ok(event) =
                                    serde_json::from_slice::<ClusterEvent>(msg.get_payload_bytes())
                                else {
                                    continue;
                                };
                                if event.origin != this.me().replica_id {
                                    on_event(event);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %reason(&e), "cluster events: not subscribed")
                    }
                }
                tokio::time::sleep(HEARTBEAT_INTERVAL).await;
            }
        });
    }
}
