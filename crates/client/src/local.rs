//! The local store of a device: conversations, messages and their states,
//! cached device lists, settings.
//!
//! Every received message is stored here before it is acknowledged to the
//! server, and duplicates (the server re-delivers after a crash) are
//! dropped by the unique (author, id) key: that is what makes delivery
//! exactly-once for the user.

use std::path::Path;
use tidings_proto::{AccountId, DeviceId};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tidings_proto::Handle;
use tidings_spam::requests::Folder;

pub mod changes;
pub mod groups;
pub mod relations;

pub use relations::{Contact, RequestSummary};

/// Local store errors.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// SQLite failed.
    #[error("local store: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored value no longer reads back.
    #[error("local store: {0} is damaged; restore the profile from a backup or log in anew")]
    Corrupt(String),
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS conversations (
    key TEXT PRIMARY KEY,
    members TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    conv TEXT NOT NULL,
    author_account INTEGER NOT NULL,
    author_handle TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    outgoing INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    delivered TEXT NOT NULL DEFAULT '',
    read_by TEXT NOT NULL DEFAULT '',
    seen INTEGER NOT NULL DEFAULT 0,
    UNIQUE (author_account, msg_id)
);
CREATE INDEX IF NOT EXISTS messages_conv ON messages(conv, pos);
CREATE TABLE IF NOT EXISTS directory (
    handle TEXT PRIMARY KEY,
    account INTEGER NOT NULL,
    devices TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS olm_account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pickle TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS olm_sessions (
    device INTEGER PRIMARY KEY,
    pickle TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attachments (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    author_account INTEGER NOT NULL,
    msg_id TEXT NOT NULL,
    pointer TEXT NOT NULL,
    path TEXT,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_msg ON attachments(author_account, msg_id);
CREATE TABLE IF NOT EXISTS uploads (
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    blob TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (path, size, modified)
);
CREATE TABLE IF NOT EXISTS titles (
    key TEXT PRIMARY KEY,
    title TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reactions (
    author_account INTEGER NOT NULL,
    msg_id TEXT NOT NULL,
    by TEXT NOT NULL,
    emoji TEXT NOT NULL,
    PRIMARY KEY (author_account, msg_id, by)
);
CREATE TABLE IF NOT EXISTS trust (
    handle TEXT PRIMARY KEY,
    verified TEXT,
    must_confirm INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS device_identities (
    device INTEGER PRIMARY KEY,
    curve25519 TEXT NOT NULL,
    ed25519 TEXT NOT NULL
);
"#;

/// Changes to the schema above, applied once each in order (counted by
/// `PRAGMA user_version`); append, never edit.
const MIGRATIONS: &[&str] = &[
    "ALTER TABLE messages ADD COLUMN via TEXT NOT NULL DEFAULT 'ip'",
    // Message requests (issue 6). Conversations that exist already stay in
    // the inbox, and their members count as known: they were delivered
    // normally before requests existed.
    r#"
    ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT 'inbox';
    ALTER TABLE conversations ADD COLUMN reason TEXT;
    ALTER TABLE conversations ADD COLUMN score REAL;
    ALTER TABLE conversations ADD COLUMN origin TEXT;
    ALTER TABLE conversations ADD COLUMN filed_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN restored INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN report_token TEXT;
    CREATE TABLE contacts (
        handle TEXT PRIMARY KEY,
        name TEXT,
        added_at INTEGER NOT NULL
    );
    CREATE TABLE relations (
        handle TEXT PRIMARY KEY,
        how TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE TABLE blocked (
        handle TEXT PRIMARY KEY,
        at INTEGER NOT NULL
    );
    CREATE TABLE campaigns (
        fingerprint TEXT PRIMARY KEY
    );
    WITH RECURSIVE split(rest, handle) AS (
        SELECT members || ',', '' FROM conversations
        UNION ALL
        SELECT substr(rest, instr(rest, ',') + 1), substr(rest, 1, instr(rest, ',') - 1)
        FROM split WHERE rest <> ''
    )
    INSERT OR IGNORE INTO relations (handle, how, at)
    SELECT handle, 'earlier', 0 FROM split WHERE handle <> ''
    "#,
    // Group membership logs (issue 11).
    "CREATE TABLE groups (key TEXT PRIMARY KEY, log TEXT NOT NULL)",
    // Replies, edits, unsending and search (issue 11).
    r#"
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
    ALTER TABLE messages ADD COLUMN reply_account INTEGER;
    ALTER TABLE messages ADD COLUMN reply_id TEXT;
    CREATE TABLE edits (
        author_account INTEGER NOT NULL,
        msg_id TEXT NOT NULL,
        body TEXT NOT NULL,
        replaced_at INTEGER NOT NULL
    );
    CREATE INDEX edits_msg ON edits(author_account, msg_id);
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        body, content='messages', content_rowid='pos', tokenize='trigram case_sensitive 0'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind = 'text' BEGIN
        INSERT INTO messages_fts(rowid, body) VALUES (new.pos, new.body);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.kind = 'text' BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.pos, old.body);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, kind ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, body)
            SELECT 'delete', old.pos, old.body WHERE old.kind = 'text';
        INSERT INTO messages_fts(rowid, body) SELECT new.pos, new.body WHERE new.kind = 'text';
    END;
    INSERT INTO messages_fts(rowid, body) SELECT pos, body FROM messages WHERE kind = 'text';
    "#,
    // The outbox (issue 11).
    "CREATE TABLE outbox (id TEXT PRIMARY KEY, sent_at INTEGER NOT NULL, draft TEXT NOT NULL)",
    // Display names that arrived inside messages (issue 11).
    "CREATE TABLE profiles (handle TEXT PRIMARY KEY, name TEXT NOT NULL, updated_at INTEGER NOT NULL)",
    // Conversation state that every device of the account shares (issue 11).
    r#"
    ALTER TABLE conversations ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
    "#,
    // Profile photos (issue 11); `name` may be unknown when a photo comes
    // first, so rows are made with an empty name.
    r#"
    ALTER TABLE profiles ADD COLUMN photo TEXT;
    ALTER TABLE profiles ADD COLUMN photo_path TEXT;
    "#,
    // The personal spam filter's lessons (issue 13): reports and restores.
    "CREATE TABLE lessons (pos INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT NOT NULL, text TEXT NOT NULL, at INTEGER NOT NULL)",
];

/// A stored message.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct StoredMessage {
    /// Conversation key.
    pub conversation: String,
    /// Author's handle.
    pub from: String,
    /// Author's account.
    pub author_account: AccountId,
    /// Client id.
    pub id: String,
    /// Sent by this account.
    pub outgoing: bool,
    /// `text`, `event` (group changes and notes) or `unsent` (taken back
    /// by its author; the body is empty).
    pub kind: String,
    /// Text.
    pub body: String,
    /// Sender's timestamp.
    pub sent_at: u64,
    /// For outgoing: `sending`, `sent`, `delivered`, `read`, `failed: ...`;
    /// for incoming: `received` or `read`.
    pub state: String,
    /// Devices that acknowledged (outgoing), as `handle/device`.
    pub delivered_to: Vec<String>,
    /// Handles that sent read receipts (outgoing).
    pub read_by: Vec<String>,
    /// How it travelled: `ip` (end-to-end encrypted), `sms` (not
    /// end-to-end encrypted) or `ip+sms` (some recipients each way).
    pub via: String,
    /// Attached files.
    pub attachments: Vec<StoredAttachment>,
    /// The author's name: the contact name this device saved, else the
    /// display name the author sent.
    pub from_name: Option<String>,
    /// Reactions: who reacted with what.
    pub reactions: Vec<(String, String)>,
    /// When its author last edited it (their clock), if ever.
    pub edited_at: Option<u64>,
    /// Earlier texts, oldest first, if edited.
    pub edits: Vec<changes::PastText>,
    /// The message it answers, if it is a reply.
    pub reply_to: Option<changes::Quote>,
}

/// An attachment of a stored message.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct StoredAttachment {
    /// Its row in this device's store (to ask for its preview or file).
    pub row: i64,
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// Where the file is on this device (sent: the original; received:
    /// under the profile once downloaded).
    pub path: Option<String>,
    /// `sent`, `pending` (not downloaded yet), `saved`, or `failed: ...`.
    pub state: String,
    /// A preview travelled with the message.
    pub has_thumbnail: bool,
    /// Pixels, for photos.
    pub width: Option<u32>,
    /// Pixels, for photos.
    pub height: Option<u32>,
    /// Milliseconds, for videos.
    pub duration_ms: Option<u64>,
}

/// A conversation summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Conversation {
    /// Key: a handle for direct chats, `group:ID` for groups.
    pub key: String,
    /// Members other than this account (direct: the peer).
    pub members: Vec<String>,
    /// The group's name, if any.
    pub title: Option<String>,
    /// A direct conversation's peer by name: the saved contact name, else
    /// the display name the peer sent.
    pub name: Option<String>,
    /// New messages raise no notification (`sync` does not print them).
    pub muted: bool,
    /// Out of the list until unarchived.
    pub archived: bool,
    /// At the top of the list.
    pub pinned: bool,
    /// A direct conversation's peer's profile photo, once fetched: the
    /// file on this device.
    pub photo: Option<String>,
    /// Messages stored.
    pub messages: u64,
    /// Incoming messages not yet read.
    pub unread: u64,
    /// Last activity.
    pub updated_at: u64,
    /// Preview of the last message.
    pub last: String,
    /// How the last text travelled (`ip`, `sms`, `ip+sms`): a list marks
    /// a conversation held by SMS.
    pub last_via: String,
    /// Which list it is in: `inbox`, or held back as a message `request`
    /// or as `junk`.
    pub state: Folder,
}

/// What inserting a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// It is new.
    New,
    /// It was stored before (a re-delivery).
    Duplicate,
}

/// The local store.
pub struct Local {
    conn: Connection,
}

fn split_list(s: String) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_string).collect()
    }
}

impl Local {
    /// Opens (creating) the store.
    pub fn open(path: &Path) -> Result<Local, LocalError> {
        let conn = Connection::open(path)?;
        // In a browser the OPFS pool has no shared memory for a WAL; a
        // rollback journal is as durable, with one connection anyway.
        #[cfg(not(target_arch = "wasm32"))]
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        #[cfg(target_arch = "wasm32")]
        conn.execute_batch("PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = FULL;")?;
        conn.execute_batch(SCHEMA)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            conn.execute_batch(&format!(
                "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))?;
        }
        Ok(Local { conn })
    }

    /// Runs `f` in an immediate transaction, so that two processes using
    /// the same profile (a long `sync` and a `send`) never interleave
    /// read-modify-write of encryption state.
    pub fn exclusive<R, E: From<LocalError>>(
        &self,
        f: impl FnOnce(&Local) -> Result<R, E>,
    ) -> Result<R, E> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(LocalError::from)?;
        match f(self) {
            Ok(r) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(LocalError::from)?;
                Ok(r)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The encrypted Olm account pickle, if created.
    pub fn olm_account(&self) -> Result<Option<String>, LocalError> {
        Ok(self
            .conn
            .query_row("SELECT pickle FROM olm_account WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Saves the encrypted Olm account pickle.
    pub fn save_olm_account(&self, pickle: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO olm_account (id, pickle) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET pickle = excluded.pickle",
            [pickle],
        )?;
        Ok(())
    }

    /// The encrypted sessions with a device, if any.
    pub fn olm_sessions(&self, device: DeviceId) -> Result<Option<String>, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT pickle FROM olm_sessions WHERE device = ?",
                [device],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Saves the encrypted sessions with a device.
    pub fn save_olm_sessions(&self, device: DeviceId, pickle: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO olm_sessions (device, pickle) VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET pickle = excluded.pickle",
            params![device, pickle],
        )?;
        Ok(())
    }

    /// Forgets the sessions with a device (they are broken).
    pub fn delete_olm_sessions(&self, device: DeviceId) -> Result<(), LocalError> {
        self.conn
            .execute("DELETE FROM olm_sessions WHERE device = ?", [device])?;
        Ok(())
    }

    /// Replaces the placeholder of a message that could not be decrypted
    /// with its re-sent text; false when there was no placeholder.
    pub fn recover_message(
        &self,
        author_account: AccountId,
        id: &str,
        conv: &str,
        body: &str,
        sent_at: u64,
        state: &str,
    ) -> Result<bool, LocalError> {
        let n = self.conn.execute(
            "UPDATE messages SET conv = ?, kind = 'text', body = ?, sent_at = ?, state = ?
             WHERE author_account = ? AND msg_id = ? AND state = 'undecryptable'",
            params![conv, body, sent_at as i64, state, author_account, id],
        )?;
        Ok(n > 0)
    }

    /// The identity keys seen for a device (trust on first use).
    pub fn device_identity(
        &self,
        device: DeviceId,
    ) -> Result<Option<(String, String)>, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT curve25519, ed25519 FROM device_identities WHERE device = ?",
                [device],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Records the identity keys of a device.
    pub fn save_device_identity(
        &self,
        device: DeviceId,
        curve25519: &str,
        ed25519: &str,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO device_identities (device, curve25519, ed25519) VALUES (?, ?, ?)
             ON CONFLICT (device) DO UPDATE SET curve25519 = excluded.curve25519, ed25519 = excluded.ed25519",
            params![device, curve25519, ed25519],
        )?;
        Ok(())
    }

    /// The verified safety number of a handle, and whether sending to it
    /// needs a confirmation (its devices changed after verification).
    pub fn trust(&self, handle: &str) -> Result<(Option<String>, bool), LocalError> {
        let row: Option<(Option<String>, bool)> = self
            .conn
            .query_row(
                "SELECT verified, must_confirm FROM trust WHERE handle = ?",
                [handle],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.unwrap_or((None, false)))
    }

    /// Records the trust state of a handle.
    pub fn set_trust(
        &self,
        handle: &str,
        verified: Option<&str>,
        must_confirm: bool,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO trust (handle, verified, must_confirm) VALUES (?, ?, ?)
             ON CONFLICT (handle) DO UPDATE SET verified = excluded.verified, must_confirm = excluded.must_confirm",
            params![handle, verified, must_confirm],
        )?;
        Ok(())
    }

    /// Conversations that include a handle (its direct chat and groups).
    pub fn conversations_with(&self, handle: &str) -> Result<Vec<String>, LocalError> {
        Ok(self
            .conversations()?
            .into_iter()
            .filter(|c| c.key == handle || c.members.iter().any(|m| m == handle))
            .map(|c| c.key)
            .collect())
    }

    /// Mutes, archives or pins a conversation (or undoes it). Returns
    /// whether the conversation exists.
    pub fn set_conversation_flag(
        &self,
        key: &str,
        flag: &str,
        on: bool,
    ) -> Result<bool, LocalError> {
        let column = match flag {
            "muted" | "archived" | "pinned" => flag,
            other => unreachable!("no conversation flag {other}"),
        };
        let n = self.conn.execute(
            &format!("UPDATE conversations SET {column} = ? WHERE key = ?"),
            params![on, key],
        )?;
        Ok(n > 0)
    }

    /// Whether a conversation is muted.
    pub fn is_muted(&self, key: &str) -> Result<bool, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT muted FROM conversations WHERE key = ?",
                [key],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// The direct conversation with another handle of `account`, if one
    /// exists: a handle the directory said belongs to that account, or one
    /// whose messages came from it. One person, one conversation, even
    /// when they write from their phone number to a chat begun with their
    /// e-mail address.
    pub fn direct_conversation_of(
        &self,
        account: AccountId,
        except: &str,
    ) -> Result<Option<String>, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT c.key FROM conversations c
                 WHERE c.key NOT LIKE 'group:%' AND c.key <> ?2 AND (
                     c.key IN (SELECT handle FROM directory WHERE account = ?1)
                     OR EXISTS (SELECT 1 FROM messages m WHERE m.conv = c.key
                                AND m.author_account = ?1 AND m.outgoing = 0))
                 ORDER BY c.updated_at DESC, c.key LIMIT 1",
                params![account, except],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The account that owns a handle: as the directory last said, else as
    /// the handle's last message here said.
    pub fn account_of(&self, handle: &str) -> Result<Option<AccountId>, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT coalesce(
                     (SELECT account FROM directory WHERE handle = ?1),
                     (SELECT author_account FROM messages WHERE author_handle = ?1
                      AND outgoing = 0 AND author_account <> 0 ORDER BY pos DESC LIMIT 1))",
                [handle],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Keeps the profile photo a handle sent (its pointer, as JSON), unless
    /// it is the one kept already; the file is fetched later.
    pub fn set_profile_photo(&self, handle: &str, pointer: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO profiles (handle, name, updated_at, photo) VALUES (?1, '', 0, ?2)
             ON CONFLICT (handle) DO UPDATE SET photo = excluded.photo, photo_path = NULL
             WHERE profiles.photo IS NOT excluded.photo",
            params![handle, pointer],
        )?;
        Ok(())
    }

    /// Profile photos not fetched yet: handle and pointer (JSON).
    pub fn photos_to_fetch(&self) -> Result<Vec<(String, String)>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT handle, photo FROM profiles WHERE photo IS NOT NULL AND photo_path IS NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Where a handle's profile photo was saved.
    pub fn set_photo_path(&self, handle: &str, path: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "UPDATE profiles SET photo_path = ? WHERE handle = ?",
            params![path, handle],
        )?;
        Ok(())
    }

    /// Keeps the display name a handle sent.
    pub fn set_profile_name(&self, handle: &str, name: &str, at: u64) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO profiles (handle, name, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (handle) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at
             WHERE excluded.updated_at >= profiles.updated_at",
            params![handle, name, at as i64],
        )?;
        Ok(())
    }

    /// When this account last sent a text in a conversation.
    pub fn last_sent_in(&self, conv: &str) -> Result<Option<u64>, LocalError> {
        let at: Option<i64> = self.conn.query_row(
            "SELECT max(sent_at) FROM messages WHERE conv = ? AND outgoing = 1 AND kind = 'text'",
            [conv],
            |r| r.get(0),
        )?;
        Ok(at.map(|t| t as u64))
    }

    /// Removes a setting.
    pub fn delete_setting(&self, key: &str) -> Result<(), LocalError> {
        self.conn
            .execute("DELETE FROM settings WHERE key = ?", [key])?;
        Ok(())
    }

    /// A setting, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, LocalError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Cached account and devices of a handle.
    pub fn cached_devices(
        &self,
        handle: &Handle,
    ) -> Result<Option<(AccountId, Vec<DeviceId>)>, LocalError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT account, devices FROM directory WHERE handle = ?",
                [handle.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(a, d)| {
            (
                AccountId::from_i64(a).unwrap_or_default(),
                split_list(d)
                    .iter()
                    .filter_map(|x| x.parse().ok())
                    .collect(),
            )
        }))
    }

    /// Caches the account and devices of a handle.
    pub fn cache_devices(
        &self,
        handle: &Handle,
        account: AccountId,
        devices: &[DeviceId],
    ) -> Result<(), LocalError> {
        let list = devices
            .iter()
            .map(DeviceId::to_string)
            .collect::<Vec<_>>()
            .join(",");
        self.conn.execute(
            "INSERT INTO directory (handle, account, devices) VALUES (?, ?, ?)
             ON CONFLICT (handle) DO UPDATE SET account = excluded.account, devices = excluded.devices",
            params![handle.as_str(), account, list],
        )?;
        Ok(())
    }

    /// Forgets a cached handle (it is not on Tidings any more).
    pub fn forget_devices(&self, handle: &Handle) -> Result<(), LocalError> {
        self.conn
            .execute("DELETE FROM directory WHERE handle = ?", [handle.as_str()])?;
        Ok(())
    }

    /// Creates or updates a conversation's member list.
    pub fn upsert_conversation(
        &self,
        key: &str,
        members: &[String],
        at: u64,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO conversations (key, members, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET members = excluded.members,
                 updated_at = max(updated_at, excluded.updated_at)",
            params![key, members.join(","), at as i64],
        )?;
        Ok(())
    }

    /// Members of a conversation (other than this account), if known.
    pub fn conversation_members(&self, key: &str) -> Result<Option<Vec<String>>, LocalError> {
        let row: Option<String> = self
            .conn
            .query_row(
                "SELECT members FROM conversations WHERE key = ?",
                [key],
                |r| r.get(0),
            )
            .optional()?;
        Ok(row.map(split_list))
    }

    /// The group whose other members are exactly `members`, if any.
    pub fn find_group(&self, members: &[String]) -> Result<Option<String>, LocalError> {
        let mut sorted = members.to_vec();
        sorted.sort();
        let joined = sorted.join(",");
        let mut stmt = self
            .conn
            .prepare("SELECT key, members FROM conversations WHERE key LIKE 'group:%'")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (key, m) = row?;
            let mut list = split_list(m);
            list.sort();
            if list.join(",") == joined {
                return Ok(Some(key));
            }
        }
        Ok(None)
    }

    /// Stores a message unless it is already there.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_message(
        &self,
        conv: &str,
        author_account: AccountId,
        author_handle: &str,
        id: &str,
        outgoing: bool,
        kind: &str,
        body: &str,
        sent_at: u64,
        state: &str,
    ) -> Result<Inserted, LocalError> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO messages
             (conv, author_account, author_handle, msg_id, outgoing, kind, body, sent_at, state)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                conv,
                author_account,
                author_handle,
                id,
                outgoing,
                kind,
                body,
                sent_at as i64,
                state
            ],
        )?;
        if n == 0 {
            return Ok(Inserted::Duplicate);
        }
        self.conn.execute(
            "UPDATE conversations SET updated_at = max(updated_at, ?) WHERE key = ?",
            params![sent_at as i64, conv],
        )?;
        Ok(Inserted::New)
    }

    /// The conversation a message is in, if stored.
    pub fn conversation_of(
        &self,
        author_account: AccountId,
        id: &str,
    ) -> Result<Option<String>, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT conv FROM messages WHERE author_account = ? AND msg_id = ?",
                params![author_account, id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records how a message travelled.
    pub fn set_via(
        &self,
        author_account: AccountId,
        id: &str,
        via: &str,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "UPDATE messages SET via = ? WHERE author_account = ? AND msg_id = ?",
            params![via, author_account, id],
        )?;
        Ok(())
    }

    /// Sets the state of one of this account's messages.
    pub fn set_state(
        &self,
        author_account: AccountId,
        id: &str,
        state: &str,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "UPDATE messages SET state = ? WHERE author_account = ? AND msg_id = ?",
            params![state, author_account, id],
        )?;
        Ok(())
    }

    /// Records a delivery to one device; returns the conversation.
    pub fn mark_delivered(
        &self,
        author_account: AccountId,
        id: &str,
        to: &str,
    ) -> Result<Option<String>, LocalError> {
        let row: Option<(String, String, String)> = self
            .conn
            .query_row(
                "SELECT conv, delivered, state FROM messages WHERE author_account = ? AND msg_id = ?",
                params![author_account, id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((conv, delivered, state)) = row else {
            return Ok(None);
        };
        let mut list = split_list(delivered);
        if !list.iter().any(|d| d == to) {
            list.push(to.to_string());
        }
        let state = if state == "read" {
            state
        } else {
            "delivered".to_string()
        };
        self.conn.execute(
            "UPDATE messages SET delivered = ?, state = ? WHERE author_account = ? AND msg_id = ?",
            params![list.join(","), state, author_account, id],
        )?;
        Ok(Some(conv))
    }

    /// Records that `reader` read one of this account's messages.
    pub fn mark_read_by(
        &self,
        author_account: AccountId,
        id: &str,
        reader: &str,
    ) -> Result<bool, LocalError> {
        let row: Option<String> = self
            .conn
            .query_row(
                "SELECT read_by FROM messages WHERE author_account = ? AND msg_id = ?",
                params![author_account, id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(read_by) = row else { return Ok(false) };
        let mut list = split_list(read_by);
        if !list.iter().any(|d| d == reader) {
            list.push(reader.to_string());
        }
        self.conn.execute(
            "UPDATE messages SET read_by = ?, state = 'read' WHERE author_account = ? AND msg_id = ?",
            params![list.join(","), author_account, id],
        )?;
        Ok(true)
    }

    /// Marks an incoming message as read on this device.
    pub fn mark_seen(&self, author_account: AccountId, id: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "UPDATE messages SET seen = 1, state = 'read' WHERE author_account = ? AND msg_id = ? AND outgoing = 0",
            params![author_account, id],
        )?;
        Ok(())
    }

    /// Incoming messages of a conversation not yet read: (author account,
    /// author handle, id).
    pub fn unread(&self, conv: &str) -> Result<Vec<(AccountId, String, String)>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT author_account, author_handle, msg_id FROM messages
             WHERE conv = ? AND outgoing = 0 AND seen = 0 AND kind = 'text' ORDER BY pos",
        )?;
        let rows = stmt.query_map([conv], |r| {
            Ok((r.get::<_, AccountId>(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The messages of a conversation, in the order they were stored.
    pub fn messages(&self, conv: &str) -> Result<Vec<StoredMessage>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT conv, author_handle, author_account, msg_id, outgoing, kind, body, sent_at, state, delivered, read_by, via,
                    edited_at, reply_account, reply_id,
                    coalesce((SELECT name FROM contacts c WHERE c.handle = author_handle),
                             (SELECT nullif(name, '') FROM profiles p WHERE p.handle = author_handle))
             FROM messages WHERE conv = ? ORDER BY pos",
        )?;
        let rows = stmt.query_map([conv], |r| {
            Ok(StoredMessage {
                conversation: r.get(0)?,
                from: r.get(1)?,
                author_account: r.get::<_, AccountId>(2)?,
                id: r.get(3)?,
                outgoing: r.get(4)?,
                kind: r.get(5)?,
                body: r.get(6)?,
                sent_at: r.get::<_, i64>(7)? as u64,
                state: r.get(8)?,
                delivered_to: split_list(r.get(9)?),
                read_by: split_list(r.get(10)?),
                via: r.get(11)?,
                attachments: Vec::new(),
                reactions: Vec::new(),
                edited_at: r.get::<_, Option<i64>>(12)?.map(|t| t as u64),
                from_name: r.get(15)?,
                edits: Vec::new(),
                reply_to: None,
            })
            .map(|m| {
                let reply = match (
                    r.get::<_, Option<AccountId>>(13),
                    r.get::<_, Option<String>>(14),
                ) {
                    (Ok(Some(a)), Ok(Some(id))) => Some((a, id)),
                    _ => None,
                };
                (m, reply)
            })
        })?;
        let rows: Vec<(StoredMessage, Option<(AccountId, String)>)> =
            rows.collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (mut m, reply) in rows {
            m.attachments = self.attachments_of(m.author_account, &m.id)?;
            m.reactions = self.reactions_of(m.author_account, &m.id)?;
            if m.edited_at.is_some() {
                m.edits = self.edit_history(m.author_account, &m.id)?;
            }
            if let Some((a, id)) = reply {
                m.reply_to = Some(self.quote(a, &id)?);
            }
            out.push(m);
        }
        Ok(out)
    }

    /// The title (group name) of a conversation, if set.
    pub fn title(&self, key: &str) -> Result<Option<String>, LocalError> {
        Ok(self
            .conn
            .query_row("SELECT title FROM titles WHERE key = ?", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets the title (group name) of a conversation.
    pub fn set_title(&self, key: &str, title: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO titles (key, title) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET title = excluded.title",
            params![key, title],
        )?;
        Ok(())
    }

    /// Messages whose id starts with `prefix` (at most `limit`):
    /// conversation, author account and full id. Ids are lower-case hex, so
    /// the caller checks the prefix is too, and `LIKE` sees no wildcard.
    pub fn messages_by_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, AccountId, String)>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT conv, author_account, msg_id FROM messages
             WHERE msg_id LIKE ? || '%' AND kind IN ('text', 'unsent') ORDER BY pos LIMIT ?",
        )?;
        let rows = stmt.query_map(params![prefix, limit as i64], |r| {
            Ok((r.get(0)?, r.get::<_, AccountId>(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records (or with an empty reaction, removes) someone's reaction.
    pub fn set_reaction(
        &self,
        author_account: AccountId,
        id: &str,
        by: &str,
        emoji: &str,
    ) -> Result<(), LocalError> {
        if emoji.is_empty() {
            self.conn.execute(
                "DELETE FROM reactions WHERE author_account = ? AND msg_id = ? AND by = ?",
                params![author_account, id, by],
            )?;
        } else {
            self.conn.execute(
                "INSERT INTO reactions (author_account, msg_id, by, emoji) VALUES (?, ?, ?, ?)
                 ON CONFLICT (author_account, msg_id, by) DO UPDATE SET emoji = excluded.emoji",
                params![author_account, id, by, emoji],
            )?;
        }
        Ok(())
    }

    fn reactions_of(
        &self,
        author_account: AccountId,
        id: &str,
    ) -> Result<Vec<(String, String)>, LocalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT by, emoji FROM reactions WHERE author_account = ? AND msg_id = ? ORDER BY by",
        )?;
        let rows = stmt.query_map(params![author_account, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an attachment of a message.
    pub fn add_attachment(
        &self,
        author_account: AccountId,
        id: &str,
        pointer: &tidings_core::attachment::AttachmentPointer,
        path: Option<&str>,
        state: &str,
    ) -> Result<(), LocalError> {
        let json = serde_json::to_string(pointer).expect("pointers serialise");
        self.conn.execute(
            "INSERT INTO attachments (author_account, msg_id, pointer, path, state) VALUES (?, ?, ?, ?, ?)",
            params![author_account, id, json, path, state],
        )?;
        Ok(())
    }

    fn attachments_of(
        &self,
        author_account: AccountId,
        id: &str,
    ) -> Result<Vec<StoredAttachment>, LocalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT pointer, path, state, row FROM attachments WHERE author_account = ? AND msg_id = ? ORDER BY row",
        )?;
        let rows = stmt.query_map(params![author_account, id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (pointer, path, state, row) = row?;
            let Ok(p) =
                serde_json::from_str::<tidings_core::attachment::AttachmentPointer>(&pointer)
            else {
                continue;
            };
            out.push(StoredAttachment {
                row,
                name: p.name,
                content_type: p.content_type,
                size: p.size,
                path,
                state,
                has_thumbnail: p.thumbnail.is_some(),
                width: p.width,
                height: p.height,
                duration_ms: p.duration_ms,
            });
        }
        Ok(out)
    }

    /// Where every attachment kept on this device is.
    pub fn attachment_paths(&self) -> Result<Vec<String>, LocalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path FROM attachments WHERE path IS NOT NULL")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One attachment by its row: the pointer, where it is on this device,
    /// and its state.
    pub fn attachment(
        &self,
        row: i64,
    ) -> Result<
        Option<(
            tidings_core::attachment::AttachmentPointer,
            Option<String>,
            String,
        )>,
        LocalError,
    > {
        let found = self
            .conn
            .query_row(
                "SELECT pointer, path, state FROM attachments WHERE row = ?",
                [row],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()?;
        Ok(found.and_then(|(pointer, path, state)| {
            serde_json::from_str(&pointer)
                .ok()
                .map(|p| (p, path, state))
        }))
    }

    /// The pointers of a message's attachments (to send them again).
    pub fn attachment_pointers(
        &self,
        author_account: AccountId,
        id: &str,
    ) -> Result<Vec<tidings_core::attachment::AttachmentPointer>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT pointer FROM attachments WHERE author_account = ? AND msg_id = ? ORDER BY row",
        )?;
        let rows = stmt.query_map(params![author_account, id], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            if let Ok(p) = serde_json::from_str(&row?) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// An unfinished upload of this exact file (path, size, modification
    /// time): its blob id and key, to resume it.
    pub fn upload_for(
        &self,
        path: &str,
        size: u64,
        modified: i64,
    ) -> Result<Option<(String, String)>, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT blob, key FROM uploads WHERE path = ? AND size = ? AND modified = ?",
                params![path, size as i64, modified],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Remembers an upload in progress.
    pub fn start_upload(
        &self,
        path: &str,
        size: u64,
        modified: i64,
        blob: &str,
        key: &str,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO uploads (path, size, modified, blob, key) VALUES (?, ?, ?, ?, ?)",
            params![path, size as i64, modified, blob, key],
        )?;
        Ok(())
    }

    /// Forgets a finished (or abandoned) upload.
    pub fn end_upload(&self, blob: &str) -> Result<(), LocalError> {
        self.conn
            .execute("DELETE FROM uploads WHERE blob = ?", [blob])?;
        Ok(())
    }

    /// Attachments waiting to be downloaded, in inbox conversations only:
    /// (row, pointer).
    pub fn pending_attachments(
        &self,
    ) -> Result<Vec<(i64, tidings_core::attachment::AttachmentPointer)>, LocalError> {
        // Held-back conversations (requests, junk) download nothing until
        // the user accepts them.
        let mut stmt = self.conn.prepare(
            "SELECT a.row, a.pointer FROM attachments a
             JOIN messages m ON m.author_account = a.author_account AND m.msg_id = a.msg_id
             JOIN conversations c ON c.key = m.conv
             WHERE a.state = 'pending' AND c.state = 'inbox' ORDER BY a.row",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, pointer) = row?;
            if let Ok(p) = serde_json::from_str(&pointer) {
                out.push((id, p));
            }
        }
        Ok(out)
    }

    /// Marks a download done.
    pub fn attachment_saved(&self, row: i64, path: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "UPDATE attachments SET state = 'saved', path = ? WHERE row = ?",
            params![path, row],
        )?;
        Ok(())
    }

    /// Marks a download failed for good.
    pub fn attachment_failed(&self, row: i64, reason: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "UPDATE attachments SET state = ? WHERE row = ?",
            params![format!("failed: {reason}"), row],
        )?;
        Ok(())
    }

    /// Every conversation, most recent first.
    pub fn conversations(&self) -> Result<Vec<Conversation>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT c.key, c.members, c.updated_at,
                    (SELECT count(*) FROM messages m WHERE m.conv = c.key),
                    (SELECT count(*) FROM messages m WHERE m.conv = c.key AND m.outgoing = 0 AND m.seen = 0 AND m.kind = 'text'),
                    -- A message of files alone is previewed by its first file's name.
                    coalesce((SELECT CASE WHEN m.body = '' THEN coalesce(
                                  (SELECT '📎 ' || json_extract(a.pointer, '$.name') FROM attachments a
                                   WHERE a.author_account = m.author_account AND a.msg_id = m.msg_id
                                   ORDER BY a.row LIMIT 1), '') ELSE m.body END
                              FROM messages m WHERE m.conv = c.key ORDER BY pos DESC LIMIT 1), ''),
                    (SELECT title FROM titles t WHERE t.key = c.key),
                    c.state,
                    coalesce((SELECT name FROM contacts n WHERE n.handle = c.key),
                             (SELECT nullif(name, '') FROM profiles p WHERE p.handle = c.key)),
                    c.muted, c.archived, c.pinned,
                    (SELECT photo_path FROM profiles p WHERE p.handle = c.key),
                    coalesce((SELECT via FROM messages m WHERE m.conv = c.key AND m.kind = 'text'
                              ORDER BY pos DESC LIMIT 1), 'ip')
             FROM conversations c ORDER BY c.pinned DESC, c.updated_at DESC, c.key",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Conversation {
                key: r.get(0)?,
                members: split_list(r.get(1)?),
                updated_at: r.get::<_, i64>(2)? as u64,
                messages: r.get::<_, i64>(3)? as u64,
                unread: r.get::<_, i64>(4)? as u64,
                last: r.get(5)?,
                title: r.get(6)?,
                state: relations::folder(&r.get::<_, String>(7)?),
                name: r.get(8)?,
                muted: r.get(9)?,
                archived: r.get(10)?,
                pinned: r.get(11)?,
                photo: r.get(12)?,
                last_via: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
