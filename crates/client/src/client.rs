//! The operations a user performs, over the API and the local store.

use std::time::Duration;
use tidings_proto::ErrorCode;
use tidings_proto::{AccountId, DeviceId, Seq};

use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use tidings_proto::api::{DevicePayload, RecipientPayloads, SendAccepted, SendRequest};
use tidings_proto::stream::{Envelope, EnvelopeBody, ServerFrame};
use tidings_proto::Handle;

use crate::api::{Api, ApiError};
use crate::local::{Inserted, Local, LocalError, StoredMessage};
use crate::profile::{Credentials, Profile, ProfileError};
use tidings_core::content::{
    clean_display_name, Content, Group, MessageRef, MAX_REACTION_BYTES, MAX_TEXT_BYTES,
};
use tidings_core::crypto::CryptoError;
use tidings_spam::requests::{Folder, Reason};
use tidings_spam::Fingerprint;

pub mod account_state;
pub mod changes;
pub mod conversations;
pub mod groups;
pub mod history;
pub mod logout;
pub mod outbox;
pub mod photo;

/// The server's notice that this device's one-time keys ran low
/// (`one_time_keys_low` on the server): upload more.
pub const KEYS_LOW_NOTICE: &str = "keys_low";
pub mod requests;
pub mod settings;

/// How many times a send is retried after a stale device list.
pub const MAX_STALE_RETRIES: usize = 3;
/// How many times a send is retried after a network error (same id).
pub const MAX_NETWORK_RETRIES: usize = 5;
/// Environment variable naming the region for phone numbers typed without
/// a country code.
pub const REGION_VAR: &str = "TIDINGS_REGION";
/// Region used when `TIDINGS_REGION` is not set.
pub const DEFAULT_REGION: &str = "US";
/// The region set by [`set_region`], if any.
static REGION: std::sync::RwLock<Option<String>> = std::sync::RwLock::new(None);

/// Sets the region in which numbers typed without a country code are read,
/// for a host without an environment: the web app passes its browser's
/// locale. Anything but two ASCII letters is refused.
pub fn set_region(code: &str) -> Result<(), ClientError> {
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ClientError::Usage(format!(
            "{code:?} is not a region: give a two-letter country code such as GB"
        )));
    }
    *REGION.write().unwrap_or_else(|e| e.into_inner()) = Some(code.to_ascii_uppercase());
    Ok(())
}

/// The region numbers typed without a country code are read in.
fn region() -> String {
    if let Some(set) = REGION.read().unwrap_or_else(|e| e.into_inner()).clone() {
        return set;
    }
    std::env::var(REGION_VAR).unwrap_or_else(|_| DEFAULT_REGION.to_string())
}

/// Most attachments in one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// Setting key for SMS fallback (`on`/`off`): re-send as SMS what reached
/// none of a phone number's devices in time.
pub const SMS_FALLBACK: &str = "sms_fallback";
/// Setting key for the account's display name, as given at registration;
/// it signs the SMS that group members off Tidings get.
pub const DISPLAY_NAME: &str = "display_name";
/// Setting key for who may see that this account's handles are one
/// account (`nobody`, `contacts`, `everyone`), as last set on this device.
pub const LINK_HANDLES: &str = "link_handles";
/// Setting key for read receipts (`on`/`off`).
pub const READ_RECEIPTS: &str = "read_receipts";

/// Everything that can go wrong in a client operation.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The local store failed.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// The profile could not be read or written.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The profile has no device yet.
    #[error("this profile is not signed in; run `tidings register` or `tidings login` first")]
    NotSignedIn,
    /// The user asked for something impossible.
    #[error("{0}")]
    Usage(String),
    /// End-to-end encryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Every recipient's account has no device left (they logged out
    /// everywhere); an e-mail address cannot fall back to SMS.
    #[error("not delivered: {0} has no device on Tidings")]
    NoDevice(String),
}

/// Something that happened, for the user to see.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A new message (incoming, or sent from another of this account's
    /// devices).
    Message(Box<StoredMessage>),
    /// A message of ours reached a device.
    Delivered {
        /// Conversation.
        conversation: String,
        /// Message id.
        id: String,
        /// Recipient handle.
        to: String,
        /// Recipient device.
        device: DeviceId,
    },
    /// A message of ours was read.
    Read {
        /// Conversation.
        conversation: String,
        /// Message id.
        id: String,
        /// Who read it.
        by: String,
    },
    /// A message of ours could not be delivered.
    Failed {
        /// Conversation.
        conversation: String,
        /// Message id.
        id: String,
        /// Recipient handle.
        to: String,
        /// Why.
        reason: String,
    },
    /// What became of an SMS we sent.
    SmsStatus {
        /// Conversation.
        conversation: String,
        /// Message id.
        id: String,
        /// The phone number.
        to: String,
        /// The message's state now.
        state: String,
    },
    /// The server says something about this account (a number removed,
    /// back after a long silence).
    Notice {
        /// Machine-readable kind.
        notice: String,
        /// What to tell the user.
        text: String,
    },
    /// Someone reacted to a message.
    Reaction {
        /// Conversation.
        conversation: String,
        /// The message.
        id: String,
        /// Who.
        by: String,
        /// The reaction (empty: removed).
        emoji: String,
    },
    /// Everything queued has been received; until the wait of `sync` ends,
    /// new messages arrive as they are sent. Lets a user (or a script)
    /// know that the device now counts as connected.
    Live {
        /// Seconds `sync` keeps listening.
        wait_secs: u64,
    },
    /// Someone is typing.
    Typing {
        /// Conversation.
        conversation: String,
        /// Who.
        from: String,
    },
    /// A message arrived in a message request (someone the user has no
    /// relation with): a quiet note instead of a [`Event::Message`], without
    /// the text. Messages filed as junk raise no event at all.
    Request {
        /// Conversation.
        conversation: String,
        /// Who wrote.
        from: String,
        /// Why it is a request.
        reason: Reason,
    },
}

/// A signed-in device.
pub struct Client {
    api: Api,
    creds: Credentials,
    local: Local,
    profile: Profile,
    pickle_key: [u8; 32],
    /// Campaign fingerprints from the local store, loaded when first
    /// needed.
    campaigns: Option<Vec<Fingerprint>>,
    /// The personal spam filter learnt from the account's reports and
    /// restores, built when first needed and dropped when they change.
    personal: Option<tidings_spam::Personal>,
}

use crate::rt::now_ms;

/// A fresh random message id.
pub fn new_message_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Fewest characters of a message id that `react`, `edit` and the like
/// accept; `show` prints [`SHORT_ID_CHARS`].
pub const MIN_ID_PREFIX: usize = 4;
/// Characters of a message id that `show` prints.
pub const SHORT_ID_CHARS: usize = 8;

/// Checks that what the user typed can be (the start of) a message id:
/// lower-case hex, at least [`MIN_ID_PREFIX`] characters.
pub fn check_id_prefix(text: &str) -> Result<String, ClientError> {
    let t = text.trim().to_ascii_lowercase();
    if t.len() < MIN_ID_PREFIX || t.len() > 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ClientError::Usage(format!(
            "\u{201c}{text}\u{201d} is not a message id: give at least {MIN_ID_PREFIX} of the \
             hex characters `tidings show` prints before each message"
        )));
    }
    Ok(t)
}

/// Conversation key of a group.
pub fn group_key(id: &str) -> String {
    format!("group:{id}")
}

impl Client {
    /// Opens a signed-in profile; `server` overrides the stored server URL.
    pub fn open(profile: Profile, server: Option<&str>) -> Result<Client, ClientError> {
        let creds = profile.credentials()?.ok_or(ClientError::NotSignedIn)?;
        let base = server.unwrap_or(&creds.server).to_string();
        let api = Api::new(&base, Some(creds.token.clone()))?;
        let local = Local::open(&profile.store_path())?;
        let pickle_key = profile.pickle_key()?;
        Ok(Client {
            api,
            creds,
            local,
            profile,
            pickle_key,
            campaigns: None,
            personal: None,
        })
    }

    /// Saves fresh credentials into a profile (after register or login).
    pub fn save(
        profile: &Profile,
        server: &str,
        creds: tidings_proto::api::DeviceCredentials,
    ) -> Result<Credentials, ClientError> {
        let creds = Credentials {
            server: server.to_string(),
            account: creds.account,
            device: creds.device,
            token: creds.token,
            handles: creds.handles,
        };
        profile.clear()?;
        profile.save_credentials(&creds)?;
        Ok(creds)
    }

    /// Signs a new device in with the credentials `register` or `login`
    /// returned: saves them into `profile` (forgetting what it held),
    /// opens it, and remembers the display name chosen at registration
    /// and how this device was enrolled (history transfer needs it). The
    /// caller publishes the keys next with [`Client::ensure_keys`]; when
    /// that fails, the saved profile lets a later sync retry.
    pub fn enrol(
        profile: Profile,
        server: &str,
        creds: tidings_proto::api::DeviceCredentials,
        registered: bool,
        display_name: Option<&str>,
    ) -> Result<Client, ClientError> {
        Client::save(&profile, server, creds)?;
        let client = Client::open(profile, Some(server))?;
        if let Some(name) = display_name {
            client.local.set_setting(DISPLAY_NAME, name)?;
        }
        client.local.set_setting(
            history::ENROLLED_BY,
            if registered { "register" } else { "login" },
        )?;
        Ok(client)
    }

    /// Keeps this account's current handles in the profile (after adding
    /// or removing one), so that notes to self, groups and messages use
    /// them.
    pub fn keep_handles(&mut self, handles: Vec<Handle>) -> Result<(), ClientError> {
        if handles != self.creds.handles {
            self.creds.handles = handles;
            self.profile.save_credentials(&self.creds)?;
        }
        Ok(())
    }

    /// The API, authenticated as this device.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// This device's credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// The local store.
    pub fn local(&self) -> &Local {
        &self.local
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The key that encrypts keys and sessions at rest.
    pub(crate) fn pickle_key(&self) -> &[u8; 32] {
        &self.pickle_key
    }

    fn my_handle(&self) -> String {
        self.creds
            .handles
            .first()
            .map(|h| h.to_string())
            .unwrap_or_default()
    }

    /// The message whose id starts with what the user typed (see
    /// [`check_id_prefix`]): its conversation, author account and full id.
    pub fn find_message(&self, text: &str) -> Result<(String, AccountId, String), ClientError> {
        let prefix = check_id_prefix(text)?;
        let found = self.local.messages_by_prefix(&prefix, 2)?;
        match found.as_slice() {
            [] => Err(ClientError::Usage(format!(
                "no message {prefix}; ids are printed by `tidings show`"
            ))),
            [one] => Ok(one.clone()),
            _ => Err(ClientError::Usage(format!(
                "{prefix} is the start of several message ids; give more characters"
            ))),
        }
    }

    /// Parses what the user typed as a handle; numbers without `+` are read
    /// in the region of [`set_region`], else of `TIDINGS_REGION` (ISO 3166
    /// alpha-2, default `US`).
    pub fn parse_handle(text: &str) -> Result<Handle, ClientError> {
        Handle::parse(text, &region()).map_err(|e| ClientError::Usage(e.to_string()))
    }

    /// Resolves a conversation from what the user typed: one handle,
    /// contact name or group (`group:ID` or its name), or several handles
    /// or contact names (the group with exactly these members).
    pub fn conversation_key(&self, targets: &[String]) -> Result<String, ClientError> {
        if let [one] = targets {
            return self.resolve_target(one);
        }
        let mut handles = Vec::with_capacity(targets.len());
        for t in targets {
            handles.push(self.resolve_handle(t)?.to_string());
        }
        match handles.as_slice() {
            [] => Err(ClientError::Usage("name at least one handle".into())),
            [one] => Ok(one.clone()),
            many => self.local.find_group(many)?.ok_or_else(|| {
                ClientError::Usage("no group conversation with exactly these members".into())
            }),
        }
    }

    /// One conversation from what the user typed: `group:ID`, a handle, a
    /// group's name or a contact's name, in that order.
    fn resolve_target(&self, text: &str) -> Result<String, ClientError> {
        if text.starts_with("group:") {
            return Ok(text.to_string());
        }
        if let Ok(h) = Self::parse_handle(text) {
            return self.direct_key(h.as_str(), None);
        }
        match self.local.groups_named(text)?.as_slice() {
            [one] => return Ok(one.clone()),
            [] => {}
            many => {
                return Err(ClientError::Usage(format!(
                    "several groups are named \u{201c}{text}\u{201d}: {}; name one by its id",
                    many.join(", ")
                )))
            }
        }
        let h = self.resolve_handle(text)?;
        self.direct_key(h.as_str(), None)
    }

    /// The conversation with a handle: its own, or, when it has none yet,
    /// the direct conversation with another handle of the same account
    /// (`account`, or the one the directory gave), so that one person is
    /// one conversation. Each message keeps the handle it came from.
    pub(crate) fn direct_key(
        &self,
        handle: &str,
        account: Option<AccountId>,
    ) -> Result<String, ClientError> {
        if self.local.conversation_members(handle)?.is_some() {
            return Ok(handle.to_string());
        }
        let account = match account {
            Some(a) => Some(a),
            None => self.local.account_of(handle)?,
        };
        if let Some(a) = account.filter(|a| *a != self.creds.account) {
            if let Some(key) = self.local.direct_conversation_of(a, handle)? {
                return Ok(key);
            }
        }
        Ok(handle.to_string())
    }

    /// A handle from what the user typed: a phone number, an e-mail
    /// address, or the name of a saved contact.
    pub fn resolve_handle(&self, text: &str) -> Result<Handle, ClientError> {
        let parsed = Self::parse_handle(text);
        if let Ok(h) = parsed {
            return Ok(h);
        }
        match self.local.contacts_named(text)?.as_slice() {
            [one] => Self::parse_handle(one),
            [] => Err(ClientError::Usage(format!(
                "\u{201c}{text}\u{201d} is not a phone number, an e-mail address, a contact's \
                 name or a group's name (see `tidings contacts` and `tidings chats`)"
            ))),
            many => Err(ClientError::Usage(format!(
                "several contacts are named \u{201c}{text}\u{201d}: {}; use the handle",
                many.join(", ")
            ))),
        }
    }

    /// Sends a text to one handle (a direct chat), several handles (the
    /// group with exactly these members, created if needed), a group or a
    /// contact by name.
    ///
    /// `reply_to` quotes a message of the same conversation (its id or the
    /// start of it). Writing to one's own handle is a note to self: it
    /// goes only to this account's other devices. When the server cannot
    /// be reached the message waits in the outbox ([`outbox`]) and the
    /// answer says `waiting`. Messages already waiting go first.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_text(
        &mut self,
        targets: &[String],
        text: &str,
        files: &[std::path::PathBuf],
        reply_to: Option<&str>,
        confirm: bool,
        sms_links: bool,
        progress: &mut dyn FnMut(&str, u64, u64),
    ) -> Result<StoredMessage, ClientError> {
        if let Err(e) = self.flush_outbox().await {
            tracing::warn!(error = %e, "could not send the waiting messages");
        }
        let reply_to = match reply_to {
            None => None,
            Some(r) => {
                let (_, account, id) = self.find_message(r)?;
                Some(MessageRef { account, id })
            }
        };
        let draft = outbox::Draft {
            targets: targets.to_vec(),
            text: text.to_string(),
            files: files.to_vec(),
            reply_to,
            confirm,
            sms_links,
        };
        self.send_draft(&draft, &new_message_id(), now_ms(), progress)
            .await
    }

    /// Sends a draft as message `id`, or keeps it waiting when the server
    /// cannot be reached.
    pub(crate) async fn send_draft(
        &mut self,
        draft: &outbox::Draft,
        id: &str,
        sent_at: u64,
        progress: &mut dyn FnMut(&str, u64, u64),
    ) -> Result<StoredMessage, ClientError> {
        let text = draft.text.as_str();
        let files = draft.files.as_slice();
        if text.len() > MAX_TEXT_BYTES {
            return Err(ClientError::Usage(format!(
                "text too long ({} bytes, at most {MAX_TEXT_BYTES})",
                text.len()
            )));
        }
        if files.len() > MAX_ATTACHMENTS {
            return Err(ClientError::Usage(format!(
                "at most {MAX_ATTACHMENTS} attachments per message"
            )));
        }
        let (conv, recipients, group, to) = self.resolve_targets(&draft.targets).await?;
        if let Some(r) = &draft.reply_to {
            let in_conv = self.local.conversation_of(r.account, &r.id)?;
            if in_conv.as_deref() != Some(conv.as_str()) {
                return Err(ClientError::Usage(format!(
                    "message {} is not in {conv}; a reply goes to the same conversation",
                    r.id
                )));
            }
        }
        let result = self
            .deliver(draft, id, sent_at, &conv, &recipients, group, to, progress)
            .await;
        match result {
            Err(e) if outbox::is_unreachable(&e) => {
                tracing::info!(error = %e, "the server cannot be reached; the message waits");
                let members: Vec<String> = recipients.iter().map(Handle::to_string).collect();
                self.local.upsert_conversation(&conv, &members, sent_at)?;
                let me = self.my_handle();
                self.local.insert_message(
                    &conv,
                    self.creds.account,
                    &me,
                    id,
                    true,
                    "text",
                    text,
                    sent_at,
                    "waiting",
                )?;
                if let Some(r) = &draft.reply_to {
                    self.local
                        .set_reply(self.creds.account, id, r.account, &r.id)?;
                }
                match self.keep_waiting(draft, id, sent_at)? {
                    Some(m) => Ok(m),
                    None => {
                        self.local
                            .set_state(self.creds.account, id, &format!("failed: {e}"))?;
                        Err(ClientError::Usage(format!(
                            "{e}; and {} messages wait already, the most this device keeps",
                            outbox::MAX_OUTBOX
                        )))
                    }
                }
            }
            other => {
                self.local.unqueue_outbox(id)?;
                other
            }
        }
    }

    /// Routes, uploads, stores and sends one message.
    #[allow(clippy::too_many_arguments)]
    async fn deliver(
        &mut self,
        draft: &outbox::Draft,
        id: &str,
        sent_at: u64,
        conv: &str,
        recipients: &[Handle],
        group: Option<Group>,
        to: Vec<Handle>,
        progress: &mut dyn FnMut(&str, u64, u64),
    ) -> Result<StoredMessage, ClientError> {
        let (text, files, confirm, sms_links) = (
            draft.text.as_str(),
            draft.files.as_slice(),
            draft.confirm,
            draft.sms_links,
        );
        // The photo in this text must name a blob the server still keeps.
        if let Err(e) = self.refresh_own_photo().await {
            if outbox::is_unreachable(&e) {
                return Err(e);
            }
            tracing::warn!(error = %e, "could not upload the profile photo again");
        }
        let conv = conv.to_string();
        let recipients = recipients.to_vec();
        let reply_to = draft.reply_to.clone();
        self.check_confirmed(&recipients, confirm)?;
        // Route first, so the sender hears about SMS recipients and what
        // that means for attachments before anything is uploaded or sent.
        let sms_text = self.sms_body(&conv, text)?;
        let (ip, mut sms) = self.route(&recipients, &sms_text, group.is_some()).await?;
        self.check_confirmed(&ip, confirm)?;
        if !sms.is_empty() && !files.is_empty() && !sms_links {
            let phones: Vec<&str> = sms.iter().map(|p| p.handle.as_str()).collect();
            let hours = self.api.limits().await?.sms_link_secs / 3600;
            return Err(ClientError::Usage(format!(
                "{} not on Tidings, so attachments reach them as download links in an SMS; \
                 the server can read those files until the links expire (after {hours} hours). \
                 Send again with --sms-link to agree, or without attachments",
                phones.join(", ")
            )));
        }
        let id = id.to_string();
        let mut attachments = Vec::with_capacity(files.len());
        for f in files {
            let name = f.display().to_string();
            let mut p = |d: u64, t: u64| progress(&name, d, t);
            attachments.push(self.upload_attachment(f, &mut p).await?);
        }
        if !sms.is_empty() && !attachments.is_empty() {
            let mut lines = Vec::with_capacity(attachments.len());
            for a in &attachments {
                let link = self
                    .api
                    .create_link(&tidings_proto::api::LinkCreate {
                        blob: a.blob.clone(),
                        key: a.key.clone(),
                        name: a.name.clone(),
                        content_type: a.content_type.clone(),
                        size: a.size,
                    })
                    .await?;
                lines.push(format!("{}: {}", a.name, link.url));
            }
            let links = lines.join("\n");
            for part in &mut sms {
                part.text = if part.text.is_empty() {
                    links.clone()
                } else {
                    format!("{}\n{links}", part.text)
                };
            }
        }
        let content = Content::Text {
            body: text.to_string(),
            sent_at,
            group: group.clone(),
            to: to.clone(),
            attachments: attachments.clone(),
            resend_of: None,
            reply_to: reply_to.clone(),
            from_name: self.local.setting(DISPLAY_NAME)?,
            handles: self.linked_handles()?,
            photo: self.own_photo()?,
        };
        let members: Vec<String> = recipients.iter().map(Handle::to_string).collect();
        self.local.upsert_conversation(&conv, &members, sent_at)?;
        // Writing to someone accepts the conversation and makes them known.
        let was_held = self.is_held(&conv)?;
        self.note_wrote_to(&conv, &members)?;
        let me = self.my_handle();
        self.local.insert_message(
            &conv,
            self.creds.account,
            &me,
            &id,
            true,
            "text",
            text,
            sent_at,
            "sending",
        )?;
        if let Some(r) = &reply_to {
            self.local
                .set_reply(self.creds.account, &id, r.account, &r.id)?;
        }
        // A message that waited may have stored its attachments already.
        let stored_files = !self
            .local
            .attachment_pointers(self.creds.account, &id)?
            .is_empty();
        for (a, f) in attachments.iter().zip(files).filter(|_| !stored_files) {
            let path = f.canonicalize().unwrap_or_else(|_| f.clone());
            self.local.add_attachment(
                self.creds.account,
                &id,
                a,
                Some(&path.display().to_string()),
                "sent",
            )?;
        }
        let via = match (ip.is_empty(), sms.is_empty()) {
            (_, true) => "ip",
            (true, false) => "sms",
            (false, false) => "ip+sms",
        };
        self.local.set_via(self.creds.account, &id, via)?;
        if ip.is_empty() && sms.is_empty() && self.own_devices(false).await?.is_empty() {
            // A note to self with no other device to copy it to.
            self.local.set_state(self.creds.account, &id, "saved")?;
            let msgs = self.local.messages(&conv)?;
            return Ok(msgs
                .into_iter()
                .rev()
                .find(|m| m.id == id)
                .expect("the message was just stored"));
        }
        match self.send_with_sms(&id, &ip, &content, false, &sms).await {
            Ok(_) if ip.is_empty() => {
                self.local
                    .set_state(self.creds.account, &id, "queued as SMS")?
            }
            Ok(_) => self.local.set_state(self.creds.account, &id, "sent")?,
            Err(e) => {
                if !outbox::is_unreachable(&e) {
                    self.local
                        .set_state(self.creds.account, &id, &format!("failed: {e}"))?;
                }
                return Err(e);
            }
        }
        if was_held && self.local.setting(READ_RECEIPTS)?.as_deref() != Some("off") {
            // A reply accepts the request: the receipts held back go now.
            let seen = self.local.seen_incoming(&conv)?;
            if let Err(e) = self.send_receipts(&seen).await {
                tracing::warn!(error = %e, "could not send held-back read receipts");
            }
        }
        let msgs = self.local.messages(&conv)?;
        Ok(msgs
            .into_iter()
            .rev()
            .find(|m| m.id == id)
            .expect("the message was just stored"))
    }

    /// Splits recipients into those on Tidings (IP, end-to-end encrypted)
    /// and phone numbers that are not (SMS, with the text in plaintext).
    /// In a group, an e-mail member who left Tidings is skipped rather than
    /// failing the message for everyone.
    async fn route(
        &self,
        recipients: &[Handle],
        text: &str,
        group: bool,
    ) -> Result<(Vec<Handle>, Vec<tidings_proto::api::SmsPart>), ClientError> {
        let mut ip = Vec::new();
        let mut sms = Vec::new();
        // Phone numbers are looked up fresh: a number whose devices have all
        // gone silent is not reachable over IP and gets an SMS instead.
        let phones: Vec<String> = recipients
            .iter()
            .filter(|h| h.is_phone())
            .map(Handle::to_string)
            .collect();
        let mut stale = Vec::new();
        if !phones.is_empty() {
            for chunk in phones.chunks(100) {
                let answer = self.api.lookup(chunk).await?;
                for gone in &answer.not_found {
                    self.local.forget_devices(gone)?;
                }
                for entry in answer.found {
                    if let Some((_, before)) = self.local.cached_devices(&entry.handle)? {
                        self.note_device_change(&entry.handle, &before, &entry.devices, now_ms())?;
                    }
                    self.local
                        .cache_devices(&entry.handle, entry.account, &entry.devices)?;
                    if !entry.reachable {
                        stale.push(entry.handle);
                    }
                }
            }
        }
        for h in recipients {
            if stale.contains(h) {
                sms.push(tidings_proto::api::SmsPart {
                    handle: h.to_string(),
                    text: text.to_string(),
                });
                continue;
            }
            match self.devices_of(h, false).await {
                Ok(_) => ip.push(h.clone()),
                Err(ClientError::Api(ApiError::Server { ref body, .. }))
                    if body.error == ErrorCode::NotRegistered && h.is_phone() =>
                {
                    sms.push(tidings_proto::api::SmsPart {
                        handle: h.to_string(),
                        text: text.to_string(),
                    })
                }
                Err(ClientError::Api(ApiError::Server { ref body, .. }))
                    if body.error == ErrorCode::NotRegistered && group =>
                {
                    tracing::info!(member = %h, "a group member is no longer on Tidings");
                }
                Err(e) => return Err(e),
            }
        }
        Ok((ip, sms))
    }

    /// Works out conversation key, recipient handles, group and direct `to`.
    async fn resolve_targets(
        &mut self,
        targets: &[String],
    ) -> Result<(String, Vec<Handle>, Option<Group>, Vec<Handle>), ClientError> {
        if let [one] = targets {
            let key = self.resolve_target(one)?;
            if key.starts_with("group:") {
                let state = self.group_to_write(&key)?;
                let recipients = state
                    .members
                    .iter()
                    .filter(|h| !self.creds.handles.contains(h))
                    .cloned()
                    .collect();
                return Ok((key, recipients, Some(state.snapshot()), Vec::new()));
            }
        }
        if let [one] = targets {
            let h = self.resolve_handle(one)?;
            if self.creds.handles.contains(&h) {
                // A note to self: kept here and on this account's other
                // devices, sent to nobody else.
                return Ok((h.to_string(), Vec::new(), None, vec![h]));
            }
        }
        let mut recipients = Vec::new();
        for t in targets {
            let h = self.resolve_handle(t)?;
            if self.creds.handles.contains(&h) {
                return Err(ClientError::Usage(format!(
                    "{h} is your own handle; a group is made of the others (write to yourself alone for a note to self)"
                )));
            }
            if !recipients.contains(&h) {
                recipients.push(h);
            }
        }
        // Offline, the server's own limit on recipients still holds.
        let max_members = match recipients.len() {
            0 | 1 => usize::MAX,
            _ => self
                .api
                .limits()
                .await
                .map(|l| l.max_group_members)
                .unwrap_or(usize::MAX),
        };
        match recipients.len() {
            0 => Err(ClientError::Usage("name at least one recipient".into())),
            1 => {
                let key = self.direct_key(recipients[0].as_str(), None)?;
                Ok((key, recipients.clone(), None, recipients))
            }
            n if n + 1 > max_members => Err(ClientError::Usage(format!(
                "a group has at most {max_members} members, you included"
            ))),
            _ => {
                let names: Vec<String> = recipients.iter().map(Handle::to_string).collect();
                let (key, state) = match self.local.find_group(&names)? {
                    Some(key) => {
                        let state = self.group_to_write(&key)?;
                        (key, state)
                    }
                    None => self.create_group(&recipients)?,
                };
                Ok((key, recipients, Some(state.snapshot()), Vec::new()))
            }
        }
    }

    /// Current devices of a handle: cached, or looked up.
    async fn devices_of(
        &self,
        handle: &Handle,
        refresh: bool,
    ) -> Result<Vec<DeviceId>, ClientError> {
        if !refresh {
            if let Some((_, devices)) = self.local.cached_devices(handle)? {
                return Ok(devices);
            }
        }
        let found = self.api.lookup(&[handle.to_string()]).await?;
        match found.found.into_iter().next() {
            Some(entry) => {
                if let Some((_, before)) = self.local.cached_devices(handle)? {
                    self.note_device_change(handle, &before, &entry.devices, now_ms())?;
                }
                self.local
                    .cache_devices(handle, entry.account, &entry.devices)?;
                Ok(entry.devices)
            }
            None => {
                self.local.forget_devices(handle)?;
                Err(ClientError::Api(ApiError::Server {
                    status: 404,
                    body: Box::new(tidings_proto::api::ErrorBody {
                        error: ErrorCode::NotRegistered,
                        message: format!("{handle} is not on Tidings"),
                        mismatches: Vec::new(),
                        not_registered: vec![handle.clone()],
                        retry_after_secs: None,
                        pow: None,
                    }),
                }))
            }
        }
    }

    /// The current devices of a handle, looked up now (noting changes).
    pub async fn devices_of_checked(&self, handle: &Handle) -> Result<Vec<DeviceId>, ClientError> {
        self.devices_of(handle, true).await
    }

    async fn own_devices(&self, refresh: bool) -> Result<Vec<DeviceId>, ClientError> {
        let key = "own_devices";
        if !refresh {
            if let Some(v) = self.local.setting(key)? {
                return Ok(v.split(',').filter_map(|x| x.parse().ok()).collect());
            }
        }
        let devices: Vec<DeviceId> = self
            .api
            .devices()
            .await?
            .into_iter()
            .map(|d| d.id)
            .filter(|d| *d != self.creds.device)
            .collect();
        let list = devices
            .iter()
            .map(DeviceId::to_string)
            .collect::<Vec<_>>()
            .join(",");
        self.local.set_setting(key, &list)?;
        Ok(devices)
    }

    /// Sends one content to the recipients' devices and this account's
    /// other devices, fixing stale device lists and retrying network errors
    /// with the same id (the server makes that idempotent).
    pub async fn send_content(
        &self,
        id: &str,
        recipients: &[Handle],
        content: &Content,
        ephemeral: bool,
    ) -> Result<SendAccepted, ClientError> {
        self.send_with_sms(id, recipients, content, ephemeral, &[])
            .await
    }

    /// [`Client::send_content`], plus plaintext SMS for numbers that are not
    /// on Tidings, in the same envelope (one acknowledgement for both).
    pub async fn send_with_sms(
        &self,
        id: &str,
        recipients: &[Handle],
        content: &Content,
        ephemeral: bool,
        sms: &[tidings_proto::api::SmsPart],
    ) -> Result<SendAccepted, ClientError> {
        let bytes = content.to_bytes();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut refresh_handles: Vec<Handle> = Vec::new();
        let mut refresh_own = false;
        let mut stale_retries = 0;
        let mut network_retries = 0;
        let mut asked_again = false;
        loop {
            let mut targets = Vec::with_capacity(recipients.len());
            for h in recipients {
                targets.push((h, self.devices_of(h, false).await?));
            }
            // An account with no device left cannot receive anything: a
            // message only to such accounts fails visibly; in a group they
            // are left out.
            if !targets.is_empty() && targets.iter().all(|(_, ds)| ds.is_empty()) {
                // "No device" from the cache is asked again once: the
                // person may have signed in since.
                if !asked_again {
                    asked_again = true;
                    for (h, _) in &targets {
                        self.devices_of(h, true).await?;
                    }
                    continue;
                }
                let names: Vec<&str> = targets.iter().map(|(h, _)| h.as_str()).collect();
                return Err(ClientError::NoDevice(names.join(", ")));
            }
            targets.retain(|(_, ds)| !ds.is_empty());
            let own_devices = if ephemeral {
                Vec::new()
            } else {
                self.own_devices(refresh_own).await?
            };
            let all: Vec<DeviceId> = targets
                .iter()
                .flat_map(|(_, ds)| ds.iter().copied())
                .chain(own_devices.iter().copied())
                .collect();
            let ciphertexts = self.encrypt_for(&all, &bytes).await?;
            let payload = |device: DeviceId| DevicePayload {
                device,
                payload: b64.encode(&ciphertexts[&device]),
            };
            let to = targets
                .iter()
                .map(|(h, ds)| RecipientPayloads {
                    handle: h.to_string(),
                    devices: ds.iter().map(|d| payload(*d)).collect(),
                })
                .collect();
            let own = own_devices.iter().map(|d| payload(*d)).collect();
            let req = SendRequest {
                id: id.to_string(),
                from: None,
                to,
                own,
                ephemeral,
                partial: false,
                no_sms_fallback: self.local.setting(SMS_FALLBACK)?.as_deref() == Some("off"),
                sms: sms.to_vec(),
            };
            match self.api.send(&req).await {
                Ok(accepted) => return Ok(accepted),
                Err(ApiError::Server { body, .. })
                    if body.error == ErrorCode::StaleDevices
                        && stale_retries < MAX_STALE_RETRIES =>
                {
                    stale_retries += 1;
                    tracing::debug!(mismatches = ?body.mismatches, "device lists were stale; refetching");
                    for m in body.mismatches {
                        if self.creds.handles.contains(&m.handle) {
                            refresh_own = true;
                        } else {
                            // Look the devices up now, so a change is noted
                            // before anything is encrypted for them.
                            self.devices_of(&m.handle, true).await?;
                            refresh_handles.push(m.handle);
                        }
                    }
                    if matches!(content, Content::Text { .. }) {
                        self.check_confirmed(&refresh_handles, false)?;
                    }
                }
                Err(ApiError::Server { body, .. }) if body.error == ErrorCode::NotRegistered => {
                    for h in &body.not_registered {
                        self.local.forget_devices(h)?;
                    }
                    return Err(ClientError::Api(ApiError::Server { status: 404, body }));
                }
                Err(e @ ApiError::Network { .. })
                    if network_retries < MAX_NETWORK_RETRIES && !e.never_connected() =>
                {
                    network_retries += 1;
                    crate::rt::sleep(Duration::from_millis(200 * (1 << network_retries))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends a typing indicator to a conversation.
    pub async fn typing(&mut self, targets: &[String]) -> Result<(), ClientError> {
        let (conv, recipients, group, _) = self.resolve_targets(targets).await?;
        if self.is_held(&conv)? {
            return Err(ClientError::Usage(format!(
                "{conv} is a message request: nobody there sees you typing until you accept it (`tidings accept {conv}`)"
            )));
        }
        let content = Content::Typing {
            group: group.map(|g| g.id),
        };
        self.send_content(&new_message_id(), &recipients, &content, true)
            .await?;
        Ok(())
    }

    /// Marks a conversation read here, tells this account's other devices,
    /// and (unless read receipts are off, or the conversation is a held-back
    /// request) tells the authors.
    pub async fn read(&mut self, targets: &[String]) -> Result<usize, ClientError> {
        let conv = self.conversation_key(targets)?;
        let unread = self.local.unread(&conv)?;
        if unread.is_empty() {
            return Ok(0);
        }
        for (account, _, id) in &unread {
            self.local.mark_seen(*account, id)?;
        }
        let receipts_on =
            self.local.setting(READ_RECEIPTS)?.as_deref() != Some("off") && !self.is_held(&conv)?;
        if receipts_on {
            self.send_receipts(&unread).await?;
        } else if !self.own_devices(false).await?.is_empty() {
            // Only our own devices learn that we read (sync, no receipt).
            let refs: Vec<MessageRef> = unread
                .iter()
                .map(|(account, _, id)| MessageRef {
                    account: *account,
                    id: id.clone(),
                })
                .collect();
            for chunk in refs.chunks(requests::MAX_REFS_PER_RECEIPT) {
                let content = Content::Read {
                    refs: chunk.to_vec(),
                };
                self.send_content(&new_message_id(), &[], &content, false)
                    .await?;
            }
        }
        Ok(unread.len())
    }

    /// Reacts to a message (by its id, as `show --json` lists it); an empty
    /// reaction removes this account's earlier one.
    pub async fn react(&mut self, id: &str, emoji: &str) -> Result<(), ClientError> {
        if emoji.len() > MAX_REACTION_BYTES || emoji.chars().any(char::is_control) {
            return Err(ClientError::Usage(format!(
                "a reaction is at most {MAX_REACTION_BYTES} bytes without control characters"
            )));
        }
        let (conv, author, id) = self.find_message(id)?;
        let id = id.as_str();
        let (_, recipients, _, _) = self.resolve_targets(std::slice::from_ref(&conv)).await?;
        // Reacting is answering: it accepts a request like a reply does.
        let names: Vec<String> = recipients.iter().map(Handle::to_string).collect();
        self.note_wrote_to(&conv, &names)?;
        let content = Content::Reaction {
            target: MessageRef {
                account: author,
                id: id.to_string(),
            },
            emoji: emoji.to_string(),
        };
        self.send_content(&new_message_id(), &recipients, &content, false)
            .await?;
        let me = self.my_handle();
        self.local.set_reaction(author, id, &me, emoji)?;
        Ok(())
    }

    /// Receives what is queued (and, for `wait`, what arrives meanwhile),
    /// storing each envelope before acknowledging it. Returns the events.
    pub async fn sync(
        &mut self,
        wait: Duration,
        mut on_event: impl FnMut(&Event),
    ) -> Result<usize, ClientError> {
        self.before_stream().await?;
        let mut stream = self.api.stream().await?;
        let deadline = crate::rt::Instant::now() + wait;
        let mut drained = false;
        let mut count = 0;
        loop {
            let frame = if drained {
                let left = deadline.saturating_duration_since(crate::rt::Instant::now());
                match crate::rt::timeout(left, stream.next()).await {
                    Ok(f) => f?,
                    Err(_) => break,
                }
            } else {
                stream.next().await?
            };
            match frame {
                None => break,
                Some(ServerFrame::Envelope(env)) => {
                    let seq = env.seq;
                    for event in self.handle_envelope(env).await? {
                        count += 1;
                        // A muted conversation raises no notification.
                        let muted = match &event {
                            Event::Message(m) => self.local.is_muted(&m.conversation)?,
                            _ => false,
                        };
                        if !muted {
                            on_event(&event);
                        }
                    }
                    if seq != Seq::default() {
                        stream.ack(vec![seq]).await?;
                    }
                }
                Some(ServerFrame::Drained) => {
                    let now = crate::rt::Instant::now();
                    if now >= deadline {
                        break;
                    }
                    if !drained {
                        on_event(&Event::Live {
                            wait_secs: (deadline - now).as_secs_f64().ceil() as u64,
                        });
                    }
                    drained = true;
                }
                Some(ServerFrame::Error { error, message }) => {
                    return Err(ClientError::Api(ApiError::Server {
                        status: 0,
                        body: Box::new(tidings_proto::api::ErrorBody {
                            error,
                            message,
                            mismatches: Vec::new(),
                            not_registered: Vec::new(),
                            retry_after_secs: None,
                            pow: None,
                        }),
                    }))
                }
                Some(ServerFrame::Ready { .. }) => {}
            }
        }
        stream.close().await;
        for e in &self.after_catch_up().await {
            count += 1;
            on_event(e);
        }
        Ok(count)
    }

    /// What a sync does before it opens the delivery stream: this device's
    /// keys are published or topped up (so that a device whose keys failed
    /// to publish at sign-in becomes reachable), junk past its retention
    /// goes, messages written while the server was out of reach are sent,
    /// and the campaign list is refreshed. A live session (the web app)
    /// calls it on every (re)connection.
    pub async fn before_stream(&mut self) -> Result<(), ClientError> {
        self.ensure_keys().await?;
        self.purge_junk()?;
        self.flush_outbox().await?;
        self.refresh_campaigns().await?;
        Ok(())
    }

    /// What a sync does once the stream has delivered what was queued:
    /// a device of this account that joined since the last look is
    /// announced and gets this account's contacts and settings, new
    /// profile photos are fetched, and a history another device sent for
    /// this one is imported (or, failing that, a notice says it waits).
    /// Failures here are reported as events or logged, never returned: the
    /// next sync tries again.
    pub async fn after_catch_up(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        match self.welcome_new_devices().await {
            Ok(welcomed) => events.extend(welcomed),
            Err(e) => tracing::warn!(error = %e, "could not check this account's devices"),
        }
        if let Err(e) = self.fetch_photos().await {
            tracing::info!(error = %e, "could not fetch profile photos");
        }
        match self.import_offered_history().await {
            Ok(imported) => events.extend(imported),
            Err(e) => events.push(Event::Notice {
                notice: "history_waiting".into(),
                text: format!(
                    "your message history could not be brought over yet ({e}); \
                     the next `tidings sync` tries again"
                ),
            }),
        }
        events
    }

    /// Files one envelope in the local store; returns what the user should
    /// see (nothing for a duplicate).
    pub async fn handle_envelope(&mut self, env: Envelope) -> Result<Vec<Event>, ClientError> {
        let me = self.creds.account;
        match env.body {
            EnvelopeBody::Message {
                id,
                sender,
                payload,
                report_token,
            } => {
                if sender.account != me && self.local.is_blocked(sender.handle.as_str())? {
                    // Blocked: acknowledged and stored nowhere.
                    return Ok(Vec::new());
                }
                let content = match self.open_payload(sender.device, &payload).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(sender = %sender.handle, error = %e, "a message could not be decrypted");
                        let from = sender.handle.to_string();
                        let note = format!("(a message from {from} could not be decrypted: {e})");
                        let (filing, _) = if sender.account == me {
                            self.local.upsert_conversation(
                                &from,
                                std::slice::from_ref(&from),
                                env.at,
                            )?;
                            (tidings_spam::requests::Filing::INBOX, false)
                        } else {
                            self.file_incoming(
                                &from,
                                std::slice::from_ref(&from),
                                env.at,
                                &from,
                                None,
                            )?
                        };
                        let inserted = self.local.insert_message(
                            &from,
                            sender.account,
                            &from,
                            &id,
                            false,
                            "event",
                            &note,
                            env.at,
                            "undecryptable",
                        )?;
                        if inserted == Inserted::Duplicate {
                            return Ok(Vec::new());
                        }
                        if let Some(token) = &report_token {
                            self.local.set_report_token(sender.account, &id, token)?;
                        }
                        if let Err(e) = self.request_resend(&sender, &id).await {
                            tracing::warn!(error = %e, "could not ask for a re-send");
                        }
                        if filing.folder.is_held() {
                            return Ok(request_event(&filing, &from, &from));
                        }
                        let stored = self
                            .local
                            .messages(&from)?
                            .into_iter()
                            .rev()
                            .find(|m| m.id == id);
                        return Ok(stored
                            .map(|m| Event::Message(Box::new(m)))
                            .into_iter()
                            .collect());
                    }
                };
                let ours = sender.account == me;
                let from = sender.handle.to_string();
                if !ours {
                    let known = self.local.cached_devices(&sender.handle)?;
                    if known.is_some_and(|(_, ds)| !ds.contains(&sender.device)) {
                        // A device we did not know: look again, note the change.
                        let _ = self.devices_of(&sender.handle, true).await;
                    }
                }
                match content {
                    Content::Text {
                        body,
                        sent_at,
                        group,
                        to,
                        attachments,
                        resend_of,
                        reply_to,
                        from_name,
                        handles,
                        photo,
                    } => {
                        if let Some(p) = photo.as_deref().filter(|_| !ours) {
                            self.keep_sender_photo(&from, p)?;
                        }
                        if !ours && group.is_none() {
                            self.verify_linked_handles(&sender, &handles).await;
                        }
                        if let Some(name) = from_name.as_deref().and_then(clean_display_name) {
                            if !ours {
                                self.local.set_profile_name(&from, &name, sent_at)?;
                            }
                        }
                        // A re-send carries the id of the message it replaces.
                        let id = resend_of.unwrap_or(id);
                        let mut filing = tidings_spam::requests::Filing::INBOX;
                        let conv = match (&group, ours) {
                            (Some(g), _) => {
                                let key = match self.admit_group_message(
                                    &sender.handle,
                                    g,
                                    sent_at,
                                    &id,
                                    sender.account,
                                    ours,
                                )? {
                                    Ok(key) => key,
                                    Err(events) => return Ok(events),
                                };
                                let others = self.group_others(&key)?;
                                if ours {
                                    self.note_wrote_to(&key, &others)?;
                                } else {
                                    let (f, _) = self.file_incoming(
                                        &key,
                                        &others,
                                        sent_at,
                                        &from,
                                        Some(&body),
                                    )?;
                                    filing = f;
                                }
                                key
                            }
                            (None, true) => {
                                let peer = to.first().map(Handle::to_string).unwrap_or_default();
                                let key = self.direct_key(&peer, None)?;
                                self.local.upsert_conversation(
                                    &key,
                                    std::slice::from_ref(&key),
                                    sent_at,
                                )?;
                                self.note_wrote_to(&key, std::slice::from_ref(&peer))?;
                                key
                            }
                            (None, false) => {
                                let key = self.direct_key(&from, Some(sender.account))?;
                                filing = self
                                    .file_incoming(
                                        &key,
                                        std::slice::from_ref(&key),
                                        sent_at,
                                        &from,
                                        Some(&body),
                                    )?
                                    .0;
                                self.local.upsert_conversation(
                                    &key,
                                    std::slice::from_ref(&key),
                                    sent_at,
                                )?;
                                key
                            }
                        };
                        let state = if ours { "sent" } else { "received" };
                        let recovered = self.local.recover_message(
                            sender.account,
                            &id,
                            &conv,
                            &body,
                            sent_at,
                            state,
                        )?;
                        let inserted = if recovered {
                            Inserted::New
                        } else {
                            self.local.insert_message(
                                &conv,
                                sender.account,
                                &from,
                                &id,
                                ours,
                                "text",
                                &body,
                                sent_at,
                                state,
                            )?
                        };
                        if inserted == Inserted::Duplicate {
                            return Ok(Vec::new());
                        }
                        if let Some(token) = &report_token {
                            self.local.set_report_token(sender.account, &id, token)?;
                        }
                        if let Some(r) = &reply_to {
                            self.local
                                .set_reply(sender.account, &id, r.account, &r.id)?;
                        }
                        for a in attachments.iter().take(MAX_ATTACHMENTS) {
                            self.local
                                .add_attachment(sender.account, &id, a, None, "pending")?;
                        }
                        if filing.folder.is_held() {
                            return Ok(request_event(&filing, &conv, &from));
                        }
                        let stored = self
                            .local
                            .messages(&conv)?
                            .into_iter()
                            .rev()
                            .find(|m| m.id == id && m.author_account == sender.account)
                            .expect("the message was just stored");
                        Ok(vec![Event::Message(Box::new(stored))])
                    }
                    Content::Read { refs } => {
                        let mut events = Vec::new();
                        for r in refs {
                            if ours {
                                self.local.mark_seen(r.account, &r.id)?;
                            } else if r.account == me
                                && self.local.mark_read_by(me, &r.id, &from)?
                            {
                                let conv = self.conversation_of(me, &r.id)?;
                                events.push(Event::Read {
                                    conversation: conv,
                                    id: r.id,
                                    by: from.clone(),
                                });
                            }
                        }
                        Ok(events)
                    }
                    Content::GroupUpdate {
                        group,
                        sent_at,
                        change,
                        ..
                    } => {
                        let Some((key, text)) = self.receive_group_change(
                            &sender.handle,
                            &group,
                            change,
                            sent_at,
                            ours,
                        )?
                        else {
                            return Ok(Vec::new());
                        };
                        let others = self.group_others(&key)?;
                        let filing = if ours {
                            self.note_wrote_to(&key, &others)?;
                            tidings_spam::requests::Filing::INBOX
                        } else {
                            self.file_incoming(&key, &others, sent_at, &from, None)?.0
                        };
                        let inserted = self.local.insert_message(
                            &key,
                            sender.account,
                            &from,
                            &id,
                            ours,
                            "event",
                            &text,
                            sent_at,
                            if ours { "sent" } else { "received" },
                        )?;
                        if inserted == Inserted::Duplicate {
                            return Ok(Vec::new());
                        }
                        if let Some(token) = &report_token {
                            self.local.set_report_token(sender.account, &id, token)?;
                        }
                        if filing.folder.is_held() {
                            return Ok(request_event(&filing, &key, &from));
                        }
                        let stored = self
                            .local
                            .messages(&key)?
                            .into_iter()
                            .rev()
                            .find(|m| m.id == id)
                            .expect("the event was just stored");
                        Ok(vec![Event::Message(Box::new(stored))])
                    }
                    Content::Typing { .. } => Ok(Vec::new()),
                    Content::ConversationState { key, change } => {
                        // Only this account's own devices change its list.
                        if ours && key.len() <= 128 {
                            self.apply_conversation_change(&key, change)?;
                        }
                        Ok(Vec::new())
                    }
                    Content::Profile { name, photo } => {
                        if !ours {
                            if let Some(n) = name.as_deref().and_then(clean_display_name) {
                                self.local.set_profile_name(&from, &n, env.at)?;
                            }
                            if let Some(p) = photo.as_deref() {
                                self.keep_sender_photo(&from, p)?;
                            }
                        }
                        Ok(Vec::new())
                    }
                    c @ Content::History { .. } => {
                        // Only this account's own devices hand it history.
                        if ours {
                            self.receive_history_offer(&c)?;
                        }
                        Ok(Vec::new())
                    }
                    c @ Content::AccountState { .. } => {
                        // Only this account's own devices speak for it.
                        if ours {
                            self.apply_account_state(c)?;
                        }
                        Ok(Vec::new())
                    }
                    c @ (Content::Edit { .. }
                    | Content::Unsend { .. }
                    | Content::Deleted { .. }) => self.receive_change(sender.account, c),
                    Content::Relation {
                        handle,
                        change,
                        name,
                        text,
                    } => {
                        // Only this account's own devices may change its
                        // contacts and blocks.
                        if ours {
                            self.apply_relation(&handle, change, name.as_deref(), text.as_deref())?;
                        }
                        Ok(Vec::new())
                    }
                    Content::Reaction { target, emoji } => {
                        let Some(conv) = self.local.conversation_of(target.account, &target.id)?
                        else {
                            return Ok(Vec::new());
                        };
                        let emoji: String = emoji.chars().take(MAX_REACTION_BYTES).collect();
                        self.local
                            .set_reaction(target.account, &target.id, &from, &emoji)?;
                        if self.is_held(&conv)? {
                            return Ok(Vec::new());
                        }
                        Ok(vec![Event::Reaction {
                            conversation: conv,
                            id: target.id,
                            by: from.clone(),
                            emoji,
                        }])
                    }
                    Content::Retry { id: wanted } => {
                        if let Err(e) = self.resend(&sender, &wanted).await {
                            tracing::warn!(error = %e, "could not answer a re-send request");
                        }
                        Ok(Vec::new())
                    }
                }
            }
            EnvelopeBody::Ephemeral { sender, payload } => {
                let from = sender.handle.to_string();
                if self.local.is_blocked(&from)? {
                    return Ok(Vec::new());
                }
                match self.open_payload(sender.device, &payload).await.ok() {
                    Some(Content::Typing { group }) => {
                        let conversation =
                            group.map(|g| group_key(&g)).unwrap_or_else(|| from.clone());
                        // Only accepted conversations (or known people
                        // about to start one) show who is typing; a
                        // stranger's typing is not worth a notification.
                        let shown = match self.local.conversation_folder(&conversation)? {
                            Some(folder) => folder == Folder::Inbox,
                            None => self.local.is_known(&from)?,
                        };
                        if !shown {
                            return Ok(Vec::new());
                        }
                        Ok(vec![Event::Typing { conversation, from }])
                    }
                    _ => Ok(Vec::new()),
                }
            }
            EnvelopeBody::Delivered {
                id, handle, device, ..
            } => {
                let to = format!("{handle}/{device}");
                match self.local.mark_delivered(me, &id, &to)? {
                    Some(conversation) => Ok(vec![Event::Delivered {
                        conversation,
                        id,
                        to: handle.to_string(),
                        device,
                    }]),
                    None => Ok(Vec::new()),
                }
            }
            EnvelopeBody::Sms {
                id,
                from,
                to: _,
                text,
            } => {
                let Ok(from_handle) = Self::parse_handle(&from) else {
                    return Ok(Vec::new());
                };
                let number = from_handle.to_string();
                if self.local.is_blocked(&number)? {
                    return Ok(Vec::new());
                }
                let conv = self.sms_conversation(&number)?;
                let members = if conv == number {
                    vec![number.clone()]
                } else {
                    self.local.conversation_members(&conv)?.unwrap_or_default()
                };
                let (filing, _) =
                    self.file_incoming(&conv, &members, env.at, &number, Some(&text))?;
                self.local.upsert_conversation(&conv, &members, env.at)?;
                let inserted = self.local.insert_message(
                    &conv,
                    AccountId::default(),
                    &number,
                    &id,
                    false,
                    "text",
                    &text,
                    env.at,
                    "received",
                )?;
                if inserted == Inserted::Duplicate {
                    return Ok(Vec::new());
                }
                self.local.set_via(AccountId::default(), &id, "sms")?;
                if filing.folder.is_held() {
                    return Ok(request_event(&filing, &conv, &number));
                }
                let stored = self
                    .local
                    .messages(&conv)?
                    .into_iter()
                    .rev()
                    .find(|m| m.id == id)
                    .expect("the SMS was just stored");
                Ok(vec![Event::Message(Box::new(stored))])
            }
            EnvelopeBody::AccountNotice { notice, .. } if notice == KEYS_LOW_NOTICE => {
                // Not for the user: senders used up this device's one-time
                // keys, so upload more now rather than at the end of sync.
                // A failure is retried by the top-up at the end of sync.
                if let Err(e) = self.replenish_keys().await {
                    tracing::warn!(error = %e, "could not upload more one-time keys");
                }
                Ok(Vec::new())
            }
            EnvelopeBody::AccountNotice { notice, text, .. } => {
                Ok(vec![Event::Notice { notice, text }])
            }
            EnvelopeBody::Fallback { id, handle } => {
                let conversation = self.conversation_of(me, &id)?;
                let Some(m) = self
                    .local
                    .messages(&conversation)?
                    .into_iter()
                    .find(|m| m.author_account == me && m.id == id && m.kind == "text")
                else {
                    return Ok(Vec::new());
                };
                let req = tidings_proto::api::FallbackRequest {
                    id: id.clone(),
                    handle: handle.to_string(),
                    text: self.sms_body(&conversation, &m.body)?,
                };
                match self.api.fallback(&req).await {
                    Ok(()) => {}
                    Err(ApiError::Server { status: 409, .. }) => return Ok(Vec::new()),
                    Err(e) => return Err(e.into()),
                }
                let state = "re-sent as SMS (not delivered over the internet in time)".to_string();
                self.local.set_state(me, &id, &state)?;
                self.local.set_via(me, &id, "ip+sms")?;
                Ok(vec![Event::SmsStatus {
                    conversation,
                    id,
                    to: handle.to_string(),
                    state,
                }])
            }
            EnvelopeBody::SmsStatus {
                id,
                handle,
                status,
                reason,
            } => {
                let state = match status.as_str() {
                    "sent" => "sent as SMS".to_string(),
                    "delivered" => "delivered by SMS".to_string(),
                    _ => format!(
                        "failed: SMS {}",
                        reason.unwrap_or_else(|| "not delivered".into())
                    ),
                };
                self.local.set_state(me, &id, &state)?;
                let conversation = self.conversation_of(me, &id)?;
                // The sender's other devices learn the path from the report:
                // their sync copy was stored as an IP message.
                let group = conversation.starts_with("group:");
                let via = self
                    .local
                    .messages(&conversation)?
                    .into_iter()
                    .find(|m| m.author_account == me && m.id == id)
                    .map(|m| m.via);
                if via.as_deref() == Some("ip") {
                    let path = if group { "ip+sms" } else { "sms" };
                    self.local.set_via(me, &id, path)?;
                }
                Ok(vec![Event::SmsStatus {
                    conversation,
                    id,
                    to: handle.to_string(),
                    state,
                }])
            }
            EnvelopeBody::Failed {
                id, handle, reason, ..
            } => {
                let text = match reason.as_str() {
                    "expired" => {
                        "failed: not delivered in time (the recipient's device stayed offline)"
                            .to_string()
                    }
                    other => format!("failed: {other}"),
                };
                self.local.set_state(me, &id, &text)?;
                let conversation = self.conversation_of(me, &id)?;
                Ok(vec![Event::Failed {
                    conversation,
                    id,
                    to: handle.to_string(),
                    reason: text,
                }])
            }
        }
    }

    fn conversation_of(&self, account: AccountId, id: &str) -> Result<String, ClientError> {
        Ok(self.local.conversation_of(account, id)?.unwrap_or_default())
    }
}

impl Client {
    /// Decrypts and parses a payload from a device.
    async fn open_payload(&self, device: DeviceId, payload: &str) -> Result<Content, ClientError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|e| CryptoError::Malformed(e.to_string()))?;
        let plain = self.decrypt_from(device, &bytes).await?;
        Ok(Content::from_bytes(&plain).map_err(|e| CryptoError::Malformed(e.to_string()))?)
    }
}

/// The event for a message filed as held back: a quiet [`Event::Request`]
/// for a request, nothing for junk.
fn request_event(
    filing: &tidings_spam::requests::Filing,
    conversation: &str,
    from: &str,
) -> Vec<Event> {
    if filing.folder != Folder::Request {
        return Vec::new();
    }
    vec![Event::Request {
        conversation: conversation.to_string(),
        from: from.to_string(),
        reason: filing.reason.unwrap_or(Reason::UnknownSender),
    }]
}
