//! A minimal upstream for benchmarks: answers every request 200 `{}` after reading its body.
//! Usage: cargo run --release -p agent-track-server --example fast_upstream -- 127.0.0.1:9801

use axum::body::Bytes;
use axum::Router;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9801".into());
    let app = Router::new().fallback(|_body: Bytes| async { "{}" });
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("fast upstream listening on {addr}");
    axum::serve(listener, app).await.expect("serve");
}
