//! The storage boundary: one connection type, [`Conn`], over SQLite (rusqlite, the default)
//! and PostgreSQL (the `postgres` client), so that every storage module writes its SQL once.
//!
//! The SQL is SQLite-flavoured text with `?N` placeholders, written in the subset both
//! databases understand (`INSERT ... ON CONFLICT`, `CASE`, `CAST(... AS BIGINT)`, `coalesce`,
//! `substr`, `RETURNING`); [`sql::to_postgres`] renumbers the placeholders for PostgreSQL. Where
//! the two differ (DDL, JSON functions, date buckets, full-text search), a module asks
//! [`Conn::dialect`] and writes both forms side by side — each table and each such statement
//! exists once per backend, in that module's `storage.rs`.
//!
//! Every call runs inside the transaction the caller's [`crate::collector::Collector`] opened
//! (`write` and `read`), on the blocking pool.

pub mod postgres;
pub mod sql;
pub mod tls;
pub mod url;

use std::collections::HashMap;

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (rusqlite, bundled).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("{}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    /// A query that must return a row returned none.
    #[error("the query returned no row")]
    NoRow,
    /// A column could not be read as the type asked for.
    #[error("column {0}: {1}")]
    Type(usize, String),
    /// The database URL cannot be used (its TLS parameters, a CA file); says why, without
    /// the URL.
    #[error("{0}")]
    Config(String),
    /// A SQLite-only step asked of another backend.
    #[error("{0} is not available on this database")]
    Unsupported(&'static str),
}

impl DbError {
    /// Whether trying the transaction again may succeed: PostgreSQL aborted it for a deadlock
    /// (`40P01`) or a serialization failure (`40001`) with a concurrent one.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Postgres(e) => matches!(
                e.code(),
                Some(c) if *c == ::postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                    || *c == ::postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
            ),
            _ => false,
        }
    }
}

/// The result of a storage call.
pub type Result<T> = std::result::Result<T, DbError>;

/// One parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (every integer column is `BIGINT` on PostgreSQL).
    Int(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(String),
    /// A boolean (an integer 0/1 on SQLite).
    Bool(bool),
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}
impl From<String> for Value {
    fn from(t: String) -> Self {
        Value::Text(t)
    }
}
impl From<&str> for Value {
    fn from(t: &str) -> Self {
        Value::Text(t.to_owned())
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// `values` as a parameter list.
pub fn refs(values: &[Value]) -> Vec<&dyn ToValue> {
    values.iter().map(|v| v as &dyn ToValue).collect()
}

/// Something that binds as a parameter.
pub trait ToValue {
    /// The value.
    fn value(&self) -> Value;
}

impl ToValue for Value {
    fn value(&self) -> Value {
        self.clone()
    }
}
impl ToValue for i64 {
    fn value(&self) -> Value {
        Value::Int(*self)
    }
}
impl ToValue for usize {
    fn value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToValue for u64 {
    fn value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToValue for i32 {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for u16 {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for u32 {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for bool {
    fn value(&self) -> Value {
        Value::Bool(*self)
    }
}
impl ToValue for str {
    fn value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn value(&self) -> Value {
        (**self).value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::value)
    }
}

/// Parameters: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[&dyn $crate::collector::db::ToValue] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::collector::db::ToValue),+] as &[&dyn $crate::collector::db::ToValue] };
}
pub use params;

/// One result row.
pub enum Row<'r> {
    /// A SQLite row.
    Sqlite(&'r rusqlite::Row<'r>),
    /// A PostgreSQL row.
    Postgres(&'r ::postgres::Row),
}

/// A column value read from a [`Row`].
pub trait FromColumn: Sized {
    /// Reads column `i`.
    fn read(row: &Row<'_>, i: usize) -> Result<Self>;
}

impl Row<'_> {
    /// Column `i` as `T`.
    pub fn get<T: FromColumn>(&self, i: usize) -> Result<T> {
        T::read(self, i)
    }
}

fn type_error(i: usize, e: impl std::fmt::Display) -> DbError {
    DbError::Type(i, e.to_string())
}

impl FromColumn for i64 {
    fn read(row: &Row<'_>, i: usize) -> Result<Self> {
        match row {
            Row::Sqlite(r) => Ok(r.get(i)?),
            Row::Postgres(r) => postgres::int(r, i),
        }
    }
}
macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl FromColumn for $t {
            fn read(row: &Row<'_>, i: usize) -> Result<Self> {
                let n = i64::read(row, i)?;
                <$t>::try_from(n).map_err(|e| type_error(i, e))
            }
        }
    )*};
}
from_int!(u64, usize, u32, i32);

impl FromColumn for f64 {
    fn read(row: &Row<'_>, i: usize) -> Result<Self> {
        match row {
            Row::Sqlite(r) => Ok(r.get(i)?),
            Row::Postgres(r) => postgres::real(r, i),
        }
    }
}
impl FromColumn for String {
    fn read(row: &Row<'_>, i: usize) -> Result<Self> {
        match row {
            Row::Sqlite(r) => Ok(r.get(i)?),
            Row::Postgres(r) => r.try_get(i).map_err(|e| type_error(i, e)),
        }
    }
}
impl FromColumn for bool {
    fn read(row: &Row<'_>, i: usize) -> Result<Self> {
        match row {
            Row::Sqlite(r) => Ok(r.get::<_, i64>(i)? != 0),
            Row::Postgres(r) => postgres::boolean(r, i),
        }
    }
}
impl FromColumn for Value {
    fn read(row: &Row<'_>, i: usize) -> Result<Self> {
        match row {
            Row::Sqlite(r) => Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                rusqlite::types::Value::Null => Value::Null,
                rusqlite::types::Value::Integer(n) => Value::Int(n),
                rusqlite::types::Value::Real(f) => Value::Real(f),
                rusqlite::types::Value::Text(t) => Value::Text(t),
                rusqlite::types::Value::Blob(b) => Value::Text(String::from_utf8_lossy(&b).into()),
            }),
            Row::Postgres(r) => postgres::value(r, i),
        }
    }
}
impl<T: FromColumn> FromColumn for Option<T> {
    fn read(row: &Row<'_>, i: usize) -> Result<Self> {
        let null = match row {
            Row::Sqlite(r) => matches!(r.get_ref(i)?, rusqlite::types::ValueRef::Null),
            Row::Postgres(r) => postgres::is_null(r, i),
        };
        if null {
            Ok(None)
        } else {
            T::read(row, i).map(Some)
        }
    }
}

/// Prepared PostgreSQL statements of one connection, by SQL text.
pub type Statements = HashMap<String, ::postgres::Statement>;

/// A connection inside a transaction, to either database.
pub enum Conn<'a, 't> {
    /// SQLite: the connection (a transaction is open on it).
    Sqlite(&'a rusqlite::Connection),
    /// PostgreSQL: the open transaction and its connection's statement cache.
    Postgres(&'a mut ::postgres::Transaction<'t>, &'a mut Statements),
}

fn sqlite_params(params: &[&dyn ToValue]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|p| match p.value() {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(n) => rusqlite::types::Value::Integer(n),
            Value::Real(f) => rusqlite::types::Value::Real(f),
            Value::Text(t) => rusqlite::types::Value::Text(t),
            Value::Bool(b) => rusqlite::types::Value::Integer(i64::from(b)),
        })
        .collect()
}

impl Conn<'_, '_> {
    /// Which database.
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(..) => Dialect::Postgres,
        }
    }

    /// Runs a statement; the rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[&dyn ToValue]) -> Result<u64> {
        match self {
            Conn::Sqlite(c) => {
                let n = c
                    .prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(sqlite_params(params)))?;
                Ok(n as u64)
            }
            Conn::Postgres(tx, cache) => postgres::execute(tx, cache, sql, params),
        }
    }

    /// Runs several statements without parameters (schema steps).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(tx, _) => Ok(tx.batch_execute(sql)?),
        }
    }

    /// Calls `f` on every row, in order.
    pub fn each(
        &mut self,
        sql: &str,
        params: &[&dyn ToValue],
        mut f: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(sqlite_params(params)))?;
                while let Some(row) = rows.next()? {
                    f(&Row::Sqlite(row))?;
                }
                Ok(())
            }
            Conn::Postgres(tx, cache) => {
                for row in postgres::query(tx, cache, sql, params)? {
                    f(&Row::Postgres(&row))?;
                }
                Ok(())
            }
        }
    }

    /// Every row, mapped by `f`.
    pub fn rows<T>(
        &mut self,
        sql: &str,
        params: &[&dyn ToValue],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql, params, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row mapped by `f`, or `None`.
    pub fn row_opt<T>(
        &mut self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut f = Some(f);
        let mut out = None;
        self.each(sql, params, |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row mapped by `f`; [`DbError::NoRow`] when there is none.
    pub fn row<T>(
        &mut self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.row_opt(sql, params, f)?.ok_or(DbError::NoRow)
    }

    /// The first column of the first row.
    pub fn one<T: FromColumn>(&mut self, sql: &str, params: &[&dyn ToValue]) -> Result<T> {
        self.row(sql, params, |r| r.get(0))
    }
}
