//! Each group's membership log ([`tidings_core::group::GroupLog`]), kept as
//! JSON beside the conversation whose key is `group:ID`. The conversation's
//! member list mirrors the log's current state, for listing and filing.

use rusqlite::{params, OptionalExtension};
use tidings_core::group::GroupLog;

use super::{Local, LocalError};

impl Local {
    /// The membership log of a group conversation, if this device has one.
    /// Groups made before logs existed have none; the client starts one
    /// from the conversation's members.
    pub fn group_log(&self, key: &str) -> Result<Option<GroupLog>, LocalError> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT log FROM groups WHERE key = ?", [key], |r| r.get(0))
            .optional()?;
        match json {
            None => Ok(None),
            Some(j) => serde_json::from_str(&j)
                .map(Some)
                .map_err(|e| LocalError::Corrupt(format!("group log of {key}: {e}"))),
        }
    }

    /// Stores a group's membership log.
    pub fn save_group_log(&self, key: &str, log: &GroupLog) -> Result<(), LocalError> {
        let json = serde_json::to_string(log).expect("a group log always serialises");
        self.conn.execute(
            "INSERT INTO groups (key, log) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET log = excluded.log",
            params![key, json],
        )?;
        Ok(())
    }

    /// Group conversations whose name is `name` (compared without case).
    pub fn groups_named(&self, name: &str) -> Result<Vec<String>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT key FROM titles WHERE key LIKE 'group:%' AND lower(title) = lower(?) ORDER BY key",
        )?;
        let rows = stmt.query_map([name], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
