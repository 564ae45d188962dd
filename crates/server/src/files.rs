//! Static files for the `dev` stack: the demo and dashboard pages and the npm package.
//! Paths stay inside the served folder, symbolic links included (a link that resolves
//! outside it is not served); every answer says `X-Content-Type-Options: nosniff` and
//! carries the pages' [`CSP`].

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of the pages: scripts, styles and connections from this
/// origin only (the wasm module needs `'wasm-unsafe-eval'`), no inline script or style, no
/// framing. `data:` images are the pages' empty favicon.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The content type of a file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ts" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file under `root` for a URL path; `None` for paths that try to leave `root`.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = url_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let mut out = root.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(part) => out.push(part),
            _ => return None,
        }
    }
    Some(out)
}

/// Whether `path`, with every symbolic link resolved, is still under `root` (resolved too).
/// `false` when either does not exist.
pub async fn inside(root: &Path, path: &Path) -> bool {
    match (
        tokio::fs::canonicalize(root).await,
        tokio::fs::canonicalize(path).await,
    ) {
        (Ok(root), Ok(path)) => path.starts_with(&root),
        _ => false,
    }
}

/// Serves `uri`'s path from `root` (no directory listings, no `..`, no link out of `root`).
pub async fn serve(root: &Path, uri: &Uri) -> Response {
    let headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ];
    let Some(path) = resolve(root, uri.path()) else {
        return (StatusCode::BAD_REQUEST, headers, "bad path").into_response();
    };
    if !inside(root, &path).await {
        return (StatusCode::NOT_FOUND, headers, "not found").into_response();
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            headers,
            [
                (header::CONTENT_TYPE, content_type(&path)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from(bytes),
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, headers, "not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/srv/www");
        assert_eq!(
            resolve(root, "/"),
            Some(PathBuf::from("/srv/www/index.html"))
        );
        assert_eq!(
            resolve(root, "/dashboard.html"),
            Some(PathBuf::from("/srv/www/dashboard.html"))
        );
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/../../b"), None);
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
    }
}
