//! The store on SQL, for both backends: one writer thread with group
//! commit, a small pool of readers, and every transaction of the [`Store`]
//! written once over [`super::sql::Connection`].
//!
//! Every write is a job sent over a bounded channel to the writer thread,
//! which runs as many waiting jobs as it can (up to `max_batch`) in one
//! transaction, each inside its own savepoint, and commits once. A job's
//! caller hears back only after the commit, so an `Ok` means "on disk"
//! (WAL with `synchronous = FULL`) while many concurrent writes share one
//! fsync. Readers use their own connections and never wait for the writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::sql::{params, Connection, OptionalExtension};
use async_trait::async_trait;
use base64::Engine;
use subtle::ConstantTimeEq;
use tidings_proto::api::{
    AccountId, ClaimedKey, DeviceId, DeviceIdentity, DeviceInfo, DeviceMismatch, IdentityKeys,
    SignedKey,
};
use tidings_proto::stream::{Envelope, EnvelopeBody};
use tidings_proto::{Handle, Seq};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::abuse;
use super::sql;
use super::InboundSms;
use super::{
    AccountRecord, BlobCreated, BlobRecord, CodeAction, Digest, FallbackOutcome, KeysOutcome,
    LinkCreated, LinkRecord, Redeemed, SendOutcome, SendPlan, SmsJob, SmsResult, Standing, Store,
    StoreError,
};
use crate::clock::Millis;

/// Write jobs that may wait for the writer; senders beyond it wait, which
/// pushes back on clients instead of growing memory.
pub const WRITE_QUEUE_DEPTH: usize = 4096;
/// Reader connections kept open.
pub const READERS: usize = 4;
/// Most expired queue entries handled in one sweep transaction.
pub const EXPIRE_BATCH: usize = 10_000;

/// Queue entry kinds.
const KIND_MESSAGE: &str = "message";
const KIND_SYNC: &str = "sync";
const KIND_NOTICE: &str = "notice";

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write: given the writer's open transaction (or why none could be
/// begun), it does its work and returns what to tell its caller once the
/// transaction has committed or failed.
/// Besides the completion, a job returns its own error, if it failed, so
/// that the writer can tell every caller of a transaction that SQLite
/// rolled back as a whole why it was lost.
type Job =
    Box<dyn FnOnce(Result<&Connection, StoreError>) -> (Completion, Option<StoreError>) + Send>;

/// The [`Store`] on SQL: SQLite (embedded) or PostgreSQL.
pub struct SqlStore {
    jobs: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    reader_permits: Arc<Semaphore>,
    path: Option<PathBuf>,
}

pub(super) fn db(e: sql::Error) -> StoreError {
    match e {
        sql::Error::Sqlite(e) => match e.sqlite_error_code() {
            // Out of disk, or at `max_database_bytes`: the caller is told to
            // try later (507), nothing is half-written, and the next write
            // after space is freed succeeds.
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy
            }
            _ => StoreError::Database(e.to_string()),
        },
        sql::Error::Postgres(e) => match e.code().map(|c| c.code()) {
            // disk_full, insufficient_resources, program_limit_exceeded
            Some("53100" | "53000") => StoreError::Full,
            // lock_not_available, deadlock_detected, serialization_failure
            Some("55P03" | "40P01" | "40001") => StoreError::Busy,
            _ => StoreError::Database(sql::Error::Postgres(e).to_string()),
        },
        sql::Error::NoRows => StoreError::Database("the query returned no rows".into()),
        sql::Error::Type(m) => StoreError::Corrupt(m),
    }
}

/// What a panic carried, for the log.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

impl SqlStore {
    /// Opens (creating and migrating) the SQLite database at `path` and
    /// starts the writer thread; `max_batch` bounds jobs per transaction.
    pub fn open(path: &Path, max_batch: usize) -> Result<SqlStore, StoreError> {
        SqlStore::open_limited(path, max_batch, 0)
    }

    /// Like [`SqlStore::open`], refusing writes that would grow the
    /// database file past `max_bytes` (0: only the disk limits it). A write
    /// over the limit fails as [`StoreError::Full`], like a full disk.
    pub fn open_limited(
        path: &Path,
        max_batch: usize,
        max_bytes: u64,
    ) -> Result<SqlStore, StoreError> {
        let (writer, readers) = super::sqlite::open(path, max_bytes, READERS)?;
        SqlStore::start(writer, readers, max_batch, Some(path.to_path_buf()))
    }

    /// Connects to the PostgreSQL database at `url` (migrating it) and
    /// starts the writer thread; `max_batch` bounds jobs per transaction.
    pub fn open_postgres(url: &str, max_batch: usize) -> Result<SqlStore, StoreError> {
        // The synchronous client runs a small runtime of its own, which may
        // not be started (or dropped) on an async task: connect on a thread.
        let url = url.to_string();
        let (writer, readers) = std::thread::spawn(move || super::postgres::open(&url, READERS))
            .join()
            .map_err(|_| StoreError::Database("connecting to PostgreSQL panicked".into()))??;
        SqlStore::start(writer, readers, max_batch, None)
    }

    fn start(
        writer: Connection,
        readers: Vec<Connection>,
        max_batch: usize,
        path: Option<PathBuf>,
    ) -> Result<SqlStore, StoreError> {
        assert!(max_batch > 0, "max_batch must be positive");
        let (tx, rx) = mpsc::channel::<Job>(WRITE_QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("tidings-store-writer".into())
            .spawn(move || {
                // Jobs cannot panic past their savepoint; if the loop itself
                // does, no write could ever complete again, so the process
                // stops and its supervisor restarts it (acknowledged writes
                // are on disk; unacknowledged ones were never promised).
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    write_loop(writer, rx, max_batch)
                }));
                if let Err(panic) = outcome {
                    let message = panic_message(panic.as_ref());
                    tracing::error!(panic = %message, "the storage writer died; stopping the server");
                    std::process::exit(70);
                }
            })
            .map_err(|e| StoreError::Database(format!("cannot start writer thread: {e}")))?;
        let n = readers.len();
        Ok(SqlStore {
            jobs: tx,
            readers: Arc::new(Mutex::new(readers)),
            reader_permits: Arc::new(Semaphore::new(n)),
            path,
        })
    }

    /// Closes the reader connections on a thread of their own: a
    /// PostgreSQL client's runtime may not be dropped on an async task,
    /// which is where a store usually goes out of scope.
    fn close_readers(&self) {
        let readers = std::mem::take(
            &mut *self
                .readers
                .lock()
                .expect("reader pool lock is never poisoned"),
        );
        if readers.iter().any(|c| matches!(c, Connection::Postgres(_))) {
            let _ = std::thread::spawn(move || drop(readers)).join();
        }
    }

    /// The database file, for SQLite.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The secret every node on this database shares (it keys code hashes,
    /// proofs of work, CSRF tokens and stand-in ids, so a code sent by one
    /// node must check on another): `candidate` is stored when there is
    /// none yet, and the stored one is returned. Blocks the calling thread;
    /// for start-up, before requests are served.
    pub fn shared_secret(&self, candidate: Digest) -> Result<Digest, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel::<Result<Digest, StoreError>>();
        let job: Job = Box::new(move |conn: Result<&Connection, StoreError>| {
            let result = conn.and_then(|conn| {
                in_savepoint(conn, |conn| {
                    conn.execute(
                        "INSERT INTO server_secret (id, secret) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
                        [candidate.to_vec()],
                    )
                    .map_err(db)?;
                    let stored: Vec<u8> = conn
                        .query_row("SELECT secret FROM server_secret WHERE id = 1", (), |r| {
                            r.get(0)
                        })
                        .map_err(db)?;
                    digest(stored)
                })
            });
            let failed = result.as_ref().err().cloned();
            let done: Completion = Box::new(move |committed: Result<(), StoreError>| {
                let _ = tx.send(committed.and(result));
            });
            (done, failed)
        });
        // Not `blocking_send`, which refuses to run on an async task; the
        // queue is empty at start-up.
        self.jobs.try_send(job).map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` in the writer's current transaction (in a savepoint) and
    /// returns its result once the transaction has committed.
    async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        let job: Job = Box::new(move |conn: Result<&Connection, StoreError>| {
            let result = conn.and_then(|conn| in_savepoint(conn, f));
            let failed = result.as_ref().err().cloned();
            let done: Completion = Box::new(move |committed: Result<(), StoreError>| {
                let _ = tx.send(committed.and(result));
            });
            (done, failed)
        });
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read-only `f` on a reader connection.
    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let permit = self
            .reader_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers
                .lock()
                .expect("reader pool lock is never poisoned")
                .pop()
                .expect("a permit guarantees a free reader");
            // A panic in `f` is a bug, but it must not cost the pool its
            // connection: the connection goes back, reset, and the caller
            // gets an error.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&conn)))
                .unwrap_or_else(|panic| {
                    let message = panic_message(panic.as_ref());
                    tracing::error!(panic = %message, "a storage read panicked");
                    Err(StoreError::Panicked(message))
                });
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            readers
                .lock()
                .expect("reader pool lock is never poisoned")
                .push(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Database(format!("reader task failed: {e}")))?
    }
}

fn in_savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.execute_batch("SAVEPOINT job").map_err(db)?;
    // A job that panics is rolled back like one that failed, so the writer
    // thread and the other jobs of its batch carry on.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|panic| {
            let message = panic_message(panic.as_ref());
            tracing::error!(panic = %message, "a storage write panicked; rolled back");
            Err(StoreError::Panicked(message))
        });
    match outcome {
        Ok(r) => {
            conn.execute_batch("RELEASE job").map_err(db)?;
            Ok(r)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
    }
}

fn write_loop(conn: Connection, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = Vec::with_capacity(max_batch.min(64));
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut waiting: Vec<Completion> = Vec::with_capacity(batch.len());
        let mut in_transaction = false;
        for job in batch {
            if !in_transaction {
                if let Err(e) = conn.begin_write().map_err(db) {
                    // Locked by another process past the busy timeout, or
                    // the disk is gone: the caller hears why; nothing was
                    // written.
                    tracing::error!(error = %e, "cannot begin a write transaction");
                    let (done, _) = job(Err(e.clone()));
                    done(Err(e));
                    continue;
                }
                in_transaction = true;
            }
            let (done, failed) = job(Ok(&conn));
            waiting.push(done);
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (it may on
                // SQLITE_FULL and on I/O errors), so nothing of it was
                // written: every job in it failed, and the next job starts
                // a new transaction rather than running unprotected.
                let e = failed.unwrap_or_else(|| {
                    StoreError::Database("the transaction was rolled back".into())
                });
                tracing::warn!(error = %e, jobs = waiting.len(), "write transaction rolled back");
                for done in waiting.drain(..) {
                    done(Err(e.clone()));
                }
                in_transaction = false;
            }
        }
        if !in_transaction {
            continue;
        }
        let committed = conn.execute_batch("COMMIT").map_err(db);
        if let Err(e) = &committed {
            tracing::error!(error = %e, "commit failed");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for done in waiting {
            done(committed.clone());
        }
    }
    tracing::debug!("sqlite writer stopped");
}

/// A number the store writes as a SQLite integer.
pub(super) trait SqlInt {
    /// The integer stored.
    fn sql(self) -> i64;
}

impl SqlInt for u64 {
    /// Times, sizes and counts: the edge bounds them far below `i64::MAX`,
    /// so saturating only guards against a bug turning into a panic.
    fn sql(self) -> i64 {
        i64::try_from(self).unwrap_or(i64::MAX)
    }
}

macro_rules! sql_id {
    ($($t:ty),*) => {$(
        impl SqlInt for $t {
            /// Ids are range-checked when they are made (`tidings_proto::id`).
            fn sql(self) -> i64 {
                self.as_i64()
            }
        }
    )*};
}
sql_id!(AccountId, DeviceId, Seq);

/// Converts a number for SQLite; never panics (see [`SqlInt`]).
pub(super) fn to_i64(v: impl SqlInt) -> i64 {
    v.sql()
}

/// An id read back from a column; a negative one means a corrupted file.
pub(super) fn stored_id<T: TryFrom<u64>>(v: i64) -> Result<T, StoreError> {
    u64::try_from(v)
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("stored id {v} is out of range")))
}

fn account_devices(conn: &Connection, account: i64) -> Result<Vec<(DeviceId, u64)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT d.id, (SELECT count(*) FROM queue q WHERE q.device_id = d.id)
             FROM devices d WHERE d.account_id = ? ORDER BY d.id",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([account], |r| {
            Ok((r.get::<_, DeviceId>(0)?, r.get::<_, i64>(1)? as u64))
        })
        .map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

/// The account a device belongs to; `None` once the device is removed.
fn device_account(conn: &Connection, device: DeviceId) -> Result<Option<i64>, StoreError> {
    conn.query_row(
        "SELECT account_id FROM devices WHERE id = ?",
        [to_i64(device)],
        |r| r.get(0),
    )
    .optional()
    .map_err(db)
}

fn handle_owner(conn: &Connection, handle: &Handle) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached("SELECT account_id FROM handles WHERE handle = ?")
        .map_err(db)?
        .query_row([handle.as_str()], |r| r.get(0))
        .optional()
        .map_err(db)
}

/// Creates a device and stores the hash of its token `ID.SECRET`.
fn new_device(
    conn: &Connection,
    account: i64,
    name: &str,
    token_secret: &str,
    now: i64,
) -> Result<DeviceId, StoreError> {
    let empty: &[u8] = &[];
    let id: i64 = conn
        .query_row(
            "INSERT INTO devices (account_id, name, token_hash, created_at, last_seen) VALUES (?, ?, ?, ?, ?) RETURNING id",
            params![account, name, empty, now, now],
            |r| r.get(0),
        )
        .map_err(db)?;
    let device: DeviceId = stored_id(id)?;
    let hash = super::token_hash(&super::token(device, token_secret));
    conn.execute(
        "UPDATE devices SET token_hash = ? WHERE id = ?",
        params![&hash[..], to_i64(device)],
    )
    .map_err(db)?;
    Ok(device)
}

/// Queues one entry for a device and counts it.
#[allow(clippy::too_many_arguments)]
fn enqueue(
    conn: &Connection,
    device: DeviceId,
    envelope: Option<i64>,
    kind: &str,
    handle: Option<&str>,
    body: &EnvelopeBody,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    let body = serde_json::to_string(body).expect("envelope bodies always serialise");
    // No counter is kept per device: a row every send updated would be a
    // lock that concurrent nodes take in different orders (deadlocks on
    // PostgreSQL). The queue's length is counted when it matters.
    conn.prepare_cached(
        "INSERT INTO queue (device_id, envelope_id, kind, handle, body, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .map_err(db)?
    .execute(params![
        to_i64(device),
        envelope,
        kind,
        handle,
        body,
        now,
        expires_at
    ])
    .map_err(db)?;
    Ok(())
}

/// Queues a server notice for every device of an account.
fn notify_account(
    conn: &Connection,
    account: i64,
    body: &EnvelopeBody,
    now: i64,
    expires_at: i64,
    woken: &mut Vec<DeviceId>,
) -> Result<(), StoreError> {
    for (device, _) in account_devices(conn, account)? {
        enqueue(conn, device, None, KIND_NOTICE, None, body, now, expires_at)?;
        woken.push(device);
    }
    Ok(())
}

/// What a queue entry was: its envelope, kind and addressed handle.
type Dequeued = (Option<i64>, String, Option<String>);

/// Deletes one queue entry and returns what it was.
fn dequeue(conn: &Connection, device: DeviceId, seq: Seq) -> Result<Option<Dequeued>, StoreError> {
    let row = conn
        .prepare_cached(
            "DELETE FROM queue WHERE device_id = ? AND seq = ? RETURNING envelope_id, kind, handle",
        )
        .map_err(db)?
        .query_row(params![to_i64(device), to_i64(seq)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .map_err(db)?;
    Ok(row)
}

fn envelope_origin(conn: &Connection, envelope: i64) -> Result<(i64, String), StoreError> {
    conn.prepare_cached("SELECT sender_account, client_id FROM envelopes WHERE id = ?")
        .map_err(db)?
        .query_row([envelope], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db)
}

fn parse_handle(s: &str) -> Result<Handle, StoreError> {
    Handle::parse_normalised(s)
        .map_err(|e| StoreError::Corrupt(format!("stored handle {s:?}: {e}")))
}

/// The columns of an SMS job as selected (or returned) in the order `id,
/// account_id, client_id, sender, recipient, body, attempts`.
type SmsJobRow = (i64, i64, String, String, String, String, u32);

fn sms_job_row(r: &sql::Row) -> Result<SmsJobRow, sql::Error> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

/// SMS jobs from rows of [`sms_job_row`].
fn sms_jobs(
    rows: impl Iterator<Item = Result<SmsJobRow, sql::Error>>,
) -> Result<Vec<SmsJob>, StoreError> {
    let mut out = Vec::new();
    for row in rows {
        let (id, account, client_id, from, to, text, attempts) = row.map_err(db)?;
        out.push(SmsJob {
            id,
            account: stored_id::<AccountId>(account)?,
            client_id,
            from,
            to: parse_handle(&to)?,
            text,
            attempts,
        });
    }
    Ok(out)
}

fn digest(bytes: Vec<u8>) -> Result<Digest, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("stored hash is not 32 bytes".into()))
}

impl Drop for SqlStore {
    fn drop(&mut self) {
        self.close_readers();
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn health(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT count(*) FROM accounts", (), |_| Ok(()))
                .map_err(db)
        })
        .await?;
        self.write(|conn| conn.query_row("SELECT 1", (), |_| Ok(())).map_err(db))
            .await
    }

    async fn put_code(
        &self,
        handle: &Handle,
        code_hash: Digest,
        expires_at: Millis,
        tries: u32,
    ) -> Result<(), StoreError> {
        let handle = handle.to_string();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO codes (handle, code_hash, expires_at, tries_left) VALUES (?, ?, ?, ?)
                 ON CONFLICT (handle) DO UPDATE SET code_hash = excluded.code_hash,
                     expires_at = excluded.expires_at, tries_left = excluded.tries_left",
                params![handle, &code_hash[..], to_i64(expires_at), tries],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn redeem_code(
        &self,
        handle: &Handle,
        code_hash: Digest,
        now: Millis,
        action: CodeAction,
    ) -> Result<Redeemed, StoreError> {
        let handle = handle.clone();
        self.write(move |conn| {
            let key = handle.as_str();
            let now = to_i64(now);
            let row: Option<(Vec<u8>, i64, u32)> = conn
                .query_row(
                    "SELECT code_hash, expires_at, tries_left FROM codes WHERE handle = ?",
                    [key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((stored, expires_at, tries_left)) = row else {
                return Ok(Redeemed::NoCode);
            };
            if expires_at <= now || tries_left == 0 {
                conn.execute("DELETE FROM codes WHERE handle = ?", [key])
                    .map_err(db)?;
                return Ok(Redeemed::NoCode);
            }
            let stored = digest(stored)?;
            if !bool::from(stored.ct_eq(&code_hash)) {
                let left = tries_left - 1;
                if left == 0 {
                    conn.execute("DELETE FROM codes WHERE handle = ?", [key])
                        .map_err(db)?;
                } else {
                    conn.execute(
                        "UPDATE codes SET tries_left = ? WHERE handle = ?",
                        params![left, key],
                    )
                    .map_err(db)?;
                }
                return Ok(Redeemed::WrongCode { tries_left: left });
            }
            let owner = handle_owner(conn, &handle)?;
            let outcome = match action {
                CodeAction::Register {
                    name,
                    device_name,
                    token_secret,
                    source,
                    max_per_source_per_day,
                    cluster_window_ms,
                } => {
                    if owner.is_some() {
                        return Ok(Redeemed::HandleTaken);
                    }
                    let from_source: i64 = conn
                        .query_row(
                            "SELECT count(*) FROM accounts WHERE reg_source = ? AND created_at > ?",
                            params![source, now - to_i64(abuse::DAY_MS)],
                            |r| r.get(0),
                        )
                        .map_err(db)?;
                    if from_source.max(0) as u64 >= max_per_source_per_day {
                        return Ok(Redeemed::TooManyRegistrations);
                    }
                    let account: i64 = conn
                        .query_row(
                            "INSERT INTO accounts (name, created_at, reg_source) VALUES (?, ?, ?) RETURNING id",
                            params![name, now, source],
                            |r| r.get(0),
                        )
                        .map_err(db)?;
                    conn.execute(
                        "INSERT INTO handles (handle, account_id, added_at) VALUES (?, ?, ?)",
                        params![key, account, now],
                    )
                    .map_err(db)?;
                    let device = new_device(conn, account, &device_name, &token_secret, now)?;
                    // Joining a cluster that is already restricted: the new
                    // account is part of it from the start.
                    let tainted: bool = conn
                        .query_row(
                            "SELECT EXISTS (SELECT 1 FROM account_standing s
                                 JOIN accounts a ON a.id = s.account_id
                                 WHERE a.reg_source = ? AND a.reg_source != '' AND a.created_at > ?)",
                            params![source, now - to_i64(cluster_window_ms)],
                            |r| r.get(0),
                        )
                        .map_err(db)?;
                    if tainted {
                        abuse::set_standing(
                            conn,
                            account,
                            Some("restricted"),
                            "accounts registered from the same network shortly before were restricted for spam",
                            "system",
                            now as Millis,
                        )?;
                    }
                    Redeemed::Device {
                        account: stored_id::<AccountId>(account)?,
                        device,
                    }
                }
                CodeAction::Login {
                    device_name,
                    token_secret,
                    max_devices,
                } => {
                    let Some(account) = owner else {
                        return Ok(Redeemed::NotRegistered);
                    };
                    if account_devices(conn, account)?.len() >= max_devices {
                        return Ok(Redeemed::TooManyDevices);
                    }
                    let device = new_device(conn, account, &device_name, &token_secret, now)?;
                    Redeemed::Device {
                        account: stored_id::<AccountId>(account)?,
                        device,
                    }
                }
                CodeAction::AddHandle { account } => {
                    if owner.is_some() {
                        return Ok(Redeemed::HandleTaken);
                    }
                    conn.execute(
                        "INSERT INTO handles (handle, account_id, added_at) VALUES (?, ?, ?)",
                        params![key, to_i64(account), now],
                    )
                    .map_err(db)?;
                    Redeemed::HandleAdded
                }
                CodeAction::Deregister { ttl } => match owner {
                    Some(account) => Redeemed::Unbound {
                        woken: unbind(conn, account, &handle, now, to_i64(ttl))?
                            .unwrap_or_default(),
                    },
                    None => Redeemed::NotRegistered,
                },
            };
            conn.execute("DELETE FROM codes WHERE handle = ?", [key])
                .map_err(db)?;
            Ok(outcome)
        })
        .await
    }

    async fn device_credential(
        &self,
        device: DeviceId,
    ) -> Result<Option<(AccountId, Digest)>, StoreError> {
        self.read(move |conn| {
            let row: Option<(i64, Vec<u8>)> = conn
                .prepare_cached("SELECT account_id, token_hash FROM devices WHERE id = ?")
                .map_err(db)?
                .query_row([to_i64(device)], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(db)?;
            row.map(|(a, h)| Ok((stored_id::<AccountId>(a)?, digest(h)?)))
                .transpose()
        })
        .await
    }

    async fn account(&self, account: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.read(move |conn| {
            let found: Option<(Option<String>, String)> = conn
                .query_row(
                    "SELECT name, link_handles FROM accounts WHERE id = ?",
                    [to_i64(account)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((name, link)) = found else {
                return Ok(None);
            };
            let mut stmt = conn
                .prepare_cached(
                    "SELECT handle FROM handles WHERE account_id = ? ORDER BY added_at, handle",
                )
                .map_err(db)?;
            let handles = stmt
                .query_map([to_i64(account)], |r| r.get::<_, String>(0))
                .map_err(db)?
                .map(|h| parse_handle(&h.map_err(db)?))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(AccountRecord {
                id: account,
                name,
                handles,
                link_handles: tidings_proto::api::LinkHandles::parse(&link),
            }))
        })
        .await
    }

    async fn set_link_handles(
        &self,
        account: AccountId,
        link: tidings_proto::api::LinkHandles,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE accounts SET link_handles = ? WHERE id = ?",
                params![link.as_str(), to_i64(account)],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn handles_linked_for(
        &self,
        target: AccountId,
        requester: AccountId,
    ) -> Result<bool, StoreError> {
        use tidings_proto::api::LinkHandles;
        self.read(move |conn| {
            let link: Option<String> = conn
                .query_row(
                    "SELECT link_handles FROM accounts WHERE id = ?",
                    [to_i64(target)],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            match link.map(|l| LinkHandles::parse(&l)) {
                None | Some(LinkHandles::Nobody) => Ok(false),
                Some(LinkHandles::Everyone) => Ok(true),
                Some(LinkHandles::Contacts) => {
                    abuse::wrote_to(conn, to_i64(target), to_i64(requester))
                }
            }
        })
        .await
    }

    async fn devices(&self, account: AccountId) -> Result<Vec<DeviceInfo>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, name, created_at, last_seen FROM devices WHERE account_id = ? ORDER BY id",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([to_i64(account)], |r| {
                    Ok(DeviceInfo {
                        id: r.get::<_, DeviceId>(0)?,
                        name: r.get(1)?,
                        created_at: r.get::<_, i64>(2)? as u64,
                        last_seen: r.get::<_, i64>(3)? as u64,
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn remove_device(
        &self,
        account: AccountId,
        device: DeviceId,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let n = conn
                .execute(
                    "DELETE FROM devices WHERE id = ? AND account_id = ?",
                    params![to_i64(device), to_i64(account)],
                )
                .map_err(db)?;
            if n == 0 {
                return Ok(false);
            }
            conn.execute("DELETE FROM queue WHERE device_id = ?", [to_i64(device)])
                .map_err(db)?;
            Ok(true)
        })
        .await
    }

    async fn touch_device(&self, device: DeviceId, now: Millis) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE devices SET last_seen = CASE WHEN last_seen > ?1 THEN last_seen ELSE ?1 END WHERE id = ?2",
                params![to_i64(now), to_i64(device)],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn device_connected(
        &self,
        device: DeviceId,
        now: Millis,
        stale_after: Millis,
        ttl: Millis,
    ) -> Result<Vec<DeviceId>, StoreError> {
        self.write(move |conn| {
            let account = device_account(conn, device)?;
            let Some(account) = account else {
                return Ok(Vec::new());
            };
            let latest: i64 = conn
                .query_row(
                    "SELECT max(last_seen) FROM devices WHERE account_id = ?",
                    [account],
                    |r| r.get(0),
                )
                .map_err(db)?;
            let now_i = to_i64(now);
            conn.execute(
                "UPDATE devices SET last_seen = CASE WHEN last_seen > ?1 THEN last_seen ELSE ?1 END WHERE id = ?2",
                params![now_i, to_i64(device)],
            )
            .map_err(db)?;
            // Silence only changed anything for accounts with a number: a
            // silent e-mail handle just queues.
            let has_number: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM handles WHERE account_id = ? AND handle LIKE '+%')",
                    [account],
                    |r| r.get(0),
                )
                .map_err(db)?;
            let mut woken = Vec::new();
            if has_number && now.saturating_sub(latest.max(0) as u64) >= stale_after {
                let days = stale_after / (24 * 3_600_000);
                let span = if days >= 1 {
                    format!("{days} days")
                } else {
                    format!("{} seconds", stale_after / 1000)
                };
                let notice = EnvelopeBody::AccountNotice {
                    notice: "back_from_silence".into(),
                    handle: None,
                    text: format!(
                        "Welcome back. All devices of this account were offline for more than {span}, \
                         so messages to your phone numbers went to you as SMS meanwhile. \
                         From now on they come over the internet again."
                    ),
                };
                notify_account(conn, account, &notice, now_i, now_i + to_i64(ttl), &mut woken)?;
            }
            Ok(woken)
        })
        .await
    }

    async fn lookup(
        &self,
        handles: &[Handle],
    ) -> Result<Vec<Option<(AccountId, Vec<DeviceId>)>>, StoreError> {
        let handles = handles.to_vec();
        self.read(move |conn| {
            handles
                .iter()
                .map(|h| {
                    let Some(account) = handle_owner(conn, h)? else {
                        return Ok(None);
                    };
                    let devices = account_devices(conn, account)?
                        .into_iter()
                        .map(|(d, _)| d)
                        .collect();
                    Ok(Some((stored_id::<AccountId>(account)?, devices)))
                })
                .collect()
        })
        .await
    }

    async fn send(&self, plan: SendPlan) -> Result<SendOutcome, StoreError> {
        self.write(move |conn| send_in_tx(conn, plan)).await
    }

    async fn queued(
        &self,
        device: DeviceId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        self.read(move |conn| {
            let sql = queue_read_sql(limit);
            let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
            let rows = stmt
                .query_map(params![to_i64(device), to_i64(after)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows.take(limit) {
                let (seq, at, body) = row.map_err(db)?;
                let body: EnvelopeBody = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("queue entry {seq}: {e}")))?;
                out.push(Envelope {
                    seq: stored_id(seq)?,
                    at: at as u64,
                    body,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn ack(
        &self,
        device: DeviceId,
        seqs: &[Seq],
        now: Millis,
        ttl: Millis,
    ) -> Result<Vec<DeviceId>, StoreError> {
        let seqs = seqs.to_vec();
        self.write(move |conn| {
            let now = to_i64(now);
            let mut woken = Vec::new();
            let account = device_account(conn, device)?;
            let Some(account) = account else {
                return Ok(woken);
            };
            for seq in seqs {
                let Some((envelope, kind, handle)) = dequeue(conn, device, seq)? else {
                    continue; // Acknowledged before: acks are idempotent.
                };
                if kind != KIND_MESSAGE {
                    continue;
                }
                let (Some(envelope), Some(handle)) = (envelope, handle) else {
                    return Err(StoreError::Corrupt(format!(
                        "message {seq} lacks its envelope"
                    )));
                };
                conn.prepare_cached(
                    "UPDATE targets SET delivered = 1 WHERE envelope_id = ? AND handle = ?",
                )
                .map_err(db)?
                .execute(params![envelope, handle])
                .map_err(db)?;
                let (sender_account, client_id) = envelope_origin(conn, envelope)?;
                let receipt = EnvelopeBody::Delivered {
                    id: client_id,
                    account: stored_id::<AccountId>(account)?,
                    handle: parse_handle(&handle)?,
                    device,
                };
                let expires = now + to_i64(ttl);
                notify_account(conn, sender_account, &receipt, now, expires, &mut woken)?;
            }
            Ok(woken)
        })
        .await
    }

    async fn put_keys(
        &self,
        device: DeviceId,
        identity: IdentityKeys,
        one_time_keys: Vec<SignedKey>,
        fallback: Option<SignedKey>,
        max_one_time_keys: usize,
    ) -> Result<KeysOutcome, StoreError> {
        self.write(move |conn| {
            let d = to_i64(device);
            let known = device_identity(conn, d)?;
            if known.as_ref().is_some_and(|k| *k != identity) {
                return Ok(KeysOutcome::IdentityMismatch);
            }
            // Every check before the first write: a refused upload
            // publishes nothing, not even a first identity.
            let held = count_keys(conn, d)?;
            if held + one_time_keys.len() > max_one_time_keys {
                return Ok(KeysOutcome::TooMany);
            }
            if known.is_none() {
                conn.execute(
                    "INSERT INTO device_keys (device_id, curve25519, ed25519) VALUES (?, ?, ?)",
                    params![d, identity.curve25519, identity.ed25519],
                )
                .map_err(db)?;
            }
            for key in &one_time_keys {
                conn.execute(
                    "INSERT INTO one_time_keys (device_id, key_id, body) VALUES (?, ?, ?) ON CONFLICT (device_id, key_id) DO UPDATE SET body = excluded.body",
                    params![d, key.id, serde_json::to_string(key).expect("keys serialise")],
                )
                .map_err(db)?;
            }
            if let Some(fb) = fallback {
                conn.execute(
                    "UPDATE device_keys SET fallback = ? WHERE device_id = ?",
                    params![serde_json::to_string(&fb).expect("keys serialise"), d],
                )
                .map_err(db)?;
            }
            Ok(KeysOutcome::Stored(count_keys(conn, d)?))
        })
        .await
    }

    async fn count_keys(&self, device: DeviceId) -> Result<usize, StoreError> {
        self.read(move |conn| count_keys(conn, to_i64(device)))
            .await
    }

    async fn claim_keys(
        &self,
        devices: &[DeviceId],
        low: usize,
        now: Millis,
        ttl: Millis,
    ) -> Result<(Vec<ClaimedKey>, Vec<DeviceId>), StoreError> {
        let devices = devices.to_vec();
        self.write(move |conn| {
            let mut out = Vec::new();
            let mut woken = Vec::new();
            for device in devices {
                let d = to_i64(device);
                let Some(identity) = device_identity(conn, d)? else { continue };
                let otk: Option<(String, String)> = conn
                    .query_row(
                        "DELETE FROM one_time_keys WHERE device_id = ?1 AND key_id =
                           (SELECT key_id FROM one_time_keys WHERE device_id = ?1 ORDER BY key_id LIMIT 1)
                         RETURNING key_id, body",
                        [d],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(db)?;
                let (body, fallback) = match otk {
                    Some((_, body)) => {
                        let left = count_keys(conn, d)?;
                        if super::ran_low(left + 1, left, low) {
                            let notice = EnvelopeBody::AccountNotice {
                                notice: super::KEYS_LOW_NOTICE.into(),
                                handle: None,
                                text: format!(
                                    "this device has {left} one-time keys left on the server; it uploads more when it syncs"
                                ),
                            };
                            let now = to_i64(now);
                            enqueue(conn, device, None, KIND_NOTICE, None, &notice, now, now + to_i64(ttl))?;
                            woken.push(device);
                        }
                        (Some(body), false)
                    }
                    None => (
                        conn.query_row("SELECT fallback FROM device_keys WHERE device_id = ?", [d], |r| {
                            r.get::<_, Option<String>>(0)
                        })
                        .map_err(db)?,
                        true,
                    ),
                };
                let Some(body) = body else { continue };
                let key: SignedKey = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("stored key of device {device}: {e}")))?;
                out.push(ClaimedKey {
                    device,
                    identity,
                    key,
                    fallback,
                });
            }
            Ok((out, woken))
        })
        .await
    }

    async fn standing(&self, account: AccountId) -> Result<Standing, StoreError> {
        self.read(move |conn| {
            Ok(match abuse::standing(conn, to_i64(account))? {
                Some((state, reason)) if state == "banned" => Standing::Banned(reason),
                Some((_, reason)) => Standing::Restricted(reason),
                None => Standing::Good,
            })
        })
        .await
    }

    async fn any_stranger(
        &self,
        account: AccountId,
        recipients: &[AccountId],
    ) -> Result<bool, StoreError> {
        let recipients = recipients.to_vec();
        self.read(move |conn| {
            let me = to_i64(account);
            for r in recipients {
                if to_i64(r) != me && !abuse::wrote_to(conn, to_i64(r), me)? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
    }

    async fn identities(&self, devices: &[DeviceId]) -> Result<Vec<DeviceIdentity>, StoreError> {
        let devices = devices.to_vec();
        self.read(move |conn| {
            let mut out = Vec::new();
            for device in devices {
                if let Some(identity) = device_identity(conn, to_i64(device))? {
                    out.push(DeviceIdentity { device, identity });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn create_blob(
        &self,
        id: &str,
        account: AccountId,
        device: DeviceId,
        size: u64,
        chunks: u64,
        expires_at: Millis,
        max_in_progress: usize,
        max_account_bytes: u64,
    ) -> Result<BlobCreated, StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            let in_progress: i64 = conn
                .query_row(
                    "SELECT count(*) FROM blobs WHERE device_id = ? AND complete = 0",
                    [to_i64(device)],
                    |r| r.get(0),
                )
                .map_err(db)?;
            if in_progress as usize >= max_in_progress {
                return Ok(BlobCreated::TooManyUploads);
            }
            let used: i64 = conn
                .query_row(
                    "SELECT CAST(coalesce(sum(size), 0) AS BIGINT) FROM blobs WHERE account_id = ?",
                    [to_i64(account)],
                    |r| r.get(0),
                )
                .map_err(db)?;
            if used as u64 + size > max_account_bytes {
                return Ok(BlobCreated::StorageFull);
            }
            conn.execute(
                "INSERT INTO blobs (id, account_id, device_id, size, chunks, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                params![id, to_i64(account), to_i64(device), to_i64(size), to_i64(chunks), to_i64(expires_at)],
            )
            .map_err(db)?;
            Ok(BlobCreated::Created)
        })
        .await
    }

    async fn blob(&self, id: &str) -> Result<Option<BlobRecord>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            let row: Option<(i64, i64, i64, i64, bool)> = conn
                .query_row(
                    "SELECT account_id, device_id, size, chunks, complete FROM blobs WHERE id = ?",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((account, device, size, chunks, complete)) = row else {
                return Ok(None);
            };
            let mut stmt = conn
                .prepare_cached("SELECT idx FROM blob_chunks WHERE blob_id = ? ORDER BY idx")
                .map_err(db)?;
            let received = stmt
                .query_map([&id], |r| r.get::<_, i64>(0))
                .map_err(db)?
                .map(|r| r.map(|i| i as u64).map_err(db))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(BlobRecord {
                account: stored_id(account)?,
                device: stored_id(device)?,
                size: size as u64,
                chunks: chunks as u64,
                received,
                complete,
            }))
        })
        .await
    }

    async fn blob_chunk(&self, id: &str, index: u64) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO blob_chunks (blob_id, idx) VALUES (?, ?) ON CONFLICT DO NOTHING",
                params![id, to_i64(index)],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn complete_blob(&self, id: &str, expires_at: Millis) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE blobs SET complete = 1, expires_at = ? WHERE id = ?
                     AND chunks = (SELECT count(*) FROM blob_chunks WHERE blob_id = blobs.id)",
                    params![to_i64(expires_at), id],
                )
                .map_err(db)?;
            if n > 0 {
                conn.execute("DELETE FROM blob_chunks WHERE blob_id = ?", [&id])
                    .map_err(db)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn create_link(
        &self,
        link: LinkRecord,
        max_per_day: u64,
    ) -> Result<LinkCreated, StoreError> {
        self.write(move |conn| {
            let day_ago = to_i64(link.created_at.saturating_sub(24 * 3_600_000));
            let made: i64 = conn
                .query_row(
                    "SELECT count(*) FROM links WHERE account_id = ? AND created_at > ?",
                    params![to_i64(link.account), day_ago],
                    |r| r.get(0),
                )
                .map_err(db)?;
            if made as u64 >= max_per_day {
                return Ok(LinkCreated::TooMany);
            }
            let blob: Option<(i64, bool, i64)> = conn
                .query_row(
                    "SELECT account_id, complete, expires_at FROM blobs WHERE id = ?",
                    [&link.blob],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let expires_at = match blob {
                Some((account, true, blob_expiry)) if account == link.account.as_i64() => {
                    link.expires_at.min(blob_expiry as u64)
                }
                _ => return Ok(LinkCreated::NoSuchBlob),
            };
            conn.execute(
                "INSERT INTO links (token, blob_id, account_id, file_key, name, content_type,
                     size, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    link.token,
                    link.blob,
                    to_i64(link.account),
                    link.key,
                    link.name,
                    link.content_type,
                    to_i64(link.size),
                    to_i64(link.created_at),
                    to_i64(expires_at)
                ],
            )
            .map_err(db)?;
            Ok(LinkCreated::Created { expires_at })
        })
        .await
    }

    async fn link(&self, token: &str, now: Millis) -> Result<Option<LinkRecord>, StoreError> {
        let token = token.to_string();
        self.read(move |conn| {
            conn.query_row(
                "SELECT token, blob_id, account_id, file_key, name, content_type, size,
                     created_at, expires_at FROM links WHERE token = ? AND expires_at > ?",
                params![token, to_i64(now)],
                |r| {
                    Ok(LinkRecord {
                        token: r.get(0)?,
                        blob: r.get(1)?,
                        account: r.get::<_, AccountId>(2)?,
                        key: r.get(3)?,
                        name: r.get(4)?,
                        content_type: r.get(5)?,
                        size: r.get::<_, i64>(6)? as u64,
                        created_at: r.get::<_, i64>(7)? as u64,
                        expires_at: r.get::<_, i64>(8)? as u64,
                    })
                },
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn expire_links(&self, now: Millis) -> Result<usize, StoreError> {
        self.write(move |conn| {
            conn.execute("DELETE FROM links WHERE expires_at <= ?", [to_i64(now)])
                .map_err(db)
        })
        .await
    }

    async fn report(
        &self,
        token: &str,
        reporter: AccountId,
        junk: bool,
        fingerprint: Option<u64>,
        policy: abuse::SpamPolicy,
        now: Millis,
        ttl: Millis,
    ) -> Result<Option<(abuse::ReportEffect, Vec<DeviceId>)>, StoreError> {
        let token = token.to_string();
        self.write(move |conn| {
            let policy = policy.effective(conn)?;
            let Some(effect) = abuse::report(
                conn,
                &token,
                to_i64(reporter),
                junk,
                fingerprint,
                &policy,
                now,
            )?
            else {
                return Ok(None);
            };
            let mut woken = Vec::new();
            for &account in &effect.restricted {
                let (_, reason) = abuse::standing(conn, account)?.unwrap_or_default();
                let notice = EnvelopeBody::AccountNotice {
                    notice: "restricted".into(),
                    handle: None,
                    text: format!(
                        "This account may now only write to people who wrote to it first, because {reason}. \
                         If this is a mistake, ask the operator of this server to review it (appeal)."
                    ),
                };
                let now = to_i64(now);
                notify_account(conn, account, &notice, now, now + to_i64(ttl), &mut woken)?;
            }
            Ok(Some((effect, woken)))
        })
        .await
    }

    async fn campaigns(
        &self,
        policy: abuse::SpamPolicy,
        now: Millis,
    ) -> Result<Vec<u64>, StoreError> {
        self.read(move |conn| {
            let policy = policy.effective(conn)?;
            abuse::campaigns(conn, &policy, now)
        })
        .await
    }

    async fn registrations_since(&self, since: Millis) -> Result<u64, StoreError> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT count(*) FROM accounts WHERE created_at > ?",
                [to_i64(since)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(db)
        })
        .await
    }

    async fn recently_abused(
        &self,
        source: &str,
        number_prefix: Option<&str>,
        since: Millis,
    ) -> Result<bool, StoreError> {
        let source = source.to_string();
        let prefix = number_prefix.map(|p| format!("{p}%"));
        self.read(move |conn| {
            conn.query_row(
                "SELECT EXISTS (
                     SELECT 1 FROM account_standing s JOIN accounts a ON a.id = s.account_id
                     WHERE s.state = 'banned' AND s.since > ?
                       AND (a.reg_source = ? OR EXISTS (
                           SELECT 1 FROM handles h WHERE h.account_id = a.id AND h.handle LIKE ?)))",
                params![to_i64(since), source, prefix.unwrap_or_default()],
                |r| r.get(0),
            )
            .map_err(db)
        })
        .await
    }

    async fn admin(
        &self,
        command: abuse::AdminCommand,
        policy: abuse::SpamPolicy,
        now: Millis,
    ) -> Result<serde_json::Value, StoreError> {
        self.write(move |conn| abuse::admin(conn, command, &policy, now))
            .await
    }

    async fn expire_blobs(&self, now: Millis) -> Result<Vec<String>, StoreError> {
        self.write(move |conn| {
            let ids: Vec<String> = {
                let mut stmt = conn
                    .prepare_cached("SELECT id FROM blobs WHERE expires_at <= ? LIMIT ?")
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![to_i64(now), EXPIRE_BATCH as i64], |r| r.get(0))
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            for id in &ids {
                conn.execute("DELETE FROM blobs WHERE id = ?", [id])
                    .map_err(db)?;
            }
            Ok(ids)
        })
        .await
    }

    async fn request_fallbacks(
        &self,
        before: Millis,
        now: Millis,
        ttl: Millis,
    ) -> Result<Vec<DeviceId>, StoreError> {
        self.write(move |conn| {
            let due: Vec<(i64, String, i64, String)> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT t.envelope_id, t.handle, e.sender_account, e.client_id
                         FROM targets t JOIN envelopes e ON e.id = t.envelope_id
                         WHERE t.fallback = 'watch' AND t.delivered = 0 AND t.created_at <= ?
                         LIMIT ?",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![to_i64(before), EXPIRE_BATCH as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            let now = to_i64(now);
            let mut woken = Vec::new();
            for (envelope, handle, account, client_id) in due {
                // Conditional, so that of two nodes sweeping at once only
                // one asks the sender.
                let claimed = conn
                    .execute(
                        "UPDATE targets SET fallback = 'requested'
                         WHERE envelope_id = ? AND handle = ? AND fallback = 'watch' AND delivered = 0",
                        params![envelope, handle],
                    )
                    .map_err(db)?;
                if claimed == 0 {
                    continue;
                }
                let notice = EnvelopeBody::Fallback {
                    id: client_id,
                    handle: parse_handle(&handle)?,
                };
                notify_account(conn, account, &notice, now, now + to_i64(ttl), &mut woken)?;
            }
            Ok(woken)
        })
        .await
    }

    async fn fallback_to_sms(
        &self,
        account: AccountId,
        client_id: &str,
        handle: &Handle,
        text: &str,
        segments: usize,
        from: &str,
        now: Millis,
    ) -> Result<(FallbackOutcome, Vec<DeviceId>), StoreError> {
        let (client_id, handle, text, from) = (
            client_id.to_string(),
            handle.clone(),
            text.to_string(),
            from.to_string(),
        );
        self.write(move |conn| {
            let row: Option<(i64, bool, String)> = conn
                .query_row(
                    "SELECT t.envelope_id, t.delivered, t.fallback FROM targets t
                     JOIN envelopes e ON e.id = t.envelope_id
                     WHERE e.sender_account = ? AND e.client_id = ? AND t.handle = ?",
                    params![to_i64(account), client_id, handle.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((envelope, delivered, state)) = row else {
                return Ok((FallbackOutcome::NotRequested, Vec::new()));
            };
            match state.as_str() {
                "done" => return Ok((FallbackOutcome::AlreadyDone, Vec::new())),
                "requested" => {}
                _ => return Ok((FallbackOutcome::NotRequested, Vec::new())),
            }
            if delivered {
                return Ok((FallbackOutcome::Delivered, Vec::new()));
            }
            // Withdraw the queued IP copies: the recipient must not get the
            // message twice.
            let copies: Vec<(i64, i64)> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT seq, device_id FROM queue WHERE envelope_id = ? AND handle = ? AND kind = ?",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![envelope, handle.as_str(), KIND_MESSAGE], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            for (seq, device) in copies {
                dequeue(conn, stored_id(device)?, stored_id(seq)?)?;
            }
            conn.execute(
                "UPDATE targets SET fallback = 'done' WHERE envelope_id = ? AND handle = ?",
                params![envelope, handle.as_str()],
            )
            .map_err(db)?;
            let now = to_i64(now);
            conn.execute(
                "INSERT INTO sms_outbox
                 (account_id, client_id, sender, recipient, body, segments, state, next_attempt_at, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)
                 ON CONFLICT DO NOTHING",
                params![to_i64(account), client_id, from, handle.as_str(), text, segments as i64, now, now],
            )
            .map_err(db)?;
            Ok((FallbackOutcome::Queued, Vec::new()))
        })
        .await
    }

    async fn remove_handle(
        &self,
        account: AccountId,
        handle: &Handle,
        now: Millis,
        ttl: Millis,
    ) -> Result<Option<Vec<DeviceId>>, StoreError> {
        let handle = handle.clone();
        self.write(move |conn| unbind(conn, to_i64(account), &handle, to_i64(now), to_i64(ttl)))
            .await
    }

    async fn delete_account(
        &self,
        account: AccountId,
        now: Millis,
        ttl: Millis,
    ) -> Result<(Vec<DeviceId>, Vec<DeviceId>, Vec<String>), StoreError> {
        self.write(move |conn| {
            let a = to_i64(account);
            let handles: Vec<String> = {
                let mut stmt = conn
                    .prepare("SELECT handle FROM handles WHERE account_id = ?")
                    .map_err(db)?;
                let rows = stmt.query_map([a], |r| r.get(0)).map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            let mut woken = Vec::new();
            for h in handles {
                if let Some(w) = unbind(conn, a, &parse_handle(&h)?, to_i64(now), to_i64(ttl))? {
                    woken.extend(w);
                }
            }
            let devices: Vec<DeviceId> = account_devices(conn, a)?
                .into_iter()
                .map(|(d, _)| d)
                .collect();
            for d in &devices {
                conn.execute("DELETE FROM queue WHERE device_id = ?", [to_i64(*d)])
                    .map_err(db)?;
            }
            let blobs: Vec<String> = {
                let mut stmt = conn
                    .prepare("SELECT id FROM blobs WHERE account_id = ?")
                    .map_err(db)?;
                let rows = stmt.query_map([a], |r| r.get(0)).map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            conn.execute("DELETE FROM blobs WHERE account_id = ?", [a])
                .map_err(db)?;
            conn.execute("DELETE FROM accounts WHERE id = ?", [a])
                .map_err(db)?;
            woken.retain(|d| !devices.contains(d));
            Ok((woken, devices, blobs))
        })
        .await
    }

    async fn sms_due(&self, now: Millis, limit: usize) -> Result<Vec<SmsJob>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, account_id, client_id, sender, recipient, body, attempts FROM sms_outbox
                     WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                )
                .map_err(db)?;
            sms_jobs(
                stmt.query_map(params![to_i64(now), limit as i64], sms_job_row)
                    .map_err(db)?,
            )
        })
        .await
    }

    async fn claim_sms(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: usize,
        ttl: Millis,
    ) -> Result<(Vec<SmsJob>, Vec<DeviceId>), StoreError> {
        // A reader first: an idle outbox (the usual case, polled every
        // second) costs no write transaction.
        let due = self
            .read(move |conn| {
                conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM sms_outbox
                     WHERE state IN ('queued', 'sending') AND next_attempt_at <= ?)",
                    [to_i64(now)],
                    |r| r.get::<_, bool>(0),
                )
                .map_err(db)
            })
            .await?;
        if !due {
            return Ok((Vec::new(), Vec::new()));
        }
        self.write(move |conn| {
            let now = to_i64(now);
            let mut woken = Vec::new();
            // Claims whose node died mid-send: the carrier may have them.
            let lost: Vec<(i64, String, String)> = {
                let mut stmt = conn
                    .prepare_cached(
                        "UPDATE sms_outbox SET state = 'failed', attempts = attempts + 1
                         WHERE state = 'sending' AND next_attempt_at <= ?
                         RETURNING account_id, client_id, recipient",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            for (account, client_id, recipient) in lost {
                let notice = EnvelopeBody::SmsStatus {
                    id: client_id,
                    handle: parse_handle(&recipient)?,
                    status: "failed".into(),
                    reason: Some(
                        "the server sending this SMS stopped before the carrier answered; it may not have been sent".into(),
                    ),
                };
                notify_account(conn, account, &notice, now, now + to_i64(ttl), &mut woken)?;
            }
            // The outer conditions are checked again on each row, so that on
            // PostgreSQL a row another node claimed meanwhile is skipped.
            let mut stmt = conn
                .prepare_cached(
                    "UPDATE sms_outbox SET state = 'sending', next_attempt_at = ?1
                     WHERE id IN (SELECT id FROM sms_outbox
                                  WHERE state = 'queued' AND next_attempt_at <= ?2
                                  ORDER BY id LIMIT ?3)
                       AND state = 'queued' AND next_attempt_at <= ?2
                     RETURNING id, account_id, client_id, sender, recipient, body, attempts",
                )
                .map_err(db)?;
            let mut out = sms_jobs(
                stmt.query_map(params![to_i64(lease_until), now, limit as i64], sms_job_row)
                    .map_err(db)?,
            )?;
            out.sort_by_key(|j| j.id);
            Ok((out, woken))
        })
        .await
    }

    async fn sms_result(
        &self,
        id: i64,
        result: SmsResult,
        now: Millis,
        ttl: Millis,
    ) -> Result<Vec<DeviceId>, StoreError> {
        self.write(move |conn| {
            let (state, status, reason, next) = match &result {
                SmsResult::Sent => ("sent", Some("sent"), None, None),
                SmsResult::Delivered => ("delivered", Some("delivered"), None, None),
                SmsResult::Retry(at) => ("queued", None, None, Some(*at)),
                SmsResult::Failed(why) => ("failed", Some("failed"), Some(why.clone()), None),
            };
            // Delivery reports may race the gateway's answer and repeat: a
            // final state stays final and a state is announced once. One
            // conditional update decides, so that two nodes recording
            // results for one SMS cannot both win.
            let row: Option<(i64, String, String)> = conn
                .query_row(
                    "UPDATE sms_outbox SET state = ?1, attempts = attempts + 1,
                         next_attempt_at = coalesce(?2, next_attempt_at)
                     WHERE id = ?3 AND state NOT IN ('delivered', 'failed')
                       AND NOT (state = 'sent' AND ?1 = 'sent')
                     RETURNING account_id, client_id, recipient",
                    params![state, next.map(to_i64), id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((account, client_id, recipient)) = row else {
                return Ok(Vec::new());
            };
            let mut woken = Vec::new();
            if let Some(status) = status {
                let notice = EnvelopeBody::SmsStatus {
                    id: client_id,
                    handle: parse_handle(&recipient)?,
                    status: status.into(),
                    reason,
                };
                let now = to_i64(now);
                notify_account(conn, account, &notice, now, now + to_i64(ttl), &mut woken)?;
            }
            Ok(woken)
        })
        .await
    }

    async fn inbound_sms(
        &self,
        from: &str,
        to: &Handle,
        text: &str,
        now: Millis,
        ttl: Millis,
        max_queue: u64,
    ) -> Result<InboundSms, StoreError> {
        let (from, to, text) = (from.to_string(), to.clone(), text.to_string());
        self.write(move |conn| {
            let Some(account) = handle_owner(conn, &to)? else {
                return Ok(InboundSms::NotOnTidings);
            };
            if account_devices(conn, account)?
                .iter()
                .any(|(_, queued)| *queued >= max_queue)
            {
                return Ok(InboundSms::QueueFull);
            }
            let now = to_i64(now);
            let body = EnvelopeBody::Sms {
                id: format!("sms-{now}-{}", random_suffix()),
                from,
                to,
                text,
            };
            let mut woken = Vec::new();
            notify_account(conn, account, &body, now, now + to_i64(ttl), &mut woken)?;
            Ok(InboundSms::Queued(woken))
        })
        .await
    }

    async fn expire(&self, now: Millis, ttl: Millis) -> Result<Vec<DeviceId>, StoreError> {
        self.write(move |conn| {
            let forget_before = now.saturating_sub(ttl);
            let now = to_i64(now);
            let mut woken = Vec::new();
            let expired: Vec<(i64, i64)> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT seq, device_id FROM queue WHERE expires_at <= ? ORDER BY seq LIMIT ?",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![now, EXPIRE_BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            for (seq, device) in expired {
                let device: DeviceId = stored_id(device)?;
                let Some((envelope, kind, handle)) = dequeue(conn, device, stored_id(seq)?)? else {
                    continue;
                };
                if kind != KIND_MESSAGE {
                    continue;
                }
                let (Some(envelope), Some(handle)) = (envelope, handle) else {
                    return Err(StoreError::Corrupt(format!("message {seq} lacks its envelope")));
                };
                let (sender_account, client_id) = envelope_origin(conn, envelope)?;
                let notice = EnvelopeBody::Failed {
                    id: client_id,
                    handle: parse_handle(&handle)?,
                    device,
                    reason: "expired".into(),
                };
                let keep = now + to_i64(ttl);
                notify_account(conn, sender_account, &notice, now, keep, &mut woken)?;
            }
            conn.execute("DELETE FROM codes WHERE expires_at <= ?", [now])
                .map_err(db)?;
            // SMS rows are kept two days: they count against the daily limit.
            conn.execute(
                "DELETE FROM sms_outbox WHERE state != 'queued' AND created_at < ?",
                [now - 2 * 86_400_000],
            )
            .map_err(db)?;
            conn.execute(
                "DELETE FROM envelopes WHERE accepted_at < ?
                 AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.envelope_id = envelopes.id)",
                [to_i64(forget_before)],
            )
            .map_err(db)?;
            Ok(woken)
        })
        .await
    }
}

/// Unbinds `handle` from `account` and hands undelivered messages addressed
/// to it back to their senders, oldest first.
fn unbind(
    conn: &Connection,
    account: i64,
    handle: &Handle,
    now: i64,
    ttl: i64,
) -> Result<Option<Vec<DeviceId>>, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM handles WHERE handle = ? AND account_id = ?",
            params![handle.as_str(), account],
        )
        .map_err(db)?;
    if n == 0 {
        return Ok(None);
    }
    let pending: Vec<(i64, i64, String)> = {
        let mut stmt = conn
            .prepare(
                "SELECT t.envelope_id, e.sender_account, e.client_id FROM targets t
                 JOIN envelopes e ON e.id = t.envelope_id
                 WHERE t.handle = ? AND t.delivered = 0 AND t.fallback != 'done'
                 ORDER BY t.envelope_id",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([handle.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    let mut woken = Vec::new();
    let removed = EnvelopeBody::AccountNotice {
        notice: "handle_removed".into(),
        handle: Some(handle.clone()),
        text: format!(
            "{handle} was removed from this account. Messages to it no longer reach your devices; \
             people who write to it are sent SMS instead."
        ),
    };
    notify_account(conn, account, &removed, now, now + ttl, &mut woken)?;
    for (envelope, sender, client_id) in pending {
        conn.execute(
            "UPDATE targets SET fallback = 'requested' WHERE envelope_id = ? AND handle = ?",
            params![envelope, handle.as_str()],
        )
        .map_err(db)?;
        let notice = EnvelopeBody::Fallback {
            id: client_id,
            handle: handle.clone(),
        };
        notify_account(conn, sender, &notice, now, now + ttl, &mut woken)?;
    }
    Ok(Some(woken))
}

fn random_suffix() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn device_identity(conn: &Connection, device: i64) -> Result<Option<IdentityKeys>, StoreError> {
    conn.prepare_cached("SELECT curve25519, ed25519 FROM device_keys WHERE device_id = ?")
        .map_err(db)?
        .query_row([device], |r| {
            Ok(IdentityKeys {
                curve25519: r.get(0)?,
                ed25519: r.get(1)?,
            })
        })
        .optional()
        .map_err(db)
}

fn count_keys(conn: &Connection, device: i64) -> Result<usize, StoreError> {
    conn.prepare_cached("SELECT count(*) FROM one_time_keys WHERE device_id = ?")
        .map_err(db)?
        .query_row([device], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
        .map_err(db)
}

fn send_in_tx(conn: &Connection, plan: SendPlan) -> Result<SendOutcome, StoreError> {
    let sender_account = to_i64(plan.sender.account);
    let previous: Option<i64> = conn
        .prepare_cached(
            "SELECT accepted_at FROM envelopes WHERE sender_account = ? AND client_id = ?",
        )
        .map_err(db)?
        .query_row(params![sender_account, plan.client_id], |r| r.get(0))
        .optional()
        .map_err(db)?;
    if let Some(at) = previous {
        return Ok(SendOutcome::Duplicate {
            accepted_at: at as Millis,
        });
    }
    // A ban stops every send before anything about the recipients is
    // looked at, so a banned account learns nothing from a send.
    let standing = abuse::standing(conn, sender_account)?;
    if let Some((state, reason)) = &standing {
        if state == "banned" {
            return Ok(SendOutcome::Banned(reason.clone()));
        }
    }

    let mut not_registered = Vec::new();
    let mut mismatches = Vec::new();
    let mut full = None;
    let mut check = |handle: &Handle,
                     current: &[(DeviceId, u64)],
                     payloads: &[(DeviceId, Vec<u8>)]| {
        let have: std::collections::BTreeSet<DeviceId> = current.iter().map(|(d, _)| *d).collect();
        let sent: std::collections::BTreeSet<DeviceId> = payloads.iter().map(|(d, _)| *d).collect();
        let missing: Vec<_> = if plan.partial {
            Vec::new()
        } else {
            have.difference(&sent).copied().collect()
        };
        let extra: Vec<_> = sent.difference(&have).copied().collect();
        if !missing.is_empty() || !extra.is_empty() {
            mismatches.push(DeviceMismatch {
                handle: handle.clone(),
                missing,
                extra,
            });
        } else if full.is_none() && current.iter().any(|(_, q)| *q >= plan.max_queue) {
            full = Some(handle.clone());
        }
    };
    for r in &plan.recipients {
        match handle_owner(conn, &r.handle)? {
            None => not_registered.push(r.handle.clone()),
            Some(account) => check(&r.handle, &account_devices(conn, account)?, &r.payloads),
        }
    }
    let own: Vec<(DeviceId, u64)> = account_devices(conn, sender_account)?
        .into_iter()
        .filter(|(d, _)| *d != plan.sender.device)
        .collect();
    check(&plan.sender.handle, &own, &plan.own);
    if !not_registered.is_empty() {
        return Ok(SendOutcome::NotRegistered(not_registered));
    }
    if !mismatches.is_empty() {
        return Ok(SendOutcome::Stale(mismatches));
    }
    if let Some(handle) = full {
        return Ok(SendOutcome::QueueFull(handle));
    }
    // The spam defence, on metadata only: standing, the daily cap on new
    // recipients, and report tokens for recipients who never wrote back.
    let policy = plan.policy.effective(conn)?;
    let owners: Vec<Option<i64>> = plan
        .recipients
        .iter()
        .map(|r| handle_owner(conn, &r.handle))
        .collect::<Result<_, _>>()?;
    let mut recipient_accounts: Vec<i64> = Vec::new();
    for account in owners.iter().flatten() {
        if *account != sender_account && !recipient_accounts.contains(account) {
            recipient_accounts.push(*account);
        }
    }
    let mut strangers = Vec::new();
    let mut new_contacts = 0u64;
    for &account in &recipient_accounts {
        if !abuse::wrote_to(conn, account, sender_account)? {
            strangers.push(account);
            if !abuse::wrote_to(conn, sender_account, account)? {
                new_contacts += 1;
            }
        }
    }
    if let Some((_, reason)) = standing {
        // Restricted (banned returned above): only people who wrote first.
        // An SMS to a number not on Tidings reaches someone who never
        // wrote over Tidings, so it counts as a stranger too.
        let mut sms_to_strangers = false;
        for (h, _, _, _) in &plan.sms {
            sms_to_strangers |= match handle_owner(conn, h)? {
                None => true,
                Some(owner) => !abuse::wrote_to(conn, owner, sender_account)?,
            };
        }
        if !strangers.is_empty() || sms_to_strangers {
            return Ok(SendOutcome::Restricted(reason));
        }
    }
    if new_contacts > 0 {
        let (cap, used) = abuse::new_recipient_budget(conn, sender_account, &policy, plan.now)?;
        if used + new_contacts > cap {
            return Ok(SendOutcome::NewRecipientCap { cap });
        }
    }
    if !plan.sms.is_empty() {
        let mut joined = Vec::new();
        for (h, _, _, must_be_unregistered) in &plan.sms {
            if *must_be_unregistered && handle_owner(conn, h)?.is_some() {
                joined.push(h.clone());
            }
        }
        if !joined.is_empty() {
            return Ok(SendOutcome::JoinedTidings(joined));
        }
        let wanted: u64 = plan.sms.iter().map(|(_, _, n, _)| *n as u64).sum();
        for (window, span, max) in [
            ("hour", 3_600_000i64, plan.sms_per_hour),
            ("day", 86_400_000i64, plan.sms_per_day),
        ] {
            let used: i64 = conn
                .prepare_cached(
                    "SELECT CAST(coalesce(sum(segments), 0) AS BIGINT) FROM sms_outbox WHERE account_id = ? AND created_at > ?",
                )
                .map_err(db)?
                .query_row(params![sender_account, to_i64(plan.now) - span], |r| r.get(0))
                .map_err(db)?;
            if used as u64 + wanted > max {
                return Ok(SendOutcome::SmsLimit { window });
            }
        }
        for (h, text, segments, _) in &plan.sms {
            conn.prepare_cached(
                "INSERT INTO sms_outbox
                 (account_id, client_id, sender, recipient, body, segments, state, next_attempt_at, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .map_err(db)?
            .execute(params![
                sender_account,
                plan.client_id,
                plan.sms_from,
                h.as_str(),
                text,
                *segments as i64,
                to_i64(plan.now),
                to_i64(plan.now)
            ])
            .map_err(db)?;
        }
    }

    let envelope: i64 = conn
        .query_row(
            "INSERT INTO envelopes (sender_account, sender_device, client_id, accepted_at) VALUES (?, ?, ?, ?) RETURNING id",
            params![
                sender_account,
                to_i64(plan.sender.device),
                plan.client_id,
                to_i64(plan.now)
            ],
            |r| r.get(0),
        )
        .map_err(db)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let now = to_i64(plan.now);
    let expires = to_i64(plan.expires_at);
    let mut tokens: Vec<(i64, String)> = Vec::with_capacity(strangers.len());
    for &account in &strangers {
        tokens.push((
            account,
            abuse::mint_report_token(conn, sender_account, account, plan.now)?,
        ));
    }
    for &account in &recipient_accounts {
        abuse::record_relation(conn, sender_account, account, plan.now)?;
    }
    let mut devices = Vec::new();
    let mut put = |device: DeviceId,
                   kind: &str,
                   handle: &Handle,
                   payload: &[u8],
                   report_token: Option<String>| {
        let body = EnvelopeBody::Message {
            id: plan.client_id.clone(),
            sender: plan.sender.clone(),
            payload: b64.encode(payload),
            report_token,
        };
        devices.push(device);
        enqueue(
            conn,
            device,
            Some(envelope),
            kind,
            Some(handle.as_str()),
            &body,
            now,
            expires,
        )
    };
    for (r, owner) in plan.recipients.iter().zip(&owners) {
        let token = tokens
            .iter()
            .find(|(a, _)| Some(*a) == *owner)
            .map(|(_, t)| t.clone());
        for (device, payload) in &r.payloads {
            put(*device, KIND_MESSAGE, &r.handle, payload, token.clone())?;
        }
        if r.handle.is_phone() && !plan.partial {
            // Watched for SMS fallback ('off' when the sender opted out).
            conn.prepare_cached(
                "INSERT INTO targets (envelope_id, handle, created_at, fallback) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .map_err(db)?
            .execute(params![envelope, r.handle.as_str(), now, if plan.fallback { "watch" } else { "off" }])
            .map_err(db)?;
        }
    }
    for (device, payload) in &plan.own {
        put(*device, KIND_SYNC, &plan.sender.handle, payload, None)?;
    }
    Ok(SendOutcome::Accepted { devices })
}

/// The queue read with its `LIMIT` written into the text, rounded up to a
/// power of two (the caller takes what it asked for). SQLite compiles a
/// bound `LIMIT ?` against its value and compiles the statement again
/// whenever that value changes, which a stream's reads did nearly every
/// time; a handful of fixed texts stay in the statement cache.
fn queue_read_sql(limit: usize) -> String {
    let rows = limit.max(1).checked_next_power_of_two().unwrap_or(limit);
    format!(
        "SELECT seq, created_at, body FROM queue WHERE device_id = ? AND seq > ?
         ORDER BY seq LIMIT {rows}"
    )
}
