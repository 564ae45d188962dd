//! Command-line and environment configuration of `agent-track-server`. Each option is a flag
//! and, for the deployment settings, an `AGENT_TRACK_*` environment variable (`--help` names
//! it; the `env = ..` attributes below are the list). The shared secret is read only
//! from `AGENT_TRACK_SECRET` or a file (`--secret-file`), never from a flag, so it cannot show
//! in `ps`, shell history or `--help`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::proxy::config::PendoKey;
use crate::proxy::{ProxyConfig, Upstream};
use crate::secret::{SecretError, Secrets};

/// The proxy's default upstream: the collector on this machine.
pub const DEFAULT_COLLECTOR_URL: &str = "http://127.0.0.1:8788/v1/ingest";
/// Pendo's agentic endpoint (US); set `--upstream` for another region.
pub const DEFAULT_PENDO_URL: &str = "https://app.pendo.io/data/agentic";

/// agent-track's servers. The shared secret comes from AGENT_TRACK_SECRET (one or more
/// space-separated whsec_ secrets; the first signs, all verify) or --secret-file.
#[derive(Parser, Debug)]
#[command(name = "agent-track-server", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "AGENT_TRACK_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log format.
    #[arg(
        long,
        env = "AGENT_TRACK_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

/// Log output formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The first-party proxy browsers post batches to.
    Proxy(ProxyArgs),
    /// The self-hosted server-side endpoint: verify, store (SQLite), read API.
    Collector(CollectorArgs),
    /// Proxy + collector + the demo and dashboard pages, in one process on one port.
    Dev(DevArgs),
}

/// Upstream modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Standard Webhooks (the collector, or any compatible receiver).
    Webhook,
    /// Pendo's server-side agentic endpoint.
    Pendo,
}

/// Options of `proxy`.
#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Address to listen on.
    #[arg(long, env = "AGENT_TRACK_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Upstream URL [default: the local collector, or Pendo's US endpoint in pendo mode].
    #[arg(long, env = "AGENT_TRACK_UPSTREAM")]
    pub upstream: Option<String>,
    /// Upstream mode.
    #[arg(long, env = "AGENT_TRACK_MODE", value_enum, default_value = "webhook")]
    pub mode: Mode,
    /// Read the secret from this file instead of AGENT_TRACK_SECRET.
    #[arg(long, env = "AGENT_TRACK_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// Origins allowed to post (comma-separated, exact scheme://host[:port]; `*` for any).
    /// Default: none (only requests without an Origin header).
    #[arg(
        long = "allow-origin",
        env = "AGENT_TRACK_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Largest request body in bytes (compressed or not).
    #[arg(long, default_value_t = agent_track_schema::limits::MAX_BATCH_BYTES)]
    pub max_body_bytes: usize,
    /// Requests per minute per client address.
    #[arg(long, default_value_t = 600)]
    pub rate_per_minute: u32,
    /// Burst of requests above the steady rate.
    #[arg(long, default_value_t = 60)]
    pub rate_burst: u32,
    /// Proxies whose X-Forwarded-For is believed (comma-separated IPs). Default: none.
    #[arg(long = "trusted-proxy", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// Header set by your auth layer with the visitor id (the browser's is then ignored).
    #[arg(long)]
    pub visitor_header: Option<String>,
    /// Header set by your auth layer with the account id.
    #[arg(long)]
    pub account_header: Option<String>,
    /// Forward the client IP upstream.
    #[arg(long)]
    pub forward_ip: bool,
    /// Time to relay one batch upstream, retries included, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub upstream_deadline_ms: u64,
    /// Events sent to Pendo at once per batch.
    #[arg(long, default_value_t = 8)]
    pub pendo_concurrency: usize,
}

/// Options of `collector`.
#[derive(Args, Debug)]
pub struct CollectorArgs {
    /// Address to listen on.
    #[arg(long, env = "AGENT_TRACK_LISTEN", default_value = "127.0.0.1:8788")]
    pub listen: SocketAddr,
    /// Folder of the SQLite file.
    #[arg(long, env = "AGENT_TRACK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Read the secret from this file instead of AGENT_TRACK_SECRET.
    #[arg(long, env = "AGENT_TRACK_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
}

/// Options of `dev`.
#[derive(Args, Debug)]
pub struct DevArgs {
    /// Address to listen on.
    #[arg(long, env = "AGENT_TRACK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Folder of the SQLite file, the generated secret and API key.
    #[arg(long, env = "AGENT_TRACK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Folder of the web pages.
    #[arg(long, default_value = "www")]
    pub www: PathBuf,
    /// Folder of the npm package (wasm-pack output).
    #[arg(long, default_value = "pkg")]
    pub pkg: PathBuf,
}

/// A start-up problem, said plainly. Never contains a secret.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// The secret text from `--secret-file` or `AGENT_TRACK_SECRET`.
pub fn secret_text(file: Option<&Path>) -> Result<String, StartError> {
    match file {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| {
                StartError(format!(
                    "cannot read the secret file {}: {e}",
                    path.display()
                ))
            }),
        None => std::env::var("AGENT_TRACK_SECRET")
            .map_err(|_| StartError(SecretError::Missing.to_string())),
    }
}

/// Parses `whsec_` secrets, saying which is wrong without showing it.
pub fn secrets(text: &str) -> Result<Secrets, StartError> {
    Secrets::parse(text).map_err(|e| StartError(format!("AGENT_TRACK_SECRET: {e}")))
}

impl ProxyArgs {
    /// The proxy configuration, with the secret read and checked.
    pub fn config(&self) -> Result<ProxyConfig, StartError> {
        let secret = secret_text(self.secret_file.as_deref())?;
        let upstream = match self.mode {
            Mode::Webhook => Upstream::Webhook {
                url: self
                    .upstream
                    .clone()
                    .unwrap_or_else(|| DEFAULT_COLLECTOR_URL.into()),
                secrets: secrets(&secret)?,
            },
            Mode::Pendo => {
                if secret.trim().is_empty() {
                    return Err(StartError(
                        "AGENT_TRACK_SECRET: set it to Pendo's Track Event shared secret".into(),
                    ));
                }
                Upstream::Pendo {
                    url: self
                        .upstream
                        .clone()
                        .unwrap_or_else(|| DEFAULT_PENDO_URL.into()),
                    key: PendoKey(secret.trim().to_string()),
                    concurrency: self.pendo_concurrency,
                }
            }
        };
        let mut c = ProxyConfig::new(upstream);
        c.allowed_origins = self
            .allowed_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        c.max_body_bytes = self.max_body_bytes;
        c.rate_per_minute = self.rate_per_minute;
        c.rate_burst = self.rate_burst;
        c.trusted_proxies = self.trusted_proxies.clone();
        c.visitor_header = self.visitor_header.clone();
        c.account_header = self.account_header.clone();
        c.forward_ip = self.forward_ip;
        c.upstream_deadline = Duration::from_millis(self.upstream_deadline_ms);
        Ok(c)
    }
}
