//! Running a router on the open internet: `run(listener, app, shutdown)` (default [`Limits`])
//! or [`run_with`], an accept loop over hyper's HTTP/1 connections with the timeouts that
//! `axum::serve` lacks:
//!
//! - **header timeout**: a connection must deliver a complete request head within
//!   [`Limits::header_timeout`], counted from its first byte (or from the accept, for the
//!   first request); otherwise it is closed without an answer.
//! - **body timeout**: the whole request body must arrive within [`Limits::body_timeout`] of
//!   its head; reading it then fails with [`BodyTimeout`] (handlers answer 408).
//! - **idle timeout**: a keep-alive connection with no request in flight and no bytes moving
//!   for [`Limits::idle_timeout`] is closed (this also ends a client that stopped reading
//!   its answer).
//! - **connections**: at most [`Limits::max_connections`] at once; beyond that the listener
//!   stops accepting (new clients wait in the kernel's backlog) and a warning is logged.
//! - **graceful shutdown**: when `shutdown` resolves the listener closes, idle connections
//!   close, requests in flight finish, and whatever is still open after
//!   [`Limits::shutdown_grace`] is cut.
//!
//! Client addresses reach handlers as `ConnectInfo<SocketAddr>`.

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::workers::Workers;

/// Connection limits and timeouts of a server. Every field has a command-line flag (see
/// [`crate::cli::ServeArgs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to receive a complete request head. Default 10 s (`--header-timeout-ms`).
    pub header_timeout: Duration,
    /// Time to receive a whole request body, from its head. Default 30 s
    /// (`--body-timeout-ms`).
    pub body_timeout: Duration,
    /// Time a connection may sit with no request in flight and no bytes moving. Default 60 s
    /// (`--idle-timeout-ms`).
    pub idle_timeout: Duration,
    /// Connections open at once. Default 10 000 (`--max-connections`).
    pub max_connections: usize,
    /// Time given to requests in flight after a shutdown signal. Default 10 s
    /// (`--shutdown-grace-ms`).
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` with the default [`Limits`] until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, app, shutdown, Limits::default()).await
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then drains the
/// connections for at most [`Limits::shutdown_grace`] (see the module documentation).
/// Connections are tasks of the calling runtime.
pub async fn run_with(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    serve(listener, app, shutdown, limits, None).await
}

/// [`run_with`], each connection served whole by one of `workers`, in turn. The calling
/// runtime only accepts; the limits, the timeouts and the graceful shutdown are the same.
pub async fn run_on_workers(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
    workers: &Workers,
) -> std::io::Result<()> {
    serve(listener, app, shutdown, limits, Some(workers)).await
}

async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
    workers: Option<&Workers>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut warned_full: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer, permit) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next() => continue,
            accepted = accept(&listener, &permits, &mut warned_full, limits.max_connections) => accepted,
        };
        let _ = stream.set_nodelay(true);
        let (app, stopping) = (app.clone(), stopping.clone());
        let Some(workers) = workers else {
            connections.spawn(connection(stream, peer, app, limits, stopping, permit));
            continue;
        };
        // The socket leaves this runtime's reactor for the worker's, which then wakes the
        // connection's task on the worker's own thread.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand the connection to a worker; closing it");
                continue;
            }
        };
        connections.spawn_on(
            async move {
                match TcpStream::from_std(stream) {
                    Ok(stream) => connection(stream, peer, app, limits, stopping, permit).await,
                    Err(e) => tracing::warn!(%peer, error = %e, "a worker cannot take the connection; closing it"),
                }
            },
            workers.next(),
        );
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            grace_ms = limits.shutdown_grace.as_millis() as u64,
            "shutdown grace elapsed; closing the connections still open"
        );
        connections.abort_all();
    }
    Ok(())
}

/// Waits for a free connection slot, then for a connection. Transient accept errors (a
/// client that gave up, no file descriptors left) are logged and waited out, never fatal.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
    warned_full: &mut Option<Instant>,
    max: usize,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    if permits.available_permits() == 0 && warned_full.is_none_or(|t| t.elapsed().as_secs() >= 60) {
        tracing::warn!(
            max_connections = max,
            "connection limit reached; new connections wait until one closes (--max-connections)"
        );
        *warned_full = Some(Instant::now());
    }
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => return (stream, peer, permit),
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; retrying in 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Where a connection is in its life, for the header and idle deadlines. Times are
/// milliseconds since the connection was accepted.
struct Activity {
    start: Instant,
    /// Requests handed to the app and not yet answered.
    in_flight: AtomicUsize,
    /// When the current request head started (its first byte, or the accept); [`NONE`]
    /// while no head is being read.
    head_since: AtomicU64,
    /// The last time bytes moved either way, or an answer was handed over.
    last_active: AtomicU64,
}

const NONE: u64 = u64::MAX;

/// What a connection's watchdog decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Nothing yet; look again at this many milliseconds since the accept.
    CheckAt(u64),
    /// The request head did not arrive in time.
    Header,
    /// Nothing in flight and nothing moving for too long.
    Idle,
}

/// The watchdog's decision at `now_ms` (pure): `in_flight` requests, a head being read since
/// `head_since` (or [`u64::MAX`] for none), bytes last moved at `last_active`.
pub fn expiry(
    limits: &Limits,
    now_ms: u64,
    in_flight: usize,
    head_since: u64,
    last_active: u64,
) -> Expiry {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if in_flight > 0 {
        // The app owns the request (its body has its own deadline); look again later.
        return Expiry::CheckAt(now_ms.saturating_add(ms(limits.idle_timeout).max(1)));
    }
    if head_since != NONE {
        let at = head_since.saturating_add(ms(limits.header_timeout));
        return if now_ms >= at {
            Expiry::Header
        } else {
            Expiry::CheckAt(at)
        };
    }
    let at = last_active.saturating_add(ms(limits.idle_timeout));
    if now_ms >= at {
        Expiry::Idle
    } else {
        Expiry::CheckAt(at)
    }
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_since: AtomicU64::new(0),
            last_active: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn read(&self) {
        let now = self.now();
        self.last_active.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            // The first byte of a new request head (or more of the current one).
            let _ =
                self.head_since
                    .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_active.store(self.now(), Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NONE, Ordering::Release);
    }

    fn request_finished(&self) {
        self.last_active.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    fn expiry(&self, limits: &Limits) -> Expiry {
        expiry(
            limits,
            self.now(),
            self.in_flight.load(Ordering::Acquire),
            self.head_since.load(Ordering::Acquire),
            self.last_active.load(Ordering::Relaxed),
        )
    }
}

/// Marks a request answered when the app's future ends, even if it is dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// One connection: hyper's HTTP/1 state machine, watched by the header and idle deadlines
/// and the shutdown signal.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let service_activity = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut app = app.clone();
        service_activity.request_started();
        let guard = InFlight(Arc::clone(&service_activity));
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        let body = Body::new(TimedBody::new(body, limits.body_timeout));
        let request = Request::from_parts(parts, body);
        async move {
            let response = app.call(request).await;
            drop(guard);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut shutting_down = *stopping.borrow();
    if shutting_down {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let check_at = match activity.expiry(&limits) {
            Expiry::CheckAt(ms) => activity.start + Duration::from_millis(ms),
            Expiry::Header => {
                tracing::debug!(%peer, "no complete request head within the header timeout; closing");
                return;
            }
            Expiry::Idle => {
                tracing::debug!(%peer, "idle timeout; closing");
                return;
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep_until(check_at) => {}
            changed = stopping.changed(), if !shutting_down => {
                if changed.is_err() || *stopping.borrow() {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A TCP stream that reports bytes moving to its connection's [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that must arrive whole within a deadline set when its head arrived; past
/// it, the next read fails with [`BodyTimeout`]. The timer is only armed when the body is
/// not already buffered.
struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        TimedBody {
            inner,
            timeout,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

/// The request body did not arrive within the body timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive within {} ms", .0.as_millis())]
pub struct BodyTimeout(pub Duration);

/// Whether `error`, or an error it wraps, is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<BodyTimeout>() {
            return true;
        }
        next = e.source();
    }
    false
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            let timeout = self.timeout;
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// `GET /healthz`: `{"status":"ok"}`.
pub fn health() -> Router {
    Router::new().route(
        "/healthz",
        get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
    )
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(1000),
            ..Limits::default()
        }
    }

    #[test]
    fn a_head_must_arrive_within_the_header_timeout() {
        // Just accepted: the first head is due 100 ms after the accept.
        assert_eq!(expiry(&limits(), 0, 0, 0, 0), Expiry::CheckAt(100));
        assert_eq!(expiry(&limits(), 100, 0, 0, 0), Expiry::Header);
        // A head that started at 500 (after an idle keep-alive gap) is due at 600.
        assert_eq!(expiry(&limits(), 550, 0, 500, 550), Expiry::CheckAt(600));
        assert_eq!(expiry(&limits(), 600, 0, 500, 590), Expiry::Header);
    }

    #[test]
    fn an_idle_connection_closes_after_the_idle_timeout() {
        assert_eq!(expiry(&limits(), 200, 0, NONE, 150), Expiry::CheckAt(1150));
        assert_eq!(expiry(&limits(), 1150, 0, NONE, 150), Expiry::Idle);
    }

    #[test]
    fn a_request_in_flight_is_the_apps_business() {
        assert_eq!(expiry(&limits(), 5000, 1, NONE, 0), Expiry::CheckAt(6000));
    }

    #[test]
    fn body_timeouts_are_found_through_wrappers() {
        let wrapped = axum::Error::new(BodyTimeout(Duration::from_secs(1)));
        assert!(is_body_timeout(&wrapped));
        assert!(!is_body_timeout(&std::io::Error::other("x")));
    }
}
