//! URLs as the servers show them in logs, errors, metrics labels and API answers: scheme,
//! host and port, and a short hash standing for the rest. A webhook or upstream URL often
//! carries a credential in its user information, path (`/services/T0/B0/secret`) or query
//! (`?token=`), so none of those is ever shown; the hash still tells two URLs of one host apart.

use sha2::{Digest, Sha256};

/// `https://hooks.example` for `https://hooks.example`, and `https://hooks.example/…#1a2b3c4d`
/// for anything with a path, query or fragment (`#` + the first 4 bytes of SHA-256 of the
/// whole URL, hex). `invalid` when it is not a URL.
pub fn url(url: &str) -> String {
    let Ok(u) = reqwest::Url::parse(url) else {
        return "invalid".into();
    };
    let host = u.host_str().unwrap_or("");
    let origin = match u.port() {
        Some(port) => format!("{}://{host}:{port}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    };
    let bare = (u.path().is_empty() || u.path() == "/")
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none();
    if bare {
        return origin;
    }
    let digest = Sha256::digest(url.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{origin}/…#{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_any_part_never_show() {
        for secret_url in [
            "https://hooks.slack.example/services/T0/B0/s3cret",
            "https://user:s3cret@hooks.example/x",
            "https://hooks.example/in?token=s3cret",
            "http://10.0.0.5:8788/v1/ingest#s3cret",
        ] {
            let shown = url(secret_url);
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("/…#"), "{shown}");
        }
        assert_eq!(url("https://hooks.example"), "https://hooks.example");
        assert_eq!(url("http://10.0.0.5:8788/"), "http://10.0.0.5:8788");
        assert_ne!(url("https://h.example/a"), url("https://h.example/b"));
        assert_eq!(url("not a url"), "invalid");
    }
}
