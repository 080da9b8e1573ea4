//! Builds the actix App from a validated [`Config`] and starts it.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use actix::Supervisor;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};

use crate::api::auth::{KeySource, KeyStore};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::dispatch::cluster::ClusterAdmission;
use crate::providers::Providers;
use crate::reload::KeyReloader;
use crate::scheduler::SchedulerActor;
use crate::state::Redis;
use crate::state::rate::GlobalLimits;
use crate::upstream::Upstream;
use crate::usage::Accounting;

mod conn;
mod hangup;
mod summary;

pub use hangup::{Hangup, HangupOutcome};

/// A gateway bound to its address.
pub struct Gateway {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when `server.metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    server: Option<Server>,
    handle: ServerHandle,
    reloader: KeyReloader,
    /// For [`Gateway::hangup`].
    state: web::Data<AppState>,
    metrics_server: Option<Server>,
    usage: Arc<Accounting>,
    /// Ends the open client streams when the gateway stops ([`Stopper`]).
    streams: crate::cache::Shutdown,
}

impl Gateway {
    /// Starts the scheduler and provider actors and binds the gateway (use port 0 for
    /// an OS-chosen port) without serving yet. Must run inside an actix system.
    pub fn bind(config: Config, listen: &str) -> std::io::Result<Self> {
        for w in &config.warnings {
            tracing::warn!("{w}");
        }
        // Sockets first: a taken port fails start-up before any actor or thread
        // starts (actors started and then dropped unpolled panic at exit).
        let listeners = bind_listeners(listen)?;
        let metrics_listeners = match &config.metrics_listen {
            Some(listen) => Some(bind_listeners(listen)?),
            None => None,
        };
        crate::metrics::init();
        crate::metrics::startup::declare(&config);
        let usage = Accounting::open(&config.usage, config.tenants.clone())
            .map_err(std::io::Error::other)?;
        let keys = load_keys(&config)?;
        let config = Arc::new(config);
        let (state, reloader) = start_state(&config, keys, usage.clone())?;
        let streams = state.cache.shutdown().clone();
        crate::scheduler::sample::spawn(
            state.board.clone(),
            state.dispatcher.providers().clone(),
            usage.clone(),
        );
        let metrics_state = state.clone();
        let hangup_state = state.clone();
        let (server, addr) = serve_api(state, &config, listeners)?;
        let (metrics_server, metrics_addr) = match metrics_listeners {
            Some(listeners) => {
                let (server, addr) = serve_metrics(metrics_state.clone(), listeners)?;
                (Some(server), Some(addr))
            }
            None => (None, None),
        };
        let handle = server.handle();
        summary::log(&config, addr, metrics_addr);
        Ok(Self {
            addr,
            metrics_addr,
            server: Some(server),
            handle,
            reloader,
            state: hangup_state,
            metrics_server,
            usage,
            streams,
        })
    }

    /// Starts serving in the background (tests, demo).
    pub fn spawn(mut self) -> Self {
        if let Some(server) = self.server.take() {
            actix_web::rt::spawn(server);
        }
        if let Some(server) = self.metrics_server.take() {
            actix_web::rt::spawn(server);
        }
        self
    }

    /// Serves until the server stops (the metrics listener stops with it), then commits
    /// every usage record still queued (graceful shutdown loses nothing).
    pub async fn run(mut self) -> std::io::Result<()> {
        let metrics = self.metrics_server.take().map(|server| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let served = match self.server.take() {
            Some(server) => server.await,
            None => Ok(()),
        };
        if let Some(handle) = metrics {
            handle.stop(true).await;
        }
        let usage = self.usage.clone();
        if tokio::task::spawn_blocking(move || usage.close())
            .await
            .is_err()
        {
            tracing::error!("usage ledger did not close cleanly");
        }
        tracing::info!("usage ledger flushed");
        served
    }

    /// The usage accounting (ledger, quotas).
    pub fn usage(&self) -> &Arc<Accounting> {
        &self.usage
    }

    /// A handle to stop the server. Stopping through it, open streams are cut without
    /// an error event when the shutdown timeout ends; [`Gateway::stopper`] ends them
    /// properly.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Stops the gateway gracefully, ending the streams still open with an error event.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            server: self.handle.clone(),
            streams: self.streams.clone(),
        }
    }

    /// Re-reads provider keys (`POST /admin/reload-keys` does the same).
    pub fn key_reloader(&self) -> KeyReloader {
        self.reloader.clone()
    }

    /// What SIGHUP does (`main` listens): the whole config reloaded from its file.
    pub fn hangup(&self) -> Hangup {
        Hangup {
            state: self.state.clone(),
            keys: self.reloader.clone(),
        }
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// How long a graceful stop waits for connections before the workers drop them.
/// actix-web's default; set explicitly because [`MAX_GRACE`] must stay below it.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest [`Stopper::stop`] lets answers run before it ends the open streams:
/// the rest of [`SHUTDOWN_TIMEOUT`] leaves them time to write their error event and
/// their connections time to close before the workers drop what is left.
pub const MAX_GRACE: Duration = Duration::from_secs(25);

/// Stops a running gateway: no new connections, answers in flight get a grace period,
/// then every stream still open ends with an OpenAI-style error event saying the
/// gateway is shutting down, billed for what it streamed, before its connection
/// closes. [`Gateway::run`] then commits the usage ledger.
#[derive(Debug, Clone)]
pub struct Stopper {
    server: ServerHandle,
    streams: crate::cache::Shutdown,
}

impl Stopper {
    /// Stops gracefully, letting answers run for up to `grace` (at most [`MAX_GRACE`]);
    /// resolves when the server has stopped.
    pub async fn stop(&self, grace: Duration) {
        // The stop is sent now: the server stops accepting at once.
        let stopped = self.server.stop(true);
        tokio::pin!(stopped);
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(grace.min(MAX_GRACE)) => {}
        }
        tracing::info!("shutting down: ending the streams still open");
        self.streams.begin();
        stopped.await;
    }
}

/// The config's gateway keys, then the ones created through the admin API (stored in
/// the usage database); a config key wins over a stored one with its id.
fn load_keys(config: &Config) -> std::io::Result<KeyStore> {
    let keys = KeyStore::new(&config.keys);
    for k in crate::usage::keys::load(&config.usage.database).map_err(std::io::Error::other)? {
        if keys.contains_id(&k.id) {
            tracing::warn!(key_id = %k.id, "a stored gateway key has the id of a config key; the config key wins");
            continue;
        }
        keys.insert(
            k.sha256,
            &k.id,
            &k.tenant,
            &k.tier,
            k.limits,
            KeySource::Admin,
        );
    }
    Ok(keys)
}

/// Starts the scheduler and provider actors and gathers what the handlers share.
fn start_state(
    config: &Arc<Config>,
    keys: KeyStore,
    usage: Arc<Accounting>,
) -> std::io::Result<(web::Data<AppState>, KeyReloader)> {
    let upstream = Upstream::new();
    let (scheduler, board) = SchedulerActor::new(config.clone());
    let scheduler = Supervisor::start(|_| scheduler);
    let providers = Arc::new(Providers::start(
        config,
        scheduler.clone().recipient(),
        &upstream,
    ));
    let reloader = KeyReloader {
        providers: providers.clone(),
        board: board.clone(),
    };
    let mut dispatcher = Dispatcher::new(config.dispatch.clone(), upstream, providers.clone());
    let cluster = match &config.cluster {
        Some(c) => {
            let redis = Redis::start(c, &config.digest).map_err(std::io::Error::other)?;
            let global = Arc::new(GlobalLimits::new(redis.clone()));
            dispatcher = dispatcher
                .with_cluster(Arc::new(ClusterAdmission::new(global, c.expected_replicas)));
            tracing::info!(replica = %c.replica_id, "cluster mode: provider limits shared through redis");
            redis.subscribe(api::cluster::applier(scheduler.clone(), providers));
            Some(redis)
        }
        None => None,
    };
    let state = web::Data::new(AppState {
        board,
        scheduler,
        dispatcher,
        cache: crate::cache::Cache::new(config),
        keys,
        usage,
        reloader: crate::reload::Reloader::new(config.source.clone()),
        cluster,
    });
    Ok((state, reloader))
}

/// How long a client may take to send a request's headers (actix-web's default): a
/// slower one is answered 408 and its connection closed.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a closing connection waits for the client to close its side (actix-web's
/// default).
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Builds the gateway's HTTP server on `listeners` (with `/metrics` unless it has a
/// listener of its own).
///
/// Built from actix-server and actix-http as actix-web's `HttpServer::listen` would,
/// with the same timeouts, but with each connection wrapped in a [`conn::Conn`]: the
/// errors actix-http answers by itself (malformed or oversized headers) then carry a
/// JSON body like every other error, and open connections are counted against
/// `server.max_connections`.
fn serve_api(
    state: web::Data<AppState>,
    config: &Config,
    listeners: Vec<TcpListener>,
) -> std::io::Result<(Server, SocketAddr)> {
    use actix_http::{HttpService, Protocol, error::DispatchError};
    use actix_service::{ServiceFactoryExt, fn_service, map_config};
    use actix_web::dev::AppConfig;
    use actix_web::rt::net::TcpStream;

    let metrics_apart = config.metrics_listen.is_some();
    let workers = config.workers.unwrap_or_else(default_workers);
    let max_connections = config
        .max_connections
        .unwrap_or_else(conn::default_max_connections);
    // actix-server's limit is per worker.
    let per_worker = max_connections.div_ceil(workers).max(1);
    let connections = conn::Connections::new(per_worker * workers);
    tracing::debug!(max_connections = per_worker * workers, "connection limit");
    let mut builder = actix_web::dev::Server::build()
        .workers(workers)
        .max_concurrent_connections(per_worker)
        .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs())
        .disable_signals();
    let shutdown = builder.graceful_shutdown_signal();
    let addr = first_addr(
        listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect(),
        "gateway bound no address",
    )?;
    for listener in listeners {
        let local = listener.local_addr()?;
        let state = state.clone();
        let connections = connections.clone();
        let shutdown = shutdown.clone();
        builder = builder.listen(format!("switchyard-{local}"), listener, move || {
            let state = state.clone();
            let app = App::new()
                .app_data(state)
                .wrap_fn(api::middleware::request_id_and_access_log)
                .configure(api::configure)
                .configure(|cfg| {
                    if !metrics_apart {
                        api::configure_metrics(cfg);
                    }
                });
            let shutdown = shutdown.clone();
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
                .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
                // A client that closes its connection mid-answer has hung up: end its
                // request at once, which cancels the upstream call or stream. With
                // half-closed connections allowed (actix's default) the hang-up is
                // only noticed on the next write to the client, and a model between
                // tokens would keep generating billed tokens for nobody until then.
                // No LLM client half-closes to mean "request complete" (HTTP/1.1
                // frames requests by length).
                .h1_allow_half_closed(false)
                .local_addr(local)
                .finish(map_config(app, move |()| AppConfig::default()));
            let connections = connections.clone();
            fn_service(move |io: TcpStream| {
                let slot = connections.admit();
                async move {
                    // Stream chunks are small writes: without TCP_NODELAY, Nagle holds
                    // each one back until the client's (delayed) ACK of the previous
                    // one, up to 40 ms.
                    let _ = io.set_nodelay(true);
                    let peer = io.peer_addr().ok();
                    Ok::<_, DispatchError>((conn::Conn::new(io, slot), Protocol::Http1, peer))
                }
            })
            .and_then(http)
        })?;
    }
    Ok((builder.run(), addr))
}

/// actix-server's default worker count: one per available core.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The first of a server's bound addresses, or `missing` as the error.
fn first_addr(addrs: Vec<SocketAddr>, missing: &str) -> std::io::Result<SocketAddr> {
    addrs
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other(missing))
}

/// Worker threads of the separate metrics listener: one scrape at a time is plenty.
const METRICS_WORKERS: usize = 1;

/// Binds the separate `/metrics` listener (`server.metrics_listen`); `state` gives it
/// the running config's `server.metrics_token`.
fn serve_metrics(
    state: web::Data<AppState>,
    listeners: Vec<TcpListener>,
) -> std::io::Result<(Server, SocketAddr)> {
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(api::configure_metrics)
    })
    .workers(METRICS_WORKERS)
    .disable_signals();
    for l in listeners {
        server = server.listen(l)?;
    }
    let addr = first_addr(server.addrs(), "metrics listener bound no address")?;
    Ok((server.run(), addr))
}

/// Pending connections the kernel queues per listener: actix-web's default, enough
/// for thousands of clients connecting at once (the 10,000-stream benchmark).
const LISTEN_BACKLOG: i32 = 1024;

/// Binds every address `listen` resolves to as actix-web's `bind` would
/// (`SO_REUSEADDR`, a backlog of [`LISTEN_BACKLOG`]).
fn bind_listeners(listen: &str) -> std::io::Result<Vec<TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut listeners = Vec::new();
    for addr in listen.to_socket_addrs()? {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        listeners.push(TcpListener::from(socket));
    }
    if listeners.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{listen} resolves to no address"),
        ));
    }
    Ok(listeners)
}
