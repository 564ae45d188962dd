//! The collector: the default, self-hosted upstream of the proxy. It verifies signed
//! deliveries, dedupes and stores them in SQLite (the default) or PostgreSQL, and serves a
//! read API over them.
//!
//! # Layout
//!
//! - [`ingest`]: `POST /v1/ingest`: verify the Standard Webhooks signature on the raw body,
//!   check, store.
//! - [`analysis`]: conversation lifecycle, outcome and issues (pure), with all their SQL
//!   and the full-text index in [`analysis::storage`].
//! - [`api`]: the read API under `/api/v1` (bearer API key).
//! - [`log`]: the conversation log API for backends (create, append; bearer ingest key).
//! - [`pendo`]: `POST /data/agentic`, Pendo's server-side Conversations API body.
//! - [`insights`]: optional model insights of ended conversations (off unless configured).
//! - [`record`]: a relayed event checked and flattened for storage.
//! - [`merge`]: the merge rules (first write wins; latest reaction wins; `unreact` tombstones).
//! - [`schema`]: the schema and its migrations, on SQLite and on PostgreSQL.
//! - [`db`]: the storage boundary, one connection type over both databases.
//! - [`store`]: the write path (one delivery; deletion).
//! - [`group_commit`]: the SQLite writer: the writes waiting for it share one transaction.
//! - [`checkpoint`]: the SQLite WAL checkpoint, on a thread of its own.
//! - [`read`]: conversation pages, one conversation, the message export.
//! - [`stats`]: `GET /api/v1/stats`.
//! - [`view`]: the JSON shapes of the read API.
//! - [`transcript`]: text and Markdown transcripts.
//! - [`query`]: query parameters checked into plain values.
//! - [`cursor`]: opaque keyset cursors.
//! - [`time`]: RFC 3339 in and out.
//! - [`webhooks`]: signed outbound webhooks from a transactional outbox.

pub mod analysis;
pub mod api;
pub mod checkpoint;
pub mod cursor;
pub mod db;
pub mod group_commit;
pub mod ingest;
pub mod insights;
pub mod log;
pub mod merge;
pub mod metrics;
pub mod pendo;
pub mod query;
pub mod read;
pub mod record;
pub mod retention;
pub mod schema;
pub mod search_index;
pub mod stats;
pub mod store;
pub mod time;
pub mod transcript;
pub mod view;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use rusqlite::Connection;
use tokio::sync::{Notify, Semaphore};

use crate::error::{now_i64, ApiError};
use crate::private;
use crate::secret::Secrets;
use analysis::AnalysisConfig;
use db::Conn;
use insights::InsightsConfig;
use webhooks::{Targets, WebhookConfig, WebhookConfigError};

/// Conversations the sweep judges per transaction.
const SWEEP_BATCH: i64 = 500;

/// The database file's name under [`CollectorConfig::data_dir`].
pub const DB_FILE: &str = "agent-track.sqlite3";

/// Read connections: this many reads (a slow `stats` among them) run at once; more wait for
/// a free one. Writes never wait for reads.
pub const READERS: usize = 4;

/// SQLite's `synchronous` setting for the writer (WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// `NORMAL`: a commit survives a crash of the process, but a power loss or an operating
    /// system crash can undo the last acknowledged batches (the file stays consistent).
    #[default]
    Normal,
    /// `FULL`: the WAL is synced at every commit, so an acknowledged batch survives a power
    /// loss too. Slower writes.
    Full,
}

impl Synchronous {
    /// The pragma value.
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// How the collector starts.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Directory of the SQLite file [`DB_FILE`]; created (mode 0700) when missing.
    pub data_dir: PathBuf,
    /// Secrets that verify deliveries (any one of them may have signed).
    pub secrets: Secrets,
    /// Bearer key of the read API; must not be empty.
    pub api_key: String,
    /// Keys of the conversation log API and `/data/agentic` (write only); none: those
    /// endpoints answer 401.
    pub ingest_keys: Vec<String>,
    /// Durability of acknowledged batches. Default [`Synchronous::Normal`].
    pub synchronous: Synchronous,
    /// Thresholds of the conversation analysis.
    pub analysis: AnalysisConfig,
    /// Model insights; `None` (the default): off, nothing is sent anywhere.
    pub insights: Option<InsightsConfig>,
    /// Outbound webhooks (none by default).
    pub webhooks: WebhookConfig,
    /// Where the data lives: SQLite under `data_dir` (the default) or PostgreSQL.
    pub database: db::url::Database,
}

impl CollectorConfig {
    /// A configuration with the default durability.
    pub fn new(data_dir: impl Into<PathBuf>, secrets: Secrets, api_key: impl Into<String>) -> Self {
        CollectorConfig {
            data_dir: data_dir.into(),
            secrets,
            api_key: api_key.into(),
            ingest_keys: Vec::new(),
            synchronous: Synchronous::default(),
            analysis: AnalysisConfig::default(),
            insights: None,
            webhooks: WebhookConfig::default(),
            database: db::url::Database::Sqlite,
        }
    }
}

/// Why the collector could not open.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite could not open, configure or migrate the file.
    #[error("cannot open the database {}: {source}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The file was written by a newer agent-track (schema version `found`).
    #[error(
        "the database {} has schema version {found}; this build knows up to {}: upgrade agent-track",
        path.display(),
        schema::VERSION
    )]
    SchemaTooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
    },
    /// PostgreSQL could not be reached or migrated (the URL shown without its password).
    #[error("cannot open the database {url}: {message}")]
    Postgres {
        /// The URL, password redacted.
        url: String,
        /// The cause, password redacted.
        message: String,
    },
    /// The API key is empty.
    #[error("the read API key is empty: set AGENT_TRACK_API_KEY")]
    EmptyApiKey,
    /// An ingest key is empty or equal to the read API key.
    #[error(
        "an ingest key must be non-empty and differ from the read API key (which cannot write)"
    )]
    BadIngestKey,
    /// The webhook configuration is not usable.
    #[error(transparent)]
    Webhooks(#[from] WebhookConfigError),
}

/// The collector's state: its [`Store`], the secrets and the API key.
pub struct Collector {
    store: Store,
    truncate_pending: AtomicBool,
    secrets: Secrets,
    api_key: String,
    ingest_keys: Vec<String>,
    analysis: Arc<AnalysisConfig>,
    // Model insights.
    insights: Option<Arc<InsightsConfig>>,
    /// This process's id in insight claims (`lease_owner`).
    insights_owner: String,
    /// Counters of `GET /metrics`.
    metrics: metrics::Metrics,
    // Outbound webhooks: the configuration, the URLs the write path queues events for, and
    // the worker's wake-up after a write queued some.
    webhooks: Arc<WebhookConfig>,
    webhook_targets: Targets,
    webhook_wake: Arc<Notify>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("secrets", &self.secrets)
            .field("api_key", &"redacted")
            .field("ingest_keys", &self.ingest_keys.len())
            .field("insights", &self.insights)
            .finish_non_exhaustive()
    }
}

/// Where a collector keeps its data.
enum Store {
    /// A writer connection and a small pool of [`READERS`] read connections to one SQLite
    /// file (WAL lets readers run while the writer writes).
    Sqlite(SqliteStore),
    /// A pool of PostgreSQL clients, each with its prepared statements.
    Postgres(PgPool),
}

/// The SQLite side of [`Store`].
struct SqliteStore {
    path: PathBuf,
    writer: group_commit::Writer,
    readers: Mutex<Vec<Connection>>,
    read_slots: Semaphore,
}

/// A small pool of PostgreSQL clients ([`PG_CLIENTS`] at most kept).
struct PgPool {
    url: String,
    clients: Mutex<Vec<(postgres::Client, db::Statements)>>,
    slots: Semaphore,
}

/// Attempts of a PostgreSQL transaction aborted by a deadlock or a serialization failure.
pub const PG_ATTEMPTS: u32 = 3;

/// PostgreSQL clients of one collector (reads and writes share them).
pub const PG_CLIENTS: usize = 8;

impl Drop for PgPool {
    fn drop(&mut self) {
        let clients = std::mem::take(self.clients.get_mut().unwrap_or_else(|e| e.into_inner()));
        PgPool::close(clients);
    }
}

impl PgPool {
    /// Closes `clients` on a thread of their own (closing runs the client's runtime, which
    /// cannot run inside another; the collector may be dropped in async code).
    fn close(clients: Vec<(postgres::Client, db::Statements)>) {
        if clients.is_empty() {
            return;
        }
        let _ = std::thread::spawn(move || drop(clients)).join();
    }

    /// A new client, over TLS as the URL's `sslmode` says ([`db::tls`]).
    fn connect(url: &str) -> Result<(postgres::Client, db::Statements), db::DbError> {
        let target = db::tls::target(url).map_err(db::DbError::Config)?;
        Ok((target.connect()?, db::Statements::new()))
    }

    /// Runs `f` in a transaction on a free client (`write`: read-write, else read-only).
    fn run<T>(
        &self,
        write: bool,
        f: &mut impl FnMut(&mut Conn<'_, '_>) -> db::Result<T>,
    ) -> db::Result<T> {
        let taken = self.clients.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let (mut client, mut stmts) = match taken {
            Some(c) if !c.0.is_closed() => c,
            _ => Self::connect(&self.url)?,
        };
        let result = (|| {
            let mut tx = client.build_transaction().read_only(!write).start()?;
            let out = f(&mut Conn::Postgres(&mut tx, &mut stmts))?;
            tx.commit()?;
            Ok(out)
        })();
        if !client.is_closed() {
            self.clients
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((client, stmts));
        }
        result
    }
}

impl Collector {
    /// Creates `data_dir` when missing, opens or creates [`DB_FILE`] in it (WAL), and brings
    /// the schema up to date.
    pub fn open(config: CollectorConfig) -> Result<Collector, CollectorError> {
        if config.api_key.is_empty() {
            return Err(CollectorError::EmptyApiKey);
        }
        if config
            .ingest_keys
            .iter()
            .any(|k| k.is_empty() || k == &config.api_key)
        {
            return Err(CollectorError::BadIngestKey);
        }
        config.webhooks.validate()?;
        if let Some(hooks) = &config.webhooks.secrets {
            if hooks.all().iter().any(|s| config.secrets.all().contains(s)) {
                return Err(WebhookConfigError::SameSecret.into());
            }
        }
        if let db::url::Database::Postgres(url) = &config.database {
            return Self::open_postgres(url.clone(), config);
        }
        let path = config.data_dir.join(DB_FILE);
        let private = |path: &Path, result: std::io::Result<()>| {
            result.map_err(|source| CollectorError::DataDir {
                path: path.to_path_buf(),
                source,
            })
        };
        private(&config.data_dir, private::ensure_dir(&config.data_dir))?;
        // Created 0600 before SQLite opens it: SQLite gives the WAL and shared-memory files
        // the database file's mode.
        private(&path, private::ensure_file(&path))?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let side = config.data_dir.join(format!("{DB_FILE}{suffix}"));
            private(&side, private::tighten_if_present(&side))?;
        }
        let db = |source| CollectorError::Database {
            path: path.clone(),
            source,
        };
        let mut writer = Connection::open(&path).map_err(db)?;
        schema::configure_writer(&writer, config.synchronous).map_err(db)?;
        schema::migrate(&mut writer).map_err(|e| match e {
            schema::SchemaError::Sqlite(source) => db(source),
            schema::SchemaError::TooNew { found } => CollectorError::SchemaTooNew {
                path: path.clone(),
                found,
            },
            schema::SchemaError::Postgres(e) => CollectorError::Postgres {
                url: path.display().to_string(),
                message: e.to_string(),
            },
        })?;
        checkpoint::start(&mut writer, &path, config.synchronous).map_err(db)?;
        let readers = (0..READERS)
            .map(|_| open_reader(&path))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        Ok(Self::with(
            config,
            Store::Sqlite(SqliteStore {
                path,
                writer: group_commit::Writer::new(writer),
                readers: Mutex::new(readers),
                read_slots: Semaphore::new(READERS),
            }),
        ))
    }

    /// [`Collector::open`] on PostgreSQL: connects, migrates under the advisory lock, keeps
    /// the client for the pool.
    fn open_postgres(url: String, config: CollectorConfig) -> Result<Collector, CollectorError> {
        let fail = |message: String| CollectorError::Postgres {
            url: db::url::redact(&url),
            message: db::url::redact_error(&message, &url),
        };
        // On a thread of its own: the synchronous client runs its own runtime, which cannot
        // start inside the caller's (open may be called from async code).
        let connected = std::thread::scope(|s| {
            s.spawn(|| {
                let (mut client, stmts) = PgPool::connect(&url).map_err(|e| fail(e.to_string()))?;
                match schema::migrate_postgres(&mut client) {
                    Ok(()) => Ok((client, stmts)),
                    Err(e) => {
                        PgPool::close(vec![(client, stmts)]);
                        Err(match e {
                            schema::SchemaError::TooNew { found } => CollectorError::SchemaTooNew {
                                path: PathBuf::from(db::url::redact(&url)),
                                found,
                            },
                            other => fail(other.to_string()),
                        })
                    }
                }
            })
            .join()
            .unwrap_or_else(|_| Err(fail("the connection thread panicked".into())))
        });
        let (client, stmts) = connected?;
        let pool = PgPool {
            url: url.clone(),
            clients: Mutex::new(vec![(client, stmts)]),
            slots: Semaphore::new(PG_CLIENTS),
        };
        Ok(Self::with(config, Store::Postgres(pool)))
    }

    fn with(config: CollectorConfig, store: Store) -> Collector {
        Collector {
            store,
            truncate_pending: AtomicBool::new(false),
            secrets: config.secrets,
            api_key: config.api_key,
            ingest_keys: config.ingest_keys,
            analysis: Arc::new(config.analysis),
            insights: config.insights.map(Arc::new),
            insights_owner: format!("w_{:016x}", rand::random::<u64>()),
            webhook_targets: config.webhooks.targets(),
            webhooks: Arc::new(config.webhooks),
            webhook_wake: Arc::new(Notify::new()),
            metrics: metrics::Metrics::default(),
        }
    }

    /// Which database this collector stores in.
    pub fn dialect(&self) -> db::Dialect {
        match self.store {
            Store::Sqlite(_) => db::Dialect::Sqlite,
            Store::Postgres(_) => db::Dialect::Postgres,
        }
    }

    /// The counters of `GET /metrics`.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// One retention run at `now` (see [`retention`]): every step, batch by batch, each batch
    /// its own short transaction. Returns what it removed; counts it in the metrics and logs it.
    pub async fn retain(
        self: &Arc<Self>,
        cfg: &retention::RetentionConfig,
        now: i64,
    ) -> Result<retention::Removed, ApiError> {
        let mut removed = Vec::new();
        for step in retention::Step::ALL {
            let Some(before) = step.before(now, cfg) else {
                continue;
            };
            let mut total = 0u64;
            loop {
                let n = self
                    .write("retention", move |conn| step.run(conn, before))
                    .await?;
                total += n;
                if n < step.batch() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            if total > 0 {
                removed.push((step.table(), total));
            }
        }
        self.metrics.retention(&removed);
        // Deleted conversations' old pages leave the WAL too, as after a DELETE.
        if removed.iter().any(|(t, _)| *t == "conversations") {
            let rid = "retention";
            // `None`: no WAL to truncate (PostgreSQL).
            match self.maintain(rid, store::truncate_wal).await {
                Ok(Some(false)) | Err(_) => self.truncate_later(rid),
                Ok(_) => {}
            }
        }
        if !removed.is_empty() {
            tracing::info!(removed = ?removed, "retention removed old rows");
        }
        Ok(removed)
    }

    /// Runs [`Collector::retain`] at once and then every `cfg.interval`, until the collector
    /// is dropped. Needs a Tokio runtime; without one nothing is started.
    pub fn start_retention(self: &Arc<Self>, cfg: retention::RetentionConfig) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(self);
        let every = cfg.interval.max(Duration::from_millis(100));
        runtime.spawn(async move {
            loop {
                let Some(this) = weak.upgrade() else { return };
                let now = now_i64();
                if let Err(e) = this.retain(&cfg, now).await {
                    tracing::warn!(code = %e.code, "retention failed; retrying at the next interval");
                }
                drop(this);
                tokio::time::sleep(every).await;
            }
        });
    }

    /// The outbound webhook configuration.
    pub fn webhook_config(&self) -> &WebhookConfig {
        &self.webhooks
    }

    /// The URLs the write path queues webhook events for (empty: none).
    pub(crate) fn webhook_targets(&self) -> &Targets {
        &self.webhook_targets
    }

    /// Tells the webhook worker that a write may have queued events.
    pub(crate) fn wake_webhooks(&self) {
        if !self.webhook_targets.is_empty() {
            self.webhook_wake.notify_one();
        }
    }

    /// Starts the webhook delivery worker ([`webhooks::deliver::start`]) when URLs are
    /// configured.
    pub fn start_webhooks(self: &Arc<Self>) {
        webhooks::deliver::start(self, Arc::clone(&self.webhook_wake));
    }

    /// The thresholds of the analysis.
    pub fn analysis(&self) -> &AnalysisConfig {
        &self.analysis
    }

    /// Re-judges the conversations of `kind`: those whose verdict time alone has changed (an
    /// answer window closed, a conversation went idle), or those stored before the analysis
    /// existed; in batches of 500 so that ingestion is never held up for long. Returns how
    /// many.
    pub async fn sweep(
        self: &Arc<Self>,
        kind: analysis::storage::Sweep,
    ) -> Result<usize, ApiError> {
        let mut total = 0;
        loop {
            let cfg = Arc::clone(&self.analysis);
            let hooks = self.webhook_targets.clone();
            let now = now_i64();
            let n = self
                .write("sweep", move |conn| {
                    analysis::storage::sweep(conn, kind, now, &cfg, SWEEP_BATCH, &hooks)
                })
                .await?;
            if n > 0 {
                self.wake_webhooks();
            }
            total += n;
            if n < SWEEP_BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Judges the conversations stored without a verdict once, then runs the
    /// [`Collector::sweep`] of due verdicts at once and every
    /// [`AnalysisConfig::sweep_interval`], until the collector is dropped. Needs a Tokio
    /// runtime; without one nothing is started.
    pub fn start_sweep(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(self);
        let every = self.analysis.sweep_interval.max(Duration::from_millis(100));
        runtime.spawn(async move {
            let mut missing_done = false;
            loop {
                let Some(this) = weak.upgrade() else { return };
                if !missing_done {
                    match this.sweep(analysis::storage::Sweep::Missing).await {
                        Ok(_) => missing_done = true,
                        Err(e) => tracing::warn!(code = %e.code, "judging the conversations stored before the analysis failed; retrying at the next interval"),
                    }
                }
                if let Err(e) = this.sweep(analysis::storage::Sweep::Due).await {
                    tracing::warn!(code = %e.code, "the analysis sweep failed; retrying at the next interval");
                }
                // Messages that came in since the write path last indexed (fewer than a
                // batch's worth), searchable without waiting for a search.
                if let Err(e) = this.index_for_search("index").await {
                    tracing::warn!(code = %e.code, "indexing new messages for search failed; retrying at the next interval");
                }
                drop(this);
                tokio::time::sleep(every).await;
            }
        });
    }

    /// The writer's `synchronous` setting as SQLite reports it.
    pub fn synchronous(&self) -> rusqlite::Result<Synchronous> {
        let Store::Sqlite(sqlite) = &self.store else {
            return Ok(Synchronous::Normal);
        };
        let n: i64 = sqlite
            .writer
            .connection()
            .pragma_query_value(None, "synchronous", |r| r.get(0))?;
        Ok(if n >= 2 {
            Synchronous::Full
        } else {
            Synchronous::Normal
        })
    }

    /// Indexes the messages that wait for the SQLite search index ([`search_index`]): before
    /// a search, and on the sweep's timer. Nothing to do on PostgreSQL, whose index follows
    /// the table: no transaction is opened there.
    pub(crate) async fn index_for_search(
        self: &Arc<Self>,
        request_id: &str,
    ) -> Result<(), ApiError> {
        if self.dialect() == db::Dialect::Sqlite {
            self.write(request_id, search_index::index_pending).await?;
        }
        Ok(())
    }

    /// Runs `f` in a write transaction on the blocking pool: on SQLite the writer connection
    /// inside `BEGIN IMMEDIATE`, with the other writes waiting for it ([`group_commit`]: one
    /// commit for the group; when one fails, each runs again alone); on PostgreSQL a pooled
    /// client, `f` run again (up to [`PG_ATTEMPTS`] times) when the database aborted the
    /// transaction for a deadlock or a serialization failure with another collector. `Ok`
    /// commits, `Err` rolls back. Failures are logged and answered as 500 for `request_id`.
    pub(crate) async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        request_id: &str,
        f: impl FnMut(&mut Conn<'_, '_>) -> db::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let sqlite = match &self.store {
            Store::Postgres(_) => return self.on_postgres(request_id, true, f).await,
            Store::Sqlite(sqlite) => sqlite,
        };
        // Group commit: queued here, run with whatever else waits for the writer.
        let result = sqlite.writer.submit(f);
        let this = Arc::clone(self);
        blocking(request_id, move || {
            if let Store::Sqlite(sqlite) = &this.store {
                sqlite.writer.drain();
            }
            Ok(())
        })
        .await?;
        match result.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ApiError::internal(request_id, e)),
            Err(e) => Err(ApiError::internal(request_id, e)),
        }
    }

    /// Runs `f` on the writer connection outside any transaction (SQLite maintenance such as
    /// the WAL checkpoint); `None` on a backend without such maintenance.
    pub(crate) async fn maintain<T: Send + 'static>(
        self: &Arc<Self>,
        request_id: &str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<Option<T>, ApiError> {
        if let Store::Postgres(_) = self.store {
            return Ok(None);
        }
        let this = Arc::clone(self);
        blocking(request_id, move || match &this.store {
            Store::Sqlite(sqlite) => Ok(Some(f(&sqlite.writer.connection())?)),
            Store::Postgres(_) => Ok(None),
        })
        .await
    }

    /// [`Collector::write`] and [`Collector::read`] on PostgreSQL: a pooled client, waiting
    /// (without a thread) while all [`PG_CLIENTS`] are busy.
    async fn on_postgres<T: Send + 'static>(
        self: &Arc<Self>,
        request_id: &str,
        write: bool,
        mut f: impl FnMut(&mut Conn<'_, '_>) -> db::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let Store::Postgres(pool) = &self.store else {
            return Err(ApiError::internal(request_id, "no PostgreSQL pool"));
        };
        let _slot = pool
            .slots
            .acquire()
            .await
            .map_err(|e| ApiError::internal(request_id, e))?;
        let this = Arc::clone(self);
        blocking(request_id, move || {
            let Store::Postgres(pool) = &this.store else {
                return Err(db::DbError::Unsupported("PostgreSQL"));
            };
            let mut attempt = 1;
            loop {
                match pool.run(write, &mut f) {
                    Err(e) if attempt < PG_ATTEMPTS && e.is_transient() => attempt += 1,
                    result => return result,
                }
            }
        })
        .await
    }

    /// Runs `f` in a read transaction on a free read connection on the blocking pool, like
    /// [`Collector::write`]; waits (without holding a thread) while all [`READERS`] are busy.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        request_id: &str,
        f: impl FnOnce(&mut Conn<'_, '_>) -> db::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let Store::Sqlite(sqlite) = &self.store else {
            // Read-only at READ COMMITTED: never aborted for a conflict, so run once.
            let mut once = Some(f);
            let f = move |conn: &mut Conn<'_, '_>| match once.take() {
                Some(f) => f(conn),
                None => Err(db::DbError::Unsupported("a second attempt of a read")),
            };
            return self.on_postgres(request_id, false, f).await;
        };
        let _slot = sqlite
            .read_slots
            .acquire()
            .await
            .map_err(|e| ApiError::internal(request_id, e))?;
        let this = Arc::clone(self);
        blocking(request_id, move || {
            let Store::Sqlite(sqlite) = &this.store else {
                return Err(db::DbError::Unsupported("SQLite"));
            };
            let taken = sqlite
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            // A connection lost to a panic is replaced.
            let mut conn = match taken {
                Some(c) => c,
                None => open_reader(&sqlite.path)?,
            };
            let result = (|| {
                let tx = conn.transaction()?;
                let out = f(&mut Conn::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            })();
            sqlite
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
            result
        })
        .await
    }

    /// Deletes a conversation for good (see [`store::delete_conversation`]); `false` when
    /// there was none. Then the WAL, which still holds the deleted pages' old copies, is
    /// truncated: at once when no read is open, otherwise as soon as the reads end (retried
    /// in the background). Neither the delete nor the ingestion behind it waits for reads.
    pub(crate) async fn delete(
        self: &Arc<Self>,
        request_id: &str,
        id: String,
    ) -> Result<bool, ApiError> {
        let found = self
            .write(request_id, move |conn| {
                store::forget_conversation(conn, &id)
            })
            .await?;
        if found {
            let truncated = self
                .maintain(request_id, store::truncate_wal)
                .await?
                .unwrap_or(true);
            if !truncated {
                self.truncate_later(request_id);
            }
        }
        Ok(found)
    }

    /// Retries the WAL truncation every 100 ms, for up to a minute, without blocking writes.
    fn truncate_later(self: &Arc<Self>, request_id: &str) {
        if self.truncate_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        let rid = request_id.to_owned();
        tokio::spawn(async move {
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let done = this
                    .maintain(&rid, store::truncate_wal)
                    .await
                    .is_ok_and(|t| t.unwrap_or(true));
                if done {
                    this.truncate_pending.store(false, Ordering::Release);
                    return;
                }
            }
            this.truncate_pending.store(false, Ordering::Release);
            tracing::warn!(request_id = %rid, "the WAL could not be truncated within a minute of a delete; reads kept it open (the next delete retries)");
        });
    }
}

/// Runs `f` on the blocking pool; its failure, or its panic, is logged and answered as 500
/// for `request_id`.
async fn blocking<T: Send + 'static>(
    request_id: &str,
    f: impl FnOnce() -> db::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ApiError::internal(request_id, e)),
        Err(e) => Err(ApiError::internal(request_id, e)),
    }
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    schema::configure_reader(&conn)?;
    Ok(conn)
}

/// `GET /metrics` of the `collector` command (Prometheus text; no key, like the proxy's:
/// counts only). Not part of [`app`], so that `dev`, which serves the proxy's `/metrics` on
/// the same port, does not clash.
pub fn metrics_routes(collector: Arc<Collector>) -> Router {
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let c = Arc::clone(&collector);
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    c.metrics.render(),
                )
            }
        }),
    )
}

/// The collector's routes: `POST /v1/ingest` and the read API under `/api/v1`, under the
/// request-id [`crate::error::layer`]. No
/// `/healthz`: the runner adds it ([`crate::serve::health`]).
///
/// Starts the analysis sweep ([`Collector::start_sweep`]), the webhook worker
/// ([`Collector::start_webhooks`]) and, when configured, the model insights worker
/// ([`insights::worker::start`]).
pub fn app(collector: Arc<Collector>) -> Router {
    collector.start_sweep();
    collector.start_webhooks();
    insights::worker::start(&collector);
    ingest::routes()
        .merge(pendo::routes(Arc::clone(&collector)))
        .merge(log::routes(Arc::clone(&collector)))
        .merge(api::routes(Arc::clone(&collector)))
        .layer(axum::middleware::from_fn(crate::error::layer))
        .with_state(collector)
}
