//! Durable storage, behind a trait.
//!
//! The server never talks to a database directly: it calls [`Store`], so the
//! embedded SQLite implementation and a production one (PostgreSQL) are
//! interchangeable and must pass the same tests. Every method that changes
//! state is atomic: it either happens completely or not at all, and when it
//! returns `Ok` the change is on disk.

pub mod abuse;
pub mod blobs;
mod postgres;
mod relational;
pub mod sql;
mod sqlite;

pub use relational::SqlStore;

use async_trait::async_trait;
use tidings_proto::api::{
    AccountId, ClaimedKey, DeviceId, DeviceIdentity, DeviceInfo, DeviceMismatch, IdentityKeys,
    SignedKey,
};
use tidings_proto::stream::{Envelope, Sender};
use tidings_proto::{Handle, Seq};

use sha2::{Digest as _, Sha256};

use crate::clock::Millis;

/// SHA-256 digest, used for hashed tokens and codes.
pub type Digest = [u8; 32];

/// Credentials: a device's token is `DEVICE.SECRET`; the store keeps only
/// SHA-256 of it (see `service::auth`).
/// The full token of a device.
pub fn token(device: DeviceId, secret: &str) -> String {
    format!("{device}.{secret}")
}

/// The stored hash of a token.
pub fn token_hash(token: &str) -> Digest {
    Sha256::digest(token.as_bytes()).into()
}

/// Kind of the notice a device gets when claims leave it few one-time
/// keys (`one_time_keys_low`): it should upload more.
pub const KEYS_LOW_NOTICE: &str = "keys_low";

/// Whether a claim that took a device from `before` to `after` one-time
/// keys crossed below `low`: the owner is told once per crossing, not on
/// every claim after it.
pub fn ran_low(before: usize, after: usize, low: usize) -> bool {
    before >= low && after < low
}

/// Failures of the storage layer itself (not of the request).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// The database is being shut down or its worker died.
    #[error("storage is shutting down")]
    Closed,
    /// Stored data violates an invariant (a bug or a corrupted file).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The disk (or `max_database_bytes`) is full; nothing was written.
    #[error("storage is full")]
    Full,
    /// Another process holds the database locked past the busy timeout.
    #[error("the database is locked by another process")]
    Busy,
    /// A storage job panicked (a bug); it was rolled back.
    #[error("storage job panicked: {0}")]
    Panicked(String),
    /// An operator's request is not valid; says what to fix.
    #[error("{0}")]
    Invalid(String),
}

/// What became of an SMS from a phone ([`Store::inbound_sms`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundSms {
    /// No account owns the receiving number.
    NotOnTidings,
    /// Queued for every device of the owning account; wake these.
    Queued(Vec<DeviceId>),
    /// A device of the owning account has `max_queue` entries waiting, so
    /// nothing was queued (the bound every send keeps).
    QueueFull,
}

/// What a proven code lets the caller do.
#[derive(Debug, Clone)]
pub enum CodeAction {
    /// Create a new account with the handle as its first handle.
    Register {
        /// Display name.
        name: Option<String>,
        /// First device's name.
        device_name: String,
        /// Secret part of the first device's token; the store keeps only
        /// the hash of `DEVICE.SECRET` once the device id is known.
        token_secret: String,
        /// The client's address range (see `address::range`).
        source: String,
        /// Accounts one range may register per day.
        max_per_source_per_day: u64,
        /// A new account starts restricted when an account registered from
        /// the same range within this window is restricted or banned.
        cluster_window_ms: u64,
    },
    /// Add a device to the account that owns the handle.
    Login {
        /// The new device's name.
        device_name: String,
        /// Secret part of the new device's token (hashed with the id).
        token_secret: String,
        /// Devices allowed per account.
        max_devices: usize,
    },
    /// Add the handle to an existing account.
    AddHandle {
        /// The account that proves control of the handle.
        account: AccountId,
    },
    /// Unbind the handle from whatever account owns it, as
    /// [`Store::remove_handle`] does (the `/deregister` page). The code is
    /// used up whether or not the handle was registered.
    Deregister {
        /// How long the `fallback` notices to senders are kept.
        ttl: Millis,
    },
}

/// The result of redeeming a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// A device was created (registration or login).
    Device {
        /// Its account.
        account: AccountId,
        /// The new device.
        device: DeviceId,
    },
    /// The handle was added to the account.
    HandleAdded,
    /// No live code for this handle (never sent, expired, or used up).
    NoCode,
    /// The code is wrong; this many tries remain.
    WrongCode {
        /// Tries left before the code is void.
        tries_left: u32,
    },
    /// Registration or adding: the handle already belongs to an account.
    HandleTaken,
    /// Login or deregistration: the handle belongs to no account.
    NotRegistered,
    /// Deregistration: the handle was unbound from its account.
    Unbound {
        /// Senders' devices to wake for their `fallback` notices.
        woken: Vec<DeviceId>,
    },
    /// Login: the account has its maximum number of devices.
    TooManyDevices,
    /// Registration: the address range registered its daily number of
    /// accounts.
    TooManyRegistrations,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Id.
    pub id: AccountId,
    /// Display name.
    pub name: Option<String>,
    /// Handles, oldest first.
    pub handles: Vec<Handle>,
    /// Who may learn its handles are one account.
    pub link_handles: tidings_proto::api::LinkHandles,
}

/// One recipient of a send, as the sender addressed it.
#[derive(Debug, Clone)]
pub struct PlannedRecipient {
    /// The handle addressed.
    pub handle: Handle,
    /// One payload per device, as the sender believes the devices are.
    pub payloads: Vec<(DeviceId, Vec<u8>)>,
}

/// Everything needed to store one envelope atomically.
#[derive(Debug, Clone)]
pub struct SendPlan {
    /// Authenticated sender.
    pub sender: Sender,
    /// Client-chosen id.
    pub client_id: String,
    /// Acceptance time.
    pub now: Millis,
    /// When undelivered copies expire.
    pub expires_at: Millis,
    /// Recipients.
    pub recipients: Vec<PlannedRecipient>,
    /// Sync copies for the sender's other devices.
    pub own: Vec<(DeviceId, Vec<u8>)>,
    /// Envelopes allowed to wait per device.
    pub max_queue: u64,
    /// Only some devices are addressed (see `SendRequest::partial`).
    pub partial: bool,
    /// SMS to send: (phone number, text, segments, whether the number must
    /// not be on Tidings; false for registered numbers gone stale).
    pub sms: Vec<(Handle, String, usize, bool)>,
    /// The number SMS are sent from.
    pub sms_from: String,
    /// Whether undelivered copies to phone numbers may fall back to SMS.
    pub fallback: bool,
    /// SMS segments allowed per account in the last hour and day.
    pub sms_per_hour: u64,
    /// See `sms_per_hour`.
    pub sms_per_day: u64,
    /// The spam defence's thresholds.
    pub policy: abuse::SpamPolicy,
}

/// Result of [`Store::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Stored for every device; these devices have something new.
    Accepted {
        /// Devices to wake.
        devices: Vec<DeviceId>,
    },
    /// This client id was accepted before, at this time; nothing stored.
    Duplicate {
        /// The original acceptance time.
        accepted_at: Millis,
    },
    /// Some handles are not (or no longer) on Tidings.
    NotRegistered(Vec<Handle>),
    /// The sender's device lists are out of date.
    Stale(Vec<DeviceMismatch>),
    /// A recipient device's queue is full.
    QueueFull(Handle),
    /// These numbers were addressed as SMS but are on Tidings now.
    JoinedTidings(Vec<Handle>),
    /// The account's SMS allowance is used up for this window.
    SmsLimit {
        /// `hour` or `day`.
        window: &'static str,
    },
    /// The account is banned; the reason.
    Banned(String),
    /// The account may only write to people who wrote to it first; the reason.
    Restricted(String),
    /// The daily cap on distinct new recipients is reached.
    NewRecipientCap {
        /// Today's cap.
        cap: u64,
    },
}

/// An account's standing with the spam defence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Nothing holds it back.
    Good,
    /// It may write only to people who wrote to it first; the reason.
    Restricted(String),
    /// It may not send at all; the reason.
    Banned(String),
}

/// Result of [`Store::fallback_to_sms`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackOutcome {
    /// The SMS is queued and the IP copies are withdrawn.
    Queued,
    /// Done before (the same request again): nothing changed.
    AlreadyDone,
    /// A device got the message meanwhile: no SMS.
    Delivered,
    /// No fallback was asked for this message and number.
    NotRequested,
}

/// An SMS waiting to be handed to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsJob {
    /// Row id.
    pub id: i64,
    /// Sender account.
    pub account: AccountId,
    /// The message's client id.
    pub client_id: String,
    /// Sender number.
    pub from: String,
    /// Recipient number.
    pub to: Handle,
    /// Text.
    pub text: String,
    /// Attempts so far.
    pub attempts: u32,
}

/// What happened to an SMS job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsResult {
    /// The carrier accepted it.
    Sent,
    /// The phone received it (delivery report).
    Delivered,
    /// Try again at this time.
    Retry(Millis),
    /// Given up.
    Failed(String),
}

/// A download link for an attachment sent by SMS (see `links`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    /// Random token in the URL.
    pub token: String,
    /// The encrypted blob.
    pub blob: String,
    /// The account that made the link.
    pub account: AccountId,
    /// The attachment key, base64: lets the server decrypt until expiry.
    pub key: String,
    /// File name.
    pub name: String,
    /// Content type.
    pub content_type: String,
    /// Plaintext bytes.
    pub size: u64,
    /// When it was made.
    pub created_at: Millis,
    /// When it stops working (and the key is deleted).
    pub expires_at: Millis,
}

/// Result of [`Store::create_link`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCreated {
    /// Stored; valid until this time (never past the blob's own expiry).
    Created {
        /// Expiry.
        expires_at: Millis,
    },
    /// The blob is not a complete upload of this account.
    NoSuchBlob,
    /// The account made its daily number of links.
    TooMany,
}

/// Result of [`Store::put_keys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysOutcome {
    /// Stored; this many one-time keys are now held for the device.
    Stored(usize),
    /// The identity differs from the one uploaded before.
    IdentityMismatch,
    /// Storing would exceed the per-device limit.
    TooMany,
}

/// A blob's metadata (its bytes live in the blob store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    /// Uploading account.
    pub account: AccountId,
    /// Uploading device.
    pub device: DeviceId,
    /// Ciphertext bytes.
    pub size: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// Chunks received, ascending.
    pub received: Vec<u64>,
    /// Upload finished.
    pub complete: bool,
}

/// Result of [`Store::create_blob`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobCreated {
    /// Recorded.
    Created,
    /// The device has too many uploads in progress.
    TooManyUploads,
    /// The account would exceed its storage.
    StorageFull,
}

/// Storage of accounts, devices, codes and queues.
#[async_trait]
pub trait Store: Send + Sync {
    /// Proves that both the read path and the writer can still finish a
    /// transaction (for `/v1/health`); writes nothing.
    async fn health(&self) -> Result<(), StoreError>;

    /// Stores a code hash for a handle, replacing any earlier code.
    async fn put_code(
        &self,
        handle: &Handle,
        code_hash: Digest,
        expires_at: Millis,
        tries: u32,
    ) -> Result<(), StoreError>;

    /// Checks a code and, when it is right, consumes it and performs the
    /// action, all in one transaction. A wrong code costs a try.
    async fn redeem_code(
        &self,
        handle: &Handle,
        code_hash: Digest,
        now: Millis,
        action: CodeAction,
    ) -> Result<Redeemed, StoreError>;

    /// The account and token hash of a device, for authentication.
    async fn device_credential(
        &self,
        device: DeviceId,
    ) -> Result<Option<(AccountId, Digest)>, StoreError>;

    /// An account with its handles.
    async fn account(&self, account: AccountId) -> Result<Option<AccountRecord>, StoreError>;

    /// The devices of an account, ascending by id.
    async fn devices(&self, account: AccountId) -> Result<Vec<DeviceInfo>, StoreError>;

    /// Sets who may learn that the account's handles are one account.
    async fn set_link_handles(
        &self,
        account: AccountId,
        link: tidings_proto::api::LinkHandles,
    ) -> Result<(), StoreError>;

    /// Whether `requester` may learn that `target`'s handles are one
    /// account: by `target`'s setting, and for `contacts`, whether
    /// `target` ever wrote to `requester`.
    async fn handles_linked_for(
        &self,
        target: AccountId,
        requester: AccountId,
    ) -> Result<bool, StoreError>;

    /// Unbinds a handle from its account. Messages addressed to it that no
    /// device has received are handed back to their senders (a `fallback`
    /// notice each, in order) to be re-sent as SMS. `None` when the account
    /// has no such handle; otherwise the devices to wake.
    async fn remove_handle(
        &self,
        account: AccountId,
        handle: &Handle,
        now: Millis,
        ttl: Millis,
    ) -> Result<Option<Vec<DeviceId>>, StoreError>;

    /// Deletes an account: unbinds its handles as [`Store::remove_handle`],
    /// deletes its devices, queues, keys and blobs. Returns the devices to
    /// wake, the account's former devices, and the blob ids whose bytes must
    /// be deleted.
    async fn delete_account(
        &self,
        account: AccountId,
        now: Millis,
        ttl: Millis,
    ) -> Result<(Vec<DeviceId>, Vec<DeviceId>, Vec<String>), StoreError>;

    /// Removes a device of the account and drops its queue; false when the
    /// account has no such device.
    async fn remove_device(&self, account: AccountId, device: DeviceId)
        -> Result<bool, StoreError>;

    /// Records that a device is connected now.
    async fn touch_device(&self, device: DeviceId, now: Millis) -> Result<(), StoreError>;

    /// Records that `device` connected. When every device of its account
    /// had been silent for `stale_after` or longer (so its handles counted
    /// as unreachable and got SMS), the account's devices get a notice kept
    /// for `ttl`; returns the devices to wake.
    async fn device_connected(
        &self,
        device: DeviceId,
        now: Millis,
        stale_after: Millis,
        ttl: Millis,
    ) -> Result<Vec<DeviceId>, StoreError>;

    /// For each handle, its account and current devices, or `None`.
    async fn lookup(
        &self,
        handles: &[Handle],
    ) -> Result<Vec<Option<(AccountId, Vec<DeviceId>)>>, StoreError>;

    /// Stores an envelope for every recipient device and sync device, after
    /// checking idempotency, registration, device sets and queue room.
    async fn send(&self, plan: SendPlan) -> Result<SendOutcome, StoreError>;

    /// Up to `limit` queued envelopes of a device with `seq > after`, in
    /// order.
    async fn queued(
        &self,
        device: DeviceId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError>;

    /// Deletes acknowledged envelopes of a device and queues delivery
    /// receipts (kept for `ttl`) for their senders; returns the devices that
    /// got receipts.
    async fn ack(
        &self,
        device: DeviceId,
        seqs: &[Seq],
        now: Millis,
        ttl: Millis,
    ) -> Result<Vec<DeviceId>, StoreError>;

    /// Publishes a device's identity (first time) and prekeys, keeping at
    /// most `max_one_time_keys` one-time keys.
    async fn put_keys(
        &self,
        device: DeviceId,
        identity: IdentityKeys,
        one_time_keys: Vec<SignedKey>,
        fallback: Option<SignedKey>,
        max_one_time_keys: usize,
    ) -> Result<KeysOutcome, StoreError>;

    /// One-time keys held for a device.
    async fn count_keys(&self, device: DeviceId) -> Result<usize, StoreError>;

    /// Hands out one one-time key per device (deleting it), or the fallback
    /// key when none is left; devices without keys are skipped. A device
    /// that this claim takes below `low` one-time keys (from `low` or more,
    /// so once per crossing, see [`ran_low`]) gets a `keys_low` notice (kept
    /// for `ttl`) telling it to upload more; returns the keys and the
    /// devices to wake.
    async fn claim_keys(
        &self,
        devices: &[DeviceId],
        low: usize,
        now: Millis,
        ttl: Millis,
    ) -> Result<(Vec<ClaimedKey>, Vec<DeviceId>), StoreError>;

    /// An account's standing, checked before every kind of send.
    async fn standing(&self, account: AccountId) -> Result<Standing, StoreError>;

    /// Whether any of `recipients` never wrote to `account`: a restricted
    /// account may not reach such a person by any kind of send.
    async fn any_stranger(
        &self,
        account: AccountId,
        recipients: &[AccountId],
    ) -> Result<bool, StoreError>;

    /// Identity keys of devices that have published them.
    async fn identities(&self, devices: &[DeviceId]) -> Result<Vec<DeviceIdentity>, StoreError>;

    /// Records a new upload, enforcing uploads in progress per device and
    /// bytes stored per account.
    #[allow(clippy::too_many_arguments)]
    async fn create_blob(
        &self,
        id: &str,
        account: AccountId,
        device: DeviceId,
        size: u64,
        chunks: u64,
        expires_at: Millis,
        max_in_progress: usize,
        max_account_bytes: u64,
    ) -> Result<BlobCreated, StoreError>;

    /// A blob's metadata.
    async fn blob(&self, id: &str) -> Result<Option<BlobRecord>, StoreError>;

    /// Records that a chunk was stored.
    async fn blob_chunk(&self, id: &str, index: u64) -> Result<(), StoreError>;

    /// Marks an upload complete (all chunks present) and sets its expiry.
    async fn complete_blob(&self, id: &str, expires_at: Millis) -> Result<bool, StoreError>;

    /// Stores a download link unless the account made `max_per_day` in the
    /// last 24 hours or the blob is not its complete upload.
    async fn create_link(
        &self,
        link: LinkRecord,
        max_per_day: u64,
    ) -> Result<LinkCreated, StoreError>;

    /// A link that has not expired at `now`.
    async fn link(&self, token: &str, now: Millis) -> Result<Option<LinkRecord>, StoreError>;

    /// Deletes links (and so the keys they hold) past their expiry.
    async fn expire_links(&self, now: Millis) -> Result<usize, StoreError>;

    /// Records a report or block made with a report token and acts on the
    /// reported account's cluster; `None` for an unknown token. Newly
    /// restricted or banned accounts' devices get a notice (kept for `ttl`);
    /// returns the effect and the devices to wake.
    #[allow(clippy::too_many_arguments)]
    async fn report(
        &self,
        token: &str,
        reporter: AccountId,
        junk: bool,
        fingerprint: Option<u64>,
        policy: abuse::SpamPolicy,
        now: Millis,
        ttl: Millis,
    ) -> Result<Option<(abuse::ReportEffect, Vec<DeviceId>)>, StoreError>;

    /// The published campaign fingerprints.
    async fn campaigns(
        &self,
        policy: abuse::SpamPolicy,
        now: Millis,
    ) -> Result<Vec<u64>, StoreError>;

    /// Accounts created since `since`.
    async fn registrations_since(&self, since: Millis) -> Result<u64, StoreError>;

    /// Whether an account registered from `source`, or holding a number
    /// that starts with `number_prefix`, was banned since `since`.
    async fn recently_abused(
        &self,
        source: &str,
        number_prefix: Option<&str>,
        since: Millis,
    ) -> Result<bool, StoreError>;

    /// Runs an operator's command (`tidings admin`) in one transaction.
    async fn admin(
        &self,
        command: abuse::AdminCommand,
        policy: abuse::SpamPolicy,
        now: Millis,
    ) -> Result<serde_json::Value, StoreError>;

    /// Forgets blobs past their expiry; returns their ids so their bytes
    /// can be deleted.
    async fn expire_blobs(&self, now: Millis) -> Result<Vec<String>, StoreError>;

    /// Finds messages to phone numbers that reached none of the number's
    /// devices by `before`, marks them and tells their senders' devices to
    /// re-send them as SMS; returns the devices to wake.
    async fn request_fallbacks(
        &self,
        before: Millis,
        now: Millis,
        ttl: Millis,
    ) -> Result<Vec<DeviceId>, StoreError>;

    /// Carries out a requested fallback exactly once: queues the SMS and
    /// withdraws the undelivered IP copies.
    #[allow(clippy::too_many_arguments)]
    async fn fallback_to_sms(
        &self,
        account: AccountId,
        client_id: &str,
        handle: &Handle,
        text: &str,
        segments: usize,
        from: &str,
        now: Millis,
    ) -> Result<(FallbackOutcome, Vec<DeviceId>), StoreError>;

    /// Up to `limit` SMS due for (another) attempt at `now`, oldest first,
    /// without claiming them (what an operator or a test looks at; the
    /// worker uses [`Store::claim_sms`]).
    async fn sms_due(&self, now: Millis, limit: usize) -> Result<Vec<SmsJob>, StoreError>;

    /// Claims up to `limit` SMS due for (another) attempt, oldest first:
    /// each is marked as being sent until `lease_until`, so that no other
    /// node's worker takes it. A claim whose lease ran out without a result
    /// (its node died while sending) is not retried, since the carrier may
    /// have it: it ends failed, and its sender is told (notices kept for
    /// `ttl`). Returns the claimed SMS and the devices to wake.
    async fn claim_sms(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: usize,
        ttl: Millis,
    ) -> Result<(Vec<SmsJob>, Vec<DeviceId>), StoreError>;

    /// Records the outcome of an SMS attempt and tells the sender's devices
    /// (notices kept for `ttl`); returns the devices to wake.
    async fn sms_result(
        &self,
        id: i64,
        result: SmsResult,
        now: Millis,
        ttl: Millis,
    ) -> Result<Vec<DeviceId>, StoreError>;

    /// Queues an SMS received from a phone for every device of the account
    /// that owns `to`, unless one of them already has `max_queue` entries
    /// waiting.
    async fn inbound_sms(
        &self,
        from: &str,
        to: &Handle,
        text: &str,
        now: Millis,
        ttl: Millis,
        max_queue: u64,
    ) -> Result<InboundSms, StoreError>;

    /// Drops envelopes and codes past their expiry, queues failure notices
    /// (kept for `ttl`) for the senders of expired messages, and forgets
    /// idempotency keys older than `ttl`; returns devices that got notices.
    async fn expire(&self, now: Millis, ttl: Millis) -> Result<Vec<DeviceId>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_is_reported_once_per_crossing() {
        assert!(ran_low(10, 9, 10));
        assert!(!ran_low(9, 8, 10), "already low: told before");
        assert!(!ran_low(12, 11, 10));
        assert!(ran_low(1, 0, 1));
        assert!(!ran_low(0, 0, 0), "a threshold of 0 never fires");
    }

    #[test]
    fn a_token_is_its_device_and_secret_and_only_its_hash_is_kept() {
        let device = DeviceId::from(7u32);
        let t = token(device, "abc");
        assert_eq!(t, "7.abc");
        assert_eq!(token_hash(&t), token_hash("7.abc"));
        assert_ne!(token_hash(&t), token_hash("7.abd"));
    }
}
