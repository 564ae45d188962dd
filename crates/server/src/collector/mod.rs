//! The collector: the default, self-hosted upstream of the proxy. It verifies signed
//! deliveries, dedupes and stores them in SQLite, and serves a read API over them.
//!
//! # Layout
//!
//! - [`ingest`]: `POST /v1/ingest`: verify the Standard Webhooks signature on the raw body,
//!   check, store.
//! - [`api`]: the read API under `/api/v1` (bearer API key).
//! - [`record`]: a relayed event checked and flattened for storage.
//! - [`merge`]: the merge rules (first write wins; latest reaction wins; `unreact` tombstones).
//! - [`schema`]: the SQLite schema and its migrations.
//! - [`store`]: the write path (one transaction per delivery; deletion).
//! - [`read`]: conversation pages, one conversation, the message export.
//! - [`stats`]: `GET /api/v1/stats`.
//! - [`view`]: the JSON shapes of the read API.
//! - [`transcript`]: text and Markdown transcripts.
//! - [`query`]: query parameters checked into plain values.
//! - [`cursor`]: opaque keyset cursors.
//! - [`time`]: RFC 3339 in and out.

pub mod api;
pub mod cursor;
pub mod ingest;
pub mod merge;
pub mod query;
pub mod read;
pub mod record;
pub mod schema;
pub mod stats;
pub mod store;
pub mod time;
pub mod transcript;
pub mod view;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use rusqlite::Connection;

use crate::error::ApiError;
use crate::secret::Secrets;

/// The database file's name under [`CollectorConfig::data_dir`].
pub const DB_FILE: &str = "agent-track.sqlite3";

/// How the collector starts.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Directory of the SQLite file [`DB_FILE`]; created when missing.
    pub data_dir: PathBuf,
    /// Secrets that verify deliveries (any one of them may have signed).
    pub secrets: Secrets,
    /// Bearer key of the read API; must not be empty.
    pub api_key: String,
}

/// Why the collector could not open.
#[derive(Debug)]
pub enum CollectorError {
    /// The data directory could not be created.
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite could not open, configure or migrate the file.
    Database {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The file was written by a newer agent-track (schema version `found`).
    SchemaTooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
    },
    /// The API key is empty.
    EmptyApiKey,
}

impl std::fmt::Display for CollectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CollectorError::DataDir { path, source } => write!(f, "cannot create the data directory {}: {source}", path.display()),
            CollectorError::Database { path, source } => write!(f, "cannot open the database {}: {source}", path.display()),
            CollectorError::SchemaTooNew { path, found } => write!(
                f,
                "the database {} has schema version {found}; this build knows up to {}: upgrade agent-track",
                path.display(),
                schema::VERSION
            ),
            CollectorError::EmptyApiKey => write!(f, "the read API key is empty: set AGENT_TRACK_API_KEY"),
        }
    }
}

impl std::error::Error for CollectorError {}

/// The collector's state: a writer connection and a reader connection to one SQLite file
/// (WAL lets the reader run while the writer writes), the secrets and the API key.
pub struct Collector {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    secrets: Secrets,
    api_key: String,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("secrets", &self.secrets)
            .field("api_key", &"redacted")
            .finish_non_exhaustive()
    }
}

/// A poisoned lock only means a panic happened while it was held; the connection itself is
/// fine (an open transaction was rolled back when it was dropped).
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Collector {
    /// Creates `data_dir` when missing, opens or creates [`DB_FILE`] in it (WAL), and brings
    /// the schema up to date.
    pub fn open(config: CollectorConfig) -> Result<Collector, CollectorError> {
        if config.api_key.is_empty() {
            return Err(CollectorError::EmptyApiKey);
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|source| CollectorError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let path = config.data_dir.join(DB_FILE);
        let db = |source| CollectorError::Database {
            path: path.clone(),
            source,
        };
        let mut writer = Connection::open(&path).map_err(db)?;
        schema::configure_writer(&writer).map_err(db)?;
        schema::migrate(&mut writer).map_err(|e| match e {
            schema::SchemaError::Sqlite(source) => db(source),
            schema::SchemaError::TooNew { found } => CollectorError::SchemaTooNew {
                path: path.clone(),
                found,
            },
        })?;
        let reader = Connection::open(&path).map_err(db)?;
        schema::configure_reader(&reader).map_err(db)?;
        Ok(Collector {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            secrets: config.secrets,
            api_key: config.api_key,
        })
    }

    /// The secrets that verify deliveries.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Runs `f` on the writer connection on the blocking pool. Failures are logged and
    /// answered as 500 for `request_id`.
    pub(crate) async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        request_id: &str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let this = Arc::clone(self);
        let done = tokio::task::spawn_blocking(move || f(&mut lock(&this.writer))).await;
        match done {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ApiError::internal(request_id, e)),
            Err(e) => Err(ApiError::internal(request_id, e)),
        }
    }

    /// Runs `f` on the reader connection on the blocking pool, like [`Collector::write`].
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        request_id: &str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let this = Arc::clone(self);
        let done = tokio::task::spawn_blocking(move || f(&lock(&this.reader))).await;
        match done {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ApiError::internal(request_id, e)),
            Err(e) => Err(ApiError::internal(request_id, e)),
        }
    }

    /// Deletes a conversation for good (see [`store::delete_conversation`]); `false` when
    /// there was none. Holds the reader too while truncating the WAL, so that no read of this
    /// process keeps the deleted pages' old copies alive.
    pub(crate) async fn delete(
        self: &Arc<Self>,
        request_id: &str,
        id: String,
    ) -> Result<bool, ApiError> {
        let rid = request_id.to_owned();
        let this = Arc::clone(self);
        self.write(request_id, move |conn| {
            let found = store::delete_conversation(conn, &id)?;
            if found {
                let _reader = lock(&this.reader);
                if !store::truncate_wal(conn)? {
                    tracing::warn!(request_id = %rid, "the WAL could not be truncated after a delete; another connection is reading");
                }
            }
            Ok(found)
        })
        .await
    }
}

/// The collector's routes: `POST /v1/ingest` and the read API under `/api/v1`. No
/// `/healthz`: the runner adds it ([`crate::serve::health`]).
pub fn app(collector: Arc<Collector>) -> Router {
    ingest::routes()
        .merge(api::routes(Arc::clone(&collector)))
        .with_state(collector)
}
