//! Request and response bodies of the HTTP API (`/v1/...`).
//!
//! Binary payloads travel as standard base64 strings inside JSON, so that the
//! same API serves the CLI and a browser without a second encoding.

use serde::{Deserialize, Serialize};

use crate::Handle;

pub use crate::id::{AccountId, DeviceId};

/// `POST /v1/codes`: ask for a verification code to be sent to a handle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRequest {
    /// Where the code goes: a phone number gets an SMS, an address an e-mail.
    pub handle: String,
    /// A solved proof of work, when the server asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pow: Option<PowSolution>,
}

/// The answer to a code request; identical whether or not the handle is
/// registered, so that it cannot be used to enumerate accounts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeSent {
    /// The normalised handle the code was sent to.
    pub handle: Handle,
    /// Seconds until the code expires.
    pub expires_in_secs: u64,
}

/// `POST /v1/accounts`: create an account whose first handle is proven by a code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The handle the code was sent to.
    pub handle: String,
    /// The 6-digit code received.
    pub code: String,
    /// The name others see; optional.
    #[serde(default)]
    pub name: Option<String>,
    /// A name for this device, shown in device lists.
    pub device_name: String,
}

/// `POST /v1/devices`: add a device to the account that owns a handle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// One of the account's handles, to which a fresh code was sent.
    pub handle: String,
    /// The 6-digit code received.
    pub code: String,
    /// A name for the new device.
    pub device_name: String,
}

/// Credentials handed out once when a device is created; the server keeps
/// only a hash of the token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceCredentials {
    /// The account the device belongs to.
    pub account: AccountId,
    /// The new device.
    pub device: DeviceId,
    /// Bearer token for `Authorization: Bearer ...` and the stream.
    pub token: String,
    /// The account's handles.
    pub handles: Vec<Handle>,
}

/// `POST /v1/handles`: add a further handle, proven by a code, to the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddHandleRequest {
    /// The new handle.
    pub handle: String,
    /// The code sent to it.
    pub code: String,
}

/// `GET /v1/account`: who this device is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountInfo {
    /// The account.
    pub account: AccountId,
    /// The account's display name, if set.
    pub name: Option<String>,
    /// Its handles, oldest first.
    pub handles: Vec<Handle>,
    /// The device making the request.
    pub device: DeviceId,
    /// Who may learn from the directory that its handles are one account.
    #[serde(default)]
    pub link_handles: LinkHandles,
}

/// Who may learn from the directory that an account's handles belong
/// together. To anyone else, each handle looks up as an account of its
/// own (a stable stand-in id per requester and handle).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkHandles {
    /// Nobody.
    Nobody,
    /// The accounts this account has written to (the default).
    #[default]
    Contacts,
    /// Anyone who looks the handles up.
    Everyone,
}

impl LinkHandles {
    /// The word for it, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkHandles::Nobody => "nobody",
            LinkHandles::Contacts => "contacts",
            LinkHandles::Everyone => "everyone",
        }
    }

    /// Reads the word back; unknown words are the default.
    pub fn parse(word: &str) -> LinkHandles {
        match word {
            "nobody" => LinkHandles::Nobody,
            "everyone" => LinkHandles::Everyone,
            _ => LinkHandles::Contacts,
        }
    }
}

/// `PUT /v1/account`: the account's settings that the server keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// Who may learn that its handles are one account.
    pub link_handles: LinkHandles,
}

/// One of an account's devices, as listed to the account's own devices.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device id.
    pub id: DeviceId,
    /// Name given at registration.
    pub name: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Last time the device was connected, milliseconds since the epoch.
    pub last_seen: u64,
}

/// `POST /v1/directory`: look up the devices behind handles before sending.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryRequest {
    /// Handles to look up (normalised or as typed).
    pub handles: Vec<String>,
}

/// The devices of one registered handle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The normalised handle.
    pub handle: Handle,
    /// The account that owns it.
    pub account: AccountId,
    /// The account's current devices, ascending.
    pub devices: Vec<DeviceId>,
    /// False when every device has been silent for longer than the
    /// server's `stale_after_secs`: messages to a phone number then go as
    /// SMS.
    #[serde(default = "reachable_default")]
    pub reachable: bool,
}

fn reachable_default() -> bool {
    true
}

/// Answer to a directory lookup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryResponse {
    /// Handles that are on Tidings.
    pub found: Vec<DirectoryEntry>,
    /// Handles that are not on Tidings.
    pub not_found: Vec<Handle>,
}

/// One payload for one device: the unit of the envelope shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevicePayload {
    /// Recipient device.
    pub device: DeviceId,
    /// Opaque bytes, base64 (ciphertext once end-to-end encryption is on).
    pub payload: String,
}

/// The payloads for every device of one recipient handle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecipientPayloads {
    /// The recipient handle.
    pub handle: String,
    /// One payload for each of its devices, no more, no fewer.
    pub devices: Vec<DevicePayload>,
}

/// `POST /v1/messages`: one envelope from this device to one or more handles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendRequest {
    /// Client-chosen id; sending the same id again is a no-op that returns
    /// the first answer.
    pub id: String,
    /// Which of the sender's handles the recipients see; the first one when
    /// absent.
    #[serde(default)]
    pub from: Option<String>,
    /// The recipients.
    pub to: Vec<RecipientPayloads>,
    /// Copies for the sender's own other devices (sender sync).
    #[serde(default)]
    pub own: Vec<DevicePayload>,
    /// Ephemeral envelopes (typing indicators) are pushed to connected
    /// devices only and never stored.
    #[serde(default)]
    pub ephemeral: bool,
    /// Payloads for a subset of the recipients' devices (re-sends and
    /// re-send requests between two devices): the devices must still belong
    /// to the handles, but need not be all of them, and no sync copies are
    /// required.
    #[serde(default)]
    pub partial: bool,
    /// Do not re-send as SMS when no device of a recipient gets the message
    /// in time (the sender's setting).
    #[serde(default)]
    pub no_sms_fallback: bool,
    /// Texts for phone numbers that are not on Tidings, delivered as SMS
    /// (not end-to-end encrypted: the server and the carrier see them).
    #[serde(default)]
    pub sms: Vec<SmsPart>,
}

/// `POST /v1/messages/fallback`: re-send a message that reached none of a
/// recipient's devices as SMS (asked for by a `fallback` notice).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FallbackRequest {
    /// The message's client id.
    pub id: String,
    /// The recipient's phone number.
    pub handle: String,
    /// The text (the server holds only ciphertext).
    pub text: String,
}

/// One SMS to send on the sender's behalf.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SmsPart {
    /// A phone number that is not on Tidings.
    pub handle: String,
    /// The text.
    pub text: String,
}

/// `POST /v1/carrier/send` (simulated carrier only): a phone that is not on
/// Tidings sends an SMS.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarrierSend {
    /// The sending phone.
    pub from: String,
    /// The receiving phone.
    pub to: String,
    /// The text.
    pub text: String,
}

/// The server's acknowledgement: the envelope is on disk for every device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendAccepted {
    /// The client id, echoed.
    pub id: String,
    /// Server timestamp of acceptance, milliseconds since the epoch.
    pub accepted_at: u64,
    /// True when this id had been accepted before and nothing new was stored.
    pub duplicate: bool,
}

/// The device set a sender used differs from the recipient's current one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceMismatch {
    /// The handle concerned (the sender's own handle for sync copies).
    pub handle: Handle,
    /// Devices that exist but got no payload.
    pub missing: Vec<DeviceId>,
    /// Payloads for devices that do not exist (any more).
    pub extra: Vec<DeviceId>,
}

/// Error body of every failed request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `stale_devices`.
    pub error: crate::ErrorCode,
    /// One sentence for the user, saying what to do.
    pub message: String,
    /// For `stale_devices`: what differs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<DeviceMismatch>,
    /// For `not_registered`: the handles that are not on Tidings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_registered: Vec<Handle>,
    /// For rate limits: seconds until a retry can succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// For `proof_of_work_required`: the challenge to solve and how many
    /// leading zero bits SHA-256(`challenge:nonce`) needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pow: Option<Box<PowChallenge>>,
}

/// A proof-of-work challenge (see `CodeRequest::pow`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PowChallenge {
    /// The challenge.
    pub challenge: String,
    /// Leading zero bits needed.
    pub bits: u32,
}

/// A solved proof-of-work challenge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PowSolution {
    /// The challenge as received.
    pub challenge: String,
    /// The nonce found, as a decimal number.
    pub nonce: u64,
}

/// `GET /v1/limits`: the limits this server enforces, so clients can check
/// before sending and explain refusals.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload for one device, in bytes (decoded).
    pub max_payload_bytes: usize,
    /// Most recipient handles in one send (a group's other members).
    pub max_recipients: usize,
    /// Most members in a group conversation, the sender included.
    pub max_group_members: usize,
    /// Most devices per account.
    pub max_devices: usize,
    /// Most envelopes waiting for one device.
    pub max_queue_per_device: u64,
    /// Largest HTTP request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest WebSocket frame, in bytes.
    pub max_frame_bytes: usize,
    /// Days an undelivered envelope is kept before it expires.
    pub envelope_ttl_days: u64,
    /// Largest attachment, in plaintext bytes.
    #[serde(default)]
    pub max_attachment_bytes: u64,
    /// Most SMS segments one message may take.
    #[serde(default)]
    pub max_sms_segments: usize,
    /// Seconds an attachment link sent by SMS stays valid.
    #[serde(default)]
    pub sms_link_secs: u64,
}

/// A device's public identity keys, base64 (Olm: Curve25519 for key
/// agreement, Ed25519 for signatures).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityKeys {
    /// Curve25519 identity key.
    pub curve25519: String,
    /// Ed25519 signing key.
    pub ed25519: String,
}

/// A Curve25519 one-time or fallback key signed by the device's Ed25519 key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedKey {
    /// Key id, unique per device.
    pub id: String,
    /// The public key, base64.
    pub key: String,
    /// Ed25519 signature, base64.
    pub signature: String,
}

/// Most one-time keys in one upload.
pub const MAX_KEYS_PER_UPLOAD: usize = 100;

/// `POST /v1/keys`: publish this device's identity (once) and prekeys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadKeys {
    /// Identity keys; must equal what was uploaded before, if anything.
    pub identity: IdentityKeys,
    /// New one-time keys.
    #[serde(default)]
    pub one_time_keys: Vec<SignedKey>,
    /// A new fallback key, replacing the previous one.
    #[serde(default)]
    pub fallback: Option<SignedKey>,
}

/// How many one-time keys the server holds for this device.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyCount {
    /// Unclaimed one-time keys.
    pub one_time_keys: usize,
}

/// `POST /v1/keys/claim` and `POST /v1/keys/identities`: devices asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevicesRequest {
    /// Device ids.
    pub devices: Vec<DeviceId>,
}

/// A claimed prekey: what a sender needs to open a session with a device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClaimedKey {
    /// The device.
    pub device: DeviceId,
    /// Its identity keys.
    pub identity: IdentityKeys,
    /// A one-time key (handed out once) or the fallback key.
    pub key: SignedKey,
    /// True when the fallback key was handed out because none were left.
    pub fallback: bool,
}

/// Answer to a claim; devices without published keys are absent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimResponse {
    /// One entry per device that has keys.
    pub keys: Vec<ClaimedKey>,
}

/// A device's identity keys, without claiming anything.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The device.
    pub device: DeviceId,
    /// Its identity keys.
    pub identity: IdentityKeys,
}

/// Answer to `POST /v1/keys/identities`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentitiesResponse {
    /// One entry per device that has published keys.
    pub identities: Vec<DeviceIdentity>,
}

/// Bytes of one uploaded ciphertext chunk: 64 KiB of plaintext plus the
/// 16-byte authentication tag (see `tidings_core::attachment`).
pub const BLOB_CHUNK_BYTES: u64 = 64 * 1024 + 16;

/// `POST /v1/blobs`: start an upload of `size` ciphertext bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobCreate {
    /// Total ciphertext bytes.
    pub size: u64,
}

/// `POST /v1/links`: a short-lived download link for an attachment that
/// goes to an SMS recipient. The client hands the server the attachment's
/// key, so the server can serve the plaintext until the link expires; the
/// sender agrees to this before sending.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkCreate {
    /// The uploaded (encrypted) blob.
    pub blob: String,
    /// The attachment key, base64 (as in the attachment pointer).
    pub key: String,
    /// File name shown on download.
    pub name: String,
    /// Content type served.
    pub content_type: String,
    /// Plaintext bytes.
    pub size: u64,
}

/// A link made by `POST /v1/links`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkInfo {
    /// The address to put in the SMS.
    pub url: String,
    /// When the link (and the server's access to the plaintext) ends,
    /// milliseconds since the Unix epoch.
    pub expires_at: u64,
}

/// The state of an upload or a stored blob.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlobInfo {
    /// Random id; knowing it is what allows a download.
    pub id: String,
    /// Total ciphertext bytes.
    pub size: u64,
    /// Bytes per chunk (the last may be shorter).
    pub chunk_bytes: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// Chunks not received yet (for resuming).
    pub missing: Vec<u64>,
    /// True once the upload is complete and the blob can be downloaded.
    pub complete: bool,
}

/// `POST /v1/reports`: the recipient of a message request blocks its
/// sender or reports it as junk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReportRequest {
    /// The `report_token` of the envelope being reported.
    pub token: String,
    /// `true` for "report junk", `false` for a plain block.
    pub junk: bool,
    /// The decrypted text, only if the user agreed to share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `GET /v1/campaigns`: fingerprints of texts reported as junk by several
/// people, for clients to match message requests against.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CampaignList {
    /// 64-bit SimHash fingerprints (`tidings_spam::fingerprint`), 16 hex digits each.
    pub fingerprints: Vec<String>,
}

/// `GET /v1/health`: whether this node can serve, storage included.
/// Answered with 200 when every part is `ok`, else 503.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// `ok`, `full` (disk or `max_database_bytes`), `busy` (locked by
    /// another process), `timeout` or `failed`.
    pub storage: String,
}
