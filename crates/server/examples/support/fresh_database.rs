//! A PostgreSQL database of its own for one bench run or one test: created on the server of
//! an admin URL under a random name, dropped with its connections at the end. Shared by
//! `ingest_bench` and the collector's test support (both include this file with `#[path]`).

/// The database `<prefix>_<random>` on the server of `admin`, dropped when this drops.
pub struct FreshDatabase {
    admin: String,
    name: String,
    /// The URL of the fresh database: `admin`'s, with the database name replaced (its query,
    /// such as `sslmode`, kept).
    pub url: String,
}

impl FreshDatabase {
    /// Creates the database. Panics when the server cannot be reached or the database cannot
    /// be made; `source` (the variable that gave `admin`) says where the URL came from.
    pub fn create(admin: &str, prefix: &str, source: &str) -> FreshDatabase {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        off_runtime(|| {
            postgres::Client::connect(admin, postgres::NoTls)
                .unwrap_or_else(|e| panic!("{source}: cannot connect: {e}"))
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap_or_else(|e| panic!("cannot create the database {name}: {e}"))
        });
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin, String::new()),
        };
        let (server, _) = base.rsplit_once('/').expect("a database URL with a path");
        FreshDatabase {
            admin: admin.to_owned(),
            url: format!("{server}/{name}{query}"),
            name,
        }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (admin, name) = (&self.admin, &self.name);
        off_runtime(|| {
            if let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        });
    }
}

/// Runs `f` on a thread of its own: the synchronous PostgreSQL client runs a runtime of its
/// own, which cannot start inside the caller's.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("the PostgreSQL call finishes"))
}
