//! Group commit on SQLite's single writer: the writes waiting for the writer connection run
//! in one transaction, one commit for all of them.
//!
//! Every `Collector::write` on SQLite queues its job here and asks for the writer; whoever
//! gets it takes every job queued by then (at most [`MAX_GROUP`]) and runs them one after
//! another in one `BEGIN IMMEDIATE` transaction. A caller whose job an earlier holder
//! already took just waits for its result. One commit then writes the pages the jobs share
//! (the tables' index pages, the conversations table, the dedupe tables) once instead of
//! once per delivery.
//!
//! Each job keeps its own result. When a job fails, or the commit does, the group is rolled
//! back and every job runs again alone, in a transaction of its own (the jobs are `FnMut`,
//! as they are for PostgreSQL's retries): a failed delivery fails alone, and the others are
//! stored. No savepoint is taken on the common path; the rerun is paid only on failure.
//!
//! Jobs in one group run in queue order, each seeing the writes of those before it, exactly
//! as if each had committed on its own: the group changes when they become durable (all at
//! once), not what they do.

use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::db::{self, Conn};

/// The most jobs in one transaction: bounds how long a group holds the writer (and so the
/// latency of the jobs queued behind it).
pub const MAX_GROUP: usize = 64;

/// One queued write: run it (perhaps twice, see the module), then hand over its result.
trait Job: Send {
    /// Runs the write on `conn`, inside the group's transaction; keeps its output.
    fn run(&mut self, conn: &mut Conn<'_, '_>) -> db::Result<()>;
    /// Sends the kept output to the waiting caller once its transaction committed, or the
    /// failure (`result`) when it did not.
    fn finish(self: Box<Self>, result: db::Result<()>);
}

/// A [`Job`] of [`Writer::submit`]: the write, its output once run, where the output goes.
struct Typed<T, F> {
    f: F,
    out: Option<T>,
    reply: oneshot::Sender<db::Result<T>>,
}

impl<T: Send, F: FnMut(&mut Conn<'_, '_>) -> db::Result<T> + Send> Job for Typed<T, F> {
    fn run(&mut self, conn: &mut Conn<'_, '_>) -> db::Result<()> {
        self.out = None;
        self.out = Some((self.f)(conn)?);
        Ok(())
    }

    fn finish(self: Box<Self>, result: db::Result<()>) {
        let Typed { out, reply, .. } = *self;
        let result =
            result.and_then(|()| out.ok_or(db::DbError::Unsupported("a write that never ran")));
        // The caller may have gone (its request was dropped): nothing to tell.
        let _ = reply.send(result);
    }
}

/// The writer connection and the writes waiting for it.
pub struct Writer {
    conn: Mutex<Connection>,
    queue: Mutex<Vec<Box<dyn Job>>>,
}

/// A poisoned lock only means a panic happened while it was held (a job that panicked); the
/// connection itself is fine (its open transaction was rolled back when it was dropped).
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Writer {
    /// Wraps the writer connection.
    pub fn new(conn: Connection) -> Writer {
        Writer {
            conn: Mutex::new(conn),
            queue: Mutex::new(Vec::new()),
        }
    }

    /// The connection, for what runs outside a transaction (maintenance, settings). Queued
    /// writes wait meanwhile.
    pub fn connection(&self) -> MutexGuard<'_, Connection> {
        locked(&self.conn)
    }

    /// Queues `f` and returns where its result will arrive. [`Writer::drain`] must follow
    /// (on a thread that may block).
    pub fn submit<T, F>(&self, f: F) -> oneshot::Receiver<db::Result<T>>
    where
        T: Send + 'static,
        F: FnMut(&mut Conn<'_, '_>) -> db::Result<T> + Send + 'static,
    {
        let (reply, receive) = oneshot::channel();
        locked(&self.queue).push(Box::new(Typed {
            f,
            out: None,
            reply,
        }));
        receive
    }

    /// Waits for the writer, then runs the jobs queued by then, group by group, until none
    /// is left; returns at once with the writer free when an earlier holder took them all.
    /// Blocks: call it on the blocking pool.
    pub fn drain(&self) {
        let mut conn = locked(&self.conn);
        loop {
            let group: Vec<Box<dyn Job>> = {
                let mut queue = locked(&self.queue);
                let n = queue.len().min(MAX_GROUP);
                queue.drain(..n).collect()
            };
            if group.is_empty() {
                return;
            }
            run_group(&mut conn, group);
        }
    }
}

/// Runs `group` in one transaction; on any failure, each job alone.
fn run_group(conn: &mut Connection, mut group: Vec<Box<dyn Job>>) {
    if group.len() > 1 {
        if let Ok(()) = together(conn, &mut group) {
            for job in group {
                job.finish(Ok(()));
            }
            return;
        }
    }
    for mut job in group {
        let result = alone(conn, job.as_mut());
        job.finish(result);
    }
}

/// Every job of `group` in one transaction, committed when all succeeded.
fn together(conn: &mut Connection, group: &mut [Box<dyn Job>]) -> db::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for job in group.iter_mut() {
        job.run(&mut Conn::Sqlite(&tx))?;
    }
    tx.commit()?;
    Ok(())
}

/// One job in its own transaction.
fn alone(conn: &mut Connection, job: &mut dyn Job) -> db::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    job.run(&mut Conn::Sqlite(&tx))?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::db::params;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
            .expect("a table");
        Writer::new(conn)
    }

    fn insert(k: &'static str, v: i64) -> impl FnMut(&mut Conn<'_, '_>) -> db::Result<u64> + Send {
        move |c| c.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", params![k, v])
    }

    fn rows(w: &Writer) -> Vec<(String, i64)> {
        let conn = w.connection();
        let mut s = conn
            .prepare("SELECT k, v FROM t ORDER BY k")
            .expect("a query");
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn queued_writes_commit_together_each_with_its_result() {
        let w = writer();
        let a = w.submit(insert("a", 1));
        let b = w.submit(|c: &mut Conn<'_, '_>| {
            // Sees the write queued before it, in the same transaction.
            c.row_opt("SELECT v FROM t WHERE k = 'a'", params![], |r| {
                r.get::<i64>(0)
            })
        });
        let n = w.submit(insert("b", 2));
        w.drain();
        assert_eq!(a.blocking_recv().expect("a result").expect("stored"), 1);
        assert_eq!(b.blocking_recv().expect("a result").expect("read"), Some(1));
        assert_eq!(n.blocking_recv().expect("a result").expect("stored"), 1);
        assert_eq!(rows(&w), [("a".into(), 1), ("b".into(), 2)]);
        // A drain with nothing queued returns at once.
        w.drain();
    }

    #[test]
    fn a_failing_write_fails_alone_and_the_others_are_stored() {
        let w = writer();
        let mut runs = 0;
        let first = w.submit(move |c: &mut Conn<'_, '_>| {
            runs += 1;
            c.execute("INSERT INTO t (k, v) VALUES ('a', ?1)", params![runs])
        });
        // The same key again: a constraint violation, in the group and alone.
        let dup = w.submit(insert("a", 9));
        let last = w.submit(insert("c", 3));
        w.drain();
        assert!(first.blocking_recv().expect("a result").is_ok());
        assert!(dup.blocking_recv().expect("a result").is_err());
        assert!(last.blocking_recv().expect("a result").is_ok());
        // The group was rolled back and rerun job by job: the first job's second run is the
        // one stored, the failed one left nothing.
        assert_eq!(rows(&w), [("a".into(), 2), ("c".into(), 3)]);
    }

    #[test]
    fn groups_are_bounded_and_every_job_runs() {
        let w = writer();
        let keys: Vec<String> = (0..MAX_GROUP * 2 + 5).map(|i| format!("k{i:04}")).collect();
        let waits: Vec<_> = keys
            .iter()
            .map(|k| {
                let k = k.clone();
                w.submit(move |c: &mut Conn<'_, '_>| {
                    c.execute("INSERT INTO t (k, v) VALUES (?1, 0)", params![k])
                })
            })
            .collect();
        w.drain();
        for r in waits {
            assert_eq!(r.blocking_recv().expect("a result").expect("stored"), 1);
        }
        assert_eq!(rows(&w).len(), keys.len());
    }
}
