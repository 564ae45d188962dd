//! `AGENT_TRACK_DATABASE_URL`: which database, with the password kept out of every log line
//! and error.

/// Where the collector stores its data.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Database {
    /// SQLite under the data directory (the default).
    #[default]
    Sqlite,
    /// PostgreSQL at this URL (`postgres://user:password@host:port/db`).
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite => f.write_str("Sqlite"),
            Database::Postgres(url) => write!(f, "Postgres({})", redact(url)),
        }
    }
}

impl Database {
    /// Reads a URL: `postgres://` or `postgresql://`; anything else is refused with a message
    /// that does not repeat the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<Database, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            super::tls::target(url).map_err(|e| format!("the database URL cannot be used: {e}"))?;
            Ok(Database::Postgres(url.to_owned()))
        } else {
            Err("the database URL must start with postgres:// or postgresql:// (SQLite needs none: it lives under --data-dir)".into())
        }
    }

    /// Where, for the log: the URL without its password, or `sqlite`.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite => "sqlite".into(),
            Database::Postgres(url) => redact(url),
        }
    }
}

/// `url` with the password of its user-info replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    // A password can also come as a query parameter.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// An error text with any occurrence of the URL's password removed.
pub fn redact_error(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact(url));
    if let Ok(config) = url.parse::<postgres::Config>() {
        if let Some(pw) = config.get_password() {
            if let Ok(pw) = std::str::from_utf8(pw) {
                if !pw.is_empty() {
                    out = out.replace(pw, "***");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://at:s3cret@db:5432/at"),
            "postgres://at:***@db:5432/at"
        );
        assert_eq!(
            redact("postgres://at@db/at?sslmode=disable&password=s3cret"),
            "postgres://at@db/at?sslmode=disable&password=***"
        );
        assert_eq!(redact("postgresql://db"), "postgresql://db");
        let d = Database::parse("postgres://at:s3cret@db:5432/at").unwrap();
        assert!(!format!("{d:?}").contains("s3cret"));
        assert!(!d.describe().contains("s3cret"));
        let e = Database::parse("mysql://at:s3cret@db").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert_eq!(
            redact_error("failed for s3cret", "postgres://at:s3cret@db/at"),
            "failed for ***"
        );
    }
}
