//! What the user does to a whole conversation: mute, archive, pin, delete.
//! Each change is made here and sent to this account's other devices,
//! which follow, so every device shows the same list.

use tidings_core::content::{Content, ConversationChange, MAX_LINKED_HANDLES};
use tidings_proto::api::LinkHandles;
use tidings_proto::stream::Sender;
use tidings_proto::Handle;

use super::{new_message_id, Client, ClientError, LINK_HANDLES};

impl Client {
    /// Mutes, archives, pins or deletes a conversation (or undoes it) on
    /// this device and this account's others. Returns the conversation.
    pub async fn change_conversation(
        &mut self,
        target: &str,
        change: ConversationChange,
    ) -> Result<String, ClientError> {
        let key = self.conversation_key(std::slice::from_ref(&target.to_string()))?;
        if self.local.conversation_members(&key)?.is_none() {
            return Err(ClientError::Usage(format!(
                "no conversation {key}; see `tidings chats`"
            )));
        }
        self.apply_conversation_change(&key, change)?;
        if !self.own_devices(true).await?.is_empty() {
            let content = Content::ConversationState {
                key: key.clone(),
                change,
            };
            self.send_content(&new_message_id(), &[], &content, false)
                .await?;
        }
        Ok(key)
    }

    /// Applies a change to a conversation, made here or on another device
    /// of this account.
    pub(crate) fn apply_conversation_change(
        &self,
        key: &str,
        change: ConversationChange,
    ) -> Result<(), ClientError> {
        use ConversationChange as C;
        let (flag, on) = match change {
            C::Mute => ("muted", true),
            C::Unmute => ("muted", false),
            C::Archive => ("archived", true),
            C::Unarchive => ("archived", false),
            C::Pin => ("pinned", true),
            C::Unpin => ("pinned", false),
            C::Delete => {
                for path in self.local.delete_conversation(key)? {
                    // A file already gone is what deleting wants.
                    let _ = self.profile.files().remove(std::path::Path::new(&path));
                }
                return Ok(());
            }
        };
        self.local.set_conversation_flag(key, flag, on)?;
        Ok(())
    }
}

impl Client {
    /// This account's handles, to name in a message when it lets the
    /// people it writes to see them as one account (`nobody` keeps them
    /// apart; `contacts` and `everyone` both include the recipient).
    pub(crate) fn linked_handles(&self) -> Result<Vec<Handle>, ClientError> {
        let setting = self
            .local
            .setting(LINK_HANDLES)?
            .map(|s| LinkHandles::parse(&s))
            .unwrap_or_default();
        if setting == LinkHandles::Nobody || self.creds.handles.len() < 2 {
            return Ok(Vec::new());
        }
        Ok(self
            .creds
            .handles
            .iter()
            .take(MAX_LINKED_HANDLES)
            .cloned()
            .collect())
    }

    /// Checks the handles a sender says are its own with the directory
    /// (which, the sender having written to us, shows them as one account
    /// unless it chose `nobody`), and remembers those that are, so that its
    /// messages from any of them join one conversation. A handle the
    /// directory shows as another account is ignored: a message cannot
    /// claim somebody else's number.
    pub(crate) async fn verify_linked_handles(&self, sender: &Sender, handles: &[Handle]) {
        if handles.len() < 2 || !handles.contains(&sender.handle) {
            return;
        }
        let unknown: Vec<String> = handles
            .iter()
            .take(MAX_LINKED_HANDLES)
            .filter(|h| **h != sender.handle)
            .filter(|h| {
                self.local
                    .account_of(h.as_str())
                    .ok()
                    .flatten()
                    .is_none_or(|a| a != sender.account)
            })
            .map(Handle::to_string)
            .collect();
        if unknown.is_empty() {
            return;
        }
        match self.api.lookup(&unknown).await {
            Ok(answer) => {
                for entry in answer.found {
                    if entry.account == sender.account {
                        if let Err(e) =
                            self.local
                                .cache_devices(&entry.handle, entry.account, &entry.devices)
                        {
                            tracing::warn!(error = %e, "could not keep a linked handle");
                        }
                    }
                }
            }
            Err(e) => tracing::info!(error = %e, "could not check a sender's handles"),
        }
    }

    /// Sets who may learn that this account's handles are one account, on
    /// the server (the directory) and here (messages name the handles).
    pub async fn set_link_handles(&self, link: LinkHandles) -> Result<(), ClientError> {
        self.api
            .set_account_settings(&tidings_proto::api::AccountSettings { link_handles: link })
            .await?;
        self.local.set_setting(LINK_HANDLES, link.as_str())?;
        Ok(())
    }
}
