//! Admin changes every replica applies: a replica that changes its weights publishes
//! the change on `prefix:events`, and every other replica applies the same change to
//! its own scheduler. Redis pub/sub delivers within milliseconds; a replica that was
//! cut off misses what was published meanwhile (it keeps its weights until the next
//! change or reload), which `/admin/cluster` makes visible through the engine's health.

use std::sync::Arc;

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
