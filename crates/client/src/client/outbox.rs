//! The outbox: a message written while the server cannot be reached is
//! kept in its conversation as "waiting" and sent by the next `sync` or
//! `send` that reaches the server, exactly once. Exactly once holds because
//! every attempt carries the message's first id, which the server accepts
//! once (sends are idempotent by client id), and the outbox row goes only
//! after the server's answer.

use serde::{Deserialize, Serialize};
use tidings_core::content::MessageRef;

use super::{Client, ClientError};
use crate::api::ApiError;
use crate::local::StoredMessage;

/// Most messages waiting in the outbox; past it, sends while offline fail
/// with an error instead of queueing more.
pub const MAX_OUTBOX: usize = 1_000;

/// What the user asked to send, kept until it is sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Draft {
    /// Recipients as typed (handles, names, a group).
    pub targets: Vec<String>,
    /// The text.
    pub text: String,
    /// Files to attach, read again when it is sent.
    pub files: Vec<std::path::PathBuf>,
    /// The message it answers.
    pub reply_to: Option<MessageRef>,
    /// Send even though a verified contact's devices changed.
    pub confirm: bool,
    /// The sender agreed to SMS download links.
    pub sms_links: bool,
}

/// Whether an error means the server was not reached at all, so that the
/// message should wait rather than fail.
pub fn is_unreachable(e: &ClientError) -> bool {
    matches!(e, ClientError::Api(ApiError::Network { .. }))
}

impl Client {
    /// Sends a message of this device's that failed again, as the same
    /// message: the same id, so that a server which did take it the first
    /// time does not deliver it twice, and the same place in its
    /// conversation. Its files are read again from where they were sent.
    pub async fn retry(
        &mut self,
        id: &str,
        progress: &mut dyn FnMut(&str, u64, u64),
    ) -> Result<StoredMessage, ClientError> {
        let me = self.creds.account;
        let m = self
            .local
            .message(me, id)?
            .ok_or_else(|| ClientError::Usage(format!("no message {id} sent from here")))?;
        if !m.outgoing || m.kind != "text" || !m.state.starts_with("failed") {
            return Err(ClientError::Usage(format!(
                "message {id} has not failed (it is {}); nothing to retry",
                m.state
            )));
        }
        let draft = Draft {
            targets: vec![m.conversation.clone()],
            text: m.body.clone(),
            files: m
                .attachments
                .iter()
                .filter_map(|a| a.path.as_ref().map(std::path::PathBuf::from))
                .collect(),
            reply_to: m.reply_to.map(|q| MessageRef {
                account: q.account,
                id: q.id,
            }),
            confirm: false,
            sms_links: false,
        };
        self.send_draft(&draft, id, m.sent_at, progress).await
    }

    /// Sends what waits in the outbox, oldest first; stops at the first
    /// message the server cannot be reached for. A message that fails for
    /// another reason leaves the outbox marked failed. Returns how many
    /// were sent.
    pub async fn flush_outbox(&mut self) -> Result<usize, ClientError> {
        let mut sent = 0;
        for (id, sent_at, json) in self.local.outbox()? {
            let draft: Draft = match serde_json::from_str(&json) {
                Ok(d) => d,
                Err(e) => {
                    self.local.unqueue_outbox(&id)?;
                    self.local.set_state(
                        self.creds.account,
                        &id,
                        &format!("failed: could not be read back ({e})"),
                    )?;
                    continue;
                }
            };
            match self
                .send_draft(&draft, &id, sent_at, &mut |_, _, _| {})
                .await
            {
                Ok(m) if m.state == "waiting" => break,
                Ok(_) => sent += 1,
                Err(e) => tracing::info!(error = %e, "a waiting message failed"),
            }
        }
        Ok(sent)
    }

    /// Keeps a draft for later; the message is stored as "waiting".
    pub(crate) fn keep_waiting(
        &self,
        draft: &Draft,
        id: &str,
        sent_at: u64,
    ) -> Result<Option<StoredMessage>, ClientError> {
        if self.local.outbox_len()? >= MAX_OUTBOX && !self.local.in_outbox(id)? {
            return Ok(None);
        }
        let json = serde_json::to_string(draft).expect("drafts always serialise");
        self.local.queue_outbox(id, sent_at, &json)?;
        self.local.set_state(self.creds.account, id, "waiting")?;
        Ok(self.local.message(self.creds.account, id)?)
    }
}
