//! What travels inside a payload: the client-to-client protocol.
//!
//! The server never interprets these bytes (end-to-end encryption will make
//! them ciphertext); only clients do. Every kind carries what a receiving
//! device needs to file it in the right conversation, including the sender's
//! own other devices (sender sync), which need to know the recipients.

use serde::{Deserialize, Serialize};
use tidings_proto::AccountId;
use tidings_proto::Handle;

/// Largest text body accepted in a message, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// How long after sending its author may edit a message.
pub const EDIT_WINDOW_MS: u64 = 15 * 60 * 1000;
/// How long after sending its author may unsend a message.
pub const UNSEND_WINDOW_MS: u64 = 2 * 60 * 1000;
/// Most edits kept per message (the history `show --json` gives).
pub const MAX_EDITS: usize = 20;
/// Most entries (contacts, known and blocked handles) in one
/// [`Content::AccountState`]; a larger state goes in several.
pub const MAX_STATE_ENTRIES: usize = 300;
/// Most spam-filter lessons in one [`Content::AccountState`]: a lesson's
/// text may be 1 KiB, and a part must stay well under the payload limit.
pub const MAX_STATE_LESSONS: usize = 20;
/// Most messages in one [`Content::Deleted`].
pub const MAX_DELETED_REFS: usize = 500;

/// What the author of a message may do to it afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Afterwards {
    /// Change its text.
    Edit,
    /// Take it back.
    Unsend,
}

/// Why an edit or unsend is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AfterwardsError {
    /// Only the author may.
    #[error("only its author can change a message")]
    NotAuthor,
    /// Too late.
    #[error("a message can be {what} only within {minutes} minutes of sending it")]
    TooLate {
        /// "edited" or "unsent".
        what: &'static str,
        /// The window.
        minutes: u64,
    },
}

/// Whether `sender` may edit or unsend a message by `author` sent at
/// `sent_at`, at `at` (both by the author's clock, as the contents carry
/// them). The same rule on the sending device and on every receiving one.
pub fn may_change(
    what: Afterwards,
    author: AccountId,
    sender: AccountId,
    sent_at: u64,
    at: u64,
) -> Result<(), AfterwardsError> {
    if author != sender {
        return Err(AfterwardsError::NotAuthor);
    }
    let (window, word) = match what {
        Afterwards::Edit => (EDIT_WINDOW_MS, "edited"),
        Afterwards::Unsend => (UNSEND_WINDOW_MS, "unsent"),
    };
    if at.saturating_sub(sent_at) > window {
        return Err(AfterwardsError::TooLate {
            what: word,
            minutes: window / 60_000,
        });
    }
    Ok(())
}

/// A group conversation as its members know it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Group {
    /// Random id chosen by the creator.
    pub id: String,
    /// Every member, the sender included, sorted.
    pub members: Vec<Handle>,
    /// The group's name, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who may change the group (empty from clients older than admins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admins: Vec<Handle>,
    /// The highest membership change this snapshot includes
    /// ([`crate::group`]).
    #[serde(default)]
    pub version: u64,
}

/// Largest profile photo, in bytes.
pub const MAX_PROFILE_PHOTO_BYTES: u64 = 512 * 1024;

/// Most handles a message says its sender has.
pub const MAX_LINKED_HANDLES: usize = 5;

/// Longest display name, in bytes.
pub const MAX_DISPLAY_NAME_BYTES: usize = 64;

/// A display name as received: trimmed, at most
/// [`MAX_DISPLAY_NAME_BYTES`], no control characters; otherwise none.
pub fn clean_display_name(name: &str) -> Option<String> {
    let n = name.trim();
    (!n.is_empty() && n.len() <= MAX_DISPLAY_NAME_BYTES && !n.chars().any(char::is_control))
        .then(|| n.to_string())
}

/// Longest group name, in bytes.
pub const MAX_GROUP_NAME_BYTES: usize = 64;
/// Longest reaction (an emoji or a short word), in bytes.
pub const MAX_REACTION_BYTES: usize = 32;

/// A reference to one message: its author's account and client id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageRef {
    /// Author account.
    pub account: AccountId,
    /// Client id.
    pub id: String,
}

/// The decoded payload of a message envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Content {
    /// A text message.
    Text {
        /// The text.
        body: String,
        /// When the sender sent it, milliseconds since the epoch.
        sent_at: u64,
        /// The group, for group messages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<Group>,
        /// Direct recipients (for the sender's own devices).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        to: Vec<Handle>,
        /// Attached files (encrypted blobs with their keys).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<crate::attachment::AttachmentPointer>,
        /// Set when this re-sends a message the recipient device could not
        /// decrypt: the id of that message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resend_of: Option<String>,
        /// The message this one answers (a quote).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageRef>,
        /// The sender's display name: travels only inside messages, so only
        /// people the account writes to learn it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_name: Option<String>,
        /// The sender's handles, when it lets the people it writes to see
        /// that they are one account; receivers check each with the
        /// directory before they join conversations. At most
        /// [`MAX_LINKED_HANDLES`].
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        handles: Vec<Handle>,
        /// The sender's profile photo (an encrypted blob, without a
        /// preview), like the name given only to people it writes to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        photo: Option<Box<crate::attachment::AttachmentPointer>>,
    },
    /// The author changed the text of a message ([`EDIT_WINDOW_MS`]).
    Edit {
        /// The message (its author must be the sender).
        target: MessageRef,
        /// The new text.
        body: String,
        /// When it was edited, milliseconds since the epoch.
        edited_at: u64,
    },
    /// The author took a message back everywhere ([`UNSEND_WINDOW_MS`]).
    Unsend {
        /// The message (its author must be the sender).
        target: MessageRef,
        /// When, milliseconds since the epoch.
        at: u64,
    },
    /// Part of this account's state, from one of its devices to the others
    /// (sent only to one's own devices): handed to a new device, and sent
    /// again when a setting changes. At most [`MAX_STATE_ENTRIES`] entries.
    AccountState {
        /// Saved contacts with their names.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        contacts: Vec<(Handle, Option<String>)>,
        /// Handles written to or accepted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        known: Vec<Handle>,
        /// Blocked handles.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        blocked: Vec<Handle>,
        /// Settings (`read_receipts`, `sms_fallback`: `on` or `off`;
        /// `display_name`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        settings: Vec<(String, String)>,
        /// Lessons of the personal spam filter, oldest first: (`spam` or
        /// `ham`, text). At most [`MAX_STATE_LESSONS`] per part.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lessons: Vec<(String, String)>,
    },
    /// The user muted, archived, pinned or deleted a conversation on one
    /// device (sent only to one's own devices, which follow).
    ConversationState {
        /// The conversation: a handle, or `group:ID`.
        key: String,
        /// What changed.
        change: ConversationChange,
    },
    /// The sender's display name and photo, given to someone whose message
    /// request it accepted (to people it writes to, they ride in texts).
    Profile {
        /// The display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The photo.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        photo: Option<Box<crate::attachment::AttachmentPointer>>,
    },
    /// This account's message history for one of its new devices (sent
    /// to one's own devices; only the named device takes it).
    History {
        /// The encrypted history file.
        pointer: Box<crate::attachment::AttachmentPointer>,
        /// The device it is for.
        device: tidings_proto::DeviceId,
    },
    /// Messages deleted on one device of this account, to delete on the
    /// others (sent only to one's own devices).
    Deleted {
        /// The messages.
        refs: Vec<MessageRef>,
    },
    /// "I could not decrypt your message `id`; please send it again" (sent
    /// over a fresh session to the one device that sent it).
    Retry {
        /// The message id.
        id: String,
    },
    /// These messages were read (sent to their authors and to one's own
    /// devices).
    Read {
        /// The messages read.
        refs: Vec<MessageRef>,
    },
    /// A reaction to a message (replaces the reactor's earlier one; empty
    /// removes it).
    Reaction {
        /// The message reacted to.
        target: MessageRef,
        /// The reaction, e.g. an emoji.
        emoji: String,
    },
    /// Typing indicator (ephemeral).
    Typing {
        /// The group, for group conversations.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    /// Group membership changed; `group.members` is the new list.
    GroupUpdate {
        /// The group after the change.
        group: Group,
        /// Members added.
        added: Vec<Handle>,
        /// Members removed.
        removed: Vec<Handle>,
        /// When the change was made.
        sent_at: u64,
        /// The change itself, which receivers replay ([`crate::group`]);
        /// absent from clients older than admins.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<crate::group::GroupChange>,
    },
    /// How this account relates to a handle changed (sent only to one's
    /// own other devices), so that contacts, accepted requests and blocks
    /// are the same on every device.
    Relation {
        /// The handle.
        handle: Handle,
        /// What changed.
        change: RelationChange,
        /// The contact's name, for `contact`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The text judged, for `junk` and `not_junk`: a lesson for the
        /// account's personal spam filter (`tidings_spam::personal`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}

/// A change carried by [`Content::ConversationState`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConversationChange {
    /// New messages raise no notification.
    Mute,
    /// They do again.
    Unmute,
    /// Out of the conversation list until unarchived.
    Archive,
    /// Back in the list.
    Unarchive,
    /// At the top of the list.
    Pin,
    /// In date order again.
    Unpin,
    /// Deleted with its messages on every device of the account.
    Delete,
}

impl ConversationChange {
    /// The word for it, as the CLI prints it.
    pub fn past(self) -> &'static str {
        match self {
            ConversationChange::Mute => "muted",
            ConversationChange::Unmute => "unmuted",
            ConversationChange::Archive => "archived",
            ConversationChange::Unarchive => "unarchived",
            ConversationChange::Pin => "pinned",
            ConversationChange::Unpin => "unpinned",
            ConversationChange::Delete => "deleted",
        }
    }
}

/// A change carried by [`Content::Relation`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RelationChange {
    /// Saved (or renamed) as a contact.
    Contact,
    /// Removed from the contacts.
    Uncontact,
    /// A message request from it was accepted.
    Accept,
    /// Blocked.
    Block,
    /// Unblocked.
    Unblock,
    /// Its message (in `text`) was reported as junk.
    Junk,
    /// Its message (in `text`) was restored from junk: not spam.
    NotJunk,
}

impl Content {
    /// Encodes for a payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("content always serialises")
    }

    /// Decodes a payload.
    pub fn from_bytes(bytes: &[u8]) -> Result<Content, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_author_changes_a_message_and_only_in_time() {
        let a = AccountId::from(1u32);
        let b = AccountId::from(2u32);
        assert_eq!(
            may_change(Afterwards::Edit, a, a, 0, EDIT_WINDOW_MS),
            Ok(())
        );
        assert_eq!(
            may_change(Afterwards::Edit, a, b, 0, 1),
            Err(AfterwardsError::NotAuthor)
        );
        let late = may_change(
            Afterwards::Unsend,
            a,
            a,
            1_000,
            1_000 + UNSEND_WINDOW_MS + 1,
        )
        .expect_err("late");
        assert_eq!(
            late.to_string(),
            "a message can be unsent only within 2 minutes of sending it"
        );
        assert_eq!(
            may_change(Afterwards::Unsend, a, a, 5_000, 0),
            Ok(()),
            "clock skew"
        );
    }

    #[test]
    fn display_names_are_cleaned() {
        assert_eq!(clean_display_name("  Alice "), Some("Alice".into()));
        assert_eq!(clean_display_name("a\u{202e}b"), Some("a\u{202e}b".into()));
        assert_eq!(clean_display_name("bad\nname"), None);
        assert_eq!(clean_display_name(&"x".repeat(65)), None);
        assert_eq!(clean_display_name("  "), None);
    }

    #[test]
    fn older_payloads_still_decode() {
        let old = br#"{"t":"text","body":"hi","sent_at":1}"#;
        let Content::Text { reply_to, .. } = Content::from_bytes(old).expect("decodes") else {
            panic!("a text");
        };
        assert_eq!(reply_to, None);
    }
}
