//! The local stack on one port: the proxy (`/v1/events`), the collector (`/v1/ingest`,
//! `/api/v1/*`), the demo page (`/`), the dashboard (`/dashboard.html`) and the npm package
//! (`/pkg/*`). A secret and an API key are generated on first run and kept in the data folder
//! (folder mode 0700, files 0600, from their creation on); the proxy relays to the collector
//! over loopback, signed, exactly as two separate processes would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::Request;
use axum::routing::get;
use axum::Router;

use crate::collector::analysis::AnalysisConfig;
use crate::collector::insights::InsightsConfig;
use crate::collector::webhooks::WebhookConfig;
use crate::collector::{self, Collector, CollectorConfig, Synchronous};
use crate::proxy::{self, ProxyConfig, Upstream};
use crate::secret::Secrets;
use crate::{files, private, serve};

/// What `dev` needs.
#[derive(Debug, Clone)]
pub struct DevConfig {
    /// Where the SQLite file, the secret and the API key live.
    pub data_dir: PathBuf,
    /// The web pages.
    pub www: PathBuf,
    /// The npm package (wasm-pack output).
    pub pkg: PathBuf,
    /// Durability of acknowledged batches.
    pub synchronous: Synchronous,
    /// Thresholds of the conversation analysis.
    pub analysis: AnalysisConfig,
    /// Model insights (`None`: off).
    pub insights: Option<InsightsConfig>,
    /// Outbound webhooks.
    pub webhooks: WebhookConfig,
    /// Retention.
    pub retention: crate::collector::retention::RetentionConfig,
    /// Where the collector stores (SQLite under `data_dir` by default).
    pub database: crate::collector::db::url::Database,
}

/// The generated (or kept) credentials of the dev stack.
pub struct DevCredentials {
    /// The shared secret. Stays in this process and the data folder.
    pub secrets: Secrets,
    /// The read API key.
    pub api_key: String,
    /// The ingest key of the conversation log API and `/data/agentic` (write only).
    pub ingest_key: String,
}

/// Reads `data_dir/secret`, `data_dir/api-key` and `data_dir/ingest-key`, creating them (mode 0600, in a folder of
/// mode 0700) on first run; existing ones readable by others are tightened with a warning.
pub fn credentials(data_dir: &Path) -> std::io::Result<DevCredentials> {
    private::ensure_dir(data_dir)?;
    let secret = read_or_create(&data_dir.join("secret"), Secrets::generate)?;
    let api_key = read_or_create(&data_dir.join("api-key"), || {
        format!("atk_{:032x}", rand::random::<u128>())
    })?;
    let ingest_key = read_or_create(&data_dir.join("ingest-key"), || {
        format!("ati_{:032x}", rand::random::<u128>())
    })?;
    let secrets = Secrets::parse(&secret).map_err(|e| {
        std::io::Error::other(format!("{}: {e}", data_dir.join("secret").display()))
    })?;
    Ok(DevCredentials {
        secrets,
        api_key,
        ingest_key,
    })
}

/// Reads `data_dir/webhook-secret`, creating it (mode 0600) on first use: the dev stack's
/// outbound webhook secret when `--webhook-url` is given without one.
pub fn webhook_secret(data_dir: &Path) -> std::io::Result<String> {
    private::ensure_dir(data_dir)?;
    read_or_create(&data_dir.join("webhook-secret"), Secrets::generate)
}

fn read_or_create(path: &Path, make: impl FnOnce() -> String) -> std::io::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        private::ensure_file(path)?;
        return Ok(text.trim().to_string());
    }
    let value = make();
    private::write_new(path, value.as_bytes())?;
    Ok(value)
}

/// The dev router for a server listening on `addr`.
pub fn app(
    config: &DevConfig,
    addr: SocketAddr,
    creds: &DevCredentials,
) -> Result<Router, collector::CollectorError> {
    let collector = Arc::new(Collector::open(CollectorConfig {
        data_dir: config.data_dir.clone(),
        secrets: creds.secrets.clone(),
        api_key: creds.api_key.clone(),
        ingest_keys: vec![creds.ingest_key.clone()],
        synchronous: config.synchronous,
        analysis: config.analysis.clone(),
        insights: config.insights.clone(),
        webhooks: config.webhooks.clone(),
        database: config.database.clone(),
    })?);
    collector.start_retention(config.retention.clone());
    let mut proxy_config = ProxyConfig::new(Upstream::Webhook {
        urls: vec![format!("http://{addr}/v1/ingest")],
        secrets: creds.secrets.clone(),
    });
    let port = addr.port();
    proxy_config.allowed_origins = vec![
        format!("http://{addr}"),
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
    ];
    let www = config.www.clone();
    let pkg = config.pkg.clone();
    Ok(Router::new()
        .merge(proxy::app(proxy::ProxyState::new(proxy_config)))
        .merge(collector::app(collector))
        .merge(serve::health())
        .route(
            "/pkg/{*path}",
            get(move |req: Request| {
                let pkg = pkg.clone();
                async move {
                    let path = req.uri().path().trim_start_matches("/pkg");
                    let uri: axum::http::Uri = path.parse().unwrap_or_default();
                    files::serve(&pkg, &uri).await
                }
            }),
        )
        .fallback(get(move |req: Request| {
            let www = www.clone();
            async move { files::serve(&www, req.uri()).await }
        })))
}
