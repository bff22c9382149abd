//! A device's profile: credentials, the key for keys at rest, and the
//! local store.
//!
//! The CLI keeps them as files in a directory; the credential file is
//! written with owner-only permissions: whoever can read it can act as this
//! device. The web app has no files, only SQLite databases in the
//! browser's origin-private file system, so its profile keeps credentials
//! and key in one more database beside the store ([`Profile::in_database`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tidings_proto::{AccountId, DeviceId};

use crate::files::{FileStore, NativeFiles, SqliteFiles};

use serde::{Deserialize, Serialize};
use tidings_proto::Handle;

/// File holding the device credentials inside a profile.
pub const CREDENTIALS_FILE: &str = "device.json";
/// File holding the local store inside a profile.
pub const STORE_FILE: &str = "local.sqlite3";
/// File holding the key that encrypts keys and sessions at rest.
pub const PICKLE_KEY_FILE: &str = "pickle.key";
/// Database holding credentials and key in a profile kept in databases.
pub const PROFILE_DB: &str = "profile.sqlite3";
/// Database holding the files of a profile kept in databases.
pub const FILES_DB: &str = "files.sqlite3";

/// What a profile knows about its device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    /// The server this device belongs to.
    pub server: String,
    /// Account id.
    pub account: AccountId,
    /// Device id.
    pub device: DeviceId,
    /// Bearer token.
    pub token: String,
    /// The account's handles when last seen.
    pub handles: Vec<Handle>,
}

/// A profile: a directory, or a place in the web app's database pool.
#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
    keep: Keep,
    files: Arc<dyn FileStore>,
}

/// How a profile keeps its credentials and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// `device.json` and `pickle.key`, owner-only.
    Files,
    /// Rows of [`PROFILE_DB`].
    Database,
}

/// Profile errors.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Reading or writing failed.
    #[error("profile {path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The profile database failed.
    #[error("profile {path}: {source}")]
    Database {
        /// File concerned.
        path: PathBuf,
        /// Cause.
        source: rusqlite::Error,
    },
    /// The credential file is damaged.
    #[error("profile {path} is damaged ({message}); run `tidings login` again")]
    Damaged {
        /// File concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Profile {
    /// A profile at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Profile {
        Profile {
            dir: dir.into(),
            keep: Keep::Files,
            files: Arc::new(NativeFiles),
        }
    }

    /// A profile at `dir` that keeps credentials and key in the database
    /// [`PROFILE_DB`] rather than in files: SQLite databases are all the
    /// web app can keep (its VFS maps `dir/...` names into the browser's
    /// origin-private file system). The key sits beside the store as the
    /// CLI's does, so both are equally protected at rest.
    pub fn in_database(dir: impl Into<PathBuf>) -> Profile {
        let dir = dir.into();
        Profile {
            files: Arc::new(SqliteFiles::new(dir.join(FILES_DB))),
            dir,
            keep: Keep::Database,
        }
    }

    /// The profile database, with its one table.
    fn database(&self) -> Result<rusqlite::Connection, ProfileError> {
        let path = self.dir.join(PROFILE_DB);
        let fail = |source| ProfileError::Database {
            path: path.clone(),
            source,
        };
        let conn = rusqlite::Connection::open(&path).map_err(fail)?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS profile (name TEXT PRIMARY KEY, bytes BLOB NOT NULL);",
        )
        .map_err(fail)?;
        Ok(conn)
    }

    /// Reads one entry of the profile database.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, ProfileError> {
        use rusqlite::OptionalExtension;
        self.database()?
            .query_row("SELECT bytes FROM profile WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|source| self.database_error(source))
    }

    /// Writes one entry (`replace`: or keeps the one there); returns
    /// whether it was written.
    fn put(&self, name: &str, bytes: &[u8], replace: bool) -> Result<bool, ProfileError> {
        let sql = if replace {
            "INSERT OR REPLACE INTO profile (name, bytes) VALUES (?1, ?2)"
        } else {
            "INSERT OR IGNORE INTO profile (name, bytes) VALUES (?1, ?2)"
        };
        let n = self
            .database()?
            .execute(sql, rusqlite::params![name, bytes])
            .map_err(|source| self.database_error(source))?;
        Ok(n == 1)
    }

    fn database_error(&self, source: rusqlite::Error) -> ProfileError {
        ProfileError::Database {
            path: self.dir.join(PROFILE_DB),
            source,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where this profile keeps files (attachments, photos, history).
    pub fn files(&self) -> &dyn FileStore {
        self.files.as_ref()
    }

    /// The local store file.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    fn io(&self, path: &Path, source: std::io::Error) -> ProfileError {
        ProfileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Creates the directory, owner-only.
    pub fn ensure_dir(&self) -> Result<(), ProfileError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| self.io(&self.dir, e))?;
        }
        Ok(())
    }

    /// The credentials, if this profile is signed in.
    pub fn credentials(&self) -> Result<Option<Credentials>, ProfileError> {
        let path = self.dir.join(CREDENTIALS_FILE);
        let read = match self.keep {
            Keep::Files => std::fs::read(&path),
            Keep::Database => match self.get(CREDENTIALS_FILE)? {
                Some(bytes) => Ok(bytes),
                None => return Ok(None),
            },
        };
        match read {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| ProfileError::Damaged {
                        path,
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    /// Saves credentials atomically, owner-only.
    pub fn save_credentials(&self, creds: &Credentials) -> Result<(), ProfileError> {
        use std::io::Write;
        if self.keep == Keep::Database {
            let bytes = serde_json::to_vec(creds).expect("credentials always serialise");
            self.put(CREDENTIALS_FILE, &bytes, true)?;
            return Ok(());
        }
        self.ensure_dir()?;
        let path = self.dir.join(CREDENTIALS_FILE);
        let tmp = self.dir.join(format!("{CREDENTIALS_FILE}.tmp"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(|e| self.io(&tmp, e))?;
        let bytes = serde_json::to_vec_pretty(creds).expect("credentials always serialise");
        f.write_all(&bytes).map_err(|e| self.io(&tmp, e))?;
        f.sync_all().map_err(|e| self.io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| self.io(&path, e))
    }

    /// The 32-byte key that encrypts this device's Olm account and sessions
    /// inside the local store; created on first use, owner-only.
    pub fn pickle_key(&self) -> Result<[u8; 32], ProfileError> {
        use std::io::Write;
        let path = self.dir.join(PICKLE_KEY_FILE);
        let damaged = |path| ProfileError::Damaged {
            path,
            message: "the pickle key must be 32 bytes".into(),
        };
        let mut key = [0u8; 32];
        if self.keep == Keep::Database {
            if let Some(bytes) = self.get(PICKLE_KEY_FILE)? {
                return bytes.try_into().map_err(|_| damaged(path));
            }
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            self.put(PICKLE_KEY_FILE, &key, false)?;
            // Read back: whoever wrote first wins, as with `create_new`.
            let kept = self.get(PICKLE_KEY_FILE)?.unwrap_or_default();
            return kept.try_into().map_err(|_| damaged(path));
        }
        match std::fs::read(&path) {
            Ok(bytes) => return bytes.try_into().map_err(|_| damaged(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&path, e)),
        }
        self.ensure_dir()?;
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&path).map_err(|e| self.io(&path, e))?;
        f.write_all(&key).map_err(|e| self.io(&path, e))?;
        f.sync_all().map_err(|e| self.io(&path, e))?;
        Ok(key)
    }

    /// Forgets the credentials and the local store (logout).
    pub fn clear(&self) -> Result<(), ProfileError> {
        if self.keep == Keep::Database {
            self.database()?
                .execute("DELETE FROM profile WHERE name = ?1", [CREDENTIALS_FILE])
                .map_err(|source| self.database_error(source))?;
            SqliteFiles::new(self.dir.join(FILES_DB))
                .clear()
                .map_err(|e| self.io(&self.dir.join(FILES_DB), e))?;
            return self.empty_store();
        }
        for name in [
            CREDENTIALS_FILE,
            STORE_FILE,
            "local.sqlite3-wal",
            "local.sqlite3-shm",
        ] {
            let path = self.dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(&path, e)),
            }
        }
        Ok(())
    }

    /// Empties the store database in place (the web app cannot remove a
    /// file of its pool from here): every table goes, and the next
    /// `Local::open` starts from an empty schema.
    fn empty_store(&self) -> Result<(), ProfileError> {
        let path = self.store_path();
        let fail = |source| ProfileError::Database {
            path: path.clone(),
            source,
        };
        let conn = rusqlite::Connection::open(&path).map_err(fail)?;
        let tables: Vec<String> = conn
            // Virtual tables (full-text search) first: they drop their
            // own shadow tables.
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 ORDER BY sql NOT LIKE 'CREATE VIRTUAL%'",
            )
            .and_then(|mut st| {
                st.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<_, _>>()
            })
            .map_err(fail)?;
        let mut sql = String::from("PRAGMA foreign_keys = OFF; BEGIN;");
        for table in tables {
            sql.push_str(&format!(
                "DROP TABLE IF EXISTS \"{}\";",
                table.replace('"', "\"\"")
            ));
        }
        sql.push_str("COMMIT; PRAGMA user_version = 0; VACUUM;");
        conn.execute_batch(&sql).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            server: "http://127.0.0.1:1".into(),
            account: AccountId::new(7).expect("valid id"),
            device: DeviceId::new(2).expect("valid id"),
            token: "secret".into(),
            handles: vec![Handle::parse("+14155550100", "US").expect("a valid number")],
        }
    }

    #[test]
    fn a_database_profile_keeps_credentials_and_key_and_clears_like_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        for profile in [
            Profile::new(dir.path().join("files")),
            Profile::in_database(dir.path()),
        ] {
            let _ = std::fs::create_dir_all(profile.dir());
            assert_eq!(profile.credentials().expect("reads"), None);
            profile.save_credentials(&creds()).expect("saves");
            assert_eq!(profile.credentials().expect("reads"), Some(creds()));
            let key = profile.pickle_key().expect("made");
            assert_eq!(profile.pickle_key().expect("kept"), key);
            let store = crate::local::Local::open(&profile.store_path()).expect("store");
            store.set_setting("name", "Ada").expect("written");
            drop(store);

            profile.clear().expect("cleared");
            assert_eq!(profile.credentials().expect("reads"), None);
            let store = crate::local::Local::open(&profile.store_path()).expect("store");
            assert_eq!(store.setting("name").expect("read"), None, "{profile:?}");
            // The key outlives a logout, as the file does.
            assert_eq!(profile.pickle_key().expect("kept"), key);
        }
    }
}
