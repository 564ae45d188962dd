//! Command-line and environment configuration of `agent-track-server`. Each option is a flag
//! and, for the deployment settings, an `AGENT_TRACK_*` environment variable (`--help` names
//! it; the `env = ..` attributes below are the list). The shared secret is read only
//! from `AGENT_TRACK_SECRET` or a file (`--secret-file`), never from a flag, so it cannot show
//! in `ps`, shell history or `--help`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::collector::analysis::text::Phrases;
use crate::collector::analysis::AnalysisConfig;
use crate::collector::db::url::Database;
use crate::collector::insights::{InsightsConfig, InsightsKey};
use crate::collector::webhooks::WebhookConfig;
use crate::collector::Synchronous;
use crate::proxy::config::PendoKey;
use crate::proxy::{ProxyConfig, Upstream};
use crate::secret::{SecretError, Secrets};
use crate::serve::Limits;

/// The proxy's default upstream: the collector on this machine.
pub const DEFAULT_COLLECTOR_URL: &str = "http://127.0.0.1:8788/v1/ingest";
/// Pendo's server-side agentic endpoint in the US region (`--pendo-region us`).
pub const DEFAULT_PENDO_URL: &str = "https://data.pendo.io/data/agentic";

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

/// Pendo's data regions, each with its own host for the server-side agentic endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PendoRegion {
    /// United States: `data.pendo.io`.
    #[default]
    Us,
    /// Europe: `data.eu.pendo.io`.
    Eu,
    /// United States (US1): `us1.data.pendo.io`.
    Us1,
    /// Japan: `data.jpn.pendo.io`.
    Jpn,
    /// Australia: `data.au.pendo.io`.
    Au,
}

impl PendoRegion {
    /// The agentic endpoint of this region.
    pub fn url(self) -> &'static str {
        match self {
            PendoRegion::Us => DEFAULT_PENDO_URL,
            PendoRegion::Eu => "https://data.eu.pendo.io/data/agentic",
            PendoRegion::Us1 => "https://us1.data.pendo.io/data/agentic",
            PendoRegion::Jpn => "https://data.jpn.pendo.io/data/agentic",
            PendoRegion::Au => "https://data.au.pendo.io/data/agentic",
        }
    }
}

/// Connection limits and timeouts, the same flags on every server (see [`Limits`]).
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Milliseconds to receive a complete request head, counted from its first byte (from
    /// the accept for a connection's first request); slower connections are closed.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// Milliseconds to receive a whole request body, counted from its head; slower bodies
    /// are answered 408.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,
    /// Milliseconds a keep-alive connection may sit with no request and no bytes moving.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,
    /// Connections open at once; beyond it new connections wait to be accepted.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Milliseconds given to requests in flight on SIGTERM or Ctrl-C; then they are cut.
    #[arg(long, default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

impl ServeArgs {
    /// The limits these flags describe.
    pub fn limits(&self) -> Limits {
        Limits {
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
        }
    }
}

/// Options of `proxy`.
#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Address to listen on.
    #[arg(long, env = "AGENT_TRACK_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Upstream URL, or several comma-separated: batches are spread over them round-robin and
    /// an attempt that fails (connection error, timeout, 5xx) goes on to the next at once
    /// [default: the local collector, or the --pendo-region endpoint in pendo mode].
    /// Redirects are not followed.
    #[arg(long, env = "AGENT_TRACK_UPSTREAM")]
    pub upstream: Option<String>,
    /// Upstream mode.
    #[arg(long, env = "AGENT_TRACK_MODE", value_enum, default_value = "webhook")]
    pub mode: Mode,
    /// Pendo's data region (pendo mode; an explicit --upstream wins): us = data.pendo.io,
    /// eu = data.eu.pendo.io, us1 = us1.data.pendo.io, jpn = data.jpn.pendo.io,
    /// au = data.au.pendo.io.
    #[arg(
        long,
        env = "AGENT_TRACK_PENDO_REGION",
        value_enum,
        default_value = "us"
    )]
    pub pendo_region: PendoRegion,
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
    /// Events per minute per client address: each event of a batch counts (in pendo mode
    /// each event is one upstream request). [default: 10 x --rate-per-minute, so 6000]
    #[arg(long)]
    pub event_rate_per_minute: Option<u32>,
    /// Burst of events above the steady rate; at least one full batch (500). [default: the
    /// larger of 1000 and 20 x --rate-burst, so 1200]
    #[arg(long)]
    pub event_rate_burst: Option<u32>,
    /// Proxies (load balancers, your auth layer) whose X-Forwarded-For and identity headers
    /// are believed (comma-separated IPs). Default: none.
    #[arg(long = "trusted-proxy", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// Header set by your auth layer with the visitor id, believed only from a
    /// --trusted-proxy. The browser's visitorId is then never used: an event whose request
    /// lacks the header is refused (code missing_visitor_header).
    #[arg(long)]
    pub visitor_header: Option<String>,
    /// Header set by your auth layer with the account id, believed only from a
    /// --trusted-proxy. The browser's accountId is then never used: without the header the
    /// event is stored without an account.
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
    /// Worker threads: each serves the connections it is given from start to end, with its
    /// own upstream connections. [default: one per CPU]
    #[arg(long, env = "AGENT_TRACK_WORKERS", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub workers: Option<u64>,
    /// Connection limits and timeouts.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// SQLite's `synchronous` setting of the collector's writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// Durable across process crashes; a power loss or OS crash can undo the last
    /// acknowledged batches (never corrupts the file). Faster.
    #[default]
    Normal,
    /// Every acknowledged batch survives a power loss too: the WAL is synced on each commit.
    Full,
}

impl From<SyncArg> for Synchronous {
    fn from(s: SyncArg) -> Self {
        match s {
            SyncArg::Normal => Synchronous::Normal,
            SyncArg::Full => Synchronous::Full,
        }
    }
}

/// Thresholds of the conversation analysis (`collector` and `dev`).
#[derive(Args, Debug, Clone)]
pub struct AnalysisArgs {
    /// A conversation without an event for this many minutes has ended.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub conversation_idle_minutes: u64,
    /// Seconds between two sweeps that re-judge conversations whose verdict time alone changes.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub analysis_sweep_seconds: u64,
    /// rage_prompt: this many prompts or more repeating one request…
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=100))]
    pub rage_prompt_count: u64,
    /// …within this many seconds (inclusive)…
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub rage_prompt_window_seconds: u64,
    /// …each equal to the first after normalising or with a word-set Jaccard similarity of at
    /// least this (0 to 1).
    #[arg(long, default_value_t = 0.6, value_parser = unit_fraction)]
    pub rage_prompt_similarity: f64,
    /// unanswered_prompt: judged once this many seconds have passed since the prompt.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub unanswered_after_seconds: u64,
    /// slow_response: the first answer is stamped more than this many seconds after its prompt.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub slow_response_seconds: u64,
    /// fallback_answer: a file of more phrases (any language), one per line; `#` starts a
    /// comment line. Added to the English defaults.
    #[arg(long, env = "AGENT_TRACK_FALLBACK_PHRASES")]
    pub fallback_phrases: Option<PathBuf>,
    /// frustration: a file of more phrases, one per line, added to the English defaults.
    #[arg(long, env = "AGENT_TRACK_FRUSTRATION_PHRASES")]
    pub frustration_phrases: Option<PathBuf>,
    /// frustration: upper-case letters ÷ cased letters at least this (0 to 1)…
    #[arg(long, default_value_t = 0.7, value_parser = unit_fraction)]
    pub frustration_caps_ratio: f64,
    /// …over at least this many cased letters.
    #[arg(long, default_value_t = 10)]
    pub frustration_caps_min_letters: usize,
    /// frustration: a run of this many `!`/`?` or more (0 turns the signal off).
    #[arg(long, default_value_t = 3)]
    pub frustration_mark_run: usize,
}

fn unit_fraction(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("`{value}` is not a number from 0 to 1"))
}

fn phrase_file(flag: &str, path: &Path, into: &mut Phrases) -> Result<(), StartError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StartError(format!("cannot read {flag} {}: {e}", path.display())))?;
    into.extend(Phrases::file_lines(&text));
    Ok(())
}

impl AnalysisArgs {
    /// The analysis configuration, with the phrase files read.
    pub fn config(&self) -> Result<AnalysisConfig, StartError> {
        let mut c = AnalysisConfig {
            idle_ms: self.conversation_idle_minutes.saturating_mul(60_000) as i64,
            sweep_interval: Duration::from_secs(self.analysis_sweep_seconds),
            rage_count: self.rage_prompt_count as usize,
            rage_window_ms: self.rage_prompt_window_seconds as i64 * 1000,
            rage_similarity: self.rage_prompt_similarity,
            unanswered_after_ms: self.unanswered_after_seconds as i64 * 1000,
            slow_response_ms: self.slow_response_seconds as i64 * 1000,
            caps_ratio: self.frustration_caps_ratio,
            caps_min_letters: self.frustration_caps_min_letters,
            mark_run: self.frustration_mark_run,
            ..AnalysisConfig::default()
        };
        if let Some(path) = &self.fallback_phrases {
            phrase_file("--fallback-phrases", path, &mut c.fallback_phrases)?;
        }
        if let Some(path) = &self.frustration_phrases {
            phrase_file("--frustration-phrases", path, &mut c.frustration_phrases)?;
        }
        Ok(c)
    }
}

// ---- Model insights (collector::insights) ----

/// The environment variable holding the key of the insights endpoint.
pub const INSIGHTS_KEY_ENV: &str = "AGENT_TRACK_INSIGHTS_KEY";

/// Model insights of ended conversations (`collector` and `dev`): off, and nothing is sent
/// anywhere, unless --insights-url is set. The key, if the endpoint needs one, comes from
/// AGENT_TRACK_INSIGHTS_KEY only.
#[derive(Args, Debug, Clone)]
pub struct InsightsArgs {
    /// Full URL of an OpenAI-compatible chat-completions endpoint (e.g.
    /// http://127.0.0.1:11434/v1/chat/completions); each ended conversation's transcript is
    /// sent there. The key, if needed, comes from AGENT_TRACK_INSIGHTS_KEY. Default: off.
    #[arg(long, env = "AGENT_TRACK_INSIGHTS_URL")]
    pub insights_url: Option<String>,
    /// The model to ask (required with --insights-url).
    #[arg(long, env = "AGENT_TRACK_INSIGHTS_MODEL")]
    pub insights_model: Option<String>,
    /// Requests in flight at once (per collector process).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub insights_concurrency: u64,
    /// Requests per clock hour (UTC), counted in the database over every collector sharing
    /// it; when reached, the rest waits for the next hour.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub insights_per_hour: u64,
    /// Seconds for one request, the answer included.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub insights_timeout_seconds: u64,
}

impl InsightsArgs {
    /// The insights configuration (`None`: off), with `key` (the value of
    /// [`INSIGHTS_KEY_ENV`]). A URL without a model, a model without a URL, or a URL that is
    /// not http(s) is a start error.
    pub fn config(&self, key: Option<&str>) -> Result<Option<InsightsConfig>, StartError> {
        let model = self
            .insights_model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let Some(url) = self
            .insights_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            if model.is_some() {
                return Err(StartError(
                    "--insights-model is set but --insights-url is not: set the full URL of the chat-completions endpoint too".into(),
                ));
            }
            return Ok(None);
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            StartError(format!("--insights-url is not a URL ({e}); give the full URL, e.g. http://127.0.0.1:11434/v1/chat/completions"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(StartError(format!(
                "--insights-url must be http or https, not {}",
                parsed.scheme()
            )));
        }
        let Some(model) = model else {
            return Err(StartError(
                "--insights-url is set but --insights-model is not: name the model to ask".into(),
            ));
        };
        let mut c = InsightsConfig::new(url, model);
        c.key = key.and_then(InsightsKey::new);
        c.concurrency = self.insights_concurrency as usize;
        c.per_hour = u32::try_from(self.insights_per_hour).unwrap_or(u32::MAX);
        c.timeout = Duration::from_secs(self.insights_timeout_seconds);
        Ok(Some(c))
    }
}

/// The value of [`INSIGHTS_KEY_ENV`], if set.
pub fn insights_key() -> Option<String> {
    std::env::var(INSIGHTS_KEY_ENV).ok()
}

// ---- end of model insights ----

/// Options of `collector`.
#[derive(Args, Debug)]
pub struct CollectorArgs {
    /// Address to listen on.
    #[arg(long, env = "AGENT_TRACK_LISTEN", default_value = "127.0.0.1:8788")]
    pub listen: SocketAddr,
    /// Folder of the SQLite file.
    #[arg(long, env = "AGENT_TRACK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// PostgreSQL instead of SQLite: read the URL (`postgres://user:password@host/db`) from
    /// this file instead of AGENT_TRACK_DATABASE_URL (never a flag: it may hold a password).
    /// Without either, SQLite under --data-dir.
    #[arg(long, env = "AGENT_TRACK_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,
    /// Read the secret from this file instead of AGENT_TRACK_SECRET.
    #[arg(long, env = "AGENT_TRACK_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// Read the ingest keys (space-separated) from this file instead of
    /// AGENT_TRACK_INGEST_KEYS. Ingest keys may only write: the conversation log API and
    /// `POST /data/agentic`. Without any, those endpoints answer 401.
    #[arg(long, env = "AGENT_TRACK_INGEST_KEYS_FILE")]
    pub ingest_keys_file: Option<PathBuf>,
    /// SQLite `synchronous`: normal (a power loss may undo the last acknowledged batches) or
    /// full (acknowledged means on disk, slower).
    #[arg(
        long,
        env = "AGENT_TRACK_SYNCHRONOUS",
        value_enum,
        default_value = "normal"
    )]
    pub synchronous: SyncArg,
    /// Conversation analysis.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Retention.
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Model insights.
    #[command(flatten)]
    pub insights: InsightsArgs,
    /// Outbound webhooks.
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// Connection limits and timeouts.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Retention options of `collector` and `dev` (see the collector's `retention` module).
#[derive(Args, Debug)]
pub struct RetentionArgs {
    /// Delete conversations whose last message is older than this many days, with everything
    /// attached to them. Default: keep them forever. (Content-free dedupe rows are pruned
    /// either way, only where dedupe stays correct.)
    #[arg(long, env = "AGENT_TRACK_RETAIN_DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub retain_days: Option<u32>,
    /// Seconds between retention runs.
    #[arg(long, env = "AGENT_TRACK_RETENTION_INTERVAL_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub retention_interval_seconds: u64,
}

impl RetentionArgs {
    /// The retention of these options.
    pub fn config(&self) -> crate::collector::retention::RetentionConfig {
        crate::collector::retention::RetentionConfig {
            retain_days: self.retain_days,
            interval: std::time::Duration::from_secs(self.retention_interval_seconds),
        }
    }
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
    /// PostgreSQL instead of SQLite: read the URL (`postgres://user:password@host/db`) from
    /// this file instead of AGENT_TRACK_DATABASE_URL (never a flag: it may hold a password).
    /// Without either, SQLite under --data-dir.
    #[arg(long, env = "AGENT_TRACK_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,
    /// Folder of the web pages.
    #[arg(long, default_value = "www")]
    pub www: PathBuf,
    /// Folder of the npm package (wasm-pack output).
    #[arg(long, default_value = "pkg")]
    pub pkg: PathBuf,
    /// SQLite `synchronous`: normal or full (see `collector --help`).
    #[arg(
        long,
        env = "AGENT_TRACK_SYNCHRONOUS",
        value_enum,
        default_value = "normal"
    )]
    pub synchronous: SyncArg,
    /// Conversation analysis.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Retention.
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Model insights.
    #[command(flatten)]
    pub insights: InsightsArgs,
    /// Outbound webhooks (without a secret, one is generated into the data folder as
    /// `webhook-secret`).
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// Connection limits and timeouts.
    #[command(flatten)]
    pub serve: ServeArgs,
}

// ---- Outbound webhooks (collector and dev) ----

/// Outbound webhooks of the collector. The signing secret comes from
/// AGENT_TRACK_WEBHOOK_SECRET or --webhook-secret-file, never from a flag; it is distinct
/// from AGENT_TRACK_SECRET (which signs proxy -> collector).
#[derive(Args, Debug, Clone, Default)]
pub struct WebhookArgs {
    /// Send signed events (conversation.ended, conversation.flagged, reaction.negative) to
    /// this http(s) URL; repeat the flag for more receivers (or give a comma-separated list
    /// in the variable).
    #[arg(
        long = "webhook-url",
        env = "AGENT_TRACK_WEBHOOK_URLS",
        value_delimiter = ','
    )]
    pub urls: Vec<String>,
    /// Read the webhook signing secret (whsec_...) from this file instead of
    /// AGENT_TRACK_WEBHOOK_SECRET.
    #[arg(long, env = "AGENT_TRACK_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,
}

/// The environment variable of the webhook signing secret.
pub const WEBHOOK_SECRET_ENV: &str = "AGENT_TRACK_WEBHOOK_SECRET";

impl WebhookArgs {
    /// The webhook configuration: URLs checked, the secret read (only when there are URLs)
    /// from --webhook-secret-file or AGENT_TRACK_WEBHOOK_SECRET, else from `generated` (the
    /// dev stack's), else refused.
    pub fn config(
        &self,
        generated: Option<&dyn Fn() -> Result<String, StartError>>,
    ) -> Result<WebhookConfig, StartError> {
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        let mut config = WebhookConfig {
            urls,
            ..WebhookConfig::default()
        };
        if config.urls.is_empty() {
            return Ok(config);
        }
        let text = match &self.webhook_secret_file {
            Some(path) => Some(private_file(path, "webhook secret")?.trim().to_string()),
            None => match std::env::var(WEBHOOK_SECRET_ENV) {
                Ok(s) if !s.trim().is_empty() => Some(s),
                _ => generated.map(|g| g()).transpose()?,
            },
        };
        if let Some(text) = text {
            config.secrets = Some(
                Secrets::parse(&text)
                    .map_err(|e| StartError(format!("{WEBHOOK_SECRET_ENV}: {e}")))?,
            );
        }
        config.validate().map_err(|e| StartError(e.to_string()))?;
        Ok(config)
    }
}

// ---- end of outbound webhooks ----

/// A start-up problem, said plainly. Never contains a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// The ingest keys from `--ingest-keys-file` or `AGENT_TRACK_INGEST_KEYS` (space-separated;
/// none is allowed: the write endpoints then answer 401).
pub fn ingest_keys(file: Option<&Path>) -> Result<Vec<String>, StartError> {
    let text = match file {
        Some(path) => private_file(path, "ingest keys")?,
        None => std::env::var("AGENT_TRACK_INGEST_KEYS").unwrap_or_default(),
    };
    Ok(text.split_whitespace().map(str::to_owned).collect())
}

/// The database from `--database-url-file` or `AGENT_TRACK_DATABASE_URL`; SQLite without
/// either. An error never repeats the URL's password.
pub fn database(file: Option<&Path>) -> Result<Database, StartError> {
    let url = match file {
        Some(path) => private_file(path, "database URL")?,
        None => match std::env::var("AGENT_TRACK_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => return Ok(Database::Sqlite),
        },
    };
    Database::parse(&url).map_err(|e| StartError(format!("AGENT_TRACK_DATABASE_URL: {e}")))
}

/// The text of a file that holds a secret (`what`: which one, for the error), with a warning
/// when others may read it.
fn private_file(path: &Path, what: &str) -> Result<String, StartError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StartError(format!(
            "cannot read the {what} file {}: {e}",
            path.display()
        ))
    })?;
    crate::private::warn_if_open(path);
    Ok(text)
}

/// The secret text from `--secret-file` or `AGENT_TRACK_SECRET`.
pub fn secret_text(file: Option<&Path>) -> Result<String, StartError> {
    match file {
        Some(path) => Ok(private_file(path, "secret")?.trim().to_string()),
        None => std::env::var("AGENT_TRACK_SECRET")
            .map_err(|_| StartError(SecretError::Missing.to_string())),
    }
}

/// Parses `whsec_` secrets, saying which is wrong without showing it.
pub fn secrets(text: &str) -> Result<Secrets, StartError> {
    Secrets::parse(text).map_err(|e| StartError(format!("AGENT_TRACK_SECRET: {e}")))
}

impl ProxyArgs {
    /// The `--upstream` list, each URL checked, or `default` alone.
    fn upstreams(&self, default: &str) -> Result<Vec<String>, StartError> {
        match &self.upstream {
            Some(list) => crate::proxy::config::parse_upstreams(list).map_err(StartError),
            None => Ok(vec![default.to_string()]),
        }
    }

    /// The proxy configuration, with the secret read and checked. A trusted identity header
    /// without any `--trusted-proxy` is refused: nobody could set it.
    pub fn config(&self) -> Result<ProxyConfig, StartError> {
        for (flag, header) in [
            ("--visitor-header", &self.visitor_header),
            ("--account-header", &self.account_header),
        ] {
            if let Some(h) = header {
                if axum::http::HeaderName::try_from(h.as_str()).is_err() {
                    return Err(StartError(format!(
                        "{flag} {h:?} is not a valid HTTP header name"
                    )));
                }
                if self.trusted_proxies.is_empty() {
                    return Err(StartError(format!(
                        "{flag} {h} is set but no --trusted-proxy is: the header would be believed from nobody. \
                         Add --trusted-proxy with the address of the proxy (your auth layer) that sets it"
                    )));
                }
            }
        }
        let batch = agent_track_schema::limits::MAX_BATCH_EVENTS as u32;
        if let Some(burst) = self.event_rate_burst.filter(|b| *b < batch) {
            return Err(StartError(format!(
                "--event-rate-burst {burst} is below one full batch; it must be at least {batch}"
            )));
        }
        let secret = secret_text(self.secret_file.as_deref())?;
        let upstream = match self.mode {
            Mode::Webhook => Upstream::Webhook {
                urls: self.upstreams(DEFAULT_COLLECTOR_URL)?,
                secrets: secrets(&secret)?,
            },
            Mode::Pendo => {
                if secret.trim().is_empty() {
                    return Err(StartError(
                        "AGENT_TRACK_SECRET: set it to Pendo's Track Event shared secret".into(),
                    ));
                }
                Upstream::Pendo {
                    urls: self.upstreams(self.pendo_region.url())?,
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
        // Unless set, the event limits follow the request limits, so raising those (a
        // benchmark, many clients behind one NAT) raises these too.
        c.event_rate_per_minute = self
            .event_rate_per_minute
            .unwrap_or(self.rate_per_minute.saturating_mul(10));
        c.event_rate_burst = self
            .event_rate_burst
            .unwrap_or(self.rate_burst.saturating_mul(20).max(1000));
        c.trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|ip| ip.to_canonical())
            .collect();
        c.visitor_header = self.visitor_header.clone();
        c.account_header = self.account_header.clone();
        c.forward_ip = self.forward_ip;
        c.upstream_deadline = Duration::from_millis(self.upstream_deadline_ms);
        c.workers = self
            .workers
            .map_or_else(crate::workers::default_count, |n| n as usize);
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy_config(args: &[&str]) -> Result<ProxyConfig, StartError> {
        let secret = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret.path(), "pendo-shared-secret").unwrap();
        let mut argv = vec!["agent-track-server", "proxy", "--secret-file"];
        argv.push(secret.path().to_str().unwrap());
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Proxy(p) => p.config(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn workers_default_to_one_per_cpu_and_zero_is_refused() {
        assert_eq!(
            proxy_config(&["--mode", "pendo"]).unwrap().workers,
            crate::workers::default_count()
        );
        assert_eq!(
            proxy_config(&["--mode", "pendo", "--workers", "3"])
                .unwrap()
                .workers,
            3
        );
        let argv = ["agent-track-server", "proxy", "--workers", "0"];
        let err = Cli::try_parse_from(argv).unwrap_err().to_string();
        assert!(
            err.contains("--workers") && err.contains("0 is not in 1..=1024"),
            "{err}"
        );
    }

    fn pendo_url(args: &[&str]) -> String {
        let mut all = vec!["--mode", "pendo"];
        all.extend_from_slice(args);
        match proxy_config(&all).unwrap().upstream {
            Upstream::Pendo { urls, .. } => urls.join(","),
            other => panic!("{other:?}"),
        }
    }

    fn analysis(args: &[&str]) -> Result<AnalysisConfig, StartError> {
        let mut argv = vec!["agent-track-server", "collector"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)
            .map_err(|e| StartError(e.to_string()))?
            .command
        {
            Command::Collector(c) => c.analysis.config(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn analysis_flags_defaults_values_and_phrase_files() {
        assert_eq!(analysis(&[]).unwrap(), AnalysisConfig::default());
        let phrases = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            phrases.path(),
            "# German\nDas weiß ich nicht\n\nわかりません\n",
        )
        .unwrap();
        let path = phrases.path().to_str().unwrap();
        let c = analysis(&[
            "--conversation-idle-minutes",
            "5",
            "--rage-prompt-count",
            "4",
            "--rage-prompt-window-seconds",
            "60",
            "--rage-prompt-similarity",
            "0.8",
            "--unanswered-after-seconds",
            "90",
            "--slow-response-seconds",
            "10",
            "--fallback-phrases",
            path,
            "--frustration-phrases",
            path,
            "--frustration-caps-ratio",
            "0.9",
            "--frustration-caps-min-letters",
            "20",
            "--frustration-mark-run",
            "0",
            "--analysis-sweep-seconds",
            "5",
        ])
        .unwrap();
        assert_eq!(
            (c.idle_ms, c.rage_count, c.rage_window_ms, c.rage_similarity),
            (300_000, 4, 60_000, 0.8)
        );
        assert_eq!(
            (
                c.unanswered_after_ms,
                c.slow_response_ms,
                c.caps_ratio,
                c.caps_min_letters,
                c.mark_run
            ),
            (90_000, 10_000, 0.9, 20, 0)
        );
        assert_eq!(c.sweep_interval, Duration::from_secs(5));
        let defaults = AnalysisConfig::default();
        assert_eq!(
            c.fallback_phrases.len(),
            defaults.fallback_phrases.len() + 2
        );
        assert_eq!(
            c.fallback_phrases.find("leider das weiß ich nicht"),
            Some("das weiß ich nicht")
        );
        assert_eq!(
            c.frustration_phrases.len(),
            defaults.frustration_phrases.len() + 2
        );
        let err = analysis(&["--fallback-phrases", "/nonexistent/phrases.txt"]).unwrap_err();
        assert!(
            err.0
                .starts_with("cannot read --fallback-phrases /nonexistent/phrases.txt"),
            "{err}"
        );
        let err = analysis(&["--rage-prompt-similarity", "1.5"]).unwrap_err();
        assert!(err.0.contains("`1.5` is not a number from 0 to 1"), "{err}");
        assert!(analysis(&["--rage-prompt-count", "1"]).is_err());
        assert!(analysis(&["--conversation-idle-minutes", "0"]).is_err());
    }

    fn insights(args: &[&str], key: Option<&str>) -> Result<Option<InsightsConfig>, StartError> {
        let mut argv = vec!["agent-track-server", "dev"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)
            .map_err(|e| StartError(e.to_string()))?
            .command
        {
            Command::Dev(d) => d.insights.config(key),
            _ => unreachable!(),
        }
    }

    #[test]
    fn insights_are_off_by_default_and_need_a_url_and_a_model() {
        assert!(insights(&[], Some("sk-x")).unwrap().is_none());
        let url = "http://127.0.0.1:11434/v1/chat/completions";
        let err = insights(&["--insights-url", url], None).unwrap_err();
        assert!(err.0.contains("--insights-model is not"), "{err}");
        let err = insights(&["--insights-model", "llama3"], None).unwrap_err();
        assert!(err.0.contains("--insights-url is not"), "{err}");
        let err = insights(
            &["--insights-url", "localhost:11434", "--insights-model", "m"],
            None,
        )
        .unwrap_err();
        assert!(err.0.contains("http or https"), "{err}");
        let err = insights(
            &["--insights-url", "not a url", "--insights-model", "m"],
            None,
        )
        .unwrap_err();
        assert!(err.0.contains("is not a URL"), "{err}");
        let c = insights(
            &[
                "--insights-url",
                url,
                "--insights-model",
                "llama3",
                "--insights-concurrency",
                "3",
                "--insights-per-hour",
                "10",
                "--insights-timeout-seconds",
                "5",
            ],
            Some("sk-secret"),
        )
        .unwrap()
        .unwrap();
        assert_eq!((c.url.as_str(), c.model.as_str()), (url, "llama3"));
        assert_eq!(
            (c.concurrency, c.per_hour, c.timeout),
            (3, 10, Duration::from_secs(5))
        );
        assert!(!format!("{c:?}").contains("sk-secret"));
        let c = insights(&["--insights-url", url, "--insights-model", "m"], None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.concurrency, c.per_hour, c.timeout),
            (2, 200, Duration::from_secs(60))
        );
        assert!(c.key.is_none());
        assert!(insights(&["--insights-concurrency", "0"], None).is_err());
    }

    #[test]
    fn the_database_url_comes_from_its_file_and_never_shows_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("database-url");
        std::fs::write(&path, "postgres://u:s3cret@127.0.0.1:5432/db\n").unwrap();
        let db = database(Some(&path)).unwrap();
        assert_eq!(
            db,
            Database::Postgres("postgres://u:s3cret@127.0.0.1:5432/db".into())
        );
        assert!(!format!("{db:?}").contains("s3cret"));
        assert!(!db.describe().contains("s3cret"));
        std::fs::write(&path, "mysql://u:s3cret@127.0.0.1/db").unwrap();
        let e = database(Some(&path)).unwrap_err();
        assert!(
            e.0.contains("postgres://") && !e.0.contains("s3cret"),
            "{}",
            e.0
        );
        let e = database(Some(&dir.path().join("missing"))).unwrap_err();
        assert!(e.0.contains("database URL file"), "{}", e.0);
    }

    #[test]
    fn pendo_regions_pick_the_data_host_and_an_explicit_upstream_wins() {
        assert_eq!(pendo_url(&[]), "https://data.pendo.io/data/agentic");
        for (region, host) in [
            ("us", "data.pendo.io"),
            ("eu", "data.eu.pendo.io"),
            ("us1", "us1.data.pendo.io"),
            ("jpn", "data.jpn.pendo.io"),
            ("au", "data.au.pendo.io"),
        ] {
            assert_eq!(
                pendo_url(&["--pendo-region", region]),
                format!("https://{host}/data/agentic")
            );
        }
        assert_eq!(
            pendo_url(&[
                "--pendo-region",
                "eu",
                "--upstream",
                "https://proxy.example/agentic"
            ]),
            "https://proxy.example/agentic"
        );
    }

    #[test]
    fn upstream_lists_are_checked_url_by_url() {
        let webhook = |list: &str| {
            let secret = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(secret.path(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
            let argv = [
                "agent-track-server",
                "proxy",
                "--secret-file",
                secret.path().to_str().unwrap(),
                "--upstream",
                list,
            ];
            match Cli::try_parse_from(argv).unwrap().command {
                Command::Proxy(p) => p.config().map(|c| c.upstream.urls().to_vec()),
                _ => unreachable!(),
            }
        };
        assert_eq!(
            webhook("http://10.0.0.1:8788/v1/ingest, https://b.example/v1/ingest").unwrap(),
            vec![
                "http://10.0.0.1:8788/v1/ingest",
                "https://b.example/v1/ingest"
            ]
        );
        let err = webhook("http://a.example/v1/ingest,ftp://u:s3cret@b.example/x").unwrap_err();
        assert!(
            err.0.contains("entry 2 has the scheme") && err.0.contains("only http:// and https://"),
            "{err}"
        );
        assert!(!err.0.contains("s3cret"), "a URL is never echoed: {err}");
        let err = webhook("http://a.example/v1/ingest,not a url").unwrap_err();
        assert!(err.0.contains("entry 2 is not a URL"), "{err}");
        let err = webhook("http://a.example/v1/ingest,,http://b.example").unwrap_err();
        assert!(err.0.contains("entry 2 is empty"), "{err}");
        assert_eq!(
            pendo_url(&[
                "--upstream",
                "https://p1.example/agentic,https://p2.example/agentic"
            ]),
            "https://p1.example/agentic,https://p2.example/agentic"
        );
    }

    #[test]
    fn identity_headers_need_a_trusted_proxy_and_addresses_are_canonical() {
        let err = proxy_config(&["--mode", "pendo", "--visitor-header", "X-User"]).unwrap_err();
        assert!(err.0.contains("no --trusted-proxy"), "{err}");
        let c = proxy_config(&[
            "--mode",
            "pendo",
            "--visitor-header",
            "X-User",
            "--trusted-proxy",
            "::ffff:10.0.0.5",
        ])
        .unwrap();
        assert_eq!(
            c.trusted_proxies,
            vec!["10.0.0.5".parse::<IpAddr>().unwrap()]
        );
        let err = proxy_config(&["--mode", "pendo", "--event-rate-burst", "100"]).unwrap_err();
        assert!(err.0.contains("at least 500"), "{err}");
    }

    #[test]
    fn event_limits_follow_the_request_limits_unless_set() {
        let c = proxy_config(&["--mode", "pendo"]).unwrap();
        assert_eq!(
            (c.event_rate_per_minute, c.event_rate_burst),
            (6_000, 1_200)
        );
        let defaults = ProxyConfig::new(c.upstream.clone());
        assert_eq!(
            (defaults.event_rate_per_minute, defaults.event_rate_burst),
            (6_000, 1_200)
        );
        let c = proxy_config(&[
            "--mode",
            "pendo",
            "--rate-per-minute",
            "100000000",
            "--rate-burst",
            "100000000",
        ])
        .unwrap();
        assert_eq!(
            (c.event_rate_per_minute, c.event_rate_burst),
            (1_000_000_000, 2_000_000_000)
        );
        let c = proxy_config(&[
            "--mode",
            "pendo",
            "--event-rate-per-minute",
            "60",
            "--event-rate-burst",
            "500",
        ])
        .unwrap();
        assert_eq!((c.event_rate_per_minute, c.event_rate_burst), (60, 500));
    }

    // ---- outbound webhooks ----

    fn webhook_args(args: &[&str]) -> WebhookArgs {
        let mut argv = vec!["agent-track-server", "collector"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Collector(c) => c.webhooks,
            _ => unreachable!(),
        }
    }

    #[test]
    fn webhook_flags_need_a_secret_and_http_urls() {
        // No URL: no webhooks, no secret read.
        let none = webhook_args(&[]).config(None).unwrap();
        assert!(none.urls.is_empty() && none.secrets.is_none());
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), format!("{}\n", Secrets::generate())).unwrap();
        let path = file.path().to_str().unwrap();
        let two = webhook_args(&[
            "--webhook-url",
            "https://a.example/h",
            "--webhook-url",
            "http://127.0.0.1:9000/h",
            "--webhook-secret-file",
            path,
        ])
        .config(None)
        .unwrap();
        assert_eq!(two.urls.len(), 2);
        assert!(two.secrets.is_some());
        let bad = webhook_args(&[
            "--webhook-url",
            "ftp://a.example/",
            "--webhook-secret-file",
            path,
        ])
        .config(None)
        .unwrap_err();
        assert!(bad.0.contains("#1"), "{}", bad.0);
        std::fs::write(file.path(), "not-a-secret").unwrap();
        let err = webhook_args(&[
            "--webhook-url",
            "https://a.example/",
            "--webhook-secret-file",
            path,
        ])
        .config(None)
        .unwrap_err();
        assert!(
            err.0.contains("whsec_") && !err.0.contains("not-a-secret"),
            "{}",
            err.0
        );
    }

    #[test]
    fn dev_generates_a_webhook_secret_when_none_is_given() {
        let args = WebhookArgs {
            urls: vec!["http://127.0.0.1:9000/h".into()],
            webhook_secret_file: None,
        };
        if std::env::var_os(WEBHOOK_SECRET_ENV).is_some() {
            return; // The environment decides; nothing to check here.
        }
        assert!(args
            .config(None)
            .unwrap_err()
            .0
            .contains("AGENT_TRACK_WEBHOOK_SECRET"));
        let dir = tempfile::tempdir().unwrap();
        let generate =
            || crate::dev::webhook_secret(dir.path()).map_err(|e| StartError(e.to_string()));
        let first = args.config(Some(&generate)).unwrap();
        assert!(first.secrets.is_some());
        let kept = std::fs::read_to_string(dir.path().join("webhook-secret")).unwrap();
        assert!(kept.starts_with("whsec_"));
        args.config(Some(&generate)).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("webhook-secret")).unwrap(),
            kept,
            "kept across runs"
        );
    }
}
