//! A device's profile directory: credentials and the local store.
//!
//! The credential file is written with owner-only permissions: whoever can
//! read it can act as this device.

use std::path::{Path, PathBuf};
use tidings_proto::{AccountId, DeviceId};

use serde::{Deserialize, Serialize};
use tidings_proto::Handle;

/// File holding the device credentials inside a profile.
pub const CREDENTIALS_FILE: &str = "device.json";
/// File holding the local store inside a profile.
pub const STORE_FILE: &str = "local.sqlite3";
/// File holding the key that encrypts keys and sessions at rest.
pub const PICKLE_KEY_FILE: &str = "pickle.key";

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

/// A profile directory.
#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
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
        Profile { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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
        match std::fs::read(&path) {
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
        match std::fs::read(&path) {
            Ok(bytes) => {
                return bytes.try_into().map_err(|_| ProfileError::Damaged {
                    path,
                    message: "the pickle key must be 32 bytes".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&path, e)),
        }
        self.ensure_dir()?;
        let mut key = [0u8; 32];
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
}
