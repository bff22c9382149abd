//! Frames of the delivery stream (`GET /v1/stream`, a WebSocket).
//!
//! The client authenticates with its first frame (browsers cannot set headers
//! on a WebSocket), then the server pushes envelopes in queue order and the
//! client acknowledges each one after it has stored it; only acknowledged
//! envelopes are deleted from the server.

use serde::{Deserialize, Serialize};

use crate::api::{AccountId, DeviceId};
use crate::id::Seq;
use crate::Handle;

/// Most envelopes the server pushes before it waits for acknowledgements.
pub const MAX_IN_FLIGHT: usize = 256;

/// Frames the client sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame: the device's bearer token.
    Auth {
        /// The token from registration or login.
        token: String,
    },
    /// These queue positions are processed and may be deleted.
    Ack {
        /// Sequence numbers of delivered envelopes.
        seqs: Vec<Seq>,
    },
}

/// Frames the server sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authentication succeeded; envelopes follow.
    Ready {
        /// The authenticated device.
        device: DeviceId,
    },
    /// One queued (or ephemeral) envelope.
    Envelope(Envelope),
    /// Everything that was queued when this was sent has been pushed.
    Drained,
    /// The connection is being closed for the reason given.
    Error {
        /// Stable code, e.g. `unauthorized`, `replaced`.
        error: crate::ErrorCode,
        /// One sentence for the user.
        message: String,
    },
}

/// Who sent an envelope, as authenticated by the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sender {
    /// Sender account.
    pub account: AccountId,
    /// Sender device.
    pub device: DeviceId,
    /// The sender's handle shown to recipients (one of the account's).
    pub handle: Handle,
}

/// An envelope as delivered to one device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Envelope {
    /// Position in this device's queue, used to acknowledge; 0 for ephemeral
    /// envelopes, which need no acknowledgement.
    pub seq: Seq,
    /// When the server accepted it, milliseconds since the epoch.
    pub at: u64,
    /// What it is.
    pub body: EnvelopeBody,
}

/// The kinds of envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EnvelopeBody {
    /// A message (or a sync copy of one this account sent) from a device.
    Message {
        /// The sender's client-chosen id.
        id: String,
        /// Who sent it.
        sender: Sender,
        /// The opaque payload for this device, base64.
        payload: String,
        /// Opaque token the server mints when the recipient never wrote to
        /// the sender: sent back with `POST /v1/reports`, it proves who sent
        /// this envelope to whom without the server keeping content.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report_token: Option<String>,
    },
    /// Ephemeral content (typing indicator), never stored.
    Ephemeral {
        /// Who sent it.
        sender: Sender,
        /// The opaque payload for this device, base64.
        payload: String,
    },
    /// Server notice to the sender: a recipient device acknowledged a message.
    Delivered {
        /// The client id of the message.
        id: String,
        /// The recipient account.
        account: AccountId,
        /// The recipient handle the message was addressed to.
        handle: Handle,
        /// The device that acknowledged.
        device: DeviceId,
    },
    /// Server notice to the sender: a message could not be delivered to a
    /// device and was dropped; the reason is for the user.
    Failed {
        /// The client id of the message.
        id: String,
        /// The recipient handle the message was addressed to.
        handle: Handle,
        /// The device it did not reach.
        device: DeviceId,
        /// Machine-readable reason, e.g. `expired`.
        reason: String,
    },
    /// Server notice to every device of an account about the account
    /// itself: a number was removed from it, or its devices came back
    /// after being silent so long that messages went to its numbers as SMS;
    /// or to one device whose one-time keys ran low (`keys_low`: upload
    /// more, nothing to show the user).
    AccountNotice {
        /// Machine-readable kind: `handle_removed`, `back_from_silence`,
        /// `keys_low`, ...
        notice: String,
        /// The handle concerned, if one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handle: Option<Handle>,
        /// What to tell the user.
        text: String,
    },
    /// An SMS from a phone to a number of this account (not end-to-end
    /// encrypted: it came through the phone network).
    Sms {
        /// Server-assigned id.
        id: String,
        /// The sending phone number.
        from: String,
        /// This account's number it was sent to.
        to: Handle,
        /// The text.
        text: String,
    },
    /// Server notice to the sender: message `id` reached none of the
    /// devices of `handle` in time; re-send its text as SMS
    /// (`POST /v1/messages/fallback`).
    Fallback {
        /// The client id of the message.
        id: String,
        /// The recipient's phone number.
        handle: Handle,
    },
    /// Server notice to the sender: what became of an SMS it sent.
    SmsStatus {
        /// The client id of the message.
        id: String,
        /// The phone number.
        handle: Handle,
        /// `sent` (to the carrier), `delivered` (to the phone) or `failed`.
        status: String,
        /// Why it failed, for the user.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}
