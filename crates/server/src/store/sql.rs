//! One SQL connection type for both backends, shaped like the subset of
//! `rusqlite` the store uses, so the store's transactions (in `sqlite.rs`
//! and `abuse.rs`) are written once and run on SQLite and PostgreSQL alike.
//!
//! The store writes portable SQL: `?` placeholders (rewritten to `$1, $2,
//! ...` for PostgreSQL), `INSERT ... ON CONFLICT`, `RETURNING`, `CASE`
//! rather than two-argument `max`, and `CAST(... AS BIGINT)` around sums.
//! Values cross as four kinds ([`Value`]): integers, text, bytes and null;
//! booleans are integers, as SQLite has them. The schema and the writer's
//! transaction control stay per backend.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::BytesMut;
use postgres::types::{IsNull, Type};

use tidings_proto::api::{AccountId, DeviceId};
use tidings_proto::Seq;

/// A value crossing into or out of SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any integer column (and booleans, as 0 and 1).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// Why a statement failed.
#[derive(Debug)]
pub enum Error {
    /// SQLite's own error.
    Sqlite(rusqlite::Error),
    /// PostgreSQL's own error.
    Postgres(postgres::Error),
    /// `query_row` found no row (see [`OptionalExtension`]).
    NoRows,
    /// A column held a kind of value the reader did not expect.
    Type(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Sqlite(e) => write!(f, "{e}"),
            Error::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "{}: {}", db.code().code(), db.message()),
                None => write!(f, "{e}"),
            },
            Error::NoRows => write!(f, "the query returned no rows"),
            Error::Type(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::NoRows,
            e => Error::Sqlite(e),
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Postgres(e)
    }
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns "no row" into `None`, as `rusqlite::OptionalExtension` does.
pub trait OptionalExtension<T> {
    /// `Ok(None)` for [`Error::NoRows`].
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A Rust value that can be a statement's parameter.
pub trait ToSql {
    /// The value.
    fn to_value(&self) -> Value;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl ToSql for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToSql for u32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToSql for i32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToSql for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToSql for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToSql for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToSql::to_value)
    }
}

macro_rules! id_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            /// Ids are range-checked when they are made (`tidings_proto::id`).
            fn to_value(&self) -> Value {
                Value::Int(self.as_i64())
            }
        }
    )*};
}
id_to_sql!(AccountId, DeviceId, Seq);

/// A statement's parameters: a fixed array, a slice of `&dyn ToSql`
/// ([`params!`](crate::store::sql::params)), or [`params_from_iter`].
pub trait Params {
    /// The values, in placeholder order.
    fn values(self) -> Vec<Value>;
}

impl Params for () {
    fn values(self) -> Vec<Value> {
        Vec::new()
    }
}

impl<T: ToSql, const N: usize> Params for [T; N] {
    fn values(self) -> Vec<Value> {
        self.iter().map(ToSql::to_value).collect()
    }
}

impl Params for &[&dyn ToSql] {
    fn values(self) -> Vec<Value> {
        self.iter().map(|v| v.to_value()).collect()
    }
}

impl<const N: usize> Params for &[&dyn ToSql; N] {
    fn values(self) -> Vec<Value> {
        self.iter().map(|v| v.to_value()).collect()
    }
}

/// Parameters from an iterator, as `rusqlite::params_from_iter`.
pub struct ParamsFromIter(Vec<Value>);

impl Params for ParamsFromIter {
    fn values(self) -> Vec<Value> {
        self.0
    }
}

/// Parameters from an iterator of values.
pub fn params_from_iter<I>(iter: I) -> ParamsFromIter
where
    I: IntoIterator,
    I::Item: ToSql,
{
    ParamsFromIter(iter.into_iter().map(|v| v.to_value()).collect())
}

/// A list of parameters of mixed types, as `rusqlite::params!`.
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::sql::ToSql] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::sql::ToSql),+] as &[&dyn $crate::store::sql::ToSql] };
}
pub(crate) use params;

/// A Rust value that a column can be read as.
pub trait FromSql: Sized {
    /// The value read from `v`.
    fn from_value(v: Value) -> Result<Self>;
}

fn wrong(v: &Value, want: &str) -> Error {
    Error::Type(format!("a stored {v:?} is not {want}"))
}

impl FromSql for i64 {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Int(i) => Ok(i),
            v => Err(wrong(&v, "an integer")),
        }
    }
}

impl FromSql for u32 {
    fn from_value(v: Value) -> Result<Self> {
        let i = i64::from_value(v)?;
        u32::try_from(i).map_err(|_| Error::Type(format!("stored {i} is out of range")))
    }
}

impl FromSql for bool {
    fn from_value(v: Value) -> Result<Self> {
        Ok(i64::from_value(v)? != 0)
    }
}

impl FromSql for String {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Text(s) => Ok(s),
            v => Err(wrong(&v, "text")),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Blob(b) => Ok(b),
            // SQLite keeps what it was given; text read as bytes is its
            // UTF-8 (as rusqlite reads it).
            Value::Text(s) => Ok(s.into_bytes()),
            v => Err(wrong(&v, "bytes")),
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

macro_rules! id_from_sql {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            /// A negative or oversized id means a corrupted database.
            fn from_value(v: Value) -> Result<Self> {
                let i = i64::from_value(v)?;
                u64::try_from(i)
                    .ok()
                    .and_then(|u| <$t>::try_from(u).ok())
                    .ok_or_else(|| Error::Type(format!("stored id {i} is out of range")))
            }
        }
    )*};
}
id_from_sql!(AccountId, DeviceId, Seq);

/// A column index (only `usize`, so that a literal `0` is one).
pub trait RowIndex {
    /// The index.
    fn index(self) -> usize;
}

impl RowIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One row of a result.
#[derive(Debug)]
pub struct Row {
    values: Vec<Value>,
}

impl Row {
    /// Column `i` read as `T`. The first type parameter stands in for
    /// rusqlite's column index type, so `get::<_, T>(i)` reads the same.
    pub fn get<I: RowIndex, T: FromSql>(&self, i: I) -> Result<T> {
        let i = i.index();
        let v = self
            .values
            .get(i)
            .cloned()
            .ok_or_else(|| Error::Type(format!("no column {i}")))?;
        T::from_value(v)
    }
}

/// A PostgreSQL client with its prepared statements.
pub struct PgConnection {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
    in_transaction: bool,
}

/// Prepared statements kept per connection, on either database. The store
/// has over a hundred distinct statements and a send runs dozens of them;
/// SQLite's default cache of 16 evicted each before its next use, so every
/// statement was compiled again on every call.
pub const MAX_CACHED_STATEMENTS: usize = 256;

impl PgConnection {
    /// Wraps a connected client.
    pub fn new(client: postgres::Client) -> Self {
        PgConnection {
            client,
            statements: HashMap::new(),
            in_transaction: false,
        }
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&placeholders(sql))?;
        if self.statements.len() >= MAX_CACHED_STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// The client itself, for what only PostgreSQL does (migrations,
    /// transaction control).
    pub fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }
}

/// A connection to either backend.
pub enum Connection {
    /// SQLite.
    Sqlite(rusqlite::Connection),
    /// PostgreSQL (a `RefCell` because the store's functions share `&self`,
    /// as rusqlite's do, while the client needs `&mut`; a connection is
    /// used by one thread at a time).
    Postgres(Box<RefCell<PgConnection>>),
}

impl Connection {
    /// Runs a statement; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        let values = params.values();
        match self {
            Connection::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(values.iter().map(SqliteValue)))?)
            }
            Connection::Postgres(c) => {
                let mut c = c.borrow_mut();
                let stmt = c.statement(sql)?;
                let args = pg_args(&values);
                let n = c.client.execute(&stmt, &pg_refs(&args))?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Every row of a query.
    pub fn rows(&self, sql: &str, params: impl Params) -> Result<Vec<Row>> {
        let values = params.values();
        match self {
            Connection::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let n = stmt.column_count();
                let mut rows =
                    stmt.query(rusqlite::params_from_iter(values.iter().map(SqliteValue)))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut values = Vec::with_capacity(n);
                    for i in 0..n {
                        values.push(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => Value::Null,
                            rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                            rusqlite::types::ValueRef::Real(f) => {
                                return Err(Error::Type(format!("unexpected real {f}")))
                            }
                            rusqlite::types::ValueRef::Text(t) => {
                                Value::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                        });
                    }
                    out.push(Row { values });
                }
                Ok(out)
            }
            Connection::Postgres(c) => {
                let mut c = c.borrow_mut();
                let stmt = c.statement(sql)?;
                let args = pg_args(&values);
                let rows = c.client.query(&stmt, &pg_refs(&args))?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// The first row of a query, mapped; [`Error::NoRows`] when there is
    /// none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        let rows = self.rows(sql, params)?;
        f(rows.first().ok_or(Error::NoRows)?)
    }

    /// A statement to run, as `rusqlite::Connection::prepare_cached` gives
    /// one (both backends cache what they prepare).
    pub fn prepare_cached<'c>(&'c self, sql: &'c str) -> Result<Statement<'c>> {
        Ok(Statement { conn: self, sql })
    }

    /// Same as [`Connection::prepare_cached`].
    pub fn prepare<'c>(&'c self, sql: &'c str) -> Result<Statement<'c>> {
        self.prepare_cached(sql)
    }

    /// Begins the writer's transaction: on SQLite, `IMMEDIATE` takes the
    /// write lock at once, so another process holding it is found here
    /// (busy) rather than halfway through a job.
    pub fn begin_write(&self) -> Result<()> {
        match self {
            Connection::Sqlite(_) => self.execute_batch("BEGIN IMMEDIATE"),
            Connection::Postgres(_) => self.execute_batch("BEGIN"),
        }
    }

    /// Whether no transaction is open: SQLite ends one by itself when it
    /// rolls back on a full disk or an I/O error, which the writer must
    /// notice.
    pub fn is_autocommit(&self) -> bool {
        match self {
            Connection::Sqlite(c) => c.is_autocommit(),
            Connection::Postgres(c) => !c.borrow().in_transaction,
        }
    }

    /// Runs several statements without parameters (transaction control,
    /// savepoints).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Connection::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Connection::Postgres(c) => {
                let mut c = c.borrow_mut();
                let result = c.client.batch_execute(sql);
                // PostgreSQL ends a transaction only when told, so the
                // state follows the commands that begin and end one.
                let word = sql.trim().to_ascii_uppercase();
                if word.starts_with("BEGIN") || word.starts_with("START TRANSACTION") {
                    c.in_transaction = result.is_ok();
                } else if word.starts_with("COMMIT")
                    || (word.starts_with("ROLLBACK") && !word.starts_with("ROLLBACK TO"))
                {
                    c.in_transaction = false;
                }
                Ok(result?)
            }
        }
    }
}

/// A statement bound to its connection.
pub struct Statement<'c> {
    conn: &'c Connection,
    sql: &'c str,
}

impl Statement<'_> {
    /// Runs it; returns the rows changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        self.conn.execute(self.sql, params)
    }

    /// Its rows, each mapped by `f`.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let rows = self.conn.rows(self.sql, params)?;
        Ok(rows.iter().map(&mut f).collect::<Vec<_>>().into_iter())
    }

    /// Its first row, mapped.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        self.conn.query_row(self.sql, params, f)
    }
}

/// A [`Value`] bound to a SQLite statement.
struct SqliteValue<'a>(&'a Value);

impl rusqlite::ToSql for SqliteValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

/// A [`Value`] bound to a PostgreSQL statement: written as whatever type
/// the server inferred for its placeholder, so integers fit `int2`, `int4`,
/// `int8` and `bool` columns alike.
#[derive(Debug)]
struct PgValue(Value);

impl postgres::types::ToSql for PgValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(format!("cannot send an integer as {ty}").into()),
            },
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn pg_args(values: &[Value]) -> Vec<PgValue> {
    values.iter().cloned().map(PgValue).collect()
}

fn pg_refs(args: &[PgValue]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| a as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

fn pg_row(r: &postgres::Row) -> Result<Row> {
    let mut values = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let ty = column.type_();
        let v = match *ty {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                r.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            _ => {
                return Err(Error::Type(format!(
                    "column {i} has type {ty}, which the store never reads"
                )))
            }
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row { values })
}

/// SQL with `?` and `?N` placeholders rewritten to PostgreSQL's `$N`;
/// quoted text and identifiers are left alone.
pub fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str(&format!("${next}"));
                    next += 1;
                } else {
                    out.push('$');
                    out.push_str(&digits);
                }
            }
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE b = ? AND c IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"
        );
        assert_eq!(
            placeholders("UPDATE t SET a = ?2 WHERE b = ?1"),
            "UPDATE t SET a = $2 WHERE b = $1"
        );
        assert_eq!(placeholders("SELECT '?' || ?"), "SELECT '?' || $1");
    }

    #[test]
    fn sqlite_round_trips_every_kind_and_no_row_is_optional() {
        let c = Connection::Sqlite(rusqlite::Connection::open_in_memory().expect("memory db"));
        c.execute_batch("CREATE TABLE t (i INTEGER, s TEXT, b BLOB)")
            .expect("schema");
        let blob: &[u8] = &[1, 2, 3];
        c.execute("INSERT INTO t VALUES (?, ?, ?)", params![7i64, "x", blob])
            .expect("insert");
        c.execute(
            "INSERT INTO t VALUES (?, ?, ?)",
            params![None::<i64>, None::<String>, None::<Vec<u8>>],
        )
        .expect("insert nulls");
        let got = c
            .query_row("SELECT i, s, b FROM t WHERE i = ?", [7i64], |r| {
                Ok((
                    r.get::<_, i64>(0usize)?,
                    r.get::<_, String>(1usize)?,
                    r.get::<_, Vec<u8>>(2usize)?,
                ))
            })
            .expect("row");
        assert_eq!(got, (7, "x".to_string(), vec![1, 2, 3]));
        let nulls: (Option<i64>, Option<String>) = c
            .query_row("SELECT i, s FROM t WHERE i IS NULL", (), |r| {
                Ok((r.get(0usize)?, r.get(1usize)?))
            })
            .expect("nulls");
        assert_eq!(nulls, (None, None));
        let none = c
            .query_row("SELECT i FROM t WHERE i = 8", (), |r| {
                r.get::<_, i64>(0usize)
            })
            .optional()
            .expect("no error");
        assert_eq!(none, None);
        assert!(matches!(
            c.query_row("SELECT s FROM t WHERE i = 7", (), |r| r
                .get::<_, i64>(0usize)),
            Err(Error::Type(_))
        ));
    }
}
