//! The `switchyard` command line: serve, demo, mock, check-config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use switchyard::app::Gateway;
use switchyard::config::{Config, DEFAULT_LISTEN};
use switchyard::mock::{MockServer, MockState};

/// Demo gateway key (DESIGN.md "Names"); demo only.
const DEMO_KEY: &str = "sk-switchyard-demo";
/// Demo admin token; demo only.
const DEMO_ADMIN_TOKEN: &str = "switchyard-admin-demo";
/// The request body of the demo's example `curl`.
const DEMO_BODY: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;
/// The embedded demo's usage ledger, in the system temp directory.
/// The embedded demo's ledger: one file per run in the temp directory (named by process
/// and start time, so two demos never share totals), removed when the demo stops.
fn demo_usage_db() -> PathBuf {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    std::env::temp_dir().join(format!(
        "switchyard-demo-{}-{started}.db",
        std::process::id()
    ))
}

/// Removes a demo ledger and SQLite's companion files.
fn remove_demo_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(path));
    }
}

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A self-hosted LLM gateway speaking the OpenAI API"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway with a config file.
    Serve {
        /// TOML config (see config/gateway.toml).
        #[arg(long, short)]
        config: PathBuf,
        /// Listen address; overrides `server.listen`.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Run the gateway in front of simulated providers (no keys, nothing to install).
    Demo {
        /// Listen address of the gateway.
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: String,
        /// Use this config instead of the embedded config/demo.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run only the simulated providers, one path prefix each (docs/mock.md).
    Mock {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: String,
    },
    /// Validate a config file and report problems with the path of the key.
    CheckConfig {
        /// TOML config to check.
        file: PathBuf,
        /// Accept a config in which no provider is usable (a template whose key
        /// variables are not set here).
        #[arg(long)]
        allow_empty: bool,
    },
}

fn init_logging(format: LogFormat) {
    switchyard::logging::init(match format {
        LogFormat::Human => switchyard::logging::LogFormat::Human,
        LogFormat::Json => switchyard::logging::LogFormat::Json,
    });
}

/// Every client connection holds a socket, and so does every upstream HTTP/1.1 request
/// in flight: the soft limit many systems start processes with (1024) would cap the
/// gateway at a few hundred open streams, far below what its memory allows. The hard
/// limit is the operator's choice and stays as it is.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open files limit"),
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    raise_open_files_limit();
    let result = run(cli.command).await;
    switchyard::logging::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGHUP reloads the config like `POST /admin/reload` (the embedded demo config: the
/// provider keys); requests in flight finish on what they started with.
fn reload_on_sighup(hangup: switchyard::app::Hangup) {
    #[cfg(unix)]
    actix_web::rt::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload through the admin API");
            return;
        };
        while hup.recv().await.is_some() {
            hangup.reload().await;
        }
    });
    #[cfg(not(unix))]
    drop(hangup);
}

async fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Serve { config, listen } => serve(&config, listen).await,
        Command::Demo { listen, config } => demo(&listen, config).await,
        Command::Mock { listen } => mock(&listen).await,
        Command::CheckConfig { file, allow_empty } => check_config(&file, allow_empty),
    }
}

/// `switchyard serve`: the gateway with a config file, until a stop signal.
async fn serve(config: &Path, listen: Option<String>) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(config, None)?;
    let listen = listen.unwrap_or_else(|| config.listen.clone());
    let gateway = Gateway::bind(config, &listen)?;
    tracing::info!(addr = %gateway.addr, "switchyard listening");
    reload_on_sighup(gateway.hangup());
    if let Some(addr) = gateway.metrics_addr {
        tracing::info!(%addr, "metrics listening");
    }
    stop_on_signal(gateway.stopper());
    gateway.run().await?;
    Ok(())
}

/// `switchyard demo`: the gateway in front of the simulated providers, until a stop
/// signal.
async fn demo(listen: &str, config: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start("127.0.0.1:0", MockState::demo_set()).await?;
    let host = mock.host();
    let mut own_db = None;
    let config = match config {
        Some(path) => Config::load(&path, Some(&host))?,
        None => {
            let mut c = Config::from_toml(switchyard::DEMO_CONFIG, None, Some(&host))?;
            // The embedded demo keeps its ledger out of the working directory.
            c.usage.database = demo_usage_db();
            own_db = Some(c.usage.database.clone());
            c
        }
    };
    let gateway = Gateway::bind(config, listen)?;
    reload_on_sighup(gateway.hangup());
    let url = gateway.url();
    let metrics_url = match gateway.metrics_addr {
        Some(addr) => format!("http://{addr}/metrics"),
        None => format!("{url}/metrics"),
    };
    announce(&format!(
        "Switchyard demo: gateway at {url}/v1 in front of six simulated providers (control: http://{host}/_mock)\n\
         gateway key: {DEMO_KEY}    admin token: {DEMO_ADMIN_TOKEN}    metrics: {metrics_url}\n\
         try:\n  curl {url}/v1/chat/completions -H 'Authorization: Bearer {DEMO_KEY}' \
         -H 'Content-Type: application/json' \
         -d '{DEMO_BODY}'\n"
    ));
    stop_on_signal(gateway.stopper());
    let served = gateway.run().await;
    if let Some(db) = own_db {
        remove_demo_db(&db);
    }
    served?;
    Ok(())
}

/// `switchyard mock`: only the simulated providers, until ctrl-c.
async fn mock(listen: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start(listen, MockState::default_set()).await?;
    let mut lines = format!("simulated providers at http://{}\n", mock.host());
    for name in mock.state.providers.keys() {
        if let Some(url) = mock.base_url(name) {
            lines.push_str(&format!("  {name:<10} {url}\n"));
        }
    }
    lines.push_str(&format!("  control    http://{}/_mock\n", mock.host()));
    announce(&lines);
    let _ = tokio::signal::ctrl_c().await;
    mock.stop().await;
    Ok(())
}

/// `switchyard check-config`: validates a config file and prints its warnings. A config
/// that loads but leaves no provider usable fails too, unless `allow_empty`: a gateway
/// started with it would answer every request 503.
fn check_config(file: &Path, allow_empty: bool) -> Result<(), Box<dyn std::error::Error>> {
    // `{mock}` base URLs are checked as if the simulated providers ran locally.
    let config = Config::load(file, Some("127.0.0.1:9090"))?;
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    for n in &config.notes {
        eprintln!("note: {n}");
    }
    if config.providers.is_empty() && !allow_empty {
        return Err(format!(
            "{}: no provider is usable, so every request would fail; \
             pass --allow-empty to accept a template",
            file.display()
        )
        .into());
    }
    announce(&format!(
        "{}: ok ({} providers, {} models, {} routes, {} gateway keys)\n",
        file.display(),
        config.providers.len(),
        config.models.len(),
        config.routes.len(),
        config.keys.len()
    ));
    Ok(())
}

/// On SIGTERM or ctrl-c: stop accepting, let requests in flight finish, then
/// [`Gateway::run`] commits the usage ledger before the process exits.
fn stop_on_signal(stopper: switchyard::app::Stopper) {
    actix_web::rt::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight, then flushing usage");
        // Streams still open after the grace period end with an error event saying
        // so, billed for what they streamed.
        stopper.stop(switchyard::app::MAX_GRACE).await;
    });
}

/// Writes the CLI's own output (not logs) to stdout.
fn announce(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
