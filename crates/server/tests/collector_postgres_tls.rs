//! The collector reaches PostgreSQL over TLS as the URL's `sslmode` and `sslrootcert` say,
//! against the throwaway cluster of `scripts/postgres.sh` (which offers TLS with a CA of its
//! own: `AGENT_TRACK_TEST_DATABASE_CA`, and an unrelated one beside it, `other-ca.pem`).
//! The `on_postgres_` tests need `AGENT_TRACK_TEST_DATABASE_URL` (the SQLite pass of
//! `npm test` skips them by name; without `AGENT_TRACK_TEST_POSTGRES=required` they pass
//! vacuously, as the other collector tests fall back to SQLite).

mod collector_support;

use agent_track_server::collector::db::url::Database;
use agent_track_server::collector::{Collector, CollectorConfig, CollectorError};
use agent_track_server::secret::Secrets;
use collector_support::TestDatabase;

/// The CA that signed the test cluster's certificate, and the unrelated one.
fn cas() -> (String, String) {
    let ca = std::env::var("AGENT_TRACK_TEST_DATABASE_CA")
        .expect("AGENT_TRACK_TEST_DATABASE_CA: the test cluster's CA (scripts/test.sh sets it)");
    let other = std::path::Path::new(&ca).with_file_name("other-ca.pem");
    (ca, other.display().to_string())
}

/// `db.url` with a password (the cluster trusts the role, so it is never asked for, but it
/// must never show in an error) and `params`.
fn url(db: &TestDatabase, params: &str) -> String {
    let with_password = db.url.replacen(
        "postgres://agent_track@",
        "postgres://agent_track:hunter2@",
        1,
    );
    format!("{with_password}?{params}")
}

fn open(url: &str) -> Result<(Collector, tempfile::TempDir), CollectorError> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CollectorConfig::new(
        dir.path(),
        Secrets::parse(&Secrets::generate()).unwrap(),
        "atk_test_key_123",
    );
    config.database = Database::parse(url).map_err(|message| CollectorError::Postgres {
        url: "-".into(),
        message,
    })?;
    // Opening runs the synchronous client, which cannot start inside a runtime.
    Collector::open(config).map(|c| (c, dir))
}

/// Whether the connections of other sessions to `db` use TLS (none: `None`).
fn tls_of_others(db: &TestDatabase) -> Option<bool> {
    let name = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let sql = format!(
        "SELECT CASE WHEN count(*) = 0 THEN -1 WHEN bool_and(s.ssl) THEN 1 ELSE 0 END::bigint \
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = '{name}' AND a.pid <> pg_backend_pid()"
    );
    match db.one(&sql) {
        -1 => None,
        n => Some(n == 1),
    }
}

#[test]
fn the_url_rules_hold_without_a_server() {
    for mode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
        let url = format!("postgres://u:hunter2@db.example/app?sslmode={mode}&sslrootcert=system");
        let parsed = if mode.starts_with("verify") {
            // The system's store may be empty on a minimal machine: then the error says so.
            Database::parse(&url).or_else(|e| {
                assert!(e.contains("system's store"), "{e}");
                Ok::<_, String>(Database::Sqlite)
            })
        } else {
            Database::parse(&url)
        };
        assert!(parsed.is_ok(), "{mode}");
    }
    let e = Database::parse("postgres://u:hunter2@db.example/app?sslmode=maybe").unwrap_err();
    assert!(e.contains("sslmode=maybe is not supported"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn on_postgres_by_default_and_with_require_the_connections_are_encrypted() {
    let Some(db) = TestDatabase::from_env() else {
        return;
    };
    let (c, _dir) = open(&url(&db, "application_name=tls-default")).expect("opens over TLS");
    assert_eq!(
        tls_of_others(&db),
        Some(true),
        "prefer: the server offers TLS"
    );
    drop(c);
    let (c, _dir) = open(&url(&db, "sslmode=require")).expect("opens over TLS");
    assert_eq!(tls_of_others(&db), Some(true));
    drop(c);
}

#[test]
fn on_postgres_disable_connects_in_clear_text() {
    let Some(db) = TestDatabase::from_env() else {
        return;
    };
    let (c, _dir) = open(&url(&db, "sslmode=disable")).expect("opens without TLS");
    assert_eq!(tls_of_others(&db), Some(false));
    drop(c);
}

#[test]
fn on_postgres_verify_full_accepts_the_cluster_signed_by_its_ca_and_refuses_another() {
    let Some(db) = TestDatabase::from_env() else {
        return;
    };
    let (ca, other) = cas();
    let (c, _dir) = open(&url(&db, &format!("sslmode=verify-full&sslrootcert={ca}")))
        .expect("the certificate is for 127.0.0.1 and signed by the CA");
    assert_eq!(tls_of_others(&db), Some(true));
    drop(c);
    let (c, _dir) = open(&url(&db, &format!("sslmode=verify-ca&sslrootcert={ca}")))
        .expect("verify-ca: the chain");
    drop(c);
    let e = open(&url(
        &db,
        &format!("sslmode=verify-full&sslrootcert={other}"),
    ))
    .map(drop)
    .expect_err("a certificate no trusted root signed is refused")
    .to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    assert!(
        !e.contains("hunter2"),
        "the password stays out of errors: {e}"
    );
    let e = open(&url(
        &db,
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ))
    .map(drop)
    .expect_err("a missing CA file is an error")
    .to_string();
    assert!(
        e.contains("sslrootcert=/nonexistent/ca.pem cannot be read"),
        "{e}"
    );
}
