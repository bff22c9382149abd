//! Changing a message after sending it: edit (15 minutes, history kept),
//! unsend (2 minutes, everywhere), and delete for me (this account's
//! devices only). The windows and the author check are
//! `tidings_core::content::may_change`, applied by the sender and again by
//! every receiving device.

use tidings_core::content::{
    may_change, Afterwards, Content, MessageRef, MAX_DELETED_REFS, MAX_TEXT_BYTES,
};
use tidings_proto::{AccountId, Handle};

use super::{new_message_id, now_ms, Client, ClientError, Event};

/// What `edit`, `unsend` and `delete` did, for printing.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Changed {
    /// The conversation.
    pub conversation: String,
    /// The message's full id.
    pub id: String,
    /// `edited`, `unsent` or `deleted`.
    pub action: &'static str,
}

impl Client {
    /// Who (besides this account's other devices) must hear of a change to
    /// a message in `conv`: the direct peer or the group's members, those
    /// on Tidings. SMS recipients keep the text they got.
    async fn audience(&self, conv: &str) -> Result<Vec<Handle>, ClientError> {
        let handles: Vec<Handle> = if conv.starts_with("group:") {
            let state = self.group_to_write(conv)?;
            state
                .members
                .into_iter()
                .filter(|h| !self.creds.handles.contains(h))
                .collect()
        } else {
            let h = Self::parse_handle(conv)?;
            if self.creds.handles.contains(&h) {
                Vec::new()
            } else {
                vec![h]
            }
        };
        self.on_tidings(&handles).await
    }

    /// Sends a change to the audience and this account's other devices;
    /// with nobody to tell (a note to self on a single device) sends
    /// nothing.
    async fn announce(&self, recipients: &[Handle], content: &Content) -> Result<(), ClientError> {
        if recipients.is_empty() && self.own_devices(true).await?.is_empty() {
            return Ok(());
        }
        self.send_content(&new_message_id(), recipients, content, false)
            .await?;
        Ok(())
    }

    /// Edits one of this account's messages (id or its start).
    pub async fn edit(&mut self, id: &str, body: &str) -> Result<Changed, ClientError> {
        if body.is_empty() || body.len() > MAX_TEXT_BYTES {
            return Err(ClientError::Usage(format!(
                "the new text must be 1 to {MAX_TEXT_BYTES} bytes"
            )));
        }
        let (conv, author, id) = self.find_message(id)?;
        let m = self
            .local
            .message(author, &id)?
            .ok_or_else(|| ClientError::Usage(format!("no message {id}")))?;
        if m.kind != "text" {
            return Err(ClientError::Usage(
                "only a text message can be edited".into(),
            ));
        }
        let now = now_ms();
        may_change(Afterwards::Edit, author, self.creds.account, m.sent_at, now)
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        let audience = self.audience(&conv).await?;
        let content = Content::Edit {
            target: MessageRef {
                account: author,
                id: id.clone(),
            },
            body: body.to_string(),
            edited_at: now,
        };
        self.announce(&audience, &content).await?;
        self.local.apply_edit(author, &id, body, now)?;
        Ok(Changed {
            conversation: conv,
            id,
            action: "edited",
        })
    }

    /// Unsends one of this account's messages everywhere (id or its start).
    pub async fn unsend(&mut self, id: &str) -> Result<Changed, ClientError> {
        let (conv, author, id) = self.find_message(id)?;
        let m = self
            .local
            .message(author, &id)?
            .ok_or_else(|| ClientError::Usage(format!("no message {id}")))?;
        let now = now_ms();
        may_change(
            Afterwards::Unsend,
            author,
            self.creds.account,
            m.sent_at,
            now,
        )
        .map_err(|e| ClientError::Usage(e.to_string()))?;
        let audience = self.audience(&conv).await?;
        let content = Content::Unsend {
            target: MessageRef {
                account: author,
                id: id.clone(),
            },
            at: now,
        };
        self.announce(&audience, &content).await?;
        self.local.unsend(author, &id)?;
        Ok(Changed {
            conversation: conv,
            id,
            action: "unsent",
        })
    }

    /// Deletes a message on this account's devices only (id or its start).
    pub async fn delete_for_me(&mut self, id: &str) -> Result<Changed, ClientError> {
        let (conv, author, id) = self.find_message(id)?;
        let content = Content::Deleted {
            refs: vec![MessageRef {
                account: author,
                id: id.clone(),
            }],
        };
        self.announce(&[], &content).await?;
        self.local.delete_message(author, &id)?;
        Ok(Changed {
            conversation: conv,
            id,
            action: "deleted",
        })
    }

    /// Applies a received edit or unsend from `sender`: only to a message
    /// stored here, by the sender's own account, within the window.
    pub(crate) fn receive_change(
        &mut self,
        sender: AccountId,
        content: Content,
    ) -> Result<Vec<Event>, ClientError> {
        let (target, what, at) = match &content {
            Content::Edit {
                target, edited_at, ..
            } => (target, Afterwards::Edit, *edited_at),
            Content::Unsend { target, at } => (target, Afterwards::Unsend, *at),
            Content::Deleted { refs } => {
                // Only this account's own devices delete for it.
                if sender == self.creds.account {
                    for r in refs.iter().take(MAX_DELETED_REFS) {
                        self.local.delete_message(r.account, &r.id)?;
                    }
                }
                return Ok(Vec::new());
            }
            _ => return Ok(Vec::new()),
        };
        let Some(m) = self.local.message(target.account, &target.id)? else {
            return Ok(Vec::new());
        };
        if let Err(e) = may_change(what, target.account, sender, m.sent_at, at) {
            tracing::info!(error = %e, "refused a change to a message");
            return Ok(Vec::new());
        }
        let changed = match &content {
            Content::Edit { body, .. } if body.len() <= MAX_TEXT_BYTES => {
                self.local
                    .apply_edit(target.account, &target.id, body, at)?
            }
            Content::Unsend { .. } => self.local.unsend(target.account, &target.id)?,
            _ => false,
        };
        if !changed || self.is_held(&m.conversation)? {
            return Ok(Vec::new());
        }
        Ok(self
            .local
            .message(target.account, &target.id)?
            .map(|m| Event::Message(Box::new(m)))
            .into_iter()
            .collect())
    }
}
