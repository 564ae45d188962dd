//! The PostgreSQL side of [`super::Conn`]: statements prepared once per connection, parameters
//! bound with the types the statement expects, columns read into the collector's few types.

use postgres::types::{ToSql, Type};
use postgres::{Row, Transaction};

use super::{DbError, Result, Statements, ToValue, Value};

/// The error's text: PostgreSQL's own message (with its code) when there is one. Never the
/// connection URL, which only the connection step sees.
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("PostgreSQL {}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("PostgreSQL: {e}: {cause}"),
            None => format!("PostgreSQL: {e}"),
        },
    }
}

/// A parameter as the type the statement expects (PostgreSQL does not convert binary
/// parameters: an `i64` bound to an `int4` is an error, so the value is converted first).
#[derive(Debug)]
enum Bound {
    Null,
    I64(i64),
    I32(i32),
    F64(f64),
    Text(String),
    Bool(bool),
}

impl Bound {
    fn of(value: Value, ty: &Type) -> Bound {
        match value {
            Value::Null => Bound::Null,
            Value::Int(n) if *ty == Type::INT4 => Bound::I32(i32::try_from(n).unwrap_or(i32::MAX)),
            Value::Int(n) if *ty == Type::FLOAT8 => Bound::F64(n as f64),
            Value::Int(n) if *ty == Type::BOOL => Bound::Bool(n != 0),
            Value::Int(n) if *ty == Type::TEXT || *ty == Type::VARCHAR => {
                Bound::Text(n.to_string())
            }
            Value::Int(n) => Bound::I64(n),
            Value::Real(f) => Bound::F64(f),
            Value::Text(t) => Bound::Text(t),
            Value::Bool(b) if *ty == Type::INT8 => Bound::I64(i64::from(b)),
            Value::Bool(b) => Bound::Bool(b),
        }
    }

    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Bound::Null => &Null,
            Bound::I64(n) => n,
            Bound::I32(n) => n,
            Bound::F64(f) => f,
            Bound::Text(t) => t,
            Bound::Bool(b) => b,
        }
    }
}

/// SQL NULL of whatever type the parameter has (`Option<String>` would refuse a non-text
/// parameter).
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        Ok(postgres::types::IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn prepare(
    tx: &mut Transaction<'_>,
    cache: &mut Statements,
    sql: &str,
) -> Result<postgres::Statement> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let stmt = tx.prepare(&super::sql::to_postgres(sql))?;
    cache.insert(sql.to_owned(), stmt.clone());
    Ok(stmt)
}

fn bind(stmt: &postgres::Statement, params: &[&dyn ToValue]) -> Vec<Bound> {
    params
        .iter()
        .zip(stmt.params())
        .map(|(p, ty)| Bound::of(p.value(), ty))
        .collect()
}

/// Runs a statement; the rows it changed.
pub fn execute(
    tx: &mut Transaction<'_>,
    cache: &mut Statements,
    sql: &str,
    params: &[&dyn ToValue],
) -> Result<u64> {
    let stmt = prepare(tx, cache, sql)?;
    let bound = bind(&stmt, params);
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(Bound::sql).collect();
    Ok(tx.execute(&stmt, &refs)?)
}

/// Runs a query; its rows.
pub fn query(
    tx: &mut Transaction<'_>,
    cache: &mut Statements,
    sql: &str,
    params: &[&dyn ToValue],
) -> Result<Vec<Row>> {
    let stmt = prepare(tx, cache, sql)?;
    let bound = bind(&stmt, params);
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(Bound::sql).collect();
    Ok(tx.query(&stmt, &refs)?)
}

fn type_error(i: usize, ty: &Type, wanted: &str) -> DbError {
    DbError::Type(i, format!("a {ty} cannot be read as {wanted}"))
}

/// Column `i` as an integer: `int8`, `int4`, `int2`, or a `bool` (as 0/1).
pub fn int(r: &Row, i: usize) -> Result<i64> {
    let ty = r.columns()[i].type_().clone();
    let e = |err: postgres::Error| DbError::Type(i, err.to_string());
    if ty == Type::INT8 {
        r.try_get::<_, i64>(i).map_err(e)
    } else if ty == Type::INT4 {
        r.try_get::<_, i32>(i).map(i64::from).map_err(e)
    } else if ty == Type::INT2 {
        r.try_get::<_, i16>(i).map(i64::from).map_err(e)
    } else if ty == Type::BOOL {
        r.try_get::<_, bool>(i).map(i64::from).map_err(e)
    } else if ty == Type::FLOAT8 {
        r.try_get::<_, f64>(i).map(|f| f as i64).map_err(e)
    } else {
        Err(type_error(i, &ty, "an integer"))
    }
}

/// Column `i` as a double: `float8`, `float4`, or an integer.
pub fn real(r: &Row, i: usize) -> Result<f64> {
    let ty = r.columns()[i].type_().clone();
    if ty == Type::FLOAT8 {
        r.try_get::<_, f64>(i)
            .map_err(|e| DbError::Type(i, e.to_string()))
    } else if ty == Type::FLOAT4 {
        r.try_get::<_, f32>(i)
            .map(f64::from)
            .map_err(|e| DbError::Type(i, e.to_string()))
    } else {
        int(r, i).map(|n| n as f64)
    }
}

/// Column `i` as a boolean: `bool`, or an integer (non-zero).
pub fn boolean(r: &Row, i: usize) -> Result<bool> {
    let ty = r.columns()[i].type_().clone();
    if ty == Type::BOOL {
        r.try_get::<_, bool>(i)
            .map_err(|e| DbError::Type(i, e.to_string()))
    } else {
        int(r, i).map(|n| n != 0)
    }
}

/// Whether column `i` is NULL.
pub fn is_null(r: &Row, i: usize) -> bool {
    raw_is_null(r, i)
}

fn raw_is_null(r: &Row, i: usize) -> bool {
    struct Any;
    impl<'a> postgres::types::FromSql<'a> for Any {
        fn from_sql(
            _: &Type,
            _: &'a [u8],
        ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
            Ok(Any)
        }
        fn accepts(_: &Type) -> bool {
            true
        }
    }
    matches!(r.try_get::<_, Option<Any>>(i), Ok(None))
}

/// Column `i` as a [`Value`] of its own type.
pub fn value(r: &Row, i: usize) -> Result<Value> {
    if raw_is_null(r, i) {
        return Ok(Value::Null);
    }
    let ty = r.columns()[i].type_().clone();
    if ty == Type::BOOL {
        return boolean(r, i).map(Value::Bool);
    }
    if ty == Type::FLOAT8 || ty == Type::FLOAT4 {
        return real(r, i).map(Value::Real);
    }
    if ty == Type::INT8 || ty == Type::INT4 || ty == Type::INT2 {
        return int(r, i).map(Value::Int);
    }
    r.try_get::<_, String>(i)
        .map(Value::Text)
        .map_err(|_| type_error(i, &ty, "a value"))
}
