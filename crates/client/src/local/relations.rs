//! What the device knows about the people who write to it: saved contacts,
//! handles this account wrote to or accepted, blocked handles, the folder
//! of each conversation (inbox, request, junk) and the cached campaign
//! list. The decision where a message goes is `tidings_spam::requests`;
//! this module only stores its inputs and outputs.

use std::collections::BTreeSet;
use tidings_proto::AccountId;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use tidings_spam::requests::{Current, Filing, Folder, Reason};

use super::{split_list, Local, LocalError};

/// How a handle became known, as stored in `relations.how`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// This account sent it a message (from any of its devices).
    WroteTo,
    /// The user accepted its message request.
    Accepted,
}

impl Known {
    fn as_str(self) -> &'static str {
        match self {
            Known::WroteTo => "wrote",
            Known::Accepted => "accepted",
        }
    }
}

/// A saved contact.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Contact {
    /// The contact's handle.
    pub handle: String,
    /// The name the user gave it, if any.
    pub name: Option<String>,
    /// When it was saved, milliseconds since the epoch.
    pub added_at: u64,
}

/// A held-back conversation, as `tidings requests` lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestSummary {
    /// Conversation key: the sender's handle, or `group:ID`.
    pub conversation: String,
    /// Members other than this account.
    pub members: Vec<String>,
    /// The group's name, if any.
    pub title: Option<String>,
    /// Whose message made it a request.
    pub from: String,
    /// `request` or `junk`.
    pub state: Folder,
    /// Why it is held back.
    pub reason: Reason,
    /// Highest spam probability among its messages, if any was scored.
    pub score: Option<f32>,
    /// Messages stored.
    pub messages: u64,
    /// Incoming messages not yet read.
    pub unread: u64,
    /// The last message, raw (show it with links defanged).
    pub last: String,
    /// Last activity (sender's clock), milliseconds since the epoch.
    pub updated_at: u64,
    /// When a message was last filed into it (this device's clock); junk is
    /// deleted `JUNK_RETENTION_DAYS` after that.
    pub filed_at: u64,
    /// A message carries a server report token, so block and report reach
    /// the server.
    pub reportable: bool,
    /// The sender is blocked.
    pub blocked: bool,
}

/// A stored folder name; a name this version does not know (written by a
/// newer client) is treated as a request, i.e. held back.
pub(crate) fn folder(name: &str) -> Folder {
    name.parse().unwrap_or(Folder::Request)
}

fn reason(name: Option<String>) -> Reason {
    name.and_then(|n| n.parse().ok())
        .unwrap_or(Reason::UnknownSender)
}

impl Local {
    /// Creates a conversation in `folder`, or updates the member list of an
    /// existing one without moving it, in one statement: a crash cannot
    /// leave a stranger's new conversation in the inbox.
    pub fn upsert_conversation_in(
        &self,
        key: &str,
        members: &[String],
        at: u64,
        folder: Folder,
        now: u64,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO conversations (key, members, updated_at, state, filed_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET members = excluded.members,
                 updated_at = max(updated_at, excluded.updated_at)",
            params![key, members.join(","), at as i64, folder.as_str(), now as i64],
        )?;
        Ok(())
    }

    /// The folder, reason and restore mark of a conversation; `None` for a
    /// conversation not stored yet.
    pub fn conversation_filing(&self, key: &str) -> Result<Option<Current>, LocalError> {
        let row: Option<(String, Option<String>, bool)> = self
            .conn
            .query_row(
                "SELECT state, reason, restored FROM conversations WHERE key = ?",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row.map(|(state, why, restored)| {
            let folder = folder(&state);
            Current {
                folder: Some(folder),
                reason: folder.is_held().then(|| reason(why)),
                restored,
            }
        }))
    }

    /// The folder of a conversation (`None`: not stored).
    pub fn conversation_folder(&self, key: &str) -> Result<Option<Folder>, LocalError> {
        Ok(self.conversation_filing(key)?.and_then(|c| c.folder))
    }

    /// Records where a message put a conversation: its folder and reason,
    /// the highest score seen, who started it, and when (for the junk
    /// retention).
    pub fn set_filing(
        &self,
        key: &str,
        filing: &Filing,
        origin: &str,
        now: u64,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "UPDATE conversations SET state = ?, reason = ?,
                 score = CASE WHEN ?3 IS NULL THEN score ELSE max(coalesce(score, 0), ?3) END,
                 origin = coalesce(origin, ?), filed_at = ?
             WHERE key = ?",
            params![
                filing.folder.as_str(),
                filing.reason.map(Reason::as_str),
                filing.score.map(f64::from),
                origin,
                now as i64,
                key
            ],
        )?;
        Ok(())
    }

    /// Moves a conversation to the inbox (accepted, or the user wrote to
    /// it); true when it was held back before.
    pub fn accept_conversation(&self, key: &str) -> Result<bool, LocalError> {
        let n = self.conn.execute(
            "UPDATE conversations SET state = 'inbox', reason = NULL, restored = 0
             WHERE key = ? AND state <> 'inbox'",
            [key],
        )?;
        Ok(n > 0)
    }

    /// Moves a junk conversation back to the requests, where content alone
    /// no longer moves it to junk; false when it was not junk.
    pub fn restore_conversation(&self, key: &str, now: u64) -> Result<bool, LocalError> {
        let n = self.conn.execute(
            "UPDATE conversations SET state = 'request', reason = 'unknown_sender', restored = 1,
                 filed_at = ?
             WHERE key = ? AND state = 'junk'",
            params![now as i64, key],
        )?;
        Ok(n > 0)
    }

    /// Moves a request to junk (a campaign published after it arrived
    /// matches it); false when it was not a request or was restored.
    pub fn junk_conversation(
        &self,
        key: &str,
        reason: Reason,
        now: u64,
    ) -> Result<bool, LocalError> {
        let n = self.conn.execute(
            "UPDATE conversations SET state = 'junk', reason = ?, filed_at = ?
             WHERE key = ? AND state = 'request' AND restored = 0",
            params![reason.as_str(), now as i64, key],
        )?;
        Ok(n > 0)
    }

    /// Held-back conversations in `folder` (request or junk), most recent
    /// first.
    pub fn requests(&self, folder: Folder) -> Result<Vec<RequestSummary>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT c.key, c.members, c.updated_at, c.reason, c.score, coalesce(c.origin, c.key),
                    c.filed_at,
                    (SELECT count(*) FROM messages m WHERE m.conv = c.key),
                    (SELECT count(*) FROM messages m WHERE m.conv = c.key AND m.outgoing = 0
                        AND m.seen = 0 AND m.kind = 'text'),
                    coalesce((SELECT body FROM messages m WHERE m.conv = c.key
                        ORDER BY pos DESC LIMIT 1), ''),
                    (SELECT title FROM titles t WHERE t.key = c.key),
                    EXISTS (SELECT 1 FROM messages m WHERE m.conv = c.key
                        AND m.report_token IS NOT NULL),
                    EXISTS (SELECT 1 FROM blocked b WHERE b.handle = coalesce(c.origin, c.key))
             FROM conversations c WHERE c.state = ? ORDER BY c.updated_at DESC, c.key",
        )?;
        let rows = stmt.query_map([folder.as_str()], |r| {
            Ok(RequestSummary {
                conversation: r.get(0)?,
                members: split_list(r.get(1)?),
                updated_at: r.get::<_, i64>(2)? as u64,
                reason: reason(r.get(3)?),
                score: r.get::<_, Option<f64>>(4)?.map(|s| s as f32),
                from: r.get(5)?,
                filed_at: r.get::<_, i64>(6)? as u64,
                messages: r.get::<_, i64>(7)? as u64,
                unread: r.get::<_, i64>(8)? as u64,
                last: r.get(9)?,
                title: r.get(10)?,
                reportable: r.get(11)?,
                blocked: r.get(12)?,
                state: folder,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One held-back conversation's summary, if it is held back.
    pub fn request(&self, key: &str) -> Result<Option<RequestSummary>, LocalError> {
        for folder in [Folder::Request, Folder::Junk] {
            if let Some(r) = self
                .requests(folder)?
                .into_iter()
                .find(|r| r.conversation == key)
            {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Held-back conversations with their members: (key, members, folder).
    pub fn held_conversations(&self) -> Result<Vec<(String, Vec<String>, Folder)>, LocalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, members, state FROM conversations WHERE state <> 'inbox'")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                split_list(r.get(1)?),
                folder(&r.get::<_, String>(2)?),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a conversation with its messages, attachments, reactions and
    /// title; returns the paths of attachments saved under the profile, for
    /// the caller to delete.
    pub fn delete_conversation(&self, key: &str) -> Result<Vec<String>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT a.path FROM attachments a JOIN messages m
                 ON m.author_account = a.author_account AND m.msg_id = a.msg_id
             WHERE m.conv = ? AND m.outgoing = 0 AND a.state = 'saved' AND a.path IS NOT NULL",
        )?;
        let paths = stmt
            .query_map([key], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        for table in ["attachments", "reactions"] {
            self.conn.execute(
                &format!(
                    "DELETE FROM {table} WHERE (author_account, msg_id) IN
                         (SELECT author_account, msg_id FROM messages WHERE conv = ?)"
                ),
                [key],
            )?;
        }
        self.conn
            .execute("DELETE FROM messages WHERE conv = ?", [key])?;
        self.conn
            .execute("DELETE FROM titles WHERE key = ?", [key])?;
        self.conn
            .execute("DELETE FROM conversations WHERE key = ?", [key])?;
        Ok(paths)
    }

    /// Junk conversations filed into last before `before` (this device's
    /// clock, milliseconds).
    pub fn expired_junk(&self, before: u64) -> Result<Vec<String>, LocalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key FROM conversations WHERE state = 'junk' AND filed_at < ?")?;
        let rows = stmt.query_map([before as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records that a handle is known (first reason wins).
    pub fn add_relation(&self, handle: &str, how: Known, now: u64) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO relations (handle, how, at) VALUES (?, ?, ?)",
            params![handle, how.as_str(), now as i64],
        )?;
        Ok(())
    }

    /// Handles this account wrote to or accepted (not contacts), by handle.
    pub fn relations(&self) -> Result<Vec<String>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT handle FROM relations WHERE how IN ('wrote', 'accepted') ORDER BY handle",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A saved contact or a handle with a recorded relation.
    pub fn directly_known(&self, handle: &str) -> Result<bool, LocalError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM contacts WHERE handle = ?1)
                 OR EXISTS (SELECT 1 FROM relations WHERE handle = ?1)",
            [handle],
            |r| r.get(0),
        )?)
    }

    /// Whether the user has a relation with `handle`: directly known, or a
    /// member of an inbox group together with a directly known handle.
    pub fn is_known(&self, handle: &str) -> Result<bool, LocalError> {
        if self.directly_known(handle)? {
            return Ok(true);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT members FROM conversations
             WHERE key LIKE 'group:%' AND state = 'inbox' AND instr(',' || members || ',', ?) > 0",
        )?;
        let groups = stmt
            .query_map([format!(",{handle},")], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        for members in groups {
            for m in split_list(members) {
                if m != handle && self.directly_known(&m)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Saves (or renames) a contact.
    pub fn add_contact(
        &self,
        handle: &str,
        name: Option<&str>,
        now: u64,
    ) -> Result<Contact, LocalError> {
        self.conn.execute(
            "INSERT INTO contacts (handle, name, added_at) VALUES (?, ?, ?)
             ON CONFLICT (handle) DO UPDATE SET name = coalesce(excluded.name, name)",
            params![handle, name, now as i64],
        )?;
        Ok(self
            .contacts()?
            .into_iter()
            .find(|c| c.handle == handle)
            .expect("the contact was just saved"))
    }

    /// Forgets a contact; false when it was not saved. Messages this
    /// account sent it still make the handle known.
    pub fn remove_contact(&self, handle: &str) -> Result<bool, LocalError> {
        Ok(self
            .conn
            .execute("DELETE FROM contacts WHERE handle = ?", [handle])?
            > 0)
    }

    /// Whether a handle is a saved contact.
    pub fn is_contact(&self, handle: &str) -> Result<bool, LocalError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM contacts WHERE handle = ?)",
            [handle],
            |r| r.get(0),
        )?)
    }

    /// Handles of the contacts named `name` (compared without case), so
    /// that `send Bob …` works wherever a handle does.
    pub fn contacts_named(&self, name: &str) -> Result<Vec<String>, LocalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT handle FROM contacts WHERE lower(name) = lower(?) ORDER BY handle")?;
        let rows = stmt.query_map([name], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Saved contacts, by handle.
    pub fn contacts(&self) -> Result<Vec<Contact>, LocalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT handle, name, added_at FROM contacts ORDER BY handle")?;
        let rows = stmt.query_map([], |r| {
            Ok(Contact {
                handle: r.get(0)?,
                name: r.get(1)?,
                added_at: r.get::<_, i64>(2)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many contacts are saved.
    pub fn contact_count(&self) -> Result<usize, LocalError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM contacts", [], |r| r.get::<_, i64>(0))?
            as usize)
    }

    /// Blocks a handle: its messages are dropped on arrival from now on.
    pub fn block(&self, handle: &str, now: u64) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO blocked (handle, at) VALUES (?, ?)",
            params![handle, now as i64],
        )?;
        Ok(())
    }

    /// Unblocks a handle; false when it was not blocked.
    pub fn unblock(&self, handle: &str) -> Result<bool, LocalError> {
        Ok(self
            .conn
            .execute("DELETE FROM blocked WHERE handle = ?", [handle])?
            > 0)
    }

    /// Whether a handle is blocked.
    pub fn is_blocked(&self, handle: &str) -> Result<bool, LocalError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM blocked WHERE handle = ?)",
            [handle],
            |r| r.get(0),
        )?)
    }

    /// How many handles are blocked.
    pub fn blocked_count(&self) -> Result<usize, LocalError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM blocked", [], |r| r.get::<_, i64>(0))?
            as usize)
    }

    /// Blocked handles with when they were blocked, by handle.
    pub fn blocked(&self) -> Result<Vec<(String, u64)>, LocalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT handle, at FROM blocked ORDER BY handle")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Keeps the server's report token of a received message.
    pub fn set_report_token(
        &self,
        author_account: AccountId,
        id: &str,
        token: &str,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "UPDATE messages SET report_token = ? WHERE author_account = ? AND msg_id = ?",
            params![token, author_account, id],
        )?;
        Ok(())
    }

    /// The report token of the latest message from `handle` that carries
    /// one, with its text (`None` for a group change).
    pub fn latest_report_token(
        &self,
        handle: &str,
    ) -> Result<Option<(String, Option<String>)>, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT report_token, CASE WHEN kind = 'text' THEN body END FROM messages
                 WHERE author_handle = ? AND outgoing = 0 AND report_token IS NOT NULL
                 ORDER BY pos DESC LIMIT 1",
                [handle],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The latest text `handle` sent (in any conversation), to learn from
    /// when it is reported.
    pub fn latest_text_from(&self, handle: &str) -> Result<Option<String>, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT body FROM messages WHERE author_handle = ? AND outgoing = 0 AND kind = 'text'
                 ORDER BY pos DESC LIMIT 1",
                [handle],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The latest text received in conversation `conv`, with its author,
    /// to learn from when the conversation is restored from junk.
    pub fn latest_text_in(&self, conv: &str) -> Result<Option<(String, String)>, LocalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT author_handle, body FROM messages
                 WHERE conv = ? AND outgoing = 0 AND kind = 'text'
                 ORDER BY pos DESC LIMIT 1",
                [conv],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Records a lesson for the personal spam filter, keeping the latest
    /// [`tidings_spam::personal::MAX_LESSONS`].
    pub fn add_lesson(&self, lesson: &tidings_spam::Lesson, at: u64) -> Result<(), LocalError> {
        // The same lesson again (an account state handed over twice) adds
        // nothing; a lesson is moved to the end when it is given again.
        self.conn.execute(
            "DELETE FROM lessons WHERE label = ? AND text = ?",
            rusqlite::params![lesson.label.as_str(), lesson.text],
        )?;
        self.conn.execute(
            "INSERT INTO lessons (label, text, at) VALUES (?, ?, ?)",
            rusqlite::params![lesson.label.as_str(), lesson.text, at as i64],
        )?;
        self.conn.execute(
            "DELETE FROM lessons WHERE pos <= (SELECT MAX(pos) FROM lessons) - ?",
            [tidings_spam::personal::MAX_LESSONS as i64],
        )?;
        Ok(())
    }

    /// Deletes every lesson; returns how many there were.
    pub fn forget_lessons(&self) -> Result<usize, LocalError> {
        Ok(self.conn.execute("DELETE FROM lessons", [])?)
    }

    /// The lessons, oldest first.
    pub fn lessons(&self) -> Result<Vec<tidings_spam::Lesson>, LocalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT label, text FROM lessons ORDER BY pos")?;
        let rows = stmt.query_map([], |r| {
            let label: String = r.get(0)?;
            let text: String = r.get(1)?;
            Ok((label, text))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (label, text) = row?;
            // Rows are written by `add_lesson` from a parsed label; one
            // that is not (a newer client's) is skipped.
            if let Ok(label) = label.parse::<tidings_spam::Label>() {
                out.push(tidings_spam::Lesson::new(label, &text));
            }
        }
        Ok(out)
    }

    /// Whether any message from `handle` is stored.
    pub fn has_messages_from(&self, handle: &str) -> Result<bool, LocalError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE author_handle = ? AND outgoing = 0)",
            [handle],
            |r| r.get(0),
        )?)
    }

    /// Held-back conversations that `handle` started or is in.
    pub fn held_conversations_of(&self, handle: &str) -> Result<Vec<String>, LocalError> {
        Ok(self
            .held_conversations()?
            .into_iter()
            .filter(|(key, members, _)| key == handle || members.iter().any(|m| m == handle))
            .map(|(key, _, _)| key)
            .collect())
    }

    /// Incoming text messages of a conversation already read here:
    /// (author account, author handle, id). Read receipts for them were
    /// held back while it was a request.
    pub fn seen_incoming(
        &self,
        conv: &str,
    ) -> Result<Vec<(AccountId, String, String)>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT author_account, author_handle, msg_id FROM messages
             WHERE conv = ? AND outgoing = 0 AND seen = 1 AND kind = 'text' AND author_account <> 0
             ORDER BY pos",
        )?;
        let rows = stmt.query_map([conv], |r| {
            Ok((r.get::<_, AccountId>(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Texts of the incoming messages of a conversation (to check them
    /// against a new campaign list).
    pub fn incoming_texts(&self, conv: &str) -> Result<Vec<String>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT body FROM messages WHERE conv = ? AND outgoing = 0 AND kind = 'text' ORDER BY pos",
        )?;
        let rows = stmt.query_map([conv], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The cached campaign fingerprints (16 hex digits each).
    pub fn campaigns(&self) -> Result<Vec<String>, LocalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT fingerprint FROM campaigns ORDER BY fingerprint")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces the cached campaign list.
    pub fn replace_campaigns(&self, fingerprints: &[String]) -> Result<(), LocalError> {
        let unique: BTreeSet<&String> = fingerprints.iter().collect();
        self.conn.execute_batch("SAVEPOINT campaigns")?;
        let result = (|| {
            self.conn.execute("DELETE FROM campaigns", [])?;
            let mut stmt = self
                .conn
                .prepare("INSERT INTO campaigns (fingerprint) VALUES (?)")?;
            for f in unique {
                stmt.execute([f])?;
            }
            Ok::<_, LocalError>(())
        })();
        match result {
            Ok(()) => self.conn.execute_batch("RELEASE campaigns")?,
            Err(e) => {
                self.conn
                    .execute_batch("ROLLBACK TO campaigns; RELEASE campaigns")?;
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Local) {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = Local::open(&dir.path().join("local.sqlite3")).expect("opens");
        (dir, local)
    }

    #[test]
    fn known_means_contact_relation_or_a_group_with_someone_known() {
        let (_dir, local) = store();
        assert!(!local.is_known("+12025550199").expect("query"));
        local
            .add_contact("friend@example.org", Some("Friend"), 1)
            .expect("add");
        assert!(local.is_known("friend@example.org").expect("query"));
        local
            .add_relation("+12025550123", Known::WroteTo, 2)
            .expect("relation");
        assert!(local.is_known("+12025550123").expect("query"));

        // A stranger in an accepted group with a friend is known; in a
        // held-back group, or in a group of strangers, not.
        let members = [
            "friend@example.org".to_string(),
            "x@example.org".to_string(),
        ];
        local
            .upsert_conversation_in("group:a", &members, 5, Folder::Request, 5)
            .expect("group");
        assert!(!local.is_known("x@example.org").expect("query"));
        local.accept_conversation("group:a").expect("accept");
        assert!(local.is_known("x@example.org").expect("query"));
        assert!(
            !local.is_known("x@example.or").expect("query"),
            "whole handles only"
        );
        let strangers = ["y@example.org".to_string(), "z@example.org".to_string()];
        local
            .upsert_conversation_in("group:b", &strangers, 5, Folder::Inbox, 5)
            .expect("group");
        assert!(!local.is_known("y@example.org").expect("query"));
    }

    #[test]
    fn filing_restoring_and_deleting_conversations() {
        let (_dir, local) = store();
        let peer = "+12025550199";
        local
            .upsert_conversation_in(peer, &[peer.to_string()], 10, Folder::Junk, 100)
            .expect("create");
        let filing = Filing {
            folder: Folder::Junk,
            reason: Some(Reason::LikelySpam),
            score: Some(0.97),
        };
        local.set_filing(peer, &filing, peer, 100).expect("file");
        local
            .insert_message(
                peer,
                AccountId::new(7).expect("small"),
                peer,
                "m1",
                false,
                "text",
                "win!",
                10,
                "received",
            )
            .expect("insert");
        local
            .set_report_token(AccountId::new(7).expect("small"), "m1", "tok-1")
            .expect("token");
        let junk = local.requests(Folder::Junk).expect("list");
        assert_eq!(junk.len(), 1);
        assert_eq!(junk[0].reason, Reason::LikelySpam);
        assert!(junk[0].reportable);
        assert!((junk[0].score.expect("score") - 0.97).abs() < 1e-6);
        assert_eq!(local.conversations().expect("all")[0].state, Folder::Junk);
        // A later, lower score does not lower the conversation's score.
        let lower = Filing {
            score: Some(0.1),
            ..filing
        };
        local.set_filing(peer, &lower, peer, 100).expect("file");
        assert!(local.request(peer).expect("one").expect("held").score > Some(0.9));

        assert_eq!(local.expired_junk(100).expect("none"), Vec::<String>::new());
        assert_eq!(
            local.expired_junk(101).expect("one"),
            vec![peer.to_string()]
        );
        assert!(local.restore_conversation(peer, 200).expect("restore"));
        assert!(!local.restore_conversation(peer, 200).expect("not junk"));
        let current = local.conversation_filing(peer).expect("q").expect("stored");
        assert_eq!(current.folder, Some(Folder::Request));
        assert!(current.restored);
        assert!(!local
            .junk_conversation(peer, Reason::CampaignMatch, 300)
            .expect("restored"));

        assert_eq!(
            local.latest_report_token(peer).expect("token"),
            Some(("tok-1".to_string(), Some("win!".to_string())))
        );
        local.delete_conversation(peer).expect("delete");
        assert_eq!(local.conversation_folder(peer).expect("q"), None);
        assert!(local.messages(peer).expect("none").is_empty());
        assert_eq!(local.latest_report_token(peer).expect("gone"), None);
    }

    #[test]
    fn blocks_contacts_and_campaigns() {
        let (_dir, local) = store();
        local.block("a@example.org", 1).expect("block");
        local.block("a@example.org", 2).expect("idempotent");
        assert!(local.is_blocked("a@example.org").expect("q"));
        assert_eq!(local.blocked_count().expect("count"), 1);
        assert!(local.unblock("a@example.org").expect("unblock"));
        assert!(!local.is_blocked("a@example.org").expect("q"));

        local
            .add_contact("b@example.org", Some("B"), 1)
            .expect("add");
        let renamed = local.add_contact("b@example.org", None, 2).expect("again");
        assert_eq!(
            renamed.name.as_deref(),
            Some("B"),
            "no name keeps the old one"
        );
        assert_eq!(renamed.added_at, 1);
        assert_eq!(local.contact_count().expect("count"), 1);
        assert!(local.remove_contact("b@example.org").expect("remove"));
        assert!(!local.is_contact("b@example.org").expect("q"));

        let list = vec![
            "00000000000000ff".to_string(),
            "00000000000000ff".to_string(),
        ];
        local.replace_campaigns(&list).expect("replace");
        assert_eq!(local.campaigns().expect("list"), vec!["00000000000000ff"]);
        local.replace_campaigns(&[]).expect("empty");
        assert!(local.campaigns().expect("list").is_empty());
    }

    #[test]
    fn the_migration_keeps_older_conversations_and_their_members_known() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("local.sqlite3");
        {
            // A store written before message requests: schema plus the
            // first migration only.
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.execute_batch(super::super::SCHEMA).expect("schema");
            conn.execute_batch(&format!(
                "{}; PRAGMA user_version = 1;",
                super::super::MIGRATIONS[0]
            ))
            .expect("first migration");
            conn.execute(
                "INSERT INTO conversations (key, members, updated_at) VALUES
                 ('group:g', 'a@example.org,+12025550100', 1), ('c@example.org', 'c@example.org', 2)",
                [],
            )
            .expect("rows");
        }
        let local = Local::open(&path).expect("migrates");
        for h in ["a@example.org", "+12025550100", "c@example.org"] {
            assert!(local.directly_known(h).expect("q"), "{h}");
        }
        assert!(!local.directly_known("a@example").expect("q"));
        assert!(local
            .conversations()
            .expect("list")
            .iter()
            .all(|c| c.state == Folder::Inbox));
    }
}
