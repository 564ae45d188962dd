//! Worker threads for a server's connections: `N` single-threaded Tokio runtimes, one per
//! thread, each serving the connections handed to it from their first byte to their close,
//! as nginx's worker processes do ([`crate::serve::run_on_workers`] hands them out in turn).
//!
//! A request then runs on one thread from its head to its answer, its upstream call
//! included when each worker keeps its own upstream connections (the proxy's clients are
//! per worker, picked by [`current`]): no task moves between threads and no wakeup crosses
//! them. Tokio's work-stealing runtime pays for both on every request; on the proxy's relay
//! benchmark the workers took about a fifth off its CPU time per request (BENCHMARKS.md §5).
//! The cost: a thread busy with its connections does not hand them to an idle one, so the
//! connections, not the requests, are what is spread evenly.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The index of the worker running the calling thread; 0 on any other thread.
pub fn current() -> usize {
    INDEX.with(Cell::get)
}

/// The worker count to use when none is given: one per CPU the process may run on.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Running workers; dropping this stops them (tasks still on them are cancelled) and waits
/// for their threads to end.
pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `count` workers (at least one), their threads named `{name}-{index}`.
    pub fn start(count: usize, name: &str) -> std::io::Result<Workers> {
        let mut workers = Workers {
            handles: Vec::new(),
            stops: Vec::new(),
            threads: Vec::new(),
            next: AtomicUsize::new(0),
        };
        for index in 0..count.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            workers.handles.push(runtime.handle().clone());
            workers.stops.push(stop);
            workers.threads.push(
                std::thread::Builder::new()
                    .name(format!("{name}-{index}"))
                    .spawn(move || {
                        INDEX.with(|i| i.set(index));
                        // A current-thread runtime runs its tasks only inside block_on.
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    })?,
            );
        }
        Ok(workers)
    }

    /// The worker whose turn it is (round-robin).
    pub fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_the_workers_in_turn_and_know_their_index() {
        let workers = Workers::start(3, "test-worker").unwrap();
        let expected: Vec<(usize, String)> = (0..6)
            .map(|i| (i % 3, format!("test-worker-{}", i % 3)))
            .collect();
        assert_eq!(run_in_turn(&workers, 6), expected);
        assert_eq!(
            current(),
            0,
            "a thread that is no worker counts as worker 0"
        );
    }

    /// Spawns `n` tasks on `workers` in turn; each reports its worker index and thread name.
    fn run_in_turn(workers: &Workers, n: usize) -> Vec<(usize, String)> {
        (0..n)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel();
                workers.next().spawn(async move {
                    let name = std::thread::current().name().unwrap_or("").to_string();
                    tx.send((current(), name)).unwrap();
                });
                rx.recv().unwrap()
            })
            .collect()
    }

    #[test]
    fn dropping_the_workers_ends_their_threads_and_cancels_their_tasks() {
        let workers = Workers::start(0, "test-worker").unwrap();
        let one = vec![(0, "test-worker-0".to_string()); 2];
        assert_eq!(run_in_turn(&workers, 2), one, "at least one worker");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        workers.next().spawn(async move {
            let _tx = tx; // dropped when the task is
            std::future::pending::<()>().await;
        });
        drop(workers);
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
            "the pending task was dropped with its worker"
        );
    }
}
