//! What happens to a message after it is stored: replies, edits (with
//! their history), unsending, deleting on this device, and local full-text
//! search over every conversation.
//!
//! Search is SQLite FTS5 with the `trigram` tokenizer, kept in step with
//! `messages` by triggers: trigrams find any part of a word in any script,
//! Chinese included, where a word tokenizer would see a whole run of
//! ideographs as one word. Queries shorter than three characters fall back
//! to a bounded scan.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use tidings_core::content::MAX_EDITS;
use tidings_proto::AccountId;

use super::{Local, LocalError, StoredMessage};

/// Most results `search` returns.
pub const MAX_SEARCH_RESULTS: usize = 200;
/// Longest search query, in bytes.
pub const MAX_SEARCH_BYTES: usize = 256;
/// Characters of a quoted message shown with a reply.
pub const QUOTE_CHARS: usize = 80;

/// The message a reply answers, as shown above the reply.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Quote {
    /// Its author's account.
    pub account: AccountId,
    /// Its id.
    pub id: String,
    /// Its author's handle, if the message is stored here.
    pub from: Option<String>,
    /// The start of its text, if stored here (empty once unsent).
    pub text: Option<String>,
}

/// An earlier text of an edited message.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PastText {
    /// The text it had.
    pub body: String,
    /// When it was replaced (the author's clock).
    pub replaced_at: u64,
}

impl Local {
    /// Records which message a reply answers.
    pub fn set_reply(
        &self,
        author: AccountId,
        id: &str,
        to_account: AccountId,
        to_id: &str,
    ) -> Result<(), LocalError> {
        self.conn.execute(
            "UPDATE messages SET reply_account = ?, reply_id = ? WHERE author_account = ? AND msg_id = ?",
            params![to_account, to_id, author, id],
        )?;
        Ok(())
    }

    /// One stored message by its author and id.
    pub fn message(
        &self,
        author: AccountId,
        id: &str,
    ) -> Result<Option<StoredMessage>, LocalError> {
        let conv: Option<String> = self
            .conn
            .query_row(
                "SELECT conv FROM messages WHERE author_account = ? AND msg_id = ?",
                params![author, id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(conv) = conv else {
            return Ok(None);
        };
        Ok(self
            .messages(&conv)?
            .into_iter()
            .find(|m| m.author_account == author && m.id == id))
    }

    /// Replaces a text message's body, keeping the old one in its history
    /// (at most [`MAX_EDITS`] entries, oldest dropped). Returns whether a
    /// text message was there to edit.
    pub fn apply_edit(
        &self,
        author: AccountId,
        id: &str,
        body: &str,
        edited_at: u64,
    ) -> Result<bool, LocalError> {
        let old: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM messages WHERE author_account = ? AND msg_id = ? AND kind = 'text'",
                params![author, id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(old) = old else {
            return Ok(false);
        };
        self.conn.execute(
            "INSERT INTO edits (author_account, msg_id, body, replaced_at) VALUES (?, ?, ?, ?)",
            params![author, id, old, edited_at as i64],
        )?;
        self.conn.execute(
            "DELETE FROM edits WHERE rowid IN (
                 SELECT rowid FROM edits WHERE author_account = ?1 AND msg_id = ?2
                 ORDER BY replaced_at DESC, rowid DESC LIMIT -1 OFFSET ?3)",
            params![author, id, MAX_EDITS as i64],
        )?;
        self.conn.execute(
            "UPDATE messages SET body = ?, edited_at = ? WHERE author_account = ? AND msg_id = ?",
            params![body, edited_at as i64, author, id],
        )?;
        Ok(true)
    }

    /// The earlier texts of an edited message, oldest first.
    pub fn edit_history(&self, author: AccountId, id: &str) -> Result<Vec<PastText>, LocalError> {
        let mut stmt = self.conn.prepare(
            "SELECT body, replaced_at FROM edits WHERE author_account = ? AND msg_id = ?
             ORDER BY replaced_at, rowid",
        )?;
        let rows = stmt.query_map(params![author, id], |r| {
            Ok(PastText {
                body: r.get(0)?,
                replaced_at: r.get::<_, i64>(1)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Takes a message back: its text, history, reactions and attachments
    /// go; a note that it was unsent stays. Returns whether it was there.
    pub fn unsend(&self, author: AccountId, id: &str) -> Result<bool, LocalError> {
        let n = self.conn.execute(
            "UPDATE messages SET kind = 'unsent', body = '' WHERE author_account = ? AND msg_id = ?
             AND kind IN ('text', 'unsent')",
            params![author, id],
        )?;
        self.forget_extras(author, id)?;
        Ok(n > 0)
    }

    /// Deletes a message on this device only. Returns whether it was there.
    pub fn delete_message(&self, author: AccountId, id: &str) -> Result<bool, LocalError> {
        let n = self.conn.execute(
            "DELETE FROM messages WHERE author_account = ? AND msg_id = ?",
            params![author, id],
        )?;
        self.forget_extras(author, id)?;
        Ok(n > 0)
    }

    fn forget_extras(&self, author: AccountId, id: &str) -> Result<(), LocalError> {
        for table in ["edits", "reactions", "attachments"] {
            self.conn.execute(
                &format!("DELETE FROM {table} WHERE author_account = ? AND msg_id = ?"),
                params![author, id],
            )?;
        }
        Ok(())
    }

    /// Keeps a message that waits for the server ([`crate::client::outbox`]).
    pub fn queue_outbox(&self, id: &str, sent_at: u64, draft: &str) -> Result<(), LocalError> {
        self.conn.execute(
            "INSERT INTO outbox (id, sent_at, draft) VALUES (?, ?, ?)
             ON CONFLICT (id) DO NOTHING",
            params![id, sent_at as i64, draft],
        )?;
        Ok(())
    }

    /// Forgets a message that left the outbox.
    pub fn unqueue_outbox(&self, id: &str) -> Result<(), LocalError> {
        self.conn.execute("DELETE FROM outbox WHERE id = ?", [id])?;
        Ok(())
    }

    /// Waiting messages, oldest first: id, time written, draft (JSON).
    pub fn outbox(&self) -> Result<Vec<(String, u64, String)>, LocalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, sent_at, draft FROM outbox ORDER BY sent_at, rowid")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many messages wait.
    pub fn outbox_len(&self) -> Result<usize, LocalError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))?
            as usize)
    }

    /// Whether a message waits.
    pub fn in_outbox(&self, id: &str) -> Result<bool, LocalError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE id = ?)",
            [id],
            |r| r.get(0),
        )?)
    }

    /// Whether `account` wrote any message stored in conversation `conv`.
    pub fn account_wrote_in(&self, conv: &str, account: AccountId) -> Result<bool, LocalError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE conv = ? AND author_account = ? AND outgoing = 0)",
            params![conv, account],
            |r| r.get(0),
        )?)
    }

    /// The quote shown above a reply to (`account`, `id`).
    pub fn quote(&self, account: AccountId, id: &str) -> Result<Quote, LocalError> {
        let found: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT author_handle, body FROM messages WHERE author_account = ? AND msg_id = ?",
                params![account, id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(Quote {
            account,
            id: id.to_string(),
            from: found.as_ref().map(|(f, _)| f.clone()),
            text: found.map(|(_, b)| b.chars().take(QUOTE_CHARS).collect()),
        })
    }

    /// Text messages, newest first, whose text contains `query` (without
    /// regard to case), across every conversation; at most `limit`.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<StoredMessage>, LocalError> {
        let limit = limit.min(MAX_SEARCH_RESULTS) as i64;
        let hits: Vec<(AccountId, String)> = if query.chars().count() >= 3 {
            // One FTS5 phrase: quotes doubled, so the query is text, not syntax.
            let phrase = format!("\"{}\"", query.replace('"', "\"\""));
            let mut stmt = self.conn.prepare(
                "SELECT m.author_account, m.msg_id FROM messages_fts f
                 JOIN messages m ON m.pos = f.rowid
                 WHERE messages_fts MATCH ? AND m.kind = 'text' ORDER BY m.pos DESC LIMIT ?",
            )?;
            let rows = stmt.query_map(params![phrase, limit], |r| {
                Ok((r.get::<_, AccountId>(0)?, r.get(1)?))
            })?;
            rows.collect::<Result<_, _>>()?
        } else {
            let mut stmt = self.conn.prepare(
                "SELECT author_account, msg_id FROM messages
                 WHERE kind = 'text' AND instr(lower(body), lower(?)) > 0
                 ORDER BY pos DESC LIMIT ?",
            )?;
            let rows = stmt.query_map(params![query, limit], |r| {
                Ok((r.get::<_, AccountId>(0)?, r.get(1)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(hits.len());
        for (author, id) in hits {
            if let Some(m) = self.message(author, &id)? {
                out.push(m);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Local) {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = Local::open(&dir.path().join("local.db")).expect("open");
        (dir, local)
    }

    fn text(local: &Local, id: &str, body: &str) {
        local
            .insert_message(
                "bob@x.org",
                AccountId::from(2u32),
                "bob@x.org",
                id,
                false,
                "text",
                body,
                1,
                "received",
            )
            .expect("insert");
    }

    #[test]
    fn search_finds_parts_of_words_in_any_script_and_follows_edits() {
        let (_d, local) = store();
        text(&local, "a1", "Dinner at 8? Bring the Wine");
        text(&local, "a2", "明天下午三点在公司开会");
        text(&local, "a3", "unrelated");
        let ids = |q: &str| -> Vec<String> {
            local
                .search(q, 10)
                .expect("search")
                .into_iter()
                .map(|m| m.id)
                .collect()
        };
        assert_eq!(ids("wine"), ["a1"]);
        assert_eq!(ids("下午三点"), ["a2"]);
        assert_eq!(ids("开会"), ["a2"], "two characters: the scan");
        assert_eq!(
            ids("\"quoted\" OR x"),
            Vec::<String>::new(),
            "syntax is text"
        );
        local
            .apply_edit(AccountId::from(2u32), "a1", "Dinner at 9", 2)
            .expect("edit");
        assert!(ids("wine").is_empty(), "the old text is no longer found");
        assert_eq!(ids("at 9"), ["a1"]);
        let history = local
            .edit_history(AccountId::from(2u32), "a1")
            .expect("history");
        assert_eq!(history[0].body, "Dinner at 8? Bring the Wine");
        local.unsend(AccountId::from(2u32), "a2").expect("unsend");
        assert!(ids("下午三点").is_empty());
        local
            .delete_message(AccountId::from(2u32), "a1")
            .expect("delete");
        assert!(ids("at 9").is_empty());
    }

    #[test]
    fn a_second_handle_of_an_account_finds_its_conversation() {
        let (_d, local) = store();
        let carol = AccountId::from(3u32);
        local
            .upsert_conversation("carol@x.org", &["carol@x.org".to_string()], 1)
            .expect("conversation");
        assert_eq!(
            local
                .direct_conversation_of(carol, "+442079460123")
                .expect("q"),
            None
        );
        // The directory said carol@x.org is Carol's account.
        let h = tidings_proto::Handle::parse("carol@x.org", "US").expect("handle");
        local.cache_devices(&h, carol, &[]).expect("cache");
        assert_eq!(
            local
                .direct_conversation_of(carol, "+442079460123")
                .expect("q")
                .as_deref(),
            Some("carol@x.org")
        );
        assert_eq!(
            local
                .direct_conversation_of(AccountId::from(4u32), "+1")
                .expect("q"),
            None,
            "another account's handle joins nothing"
        );
        assert_eq!(
            local
                .direct_conversation_of(carol, "carol@x.org")
                .expect("q"),
            None,
            "not itself"
        );
        // Groups never take a direct message.
        local
            .upsert_conversation("group:g", &["carol@x.org".to_string()], 2)
            .expect("group");
        assert_eq!(
            local
                .direct_conversation_of(carol, "+442079460123")
                .expect("q")
                .as_deref(),
            Some("carol@x.org")
        );
    }

    #[test]
    fn edit_history_is_bounded() {
        let (_d, local) = store();
        text(&local, "a1", "v0");
        for i in 1..=(MAX_EDITS + 5) {
            local
                .apply_edit(AccountId::from(2u32), "a1", &format!("v{i}"), i as u64)
                .expect("edit");
        }
        let history = local
            .edit_history(AccountId::from(2u32), "a1")
            .expect("history");
        assert_eq!(history.len(), MAX_EDITS);
        assert_eq!(
            history.last().expect("newest").body,
            format!("v{}", MAX_EDITS + 4)
        );
    }
}
