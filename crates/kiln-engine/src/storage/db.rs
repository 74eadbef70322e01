//! The one place that knows which database a study lives in: a connection to a SQLite file
//! or to a PostgreSQL server, behind the few calls the storage makes (execute, query, a
//! batch of DDL, a writer transaction).
//!
//! Statements are written once, in the SQL both accept (`ON CONFLICT … DO UPDATE`,
//! `RETURNING`, quoted `"key"`), with `?N` placeholders that become `$N` for PostgreSQL.
//! Values travel as [`Value`]s: PostgreSQL types its parameters strictly (an `i64` will not
//! bind to an `integer` column, a string not to an enum or a timestamp), so a `Value` binds
//! to whatever type the server infers for its place — Optuna's schema there has native
//! enums and `timestamp` columns, which kiln writes as text everywhere else.
//!
//! A writer transaction serialises writers on both: SQLite's `BEGIN IMMEDIATE` takes the
//! file's write lock, and on PostgreSQL a transaction-scoped advisory lock does the same for
//! every kiln process on the server. Trial numbering and claiming rely on it.

use postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};
use std::error::Error as StdError;

/// A bound parameter or a read column.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// `[Value]` from a list of expressions.
macro_rules! values {
    ($($v:expr),* $(,)?) => { &[$($crate::storage::db::Value::from($v)),*][..] };
}
pub(super) use values;

/// The storage's timestamps as text: naive UTC, which orders as text.
pub(super) const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// One row of a result.
#[derive(Debug)]
pub(super) struct Row(Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value, String> {
        self.0.get(i).ok_or_else(|| format!("no column {i}"))
    }
    pub(super) fn opt_int(&self, i: usize) -> Result<Option<i64>, String> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => Err(format!("column {i}: expected an integer, got {other:?}")),
        }
    }
    pub(super) fn int(&self, i: usize) -> Result<i64, String> {
        self.opt_int(i)?
            .ok_or_else(|| format!("column {i} is NULL"))
    }
    pub(super) fn opt_real(&self, i: usize) -> Result<Option<f64>, String> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Real(v) => Ok(Some(*v)),
            Value::Int(v) => Ok(Some(*v as f64)),
            other => Err(format!("column {i}: expected a number, got {other:?}")),
        }
    }
    pub(super) fn real(&self, i: usize) -> Result<f64, String> {
        self.opt_real(i)?
            .ok_or_else(|| format!("column {i} is NULL"))
    }
    pub(super) fn opt_text(&self, i: usize) -> Result<Option<String>, String> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
    pub(super) fn text(&self, i: usize) -> Result<String, String> {
        match self.at(i)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(format!("column {i}: expected text, got {other:?}")),
        }
    }
    pub(super) fn bytes(&self, i: usize) -> Result<Vec<u8>, String> {
        match self.at(i)? {
            Value::Bytes(v) => Ok(v.clone()),
            other => Err(format!("column {i}: expected bytes, got {other:?}")),
        }
    }
}

/// Which database, connected.
pub(super) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// Any kiln process's writer lock on a PostgreSQL server (an arbitrary constant: "kiln").
const ADVISORY_KEY: i64 = 0x6B69_6C6E;

impl Conn {
    /// Whether this is a PostgreSQL connection (for the few statements that differ).
    pub(super) fn is_postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(super) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String> {
        match self {
            Conn::Sqlite(c) => c
                .execute(sql, rusqlite::params_from_iter(params.iter()))
                .map(|n| n as u64)
                .map_err(|e| e.to_string()),
            Conn::Postgres(c) => c
                .execute(&dollars(sql), &refs(params))
                .map_err(|e| pg_error(&e)),
        }
    }

    /// Runs a query; returns every row.
    pub(super) fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, String> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare(sql).map_err(|e| e.to_string())?;
                let width = stmt.column_count();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                        (0..width)
                            .map(|i| r.get::<_, Value>(i))
                            .collect::<rusqlite::Result<Vec<Value>>>()
                            .map(Row)
                    })
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<Row>>>())
                    .map_err(|e| e.to_string())?;
                Ok(rows)
            }
            Conn::Postgres(c) => {
                let rows = c
                    .query(&dollars(sql), &refs(params))
                    .map_err(|e| pg_error(&e))?;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.try_get::<_, Value>(i).map_err(|e| pg_error(&e)))
                            .collect::<Result<Vec<Value>, String>>()
                            .map(Row)
                    })
                    .collect()
            }
        }
    }

    /// The first row of a query, if any.
    pub(super) fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, String> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row of a query, which must exist.
    pub(super) fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, String> {
        self.query_opt(sql, params)?
            .ok_or_else(|| "the query returned no row".to_string())
    }

    /// Runs several statements without parameters (DDL).
    pub(super) fn batch(&mut self, sql: &str) -> Result<(), String> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(|e| e.to_string()),
            Conn::Postgres(c) => c.batch_execute(sql).map_err(|e| pg_error(&e)),
        }
    }

    /// Runs `f` in a writer transaction (see the module docs): committed if `f` succeeds,
    /// rolled back otherwise.
    pub(super) fn write<T, E: From<String>>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        match self {
            Conn::Sqlite(_) => self.batch("BEGIN IMMEDIATE")?,
            Conn::Postgres(_) => {
                self.batch("BEGIN")?;
                if let Err(e) =
                    self.execute("SELECT pg_advisory_xact_lock(?1)", values![ADVISORY_KEY])
                {
                    let _ = self.batch("ROLLBACK");
                    return Err(e.into());
                }
            }
        }
        match f(self) {
            Ok(v) => {
                if let Err(e) = self.batch("COMMIT") {
                    let _ = self.batch("ROLLBACK");
                    return Err(e.into());
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// `?N` placeholders as PostgreSQL's `$N`.
fn dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// The server's own message (and detail), not just "db error".
pub(super) fn pg_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {detail}", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Bytes(v) => ValueRef::Blob(v),
        }))
    }
}

impl rusqlite::types::FromSql for Value {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        use rusqlite::types::ValueRef;
        Ok(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        })
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Real(v) => match *ty {
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(v) => match *ty {
                Type::TIMESTAMP => {
                    chrono::NaiveDateTime::parse_from_str(v, TIME_FORMAT)?.to_sql(ty, out)
                }
                // An enum's binary form is its label.
                _ if matches!(ty.kind(), Kind::Enum(_)) => {
                    out.extend_from_slice(v.as_bytes());
                    Ok(IsNull::No)
                }
                _ => v.as_str().to_sql(ty, out),
            },
            Value::Bytes(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::BYTEA => Value::Bytes(raw.to_vec()),
            Type::TIMESTAMP => Value::Text(
                chrono::NaiveDateTime::from_sql(ty, raw)?
                    .format(TIME_FORMAT)
                    .to_string(),
            ),
            _ => Value::Text(std::str::from_utf8(raw)?.to_string()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_and_nothing_else_changes() {
        assert_eq!(
            dollars("SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '?'"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '?'"
        );
    }
}
