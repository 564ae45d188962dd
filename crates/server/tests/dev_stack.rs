//! The `dev` stack: static files over a real socket (links out of the folder refused, the
//! pages' security headers), and the data folder as the real binary leaves it (private
//! modes from the start, loose ones tightened with a warning).

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_track_server::dev::{self, DevConfig};
use agent_track_server::files::CSP;
use agent_track_server::serve;
use common::free_port;

async fn start(www: &Path, pkg: &Path, data: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let creds = dev::credentials(data).unwrap();
    let config = DevConfig {
        data_dir: data.to_path_buf(),
        www: www.to_path_buf(),
        pkg: pkg.to_path_buf(),
        synchronous: Default::default(),
        analysis: Default::default(),
        insights: None,
        webhooks: Default::default(),
        retention: Default::default(),
        database: Default::default(),
    };
    let app = dev::app(&config, addr, &creds).unwrap();
    tokio::spawn(serve::run(listener, app, std::future::pending()));
    format!("http://{addr}")
}

#[tokio::test]
async fn static_files_stay_in_their_folder_and_carry_the_pages_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let (www, pkg, outside) = (
        tmp.path().join("www"),
        tmp.path().join("pkg"),
        tmp.path().join("outside"),
    );
    for d in [&www, &pkg, &outside] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(www.join("index.html"), "<!doctype html><title>demo</title>").unwrap();
    std::fs::write(www.join("page.txt"), "inside").unwrap();
    std::fs::write(pkg.join("agent_track.js"), "export {}").unwrap();
    std::fs::write(outside.join("secret.txt"), "OUTSIDE-SECRET").unwrap();
    let link = |target: &Path, at: &Path| std::os::unix::fs::symlink(target, at).unwrap();
    link(&www.join("page.txt"), &www.join("alias.txt"));
    link(&outside.join("secret.txt"), &www.join("leak.txt"));
    link(&outside, &www.join("outdir"));
    link(&outside.join("secret.txt"), &pkg.join("leak.js"));
    let base = start(&www, &pkg, &tmp.path().join("data")).await;
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("{base}{path}");
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            (status, headers, r.text().await.unwrap())
        }
    };
    for path in ["/", "/alias.txt", "/pkg/agent_track.js"] {
        let (status, headers, _) = get(path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["content-security-policy"], CSP, "{path}");
    }
    for path in ["/leak.txt", "/outdir/secret.txt", "/pkg/leak.js"] {
        let (status, headers, body) = get(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("OUTSIDE-SECRET"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    assert!(
        CSP.contains("script-src 'self' 'wasm-unsafe-eval'") && CSP.contains("style-src 'self';")
    );
    assert!(CSP.contains("frame-ancestors 'none'"));
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Runs `dev` under umask 022 (what most shells have); stderr is piped.
fn dev_process(data: &Path, port: u16) -> Child {
    Command::new("sh")
        .args([
            "-c",
            "umask 022 && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_agent-track-server"),
            "dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data.to_str().unwrap(),
            "--www",
            "/nonexistent",
            "--pkg",
            "/nonexistent",
        ])
        .env("AGENT_TRACK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `/healthz` to answer 200: the port is bound before the store is opened and
/// migrated, so a connection alone does not mean the data folder is ready.
fn wait_healthy(port: u16) {
    use std::io::{Read, Write};
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    let healthy = || -> bool {
        let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200")
    };
    while !healthy() {
        assert!(Instant::now() < until, "dev did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(child: Child) -> String {
    kill_term(child.id());
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn kill_term(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn the_data_folder_is_private_from_the_start_and_loose_files_are_tightened() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let child = dev_process(&data, port);
    wait_healthy(port);
    assert_eq!(mode(&data), 0o700);
    for file in [
        "secret",
        "api-key",
        "agent-track.sqlite3",
        "agent-track.sqlite3-wal",
        "agent-track.sqlite3-shm",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    let log = stop(child);
    assert!(!log.contains("tightened"), "{log}");

    // An older folder left readable by everyone: tightened, with a warning naming the file.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in ["secret", "api-key", "agent-track.sqlite3"] {
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let port = free_port();
    let child = dev_process(&data, port);
    wait_healthy(port);
    let log = stop(child);
    assert_eq!(mode(&data), 0o700);
    for file in ["secret", "api-key", "agent-track.sqlite3"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        assert!(
            log.contains(&data.join(file).display().to_string()),
            "{file}: {log}"
        );
    }
    assert!(log.contains("tightened the permissions"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a piped log: {log}"
    );
}
