//! History on a new device. The user confirms on a device that has the
//! history (`tidings history send`): it writes every conversation of its
//! list (not requests or junk) to a file, encrypts and uploads it in
//! chunks over the attachment path (an interrupted upload resumes), and
//! sends the pointer, end-to-end encrypted like every payload, to the new
//! device alone. The new device downloads, checks and imports it at its
//! next `sync`; until it succeeds the offer is kept and tried again.
//! Without another device there is no history, and a new device says so.

use serde::{Deserialize, Serialize};
use tidings_core::attachment::AttachmentPointer;
use tidings_core::content::Content;
use tidings_core::group::GroupLog;
use tidings_proto::{AccountId, DeviceId};

use super::{new_message_id, now_ms, Client, ClientError, Event};
use crate::local::StoredMessage;

/// Largest history a device sends or accepts, in bytes of its file.
pub const MAX_HISTORY_BYTES: u64 = 100 * 1024 * 1024;
/// Setting key for a history offer not yet imported (the content's JSON).
const HISTORY_OFFER: &str = "history_offer";
/// Setting key: this device has imported a history.
const HISTORY_DONE: &str = "history_imported";
/// Setting key: how this device joined (`register` or `login`); a device
/// that logged in to an existing account may expect history.
pub const ENROLLED_BY: &str = "enrolled_by";
/// The history file's format version.
const HISTORY_VERSION: u32 = 1;

/// One conversation as a history file holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryConversation {
    /// Its key.
    pub key: String,
    /// Members other than this account.
    pub members: Vec<String>,
    /// A group's name.
    pub title: Option<String>,
    /// A group's membership log.
    pub group: Option<GroupLog>,
    /// Its messages, oldest first.
    pub messages: Vec<HistoryMessage>,
}

/// One message as a history file holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryMessage {
    /// The stored message (its attachments are carried as pointers).
    pub message: StoredMessage,
    /// Its attachments, so the new device can fetch them while the server
    /// keeps them.
    pub attachments: Vec<AttachmentPointer>,
}

/// A whole history file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryFile {
    /// Format version.
    pub version: u32,
    /// The account it belongs to (a device imports only its own).
    pub account: AccountId,
    /// The conversations.
    pub conversations: Vec<HistoryConversation>,
}

/// What `history send` did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HistorySent {
    /// The device it went to.
    pub device: DeviceId,
    /// Conversations sent.
    pub conversations: usize,
    /// Messages sent.
    pub messages: usize,
    /// Bytes uploaded (encrypted).
    pub bytes: u64,
}

/// How long a history file left by an interrupted send is sent as it is.
const RESUME_WITHIN: std::time::Duration = std::time::Duration::from_secs(3600);

/// The history file an interrupted send left at `path`, if it is recent
/// and reads back; otherwise none (and a stale one is removed).
fn reusable_export(
    files: &dyn crate::files::FileStore,
    path: &std::path::Path,
) -> Result<Option<HistoryFile>, ClientError> {
    let Ok(meta) = files.metadata(path) else {
        return Ok(None);
    };
    let age_ns = (now_ms() as i64)
        .saturating_mul(1_000_000)
        .saturating_sub(meta.modified_ns);
    let fresh = (0..RESUME_WITHIN.as_nanos() as i64).contains(&age_ns);
    let parsed = files
        .read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<HistoryFile>(&b).ok());
    match parsed {
        Some(file) if fresh => Ok(Some(file)),
        _ => {
            let _ = files.remove(path);
            Ok(None)
        }
    }
}

impl Client {
    /// This device's history as a file's contents.
    pub fn export_history(&self) -> Result<HistoryFile, ClientError> {
        let mut conversations = Vec::new();
        for c in self.local.conversations()? {
            if c.state.is_held() {
                continue;
            }
            let mut messages = Vec::new();
            for m in self.local.messages(&c.key)? {
                let attachments = self.local.attachment_pointers(m.author_account, &m.id)?;
                messages.push(HistoryMessage {
                    message: m,
                    attachments,
                });
            }
            conversations.push(HistoryConversation {
                group: self.local.group_log(&c.key)?,
                key: c.key,
                members: c.members,
                title: c.title,
                messages,
            });
        }
        Ok(HistoryFile {
            version: HISTORY_VERSION,
            account: self.creds.account,
            conversations,
        })
    }

    /// Sends this device's history to another device of the account (the
    /// newest one unless `to` names one). The caller has confirmed.
    pub async fn send_history(
        &self,
        to: Option<DeviceId>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<HistorySent, ClientError> {
        let mut devices = self.api.devices().await?;
        devices.retain(|d| d.id != self.creds.device);
        let target = match to {
            Some(id) => devices.iter().find(|d| d.id == id).ok_or_else(|| {
                ClientError::Usage(format!(
                    "device {id} is not another device of this account; see `tidings devices`"
                ))
            })?,
            None => devices.iter().max_by_key(|d| d.created_at).ok_or_else(|| {
                ClientError::Usage("this account has no other device to send the history to".into())
            })?,
        };
        let files = self.profile.files();
        let dir = self.profile.dir().join("history");
        let path = dir.join(format!("history-for-device-{}.json", target.id));
        // A file left by an interrupted send within the hour is sent as it
        // is, so that the upload resumes where it stopped (uploads resume
        // for the same file); otherwise the history is written afresh.
        let file = match reusable_export(files, &path)? {
            Some(file) => file,
            None => {
                let file = self.export_history()?;
                let json = serde_json::to_vec(&file).expect("a history always serialises");
                if json.len() as u64 > MAX_HISTORY_BYTES {
                    return Err(ClientError::Usage(format!(
                        "the history is {} bytes, more than the {MAX_HISTORY_BYTES} a transfer carries",
                        json.len()
                    )));
                }
                files.write(&path, &json).map_err(|e| {
                    ClientError::Usage(format!("cannot write {}: {e}", path.display()))
                })?;
                file
            }
        };
        let count = file.conversations.iter().map(|c| c.messages.len()).sum();
        // Kept on failure, for the resumed send.
        let pointer = self.upload_attachment(&path, progress).await?;
        let _ = files.remove(&path);
        // Look the account's devices up afresh, so the new one is among them.
        self.own_devices(true).await?;
        let content = Content::History {
            pointer: Box::new(pointer.clone()),
            device: target.id,
        };
        self.send_content(&new_message_id(), &[], &content, false)
            .await?;
        Ok(HistorySent {
            device: target.id,
            conversations: file.conversations.len(),
            messages: count,
            bytes: tidings_core::attachment::ciphertext_len(pointer.size),
        })
    }

    /// Keeps a history offer from another device of this account, if it is
    /// for this device.
    pub(crate) fn receive_history_offer(&self, content: &Content) -> Result<(), ClientError> {
        if let Content::History { pointer, device } = content {
            if *device == self.creds.device && pointer.size <= MAX_HISTORY_BYTES {
                let json = serde_json::to_string(content).expect("contents serialise");
                self.local.set_setting(HISTORY_OFFER, &json)?;
            }
        }
        Ok(())
    }

    /// Imports a history offered to this device, if one waits: downloads,
    /// checks, and stores what is not here yet. Kept for the next sync
    /// when it fails.
    pub(crate) async fn import_offered_history(&mut self) -> Result<Vec<Event>, ClientError> {
        let Some(json) = self.local.setting(HISTORY_OFFER)? else {
            return Ok(Vec::new());
        };
        let Ok(Content::History { pointer, .. }) = serde_json::from_str::<Content>(&json) else {
            self.local.delete_setting(HISTORY_OFFER)?;
            return Ok(Vec::new());
        };
        let dir = self.profile.dir().join("history");
        let path = self
            .download_attachment(&pointer, &dir, "incoming", &mut |_, _| {})
            .await?;
        let files = self.profile.files();
        let read = files.read(&path);
        let _ = files.remove(&path);
        let bytes =
            read.map_err(|e| ClientError::Usage(format!("cannot read the history: {e}")))?;
        let file: HistoryFile = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Usage(format!("the history is damaged: {e}")))?;
        let (conversations, messages) = self.import_history(&file)?;
        self.local.delete_setting(HISTORY_OFFER)?;
        self.local
            .set_setting(HISTORY_DONE, &now_ms().to_string())?;
        Ok(vec![Event::Notice {
            notice: "history_imported".into(),
            text: format!(
                "your message history arrived from your other device: {conversations} \
                 conversation(s), {messages} message(s)"
            ),
        }])
    }

    /// Stores a history's conversations and messages where they are not
    /// here already (a message already stored is left as it is). Returns
    /// the conversations and messages imported.
    pub fn import_history(&self, file: &HistoryFile) -> Result<(usize, usize), ClientError> {
        if file.account != self.creds.account {
            return Err(ClientError::Usage(
                "that history belongs to another account".into(),
            ));
        }
        let mut count = 0;
        for c in &file.conversations {
            let at = c.messages.last().map(|m| m.message.sent_at).unwrap_or(0);
            self.local.upsert_conversation(&c.key, &c.members, at)?;
            if let Some(t) = &c.title {
                self.local.set_title(&c.key, t)?;
            }
            if let Some(log) = &c.group {
                if self.local.group_log(&c.key)?.is_none() {
                    self.local.save_group_log(&c.key, log)?;
                }
            }
            for h in &c.messages {
                let m = &h.message;
                let inserted = self.local.insert_message(
                    &c.key,
                    m.author_account,
                    &m.from,
                    &m.id,
                    m.outgoing,
                    &m.kind,
                    &m.body,
                    m.sent_at,
                    &m.state,
                )?;
                if inserted != crate::local::Inserted::New {
                    continue;
                }
                count += 1;
                self.local.set_via(m.author_account, &m.id, &m.via)?;
                if m.state == "read" || m.outgoing {
                    self.local.mark_seen(m.author_account, &m.id)?;
                }
                if let Some(q) = &m.reply_to {
                    self.local
                        .set_reply(m.author_account, &m.id, q.account, &q.id)?;
                }
                for (by, emoji) in &m.reactions {
                    self.local
                        .set_reaction(m.author_account, &m.id, by, emoji)?;
                }
                for p in &h.attachments {
                    self.local
                        .add_attachment(m.author_account, &m.id, p, None, "pending")?;
                }
            }
        }
        Ok((file.conversations.len(), count))
    }

    /// A note for a device that has just joined an existing account and
    /// has no history: where to get it, or that there is none to get.
    pub(crate) fn no_history_note(&self, others: bool) -> Result<Option<Event>, ClientError> {
        if self.local.setting(HISTORY_DONE)?.is_some() {
            return Ok(None);
        }
        let text = if others {
            "this device has no message history; to copy it here, run \
             `tidings history send` on one of your other devices"
        } else if self.local.setting(ENROLLED_BY)?.as_deref() == Some("login") {
            "this device has no message history, and no other device of your account \
             is signed in to send it: history lives only on your devices"
        } else {
            return Ok(None);
        };
        Ok(Some(Event::Notice {
            notice: "no_history".into(),
            text: text.into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_send_resumes_with_the_same_file_and_garbage_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history-for-device-2.json");
        let files = crate::files::NativeFiles;
        assert_eq!(reusable_export(&files, &path).expect("none"), None);
        let file = HistoryFile {
            version: HISTORY_VERSION,
            account: AccountId::from(1u32),
            conversations: Vec::new(),
        };
        std::fs::write(&path, serde_json::to_vec(&file).expect("json")).expect("write");
        assert_eq!(reusable_export(&files, &path).expect("read"), Some(file));
        assert!(path.exists(), "kept for the upload to resume");
        std::fs::write(&path, b"half a file").expect("write");
        assert_eq!(reusable_export(&files, &path).expect("read"), None);
        assert!(!path.exists(), "a damaged file is written afresh");
    }
}
