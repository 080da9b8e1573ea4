//! `POST /admin/reload`: reads the config file again, checks it completely, and swaps
//! it in while the gateway runs, or changes nothing.
//!
//! Steps: load and validate the file with the usual two-layer loader (off the
//! request threads); compare it with the running config ([`crate::config::diff`]) and
//! refuse changes that need a restart; then apply. Applying cannot fail half-way: the
//! one step that waits (the scheduler publishing a snapshot with the new config,
//! planner and the file's weights) goes first, and the rest are plain pointer swaps
//! (retry policy, cache modes, tenant limits) and map updates (gateway keys, provider
//! key pools). A request reads each of these once, so it runs under either the old or
//! the new value of each. One reload runs at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix::Addr;
use arc_swap::ArcSwap;

use crate::cache::Cache;
use crate::config::diff::{align_models, diff};
use crate::config::{Config, ConfigError, ConfigSource, GatewayKeyConfig};
use crate::dispatch::Dispatcher;
use crate::providers::Providers;
use crate::scheduler::Planner;
use crate::scheduler::actor::Reconfigure;
use crate::scheduler::{SchedulerActor, Snapshot};
use crate::usage::Accounting;

/// The live parts of one gateway that a reload swaps its new config into.
pub struct Live<'a> {
    /// The scheduler's published snapshot: holds the running config.
    pub board: &'a ArcSwap<Snapshot>,
    pub scheduler: &'a Addr<SchedulerActor>,
    pub dispatcher: &'a Dispatcher,
    pub cache: &'a Cache,
    pub usage: &'a Accounting,
    /// The gateway keys (the key store is the API's).
    pub keys: &'a dyn GatewayKeys,
}

/// Where a reload puts the gateway keys its config defines.
pub trait GatewayKeys: Sync {
    /// Replaces every config-defined key with `keys`; keys created through the admin
    /// API stay.
    fn replace_config(&self, keys: &[GatewayKeyConfig]);
}

/// Reloads the config of one gateway.
#[derive(Debug)]
pub struct Reloader {
    /// `None`: the config came from text (the embedded demo), there is nothing to re-read.
    source: Option<ConfigSource>,
    busy: AtomicBool,
}

/// What a reload changed.
#[derive(Debug)]
pub struct Reloaded {
    /// The paths that changed (see [`crate::config::diff`]), sorted.
    pub changed: Vec<String>,
    /// Keys now loaded per provider.
    pub provider_keys: Vec<(String, usize)>,
    /// The new config's warnings (disabled gateway keys, admin API off).
    pub warnings: Vec<String>,
}

/// Why nothing was reloaded.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(
        "this gateway runs the embedded demo config: there is no file to reload; start it with --config to reload"
    )]
    NoFile,
    #[error("another config reload is in progress")]
    InProgress,
    #[error("config not reloaded: {0}")]
    Invalid(ConfigError),
    #[error(
        "config not reloaded: these changes need a restart: {}; nothing was applied",
        .0.join(", ")
    )]
    RestartRequired(Vec<String>),
    #[error("config not reloaded: the scheduler is not running")]
    Internal,
}

impl ReloadError {
    /// The `result` label of `switchyard_config_reloads_total`, for outcomes counted.
    pub fn result(&self) -> Option<&'static str> {
        match self {
            Self::Invalid(_) => Some("invalid"),
            Self::RestartRequired(_) => Some("restart_required"),
            Self::NoFile | Self::InProgress | Self::Internal => None,
        }
    }
}

/// Clears the busy flag when a reload ends, however it ends.
struct Busy<'a>(&'a AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Reloader {
    /// A reloader for a config read from `source` (`None`: from text).
    pub fn new(source: Option<ConfigSource>) -> Self {
        Self {
            source,
            busy: AtomicBool::new(false),
        }
    }

    /// Reloads the config of `live` from its file; see the module doc.
    pub async fn reload(&self, live: Live<'_>) -> Result<Reloaded, ReloadError> {
        let source = self.source.clone().ok_or(ReloadError::NoFile)?;
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(ReloadError::InProgress);
        }
        let _busy = Busy(&self.busy);
        let result = self.run(live, source).await;
        match &result {
            Ok(r) => {
                crate::metrics::record_config_reload("ok");
                tracing::info!(
                    changed = r.changed.len(),
                    paths = %r.changed.join(","),
                    "config reloaded"
                );
                for w in &r.warnings {
                    tracing::warn!("{w}");
                }
            }
            Err(e) => {
                if let Some(label) = e.result() {
                    crate::metrics::record_config_reload(label);
                }
                tracing::warn!(error = %e, "config not reloaded");
            }
        }
        result
    }

    async fn run(&self, live: Live<'_>, source: ConfigSource) -> Result<Reloaded, ReloadError> {
        // Reading key files and the config is blocking I/O: off the worker thread.
        let loaded = tokio::task::spawn_blocking(move || {
            Config::load(&source.path, source.mock_addr.as_deref())
        })
        .await
        .map_err(|_| ReloadError::Internal)?;
        let mut new = loaded.map_err(ReloadError::Invalid)?;
        let old = live.board.load().config.clone();
        let changes = diff(&old, &new);
        if !changes.restart.is_empty() {
            return Err(ReloadError::RestartRequired(changes.restart));
        }
        if !align_models(&old, &mut new) {
            return Err(ReloadError::Internal);
        }
        let config = Arc::new(new);
        let planner = Arc::new(Planner::new(&config));
        live.scheduler
            .send(Reconfigure {
                config: config.clone(),
                planner,
            })
            .await
            .map_err(|_| ReloadError::Internal)?;
        live.dispatcher.reconfigure(config.dispatch.clone());
        live.cache.reconfigure(&config);
        live.usage.quotas().set_tenants(config.tenants.clone());
        live.keys.replace_config(&config.keys);
        let provider_keys = live.dispatcher.providers().set_keys(&config);
        crate::metrics::startup::declare(&config);
        Ok(Reloaded {
            changed: changes.live,
            provider_keys,
            warnings: config.warnings.clone(),
        })
    }
}

/// Re-reads provider keys on demand (`POST /admin/reload-keys`, SIGHUP), from the
/// key sources of the running config (as of its latest `POST /admin/reload`).
#[derive(Clone)]
pub struct KeyReloader {
    pub providers: Arc<Providers>,
    pub board: Arc<ArcSwap<Snapshot>>,
}

impl KeyReloader {
    /// See [`Providers::reload_keys`].
    pub fn reload(&self) -> Result<Vec<(String, usize)>, ConfigError> {
        let config = self.board.load().config.clone();
        self.providers.reload_keys(&config)
    }
}
