//! Message requests on the device: filing messages from strangers into the
//! requests or junk list, and what the user does with them (accept, delete,
//! block, report, restore), contacts, and the campaign list.
//!
//! The decision itself is `tidings_spam::requests` (pure, shared with the
//! browser client); this module feeds it from the local store and applies
//! it. Held-back conversations get no notification event, send no read
//! receipts or typing, download no attachments, and show links defanged,
//! until the user accepts them.

use serde::Serialize;
use tidings_core::content::{Content, MessageRef, RelationChange};
use tidings_proto::api::ReportRequest;
use tidings_proto::AccountId;
use tidings_proto::Handle;
use tidings_spam::requests::{self as decide, Filing, Folder, Reason, Relation};
use tidings_spam::{Filter, Fingerprint, Label, Lesson, Model, Personal};

use super::{new_message_id, now_ms, Client, ClientError, READ_RECEIPTS};
use crate::api::ApiError;
use crate::local::relations::Known;
use crate::local::{Contact, RequestSummary};

/// Most saved contacts on one device.
pub const MAX_CONTACTS: usize = 10_000;
/// Most blocked handles on one device.
pub const MAX_BLOCKED: usize = 10_000;
/// Longest contact name, in bytes.
pub const MAX_CONTACT_NAME_BYTES: usize = 256;
/// The campaign list is fetched at most this often (during `sync`).
pub const CAMPAIGN_REFRESH_SECS: u64 = 15 * 60;
/// Most campaign fingerprints kept; more from a server are ignored.
pub const MAX_CAMPAIGN_FINGERPRINTS: usize = 10_000;
/// Most message references in one read receipt sent on accept.
pub const MAX_REFS_PER_RECEIPT: usize = 256;
/// Setting key: when the campaign list was last fetched (ms since epoch).
pub const CAMPAIGNS_FETCHED_AT: &str = "campaigns_fetched_at";

/// What accepting a request did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Accepted {
    /// The conversation, now in the inbox.
    pub conversation: String,
    /// Read receipts sent for messages read while it was a request.
    pub receipts: usize,
}

/// What blocking did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Blocked {
    /// The blocked handle.
    pub handle: String,
    /// The server took a report (a stored report token was sent).
    pub reported: bool,
    /// Why the server did not take it, when it was tried.
    pub report_error: Option<String>,
}

/// What reporting junk did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reported {
    /// The reported (and now blocked) handle.
    pub handle: String,
    /// The server took the report.
    pub reported: bool,
    /// The decrypted text went with it (only when the user agreed).
    pub shared_text: bool,
    /// Why the server did not take it, when it was tried.
    pub report_error: Option<String>,
    /// Conversations deleted.
    pub deleted: Vec<String>,
}

impl Client {
    /// Files an incoming message from `sender` in conversation `key`
    /// (creating it with `members` and `at` if new): inbox, request or junk.
    /// `text` is what the classifier may judge. Returns the filing and
    /// whether the conversation is new.
    pub(crate) fn file_incoming(
        &mut self,
        key: &str,
        members: &[String],
        at: u64,
        sender: &str,
        text: Option<&str>,
    ) -> Result<(Filing, bool), ClientError> {
        let current = self.local.conversation_filing(key)?;
        let mut relation = Relation {
            conversation_accepted: current.and_then(|c| c.folder) == Some(Folder::Inbox),
            ..Relation::default()
        };
        if !relation.conversation_accepted {
            relation.sender_known = self.local.is_known(sender)?;
            for m in members.iter().filter(|m| *m != sender) {
                if relation.other_member_known {
                    break;
                }
                relation.other_member_known = self.local.is_known(m)?;
            }
        }
        let filing = if relation.is_request() {
            let campaigns = self.campaign_list()?;
            if self.personal.is_none() {
                let lessons = self.local.lessons()?;
                self.personal = Some(Personal::learn(Model::shipped(), &lessons));
            }
            let filter = Filter {
                base: Model::shipped(),
                personal: self.personal.as_ref().filter(|p| !p.is_empty()),
            };
            decide::file(
                relation,
                current.unwrap_or_default(),
                text,
                filter,
                &campaigns,
            )
        } else {
            Filing::INBOX
        };
        let now = now_ms();
        match current {
            None => {
                self.local
                    .upsert_conversation_in(key, members, at, filing.folder, now)?;
                if filing.folder.is_held() {
                    self.local.set_filing(key, &filing, sender, now)?;
                }
            }
            Some(_) if filing.folder.is_held() => {
                self.local.set_filing(key, &filing, sender, now)?
            }
            Some(c) => {
                if c.folder.is_some_and(Folder::is_held) {
                    self.local.accept_conversation(key)?;
                }
            }
        }
        Ok((filing, current.is_none()))
    }

    /// Records that this account wrote to `handles` in `conv` (from this or
    /// another of its devices): they become known and the conversation is
    /// accepted.
    pub(crate) fn note_wrote_to(&self, conv: &str, handles: &[String]) -> Result<(), ClientError> {
        let now = now_ms();
        for h in handles {
            self.local.add_relation(h, Known::WroteTo, now)?;
        }
        self.local.accept_conversation(conv)?;
        self.promote_known()
    }

    /// Moves held-back conversations that now involve a known handle to
    /// the inbox (after a contact was saved, a request accepted, a message
    /// sent). Accepting a group can make its members known, so this runs
    /// until nothing changes (at most a few rounds: only directly known
    /// handles make group members known).
    fn promote_known(&self) -> Result<(), ClientError> {
        for _ in 0..3 {
            let mut changed = false;
            for (key, members, _) in self.local.held_conversations()? {
                let mut known = false;
                for m in &members {
                    if self.local.is_known(m)? {
                        known = true;
                        break;
                    }
                }
                if known {
                    changed |= self.local.accept_conversation(&key)?;
                }
            }
            if !changed {
                break;
            }
        }
        Ok(())
    }

    /// Whether a conversation is held back (request or junk).
    pub fn is_held(&self, conv: &str) -> Result<bool, ClientError> {
        Ok(self
            .local
            .conversation_folder(conv)?
            .is_some_and(Folder::is_held))
    }

    /// The cached campaign fingerprints, loaded once per client.
    fn campaign_list(&mut self) -> Result<Vec<Fingerprint>, ClientError> {
        if self.campaigns.is_none() {
            let list = self
                .local
                .campaigns()?
                .iter()
                .filter_map(|f| f.parse().ok())
                .collect();
            self.campaigns = Some(list);
        }
        Ok(self.campaigns.clone().unwrap_or_default())
    }

    /// Fetches the server's campaign list if the cached one is older than
    /// [`CAMPAIGN_REFRESH_SECS`], and moves requests that match it to junk.
    /// A server without the list (404) means an empty list; other failures
    /// keep the cached list (it is a hint, not a reason to fail a sync).
    /// Returns whether it fetched.
    pub async fn refresh_campaigns(&mut self) -> Result<bool, ClientError> {
        let now = now_ms();
        let last = self
            .local
            .setting(CAMPAIGNS_FETCHED_AT)?
            .and_then(|v| v.parse::<u64>().ok());
        if last.is_some_and(|at| at <= now && now - at < CAMPAIGN_REFRESH_SECS * 1000) {
            return Ok(false);
        }
        let list = match self.api.campaigns().await {
            Ok(list) => list.fingerprints,
            Err(ApiError::Server { status: 404, .. }) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch the campaign list; keeping the cached one");
                return Ok(false);
            }
        };
        let valid: Vec<String> = list
            .iter()
            .filter_map(|f| f.parse::<Fingerprint>().ok())
            .take(MAX_CAMPAIGN_FINGERPRINTS)
            .map(|f| f.to_string())
            .collect();
        self.local.replace_campaigns(&valid)?;
        self.local
            .set_setting(CAMPAIGNS_FETCHED_AT, &now.to_string())?;
        self.campaigns = None;
        let campaigns = self.campaign_list()?;
        if !campaigns.is_empty() {
            for (key, _, folder) in self.local.held_conversations()? {
                if folder != Folder::Request {
                    continue;
                }
                let hit = self
                    .local
                    .incoming_texts(&key)?
                    .iter()
                    .any(|t| decide::matches_campaign(Fingerprint::of(t), &campaigns));
                if hit {
                    self.local
                        .junk_conversation(&key, Reason::CampaignMatch, now)?;
                }
            }
        }
        Ok(true)
    }

    /// Deletes junk kept longer than `JUNK_RETENTION_DAYS`; returns how
    /// many conversations went.
    pub fn purge_junk(&self) -> Result<usize, ClientError> {
        let before = now_ms().saturating_sub(decide::JUNK_RETENTION_MS);
        let expired = self.local.expired_junk(before)?;
        for key in &expired {
            self.delete_conversation_files(key)?;
        }
        Ok(expired.len())
    }

    fn delete_conversation_files(&self, key: &str) -> Result<(), ClientError> {
        let dir = self.profile.dir().join(crate::attachments::ATTACHMENTS_DIR);
        for path in self.local.delete_conversation(key)? {
            let path = std::path::PathBuf::from(path);
            // Only files this client saved; never a path from elsewhere.
            if path.starts_with(&dir) {
                let _ = self.profile.files().remove(&path);
            }
        }
        Ok(())
    }

    /// Held-back conversations: message requests, or with `junk` the junk.
    pub fn requests(&self, junk: bool) -> Result<Vec<RequestSummary>, ClientError> {
        let folder = if junk { Folder::Junk } else { Folder::Request };
        Ok(self.local.requests(folder)?)
    }

    /// The conversation a user names (a handle or `group:ID`) if it is held
    /// back, else a usage error.
    fn held_key(&self, target: &str) -> Result<(String, Folder), ClientError> {
        let key = self.conversation_key(std::slice::from_ref(&target.to_string()))?;
        match self.local.conversation_folder(&key)? {
            Some(f) if f.is_held() => Ok((key, f)),
            Some(_) => Err(ClientError::Usage(format!(
                "{key} is not a message request (it is in your chats)"
            ))),
            None => Err(ClientError::Usage(format!(
                "no message request from {key}; see `tidings requests`"
            ))),
        }
    }

    /// Tells this account's other devices about a change of contacts,
    /// accepted requests or blocks, so every device files alike. A failure
    /// leaves the change on this device and is only logged.
    pub async fn share_relation(&self, handle: &str, change: RelationChange, name: Option<&str>) {
        self.send_relation(handle, change, name.map(str::to_string), None)
            .await;
    }

    async fn send_relation(
        &self,
        handle: &str,
        change: RelationChange,
        name: Option<String>,
        text: Option<String>,
    ) {
        let Ok(handle) = Self::parse_handle(handle) else {
            return;
        };
        let content = Content::Relation {
            handle,
            change,
            name,
            text,
        };
        match self.own_devices(false).await {
            Ok(devices) if devices.is_empty() => {}
            Ok(_) => {
                if let Err(e) = self
                    .send_content(&new_message_id(), &[], &content, false)
                    .await
                {
                    tracing::warn!(error = %e, "could not tell the other devices");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list the other devices"),
        }
    }

    /// Applies a change another device of this account made.
    pub(crate) fn apply_relation(
        &mut self,
        handle: &Handle,
        change: RelationChange,
        name: Option<&str>,
        text: Option<&str>,
    ) -> Result<(), ClientError> {
        if self.creds.handles.contains(handle) {
            return Ok(());
        }
        let h = handle.as_str();
        match change {
            RelationChange::Contact => {
                let name = name.filter(|n| {
                    !n.trim().is_empty()
                        && n.len() <= MAX_CONTACT_NAME_BYTES
                        && !n.chars().any(char::is_control)
                });
                if self.local.is_contact(h)? || self.local.contact_count()? < MAX_CONTACTS {
                    self.local.add_contact(h, name.map(str::trim), now_ms())?;
                }
            }
            RelationChange::Uncontact => {
                self.local.remove_contact(h)?;
            }
            RelationChange::Accept => {
                if self.local.conversation_folder(h)?.is_some() {
                    self.local.accept_conversation(h)?;
                }
                self.local.add_relation(h, Known::Accepted, now_ms())?;
            }
            RelationChange::Block => {
                if self.local.is_blocked(h)? || self.local.blocked_count()? < MAX_BLOCKED {
                    self.local.block(h, now_ms())?;
                }
            }
            RelationChange::Unblock => {
                self.local.unblock(h)?;
            }
            RelationChange::Junk => {
                if let Some(text) = text {
                    self.learn(Lesson::new(Label::Spam, text))?;
                }
            }
            RelationChange::NotJunk => {
                if let Some(text) = text {
                    self.learn(Lesson::new(Label::Ham, text))?;
                }
                if self.local.conversation_folder(h)? == Some(Folder::Junk) {
                    self.local.restore_conversation(h, now_ms())?;
                }
            }
        }
        self.promote_known()
    }

    fn own_handle(&self, h: &Handle) -> Result<(), ClientError> {
        if self.creds.handles.contains(h) {
            return Err(ClientError::Usage(format!("{h} is your own handle")));
        }
        Ok(())
    }

    /// Accepts a request (or junk): the conversation moves to the inbox,
    /// the sender becomes known, and read receipts held back for messages
    /// already read are sent (unless read receipts are off).
    pub async fn accept(&mut self, target: &str) -> Result<Accepted, ClientError> {
        let (key, _) = self.held_key(target)?;
        self.local.accept_conversation(&key)?;
        if !key.starts_with("group:") {
            self.local.add_relation(&key, Known::Accepted, now_ms())?;
            self.share_relation(&key, RelationChange::Accept, None)
                .await;
            // Accepting someone gives them this account's name and photo,
            // as writing to them would.
            if let Err(e) = self.send_profile(&key).await {
                tracing::warn!(error = %e, "could not send the profile to an accepted sender");
            }
        }
        self.promote_known()?;
        let mut receipts = 0;
        if self.local.setting(READ_RECEIPTS)?.as_deref() != Some("off") {
            let seen = self.local.seen_incoming(&key)?;
            match self.send_receipts(&seen).await {
                Ok(n) => receipts = n,
                // Accepting is done; a lost receipt is not worth failing it.
                Err(e) => tracing::warn!(error = %e, "could not send held-back read receipts"),
            }
        }
        Ok(Accepted {
            conversation: key,
            receipts,
        })
    }

    /// Sends read receipts for `(account, author, id)` messages, grouped by
    /// author, at most [`MAX_REFS_PER_RECEIPT`] per receipt; returns how
    /// many messages were covered.
    pub(crate) async fn send_receipts(
        &self,
        messages: &[(AccountId, String, String)],
    ) -> Result<usize, ClientError> {
        let mut by_author: std::collections::BTreeMap<&str, Vec<MessageRef>> = Default::default();
        for (account, handle, id) in messages {
            by_author.entry(handle).or_default().push(MessageRef {
                account: *account,
                id: id.clone(),
            });
        }
        for (author, refs) in by_author {
            let h = Self::parse_handle(author)?;
            for chunk in refs.chunks(MAX_REFS_PER_RECEIPT) {
                let content = Content::Read {
                    refs: chunk.to_vec(),
                };
                self.send_content(&new_message_id(), std::slice::from_ref(&h), &content, false)
                    .await?;
            }
        }
        Ok(messages.len())
    }

    /// Deletes a request or junk conversation (the sender is not blocked:
    /// a new message from it is a new request).
    pub fn delete_request(&self, target: &str) -> Result<String, ClientError> {
        let (key, _) = self.held_key(target)?;
        self.delete_conversation_files(&key)?;
        Ok(key)
    }

    /// Moves a junk conversation back to the requests. Its latest text
    /// becomes a "not spam" lesson for the personal filter, on every device
    /// of the account; the conversation is not junked again by content.
    pub async fn restore(&mut self, target: &str) -> Result<String, ClientError> {
        let (key, folder) = self.held_key(target)?;
        if folder != Folder::Junk || !self.local.restore_conversation(&key, now_ms())? {
            return Err(ClientError::Usage(format!(
                "{key} is not in junk; see `tidings requests --junk`"
            )));
        }
        if let Some((author, text)) = self.local.latest_text_in(&key)? {
            // The other devices restore the conversation named by the
            // handle: only a direct one is (a group's key is not a handle).
            let share = author == key;
            self.teach(
                &author,
                RelationChange::NotJunk,
                Lesson::new(Label::Ham, &text),
                share,
            )
            .await?;
        }
        Ok(key)
    }

    /// Forgets every lesson of the personal filter on this device (the
    /// reported and restored texts it kept); returns how many there were.
    /// The other devices keep theirs.
    pub fn forget_lessons(&mut self) -> Result<usize, ClientError> {
        let n = self.local.forget_lessons()?;
        self.personal = None;
        Ok(n)
    }

    /// Records a lesson for the personal filter, which is rebuilt on the
    /// next message to file.
    pub(crate) fn learn(&mut self, lesson: Lesson) -> Result<(), ClientError> {
        self.local.add_lesson(&lesson, now_ms())?;
        self.personal = None;
        Ok(())
    }

    /// Learns `lesson` (a report or a restore of `handle`'s text) and,
    /// with `share`, tells the account's other devices, which learn it too.
    async fn teach(
        &mut self,
        handle: &str,
        change: RelationChange,
        lesson: Lesson,
        share: bool,
    ) -> Result<(), ClientError> {
        let text = lesson.text.clone();
        self.learn(lesson)?;
        if share {
            self.send_relation(handle, change, None, Some(text)).await;
        }
        Ok(())
    }

    fn check_block_room(&self, h: &Handle) -> Result<(), ClientError> {
        if !self.local.is_blocked(h.as_str())? && self.local.blocked_count()? >= MAX_BLOCKED {
            return Err(ClientError::Usage(format!(
                "at most {MAX_BLOCKED} handles can be blocked (MAX_BLOCKED); unblock some with `tidings unblock HANDLE`"
            )));
        }
        Ok(())
    }

    /// Blocks a handle on this device: its messages are dropped on arrival
    /// (acknowledged, stored nowhere). If a message from it carries a
    /// report token, the server is told (`junk: false`); the block holds
    /// whatever the server answers.
    pub async fn block(&self, handle: &str) -> Result<Blocked, ClientError> {
        let h = self.resolve_handle(handle)?;
        self.own_handle(&h)?;
        self.check_block_room(&h)?;
        self.local.block(h.as_str(), now_ms())?;
        self.share_relation(h.as_str(), RelationChange::Block, None)
            .await;
        let mut out = Blocked {
            handle: h.to_string(),
            reported: false,
            report_error: None,
        };
        if let Some((token, _)) = self.local.latest_report_token(h.as_str())? {
            let req = ReportRequest {
                token,
                junk: false,
                text: None,
            };
            match self.api.report(&req).await {
                Ok(()) => out.reported = true,
                Err(e) => out.report_error = Some(e.to_string()),
            }
        }
        Ok(out)
    }

    /// Unblocks a handle; false when it was not blocked.
    pub fn unblock(&self, handle: &str) -> Result<bool, ClientError> {
        let h = self.resolve_handle(handle)?;
        Ok(self.local.unblock(h.as_str())?)
    }

    /// Reports a handle as junk: sends the report token of its latest
    /// message that has one (with `share_text`, that message's decrypted
    /// text too), then blocks it and deletes its conversation and the
    /// held-back conversations it is in. If the server cannot be reached
    /// nothing changes, so the report can be tried again.
    pub async fn report(
        &mut self,
        handle: &str,
        share_text: bool,
    ) -> Result<Reported, ClientError> {
        let h = self.resolve_handle(handle)?;
        self.own_handle(&h)?;
        if !self.local.has_messages_from(h.as_str())? {
            return Err(ClientError::Usage(format!(
                "no messages from {h} to report; `tidings block {h}` blocks it"
            )));
        }
        self.check_block_room(&h)?;
        let mut out = Reported {
            handle: h.to_string(),
            reported: false,
            shared_text: false,
            report_error: None,
            deleted: Vec::new(),
        };
        if let Some((token, text)) = self.local.latest_report_token(h.as_str())? {
            let req = ReportRequest {
                token,
                junk: true,
                text: text.filter(|_| share_text),
            };
            let sharing = req.text.is_some();
            match self.api.report(&req).await {
                Ok(()) => {
                    out.reported = true;
                    out.shared_text = sharing;
                }
                Err(e @ ApiError::Network { .. }) => return Err(e.into()),
                Err(e) => out.report_error = Some(e.to_string()),
            }
        } else {
            out.report_error = Some(
                "no report token: the server did not mark these messages as from a stranger".into(),
            );
        }
        // The personal filter learns from it, here and on the account's
        // other devices, before the conversation goes.
        if let Some(text) = self.local.latest_text_from(h.as_str())? {
            self.teach(
                h.as_str(),
                RelationChange::Junk,
                Lesson::new(Label::Spam, &text),
                true,
            )
            .await?;
        }
        self.local.block(h.as_str(), now_ms())?;
        self.share_relation(h.as_str(), RelationChange::Block, None)
            .await;
        let mut doomed = self.local.held_conversations_of(h.as_str())?;
        if self.local.conversation_folder(h.as_str())?.is_some() && !doomed.contains(&out.handle) {
            doomed.push(out.handle.clone());
        }
        for key in &doomed {
            self.delete_conversation_files(key)?;
        }
        out.deleted = doomed;
        Ok(out)
    }

    /// Saves a contact (or renames one): messages from it go to the inbox,
    /// and its held-back conversations move there.
    pub fn add_contact(&self, handle: &str, name: Option<&str>) -> Result<Contact, ClientError> {
        let h = Self::parse_handle(handle)?;
        self.own_handle(&h)?;
        if let Some(n) = name {
            if n.trim().is_empty()
                || n.len() > MAX_CONTACT_NAME_BYTES
                || n.chars().any(char::is_control)
            {
                return Err(ClientError::Usage(format!(
                    "a contact name is 1 to {MAX_CONTACT_NAME_BYTES} bytes without control characters"
                )));
            }
        }
        if !self.local.is_contact(h.as_str())? && self.local.contact_count()? >= MAX_CONTACTS {
            return Err(ClientError::Usage(format!(
                "at most {MAX_CONTACTS} contacts can be saved (MAX_CONTACTS); remove some with `tidings contacts remove HANDLE`"
            )));
        }
        let contact = self
            .local
            .add_contact(h.as_str(), name.map(str::trim), now_ms())?;
        self.promote_known()?;
        Ok(contact)
    }

    /// Forgets a contact; false when it was not saved. (Messages this
    /// account sent to it still make it known.)
    pub fn remove_contact(&self, handle: &str) -> Result<bool, ClientError> {
        let h = self.resolve_handle(handle)?;
        Ok(self.local.remove_contact(h.as_str())?)
    }

    /// Saved contacts.
    pub fn contacts(&self) -> Result<Vec<Contact>, ClientError> {
        Ok(self.local.contacts()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Credentials, Profile};

    const SPAM: &str = "URGENT: your mobile number has won a 2000 pound bonus prize! \
                        Text CLAIM to 87121 to collect, 150p/msg";
    const HAM: &str = "hey, is this still your number? it's Dave from the climbing club";

    /// A signed-in client whose server is never contacted.
    fn client() -> (tempfile::TempDir, Client) {
        let dir = tempfile::tempdir().expect("tempdir");
        let profile = Profile::new(dir.path().join("me"));
        profile
            .save_credentials(&Credentials {
                server: "http://127.0.0.1:9".into(),
                account: AccountId::new(1).expect("small"),
                device: tidings_proto::DeviceId::new(1).expect("small"),
                token: "1.x".into(),
                handles: vec![Client::parse_handle("me@example.org").expect("handle")],
            })
            .expect("credentials");
        let client = Client::open(profile, None).expect("opens");
        (dir, client)
    }

    fn one(h: &str) -> Vec<String> {
        vec![h.to_string()]
    }

    #[test]
    fn strangers_are_filed_as_requests_or_junk_and_known_handles_in_the_inbox() {
        let (_dir, mut c) = client();
        let (f, new) = c
            .file_incoming(
                "a@example.org",
                &one("a@example.org"),
                1,
                "a@example.org",
                Some(HAM),
            )
            .expect("file");
        assert!(new);
        assert_eq!(f.folder, Folder::Request);
        let (f, new) = c
            .file_incoming(
                "a@example.org",
                &one("a@example.org"),
                2,
                "a@example.org",
                Some(SPAM),
            )
            .expect("file");
        assert!(!new);
        assert_eq!(
            f.folder,
            Folder::Junk,
            "a request that turns spammy is junk"
        );
        assert_eq!(
            c.local.conversation_folder("a@example.org").expect("q"),
            Some(Folder::Junk)
        );

        c.add_contact("b@example.org", Some("B")).expect("contact");
        let (f, _) = c
            .file_incoming(
                "b@example.org",
                &one("b@example.org"),
                1,
                "b@example.org",
                Some(SPAM),
            )
            .expect("file");
        assert_eq!(f, Filing::INBOX, "a contact's spam is still delivered");

        // A stranger's group with a known member is not a request.
        let members = vec!["b@example.org".to_string(), "x@example.org".to_string()];
        let (f, _) = c
            .file_incoming("group:g", &members, 1, "x@example.org", Some(HAM))
            .expect("file");
        assert_eq!(f, Filing::INBOX);
        // x is known now (in an accepted group with a contact); y and w not.
        assert!(c.local.is_known("x@example.org").expect("q"));
        let strangers = vec!["y@example.org".to_string(), "w@example.org".to_string()];
        let (f, _) = c
            .file_incoming("group:h", &strangers, 1, "y@example.org", None)
            .expect("file");
        assert_eq!(f.folder, Folder::Request);
    }

    #[test]
    fn writing_or_saving_a_contact_accepts_held_conversations() {
        let (_dir, mut c) = client();
        for h in ["a@example.org", "b@example.org"] {
            c.file_incoming(h, &one(h), 1, h, Some(HAM)).expect("file");
        }
        let members = vec!["b@example.org".to_string(), "z@example.org".to_string()];
        c.file_incoming("group:g", &members, 1, "z@example.org", None)
            .expect("file");
        c.note_wrote_to("a@example.org", &one("a@example.org"))
            .expect("wrote");
        assert!(!c.is_held("a@example.org").expect("q"));
        assert!(c.is_held("b@example.org").expect("q"));
        c.add_contact("b@example.org", None).expect("contact");
        assert!(!c.is_held("b@example.org").expect("q"));
        assert!(
            !c.is_held("group:g").expect("q"),
            "a group with a contact moves too"
        );
        assert!(c.local.is_known("z@example.org").expect("q"));
    }

    #[test]
    fn campaign_matches_are_junk_and_old_junk_is_purged() {
        let (_dir, mut c) = client();
        let campaign = "Your parcel could not be delivered, reschedule at the link below";
        c.local
            .replace_campaigns(&[Fingerprint::of(campaign).to_string()])
            .expect("campaigns");
        let variant = "Dear Ann, your parcel could not be delivered, reschedule at the link below";
        let (f, _) = c
            .file_incoming(
                "p@example.org",
                &one("p@example.org"),
                1,
                "p@example.org",
                Some(variant),
            )
            .expect("file");
        assert_eq!(f.folder, Folder::Junk);
        assert_eq!(f.reason, Some(Reason::CampaignMatch));

        assert_eq!(c.purge_junk().expect("purge"), 0, "fresh junk is kept");
        let old = now_ms() - decide::JUNK_RETENTION_MS - 1;
        c.local
            .upsert_conversation_in("q@example.org", &one("q@example.org"), 1, Folder::Junk, old)
            .expect("old junk");
        assert_eq!(c.purge_junk().expect("purge"), 1);
        assert_eq!(
            c.local.conversation_folder("q@example.org").expect("q"),
            None
        );
        assert!(c
            .local
            .conversation_folder("p@example.org")
            .expect("q")
            .is_some());
    }

    #[tokio::test]
    async fn restore_delete_and_limits() {
        let (_dir, mut c) = client();
        c.file_incoming(
            "s@example.org",
            &one("s@example.org"),
            1,
            "s@example.org",
            Some(SPAM),
        )
        .expect("file");
        assert!(c.restore("s@example.org").await.is_ok());
        let err = c
            .restore("s@example.org")
            .await
            .expect_err("not junk any more");
        assert!(err.to_string().contains("not in junk"), "{err}");
        let (f, _) = c
            .file_incoming(
                "s@example.org",
                &one("s@example.org"),
                2,
                "s@example.org",
                Some(SPAM),
            )
            .expect("file");
        assert_eq!(f.folder, Folder::Request, "restored stays out of junk");
        assert_eq!(
            c.delete_request("s@example.org").expect("delete"),
            "s@example.org"
        );
        let err = c.delete_request("s@example.org").expect_err("gone");
        assert!(err.to_string().contains("no message request"), "{err}");
        c.add_contact("k@example.org", None).expect("contact");
        c.local
            .upsert_conversation_in("k@example.org", &one("k@example.org"), 1, Folder::Inbox, 1)
            .expect("conv");
        let err = c.delete_request("k@example.org").expect_err("inbox");
        assert!(err.to_string().contains("not a message request"), "{err}");

        let err = c
            .add_contact(
                "n@example.org",
                Some(&"n".repeat(MAX_CONTACT_NAME_BYTES + 1)),
            )
            .expect_err("long name");
        assert!(err.to_string().contains("256 bytes"), "{err}");
        let err = c.add_contact("me@example.org", None).expect_err("own");
        assert!(err.to_string().contains("own handle"), "{err}");
    }
}
