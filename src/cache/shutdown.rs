//! The gateway stopping, as the client streams see it: once [`Shutdown::begin`] is
//! called, every open stream (and any that starts later) ends with an OpenAI-style
//! error event saying the gateway is shutting down and bills what it streamed, instead
//! of being cut without a word when the server drops its connection.
//!
//! One `watch` channel for the whole cache; each stream holds one [`Stopping`] future,
//! registered once and polled before each of its reads.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::watch;

/// The stop signal every client stream watches. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Shutdown {
    /// Ends every open client stream, now and from now on. Idempotent.
    pub fn begin(&self) {
        self.tx.send_replace(true);
    }

    /// A future resolving once the shutdown has begun (at once if it has).
    pub(super) fn stopping(&self) -> Stopping {
        let mut rx = self.tx.subscribe();
        Stopping(Box::pin(async move {
            if rx.wait_for(|begun| *begun).await.is_err() {
                // The cache (and its sender) is gone: nothing will ever stop this stream.
                std::future::pending::<()>().await;
            }
        }))
    }
}

/// One stream's view of the [`Shutdown`]. Boxed once per stream, so that polling it
/// before every read does not register a new waiter each time.
pub(super) struct Stopping(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for Stopping {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_see_a_shutdown_begun_before_or_after_they_start() {
        let shutdown = Shutdown::default();
        let mut early = shutdown.stopping();
        assert!(futures_util::poll!(&mut early).is_pending());
        shutdown.begin();
        early.await;
        shutdown.stopping().await;
    }
}
