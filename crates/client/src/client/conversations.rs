//! What the user does to a whole conversation: mute, archive, pin, delete.
//! Each change is made here and sent to this account's other devices,
//! which follow, so every device shows the same list.

use tidings_core::content::{Content, ConversationChange};

use super::{new_message_id, Client, ClientError};

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
        if !self.own_devices(false).await?.is_empty() {
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
                    let _ = std::fs::remove_file(path);
                }
                return Ok(());
            }
        };
        self.local.set_conversation_flag(key, flag, on)?;
        Ok(())
    }
}
