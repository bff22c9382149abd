//! The SQLite backend: one file in WAL mode with `synchronous = FULL`, its
//! schema (`PRAGMA user_version` counts the migrations run) and the size
//! limit `max_database_bytes`.

use std::path::Path;

use super::relational::{db, to_i64};
use super::sql::{self, Connection};
use super::StoreError;

/// The writer connection (migrated, limited to `max_bytes` when non-zero)
/// and `readers` read-only connections to the database at `path`.
pub(super) fn open(
    path: &Path,
    max_bytes: u64,
    readers: usize,
) -> Result<(Connection, Vec<Connection>), StoreError> {
    let writer = connect(path)?;
    migrate(&writer)?;
    if max_bytes > 0 {
        let page: i64 = writer
            .query_row("PRAGMA page_size", (), |r| r.get(0))
            .map_err(db)?;
        let pages = (to_i64(max_bytes) / page.max(1)).max(1);
        writer
            .query_row(&format!("PRAGMA max_page_count = {pages}"), (), |_| Ok(()))
            .map_err(db)?;
    }
    let mut out = Vec::with_capacity(readers);
    for _ in 0..readers {
        let r = connect(path)?;
        r.execute_batch("PRAGMA query_only = ON;").map_err(db)?;
        out.push(r);
    }
    Ok((writer, out))
}

/// Schema migrations, applied in order; `PRAGMA user_version` counts how
/// many have run. Never edit one that has shipped: append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE handles (
    handle TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    added_at INTEGER NOT NULL
);
CREATE INDEX handles_account ON handles(account_id);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    queued INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX devices_account ON devices(account_id);
CREATE TABLE codes (
    handle TEXT PRIMARY KEY,
    code_hash BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    tries_left INTEGER NOT NULL
);
CREATE TABLE envelopes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_account INTEGER NOT NULL,
    sender_device INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    UNIQUE (sender_account, client_id)
);
CREATE TABLE queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id INTEGER NOT NULL,
    envelope_id INTEGER,
    kind TEXT NOT NULL,
    handle TEXT,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX queue_device ON queue(device_id, seq);
CREATE INDEX queue_expiry ON queue(expires_at);
CREATE INDEX queue_envelope ON queue(envelope_id);
"#,
    r#"
CREATE TABLE device_keys (
    device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    curve25519 TEXT NOT NULL,
    ed25519 TEXT NOT NULL,
    fallback TEXT
);
CREATE TABLE one_time_keys (
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (device_id, key_id)
);
"#,
    r#"
CREATE TABLE blobs (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL,
    device_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL
);
CREATE INDEX blobs_expiry ON blobs(expires_at);
CREATE INDEX blobs_account ON blobs(account_id);
CREATE TABLE blob_chunks (
    blob_id TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    PRIMARY KEY (blob_id, idx)
);
"#,
    r#"
CREATE TABLE sms_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    body TEXT NOT NULL,
    segments INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, client_id, recipient)
);
CREATE INDEX sms_due ON sms_outbox(state, next_attempt_at);
CREATE INDEX sms_account ON sms_outbox(account_id, created_at);
"#,
    r#"
CREATE TABLE targets (
    envelope_id INTEGER NOT NULL REFERENCES envelopes(id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    fallback TEXT NOT NULL,
    PRIMARY KEY (envelope_id, handle)
);
CREATE INDEX targets_pending ON targets(fallback, delivered, created_at);
"#,
    r#"
CREATE TABLE links (
    token TEXT PRIMARY KEY,
    blob_id TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL,
    file_key TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX links_expiry ON links(expires_at);
CREATE INDEX links_account ON links(account_id, created_at);
"#,
    r#"
ALTER TABLE accounts ADD COLUMN reg_source TEXT NOT NULL DEFAULT '';
CREATE INDEX accounts_source ON accounts(reg_source, created_at);
CREATE TABLE relations (
    from_account INTEGER NOT NULL,
    to_account INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    PRIMARY KEY (from_account, to_account)
);
CREATE INDEX relations_first ON relations(from_account, first_at);
CREATE TABLE report_tokens (
    token TEXT PRIMARY KEY,
    sender_account INTEGER NOT NULL,
    recipient_account INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX report_tokens_expiry ON report_tokens(expires_at);
CREATE TABLE reports (
    reporter INTEGER NOT NULL,
    sender INTEGER NOT NULL,
    junk INTEGER NOT NULL,
    fingerprint TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (reporter, sender)
);
CREATE INDEX reports_sender ON reports(sender);
CREATE INDEX reports_recent ON reports(created_at);
CREATE TABLE account_standing (
    account_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    since INTEGER NOT NULL
);
CREATE TABLE account_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX account_actions_account ON account_actions(account_id, id);
CREATE TABLE spam_settings (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"#,
    // Who may learn that an account's handles are one account (issue 11).
    "ALTER TABLE accounts ADD COLUMN link_handles TEXT NOT NULL DEFAULT 'contacts'",
    // Queue lengths are counted, not kept per device (issue 14: a counter
    // row per device deadlocked concurrent nodes on PostgreSQL).
    "ALTER TABLE devices DROP COLUMN queued",
    // The secret all nodes on one database share (seeded from the data
    // directory's `server-secret` file, so existing codes stay valid).
    "CREATE TABLE server_secret (id INTEGER PRIMARY KEY CHECK (id = 1), secret BLOB NOT NULL)",
];

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let sqlite = rusqlite::Connection::open(path).map_err(|e| db(sql::Error::from(e)))?;
    sqlite.set_prepared_statement_cache_capacity(sql::MAX_CACHED_STATEMENTS);
    let conn = Connection::Sqlite(sqlite);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )
    .map_err(db)?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", (), |r| r.get(0))
        .map_err(db)?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {version} is newer than this server knows ({}); upgrade tidings",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))
        .map_err(db)?;
    }
    Ok(())
}
