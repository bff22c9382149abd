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
    },
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
