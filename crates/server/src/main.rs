//! `agent-track-server`: reads configuration and runs the chosen server.

use std::io::IsTerminal;

use clap::Parser;
use tokio::net::TcpListener;

use std::sync::Arc;

use agent_track_server::cli::{self, Cli, Command, LogFormat};
use agent_track_server::collector::{self, Collector, CollectorConfig};
use agent_track_server::workers::Workers;
use agent_track_server::{dev, proxy, serve};

/// mimalloc for the server binary: the proxy's hot path allocates and frees small buffers per
/// request, which the system allocator spent a quarter of the proxy's time on (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: files and journald get plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    if let Err(e) = run(cli.command).await {
        eprintln!("agent-track-server: {e}");
        std::process::exit(2);
    }
}

async fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Proxy(args) => {
            let config = args.config()?;
            let listener = TcpListener::bind(args.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
            tracing::info!(listen = %listener.local_addr()?, upstream = ?upstream_url(&config), workers = config.workers, "proxy listening");
            let workers = Workers::start(config.workers, "proxy-worker")
                .map_err(|e| format!("cannot start {} worker threads: {e}", config.workers))?;
            let app = proxy::app(proxy::ProxyState::new(config)).merge(serve::health());
            serve::run_on_workers(
                listener,
                app,
                serve::signal(),
                args.serve.limits(),
                &workers,
            )
            .await?;
        }
        Command::Collector(args) => {
            let secrets = cli::secrets(&cli::secret_text(args.secret_file.as_deref())?)?;
            let api_key = std::env::var("AGENT_TRACK_API_KEY")
                .ok()
                .filter(|k| !k.trim().is_empty())
                .ok_or("AGENT_TRACK_API_KEY is not set: the read API needs a bearer key")?;
            let config = CollectorConfig {
                data_dir: args.data_dir.clone(),
                secrets,
                api_key: api_key.trim().to_string(),
                ingest_keys: cli::ingest_keys(args.ingest_keys_file.as_deref())?,
                synchronous: args.synchronous.into(),
                analysis: args.analysis.config()?,
                insights: args.insights.config(cli::insights_key().as_deref())?,
                webhooks: args.webhooks.config(None)?,
                database: cli::database(args.database_url_file.as_deref())?,
            };
            let database = config.database.describe();
            let on_sqlite = config.database == collector::db::url::Database::Sqlite;
            let collector = Collector::open(config).map_err(|e| {
                if on_sqlite {
                    format!("cannot open the store in {}: {e}", args.data_dir.display())
                } else {
                    format!("cannot open the store: {e}")
                }
            })?;
            let listener = TcpListener::bind(args.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
            tracing::info!(listen = %listener.local_addr()?, data_dir = %args.data_dir.display(), synchronous = ?args.synchronous, webhooks = collector.webhook_config().urls.len(), database = %database, "collector listening");
            let collector = Arc::new(collector);
            collector.start_retention(args.retention.config());
            let app = collector::app(Arc::clone(&collector))
                .merge(collector::metrics_routes(collector))
                .merge(serve::health());
            serve::run_with(listener, app, serve::signal(), args.serve.limits()).await?;
        }
        Command::Dev(args) => {
            let listener = TcpListener::bind(args.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
            let addr = listener.local_addr()?;
            let creds = dev::credentials(&args.data_dir)
                .map_err(|e| format!("cannot prepare {}: {e}", args.data_dir.display()))?;
            let config = dev::DevConfig {
                data_dir: args.data_dir.clone(),
                www: args.www.clone(),
                pkg: args.pkg.clone(),
                synchronous: args.synchronous.into(),
                analysis: args.analysis.config()?,
                insights: args.insights.config(cli::insights_key().as_deref())?,
                retention: args.retention.config(),
                database: cli::database(args.database_url_file.as_deref())?,
                webhooks: args.webhooks.config(Some(&|| {
                    dev::webhook_secret(&args.data_dir).map_err(|e| {
                        cli::StartError(format!(
                            "cannot prepare {}: {e}",
                            args.data_dir.join("webhook-secret").display()
                        ))
                    })
                }))?,
            };
            let app = dev::app(&config, addr, &creds).map_err(|e| {
                format!("cannot open the store in {}: {e}", args.data_dir.display())
            })?;
            if !args.pkg.join("agent_track.js").exists() {
                tracing::warn!(pkg = %args.pkg.display(), "the npm package is not built; run `npm run build` (npm start does)");
            }
            println!("agent-track dev stack");
            println!("  demo chat:   http://{addr}/");
            println!(
                "  dashboard:   http://{addr}/dashboard.html#key={}",
                creds.api_key
            );
            println!(
                "  read API:    http://{addr}/api/v1/conversations  (Authorization: Bearer {})",
                creds.api_key
            );
            println!("  events:      http://{addr}/v1/events  (proxy -> collector, signed)");
            if !config.webhooks.urls.is_empty() {
                println!(
                    "  webhooks:    {} URL(s); deliveries at http://{addr}/api/v1/webhooks/deliveries (secret: AGENT_TRACK_WEBHOOK_SECRET, --webhook-secret-file or {})",
                    config.webhooks.urls.len(),
                    args.data_dir.join("webhook-secret").display()
                );
            }
            println!(
                "  log API:     http://{addr}/api/v1/conversations  (POST; Authorization: Bearer {})",
                creds.ingest_key
            );
            println!(
                "  data:        {} (SQLite, secret, api-key, ingest-key)",
                args.data_dir.display()
            );
            serve::run_with(listener, app, serve::signal(), args.serve.limits()).await?;
        }
    }
    Ok(())
}

/// The upstream URLs as logged: no user, password or query (see `proxy::config::url_label`).
fn upstream_url(config: &proxy::ProxyConfig) -> Vec<String> {
    config
        .upstream
        .urls()
        .iter()
        .map(|u| proxy::config::url_label(u))
        .collect()
}
