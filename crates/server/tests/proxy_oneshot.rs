//! The proxy's router called in-process (`oneshot`, no socket) for every response code, and
//! the binary's start-up checks.

mod common;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::Value;
use tower::ServiceExt;

async fn call(
    config: agent_track_server::proxy::ProxyConfig,
    request: Request<Body>,
) -> (StatusCode, Value, String) {
    let app = agent_track_server::proxy::app(agent_track_server::proxy::ProxyState::new(config))
        .layer(MockConnectInfo(peer()));
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        request_id,
    )
}

fn events(body: impl Into<Body>, content_type: &str) -> Request<Body> {
    Request::post("/v1/events")
        .header("content-type", content_type)
        .header("origin", "https://app.example")
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn every_status_has_a_json_body_with_a_request_id() {
    let up = FakeUpstream::start().await;
    let ok = webhook_config(&up.url);
    let mut small = webhook_config(&up.url);
    small.max_body_bytes = 10;
    let mut limited = webhook_config(&up.url);
    limited.rate_burst = 1;
    limited.rate_per_minute = 1;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1/ingest", l.local_addr().unwrap())
    };
    let down = webhook_config(&closed);

    let cases: Vec<(
        agent_track_server::proxy::ProxyConfig,
        Request<Body>,
        StatusCode,
        &str,
    )> = vec![
        (
            ok.clone(),
            events(batch(1).to_string(), "application/json"),
            StatusCode::OK,
            "",
        ),
        (
            ok.clone(),
            events("{", "application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            ok.clone(),
            events(batch(1).to_string(), "application/xml"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            small,
            events(batch(1).to_string(), "application/json"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            ok.clone(),
            Request::post("/v1/events")
                .header("origin", "https://other.example")
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
        ),
        (
            down,
            events(batch(1).to_string(), "application/json"),
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
        ),
    ];
    for (config, request, want, code) in cases {
        let (status, body, header) = call(config, request).await;
        assert_eq!(status, want, "{body}");
        // The x-request-id header names the same request as the body.
        assert_eq!(body["requestId"], header.as_str(), "{body}");
        assert!(
            body["requestId"]
                .as_str()
                .is_some_and(|r| r.starts_with("req_")),
            "{body}"
        );
        if !code.is_empty() {
            assert_eq!(body["code"], code);
            assert!(body["message"].as_str().unwrap().len() > 15);
            assert_eq!(
                body.as_object().unwrap().len(),
                3,
                "only {{requestId, code, message}}"
            );
        }
    }
    // 429: the second request of a client with a burst of one.
    let state = agent_track_server::proxy::ProxyState::new(limited);
    let app = agent_track_server::proxy::app(state).layer(MockConnectInfo(peer()));
    assert_eq!(
        app.clone()
            .oneshot(events(batch(1).to_string(), "application/json"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = app
        .oneshot(events(batch(1).to_string(), "application/json"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

#[test]
fn the_secret_never_shows_in_help_and_a_bad_one_is_a_clear_error() {
    let bin = env!("CARGO_BIN_EXE_agent-track-server");
    let out = std::process::Command::new(bin)
        .args(["proxy", "--help"])
        .env("AGENT_TRACK_SECRET", SECRET)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--allow-origin"));
    assert!(!help.contains(&SECRET[6..]), "{help}");

    let out = std::process::Command::new(bin)
        .args(["proxy", "--listen", "127.0.0.1:0"])
        .env("AGENT_TRACK_SECRET", "whsec_tooshort")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secret #1"), "{err}");
    assert!(!err.contains("tooshort"), "{err}");

    let out = std::process::Command::new(bin)
        .args(["proxy", "--listen", "127.0.0.1:0"])
        .env_remove("AGENT_TRACK_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AGENT_TRACK_SECRET"));
}

#[test]
fn a_trusted_identity_header_without_a_trusted_proxy_refuses_to_start() {
    let bin = env!("CARGO_BIN_EXE_agent-track-server");
    for flag in ["--visitor-header", "--account-header"] {
        let out = std::process::Command::new(bin)
            .args(["proxy", "--listen", "127.0.0.1:0", flag, "X-Auth-User"])
            .env("AGENT_TRACK_SECRET", SECRET)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "{flag} X-Auth-User is set but no --trusted-proxy is"
            )),
            "{err}"
        );
    }
}

#[test]
fn every_hardening_flag_is_documented_in_help() {
    let bin = env!("CARGO_BIN_EXE_agent-track-server");
    let help = |command: &str| {
        let out = std::process::Command::new(bin)
            .args([command, "--help"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    for command in ["proxy", "collector", "dev"] {
        let text = help(command);
        for flag in [
            "--header-timeout-ms <HEADER_TIMEOUT_MS>",
            "--body-timeout-ms <BODY_TIMEOUT_MS>",
            "--idle-timeout-ms <IDLE_TIMEOUT_MS>",
            "--max-connections <MAX_CONNECTIONS>",
            "--shutdown-grace-ms <SHUTDOWN_GRACE_MS>",
        ] {
            assert!(
                text.contains(flag),
                "{command} --help lacks {flag}:\n{text}"
            );
        }
    }
    let proxy = help("proxy");
    for flag in [
        "--pendo-region",
        "--event-rate-per-minute",
        "--event-rate-burst",
    ] {
        assert!(proxy.contains(flag), "{proxy}");
    }
    assert!(proxy.contains("[default: 10000]") && proxy.contains("[default: us]"));
    for command in ["collector", "dev"] {
        assert!(help(command).contains("--synchronous <SYNCHRONOUS>"));
    }
}

#[test]
fn logs_have_no_colour_codes_when_not_on_a_terminal() {
    use std::io::Read;
    let bin = env!("CARGO_BIN_EXE_agent-track-server");
    let port = free_port();
    let mut child = std::process::Command::new(bin)
        .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
        .env("AGENT_TRACK_SECRET", SECRET)
        .env("AGENT_TRACK_LOG", "info")
        .env_remove("NO_COLOR")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < until);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("proxy listening"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}
