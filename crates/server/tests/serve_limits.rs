//! The servers' connection limits over real loopback sockets, with raw TCP clients that
//! behave badly on purpose: a request head that never ends, a body that never arrives, a
//! keep-alive connection left open, more connections than allowed, a shutdown with a
//! request in flight. Each twice: with the connections on the runtime that accepts them and
//! on two worker threads.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use agent_track_server::proxy;
use agent_track_server::serve::{self, Limits};
use agent_track_server::workers::Workers;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Where the connections run: as tasks of the runtime that accepts them (`run_with`, the
/// collector's way) or on two worker threads (`run_on_workers`, the proxy's).
#[derive(Clone, Copy)]
enum On {
    Caller,
    Workers,
}

/// Every test below, once per [`On`].
macro_rules! on_both {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn on_the_accepting_runtime() {
                super::$test(super::On::Caller).await
            }
            #[tokio::test]
            async fn on_two_worker_threads() {
                super::$test(super::On::Workers).await
            }
        }
    )*};
}

on_both!(
    a_request_head_that_never_ends_is_cut_at_the_header_timeout,
    a_body_that_does_not_arrive_in_time_is_answered_408,
    an_idle_keep_alive_connection_is_closed_after_the_idle_timeout,
    connections_beyond_the_limit_wait_for_a_free_slot,
    shutdown_ends_within_the_grace_even_with_a_request_in_flight,
);

/// A proxy (relaying to a fake upstream) served under `limits`; the sender stops it, and
/// the join handle ends when `run_with` (or `run_on_workers`) has returned.
async fn server(
    on: On,
    limits: Limits,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let up = FakeUpstream::start().await;
    let app = proxy::app(proxy::ProxyState::new(webhook_config(&up.url))).merge(serve::health());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let handle = match on {
        On::Caller => tokio::spawn(serve::run_with(listener, app, shutdown, limits)),
        On::Workers => tokio::spawn(async move {
            let workers = Workers::start(2, "test-worker")?;
            serve::run_on_workers(listener, app, shutdown, limits, &workers).await
        }),
    };
    (addr, stop, handle)
}

fn limits() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(900),
        max_connections: 100,
        shutdown_grace: Duration::from_millis(300),
    }
}

/// Reads until the peer closes or `within` passes; `Some(elapsed)` when it closed.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Reads one response head and the body announced by its content-length.
async fn response(conn: &mut TcpStream, within: Duration) -> Option<(u16, String)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    loop {
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                return Some((status, text[end + 4..end + 4 + length].to_string()));
            }
        }
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => data.extend_from_slice(&buf[..n]),
        }
    }
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

async fn a_request_head_that_never_ends_is_cut_at_the_header_timeout(on: On) {
    let (addr, _stop, _) = server(on, limits()).await;
    // The head of the issue: a POST whose headers never end.
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut conn, Duration::from_secs(5))
        .await
        .expect("closed by the server");
    assert!(took >= Duration::from_millis(250), "{took:?}");
    // A connection that never sends a byte.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5))
        .await
        .is_some());
    // A head that trickles in, one byte every 50 ms: bytes do not extend the deadline.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut long before the head was sent"
    );
    assert!(closed_within(&mut slow, Duration::from_secs(1))
        .await
        .is_some());
}

async fn a_body_that_does_not_arrive_in_time_is_answered_408(on: On) {
    let (addr, _stop, _) = server(on, limits()).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sentAt\":",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (status, body) = response(&mut conn, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("\"code\":\"body_timeout\""), "{body}");
    assert!(started.elapsed() >= Duration::from_millis(350));
}

async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(on: On) {
    let (addr, _stop, _) = server(on, limits()).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(HEALTH).await.unwrap();
    assert_eq!(
        response(&mut conn, Duration::from_secs(2)).await.unwrap().0,
        200
    );
    // Longer than the header timeout, shorter than the idle one: still open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    conn.write_all(HEALTH).await.unwrap();
    assert_eq!(
        response(&mut conn, Duration::from_secs(2)).await.unwrap().0,
        200
    );
    let took = closed_within(&mut conn, Duration::from_secs(5))
        .await
        .expect("closed when idle");
    assert!(took >= Duration::from_millis(800), "{took:?}");
}

async fn connections_beyond_the_limit_wait_for_a_free_slot(on: On) {
    let (addr, _stop, _) = server(
        on,
        Limits {
            max_connections: 2,
            header_timeout: Duration::from_millis(600),
            ..limits()
        },
    )
    .await;
    let _a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(HEALTH).await.unwrap();
    let (status, _) = response(&mut c, Duration::from_secs(5))
        .await
        .expect("served once a slot is free");
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "answered after {:?}, while two connections held both slots",
        started.elapsed()
    );
}

async fn shutdown_ends_within_the_grace_even_with_a_request_in_flight(on: On) {
    let (addr, stop, handle) = server(
        on,
        Limits {
            body_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            ..limits()
        },
    )
    .await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(HEALTH).await.unwrap();
    assert_eq!(
        response(&mut idle, Duration::from_secs(2)).await.unwrap().0,
        200
    );
    // A request whose body never comes: in flight until cut.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("run_with returns within the grace")
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(closed_within(&mut idle, Duration::from_secs(1))
        .await
        .is_some());
    assert!(closed_within(&mut busy, Duration::from_secs(1))
        .await
        .is_some());
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
