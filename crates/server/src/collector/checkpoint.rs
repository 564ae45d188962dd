//! The SQLite WAL checkpoint, off the writer's path.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: the
//! writer copies the WAL into the database file, and every write queued behind it waits.
//! Here a thread of its own, on a connection of its own, does that copy (`PASSIVE`: it never
//! waits for, or blocks, the writer or a read) when the writer's commit hook says the WAL is
//! past [`CHECKPOINT_PAGES`]. Should it fall behind (a long read holds old pages), the
//! writer checkpoints in its own commit again once the WAL is past [`WRITER_PAGES`], as
//! SQLite would: the WAL stays bounded. The thread ends when the writer connection closes.

use std::ffi::c_int;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use rusqlite::hooks::Wal;
use rusqlite::Connection;

use super::schema;
use super::Synchronous;

/// WAL pages past which the background checkpoint runs: SQLite's own threshold.
pub const CHECKPOINT_PAGES: c_int = 1_000;

/// WAL pages past which the writer checkpoints in its commit (about 32 MB of WAL).
pub const WRITER_PAGES: c_int = 8 * CHECKPOINT_PAGES;

/// Starts the checkpoint thread for the database at `path` and hooks the `writer`'s commits
/// to it (replacing SQLite's automatic checkpoint). Fails when the thread's connection cannot
/// be opened; when the thread cannot be started, logs it and leaves SQLite's automatic
/// checkpoint on. Returns the count of checkpoints the thread has made.
pub fn start(
    writer: &mut Connection,
    path: &Path,
    synchronous: Synchronous,
) -> rusqlite::Result<Arc<AtomicU64>> {
    let done = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&done);
    let conn = Connection::open(path)?;
    schema::configure_writer(&conn, synchronous)?;
    // One pending request is enough: the checkpoint copies everything committed by then.
    let (wake, woken) = mpsc::sync_channel::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("agent-track-checkpoint".into())
        .spawn(move || {
            while woken.recv().is_ok() {
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    Ok(()) => _ = count.fetch_add(1, Ordering::Relaxed),
                    Err(e) => tracing::warn!(error = %e, "the background WAL checkpoint failed; the next commit asks again"),
                }
            }
        });
    if let Err(e) = spawned {
        // SQLite's own checkpoint, in the commits, stays on.
        tracing::warn!(error = %e, "no checkpoint thread; the writer checkpoints in its commits");
        return Ok(done);
    }
    writer.wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
        if pages >= WRITER_PAGES {
            // Busy (the thread is copying) or failed: the next commit tries again. An error
            // returned here would fail a statement whose commit already happened.
            let _ = wal.checkpoint();
        } else if pages >= CHECKPOINT_PAGES {
            let _ = wake.try_send(());
        }
        Ok(())
    }))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn the_thread_copies_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("db.sqlite3");
        let mut writer = Connection::open(&path).expect("the database");
        schema::configure_writer(&writer, Synchronous::Normal).expect("pragmas");
        writer
            .execute_batch("CREATE TABLE t (v BLOB)")
            .expect("a table");
        let made = start(&mut writer, &path, Synchronous::Normal).expect("the checkpoint thread");
        // About 1,500 pages of WAL, one commit per 4 KB row: past CHECKPOINT_PAGES, below
        // WRITER_PAGES: the thread checkpoints, the writer does not. Only a checkpoint writes
        // pages into the database file itself.
        for _ in 0..1_500 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .expect("a row");
        }
        let until = Instant::now() + Duration::from_secs(10);
        let size = || std::fs::metadata(&path).map_or(0, |m| m.len());
        while size() < 4_000_000 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            size() >= 4_000_000,
            "the database file has {} bytes",
            size()
        );
        assert!(
            made.load(Ordering::Relaxed) > 0,
            "the thread made no checkpoint"
        );
        let n: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("a count");
        assert_eq!(n, 1_500);
        // Closing the writer ends the thread (its channel closes); nothing hangs.
        drop(writer);
    }
}
