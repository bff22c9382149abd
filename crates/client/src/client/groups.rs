//! Groups on the device: making them, changing them, and judging what
//! members send. The rules are `tidings_core::group` (pure, shared with the
//! browser client); this module keeps each group's log in the local store,
//! sends changes to the members' devices, and turns changes into the notes
//! a user reads in the conversation.

use tidings_core::content::{Content, Group};
use tidings_core::group::{Applied, GroupChange, GroupLog, GroupOp, GroupState};
use tidings_proto::ErrorCode;
use tidings_proto::Handle;

use super::{group_key, new_message_id, now_ms, Client, ClientError, Event};
use crate::api::ApiError;
use crate::local::Inserted;

/// What a group conversation's notes call the people in it.
fn who(handle: &Handle, mine: &[Handle]) -> String {
    if mine.contains(handle) {
        "you".to_string()
    } else {
        handle.to_string()
    }
}

fn list(handles: &[Handle], mine: &[Handle]) -> String {
    handles
        .iter()
        .map(|h| who(h, mine))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The note a change leaves in the conversation, e.g. "alice@x.org added
/// bob@x.org" or "alice@x.org removed you". Pure, for tests.
pub fn describe(
    author: &Handle,
    before: &GroupState,
    after: &GroupState,
    mine: &[Handle],
) -> String {
    let by = who(author, mine);
    let added: Vec<Handle> = after
        .members
        .iter()
        .filter(|h| !before.is_member(h))
        .cloned()
        .collect();
    let gone: Vec<Handle> = before
        .members
        .iter()
        .filter(|h| !after.is_member(h))
        .cloned()
        .collect();
    let promoted: Vec<Handle> = after
        .admins
        .iter()
        .filter(|h| !before.is_admin(h) && before.is_member(h))
        .cloned()
        .collect();
    let left = gone.as_slice() == std::slice::from_ref(author);
    let mut parts = Vec::new();
    if before.members.is_empty() {
        parts.push(match &after.name {
            Some(n) => format!("made the group \u{201c}{n}\u{201d}"),
            None => "made the group".to_string(),
        });
    } else {
        if !added.is_empty() {
            parts.push(format!("added {}", list(&added, mine)));
        }
        if left {
            parts.push("left".to_string());
        } else if !gone.is_empty() {
            parts.push(format!("removed {}", list(&gone, mine)));
        }
        if after.name != before.name {
            parts.push(match &after.name {
                Some(n) => format!("named the group \u{201c}{n}\u{201d}"),
                None => "removed the group's name".to_string(),
            });
        }
        // When the last admin leaves, the next member takes over by the
        // rule, not by the author's hand: that is said apart below.
        if !promoted.is_empty() && !left {
            let whom = list(&promoted, mine);
            parts.push(format!("made {whom} admin"));
        }
    }
    if parts.is_empty() {
        return format!("{by} updated the group");
    }
    let mut text = format!("{by} {}", parts.join(", "));
    if after.admins != before.admins
        && (promoted.is_empty() || left)
        && !after.admins.is_empty()
        && !before.members.is_empty()
    {
        text.push_str(&format!(" ({} now admin)", list(&after.admins, mine)));
    }
    text
}

/// The SMS a member whose number is not on Tidings gets for a group
/// message: it names the sender and the group, since an SMS cannot show
/// either any other way ("Alice in Lisbon trip: …").
pub fn group_sms_text(sender: &str, group: Option<&str>, text: &str) -> String {
    match group {
        Some(name) => format!("{sender} in {name}: {text}"),
        None => format!("{sender} in a group: {text}"),
    }
}

/// Where an SMS from a number lands, given when this account last wrote in
/// each conversation with that number: in a group when the group is where
/// it wrote to the number last (the number got that text as an SMS, so the
/// reply answers it), otherwise in the direct conversation with the number.
/// Pure, for tests; ties go to the direct conversation.
pub fn sms_reply_conversation(number: &str, last_sent: &[(String, Option<u64>)]) -> String {
    let direct = last_sent
        .iter()
        .find(|(k, _)| k == number)
        .and_then(|(_, t)| *t);
    last_sent
        .iter()
        .filter(|(k, _)| k.starts_with("group:"))
        .filter_map(|(k, t)| t.map(|t| (t, k)))
        .max()
        .filter(|(t, _)| direct.is_none_or(|d| *t > d))
        .map(|(_, k)| k.clone())
        .unwrap_or_else(|| number.to_string())
}

/// A group op as the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEdit {
    /// Add these handles.
    Add(Vec<String>),
    /// Remove these handles.
    Remove(Vec<String>),
    /// Give the group this name.
    Rename(String),
    /// Make these members admins.
    Admin(Vec<String>),
    /// Leave the group.
    Leave,
}

impl Client {
    /// The text of an SMS for conversation `key`: a group's names its
    /// sender and the group ([`group_sms_text`]); a direct one is the text.
    pub(crate) fn sms_body(&self, key: &str, text: &str) -> Result<String, ClientError> {
        if !key.starts_with("group:") {
            return Ok(text.to_string());
        }
        let me = match self.local.setting(super::DISPLAY_NAME)? {
            Some(name) => name,
            None => self.me()?.to_string(),
        };
        let name = self.local.title(key)?;
        Ok(group_sms_text(&me, name.as_deref(), text))
    }

    /// The conversation an SMS from `number` belongs in
    /// ([`sms_reply_conversation`]), among the groups this account is still
    /// in with that number.
    pub(crate) fn sms_conversation(&self, number: &str) -> Result<String, ClientError> {
        let mut last = Vec::new();
        for key in self.local.conversations_with(number)? {
            if key.starts_with("group:") {
                let Some(state) = self.group_state(&key)? else {
                    continue;
                };
                let still = state.members.iter().any(|h| h.as_str() == number)
                    && self.mine().iter().any(|h| state.is_member(h));
                if !still {
                    continue;
                }
            }
            let at = self.local.last_sent_in(&key)?;
            last.push((key, at));
        }
        Ok(sms_reply_conversation(number, &last))
    }

    fn mine(&self) -> &[Handle] {
        &self.creds.handles
    }

    pub(crate) fn me(&self) -> Result<Handle, ClientError> {
        self.creds.handles.first().cloned().ok_or_else(|| {
            ClientError::Usage(
                "this account has no handle; add one with `tidings handles add`".into(),
            )
        })
    }

    /// The membership log of a group conversation: stored, or, for a group
    /// made before logs existed, started from its stored members (all of
    /// them admins, as all of them could change it then).
    pub(crate) fn group_log(&self, key: &str) -> Result<Option<GroupLog>, ClientError> {
        if let Some(log) = self.local.group_log(key)? {
            return Ok(Some(log));
        }
        let Some(id) = key.strip_prefix("group:") else {
            return Ok(None);
        };
        let Some(members) = self.local.conversation_members(key)? else {
            return Ok(None);
        };
        let mut handles: Vec<Handle> = members
            .iter()
            .filter_map(|m| Self::parse_handle(m).ok())
            .collect();
        handles.push(self.me()?);
        let name = self.local.title(key)?;
        Ok(Some(GroupLog::from_snapshot(&Group {
            id: id.to_string(),
            members: handles,
            name,
            admins: Vec::new(),
            version: 0,
        })))
    }

    /// The members of a group other than this account, as handles' text.
    pub(crate) fn group_others(&self, key: &str) -> Result<Vec<String>, ClientError> {
        Ok(self
            .group_state(key)?
            .map(|s| {
                s.members
                    .iter()
                    .filter(|h| !self.mine().contains(h))
                    .map(Handle::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The current state of a group conversation.
    pub fn group_state(&self, key: &str) -> Result<Option<GroupState>, ClientError> {
        Ok(self.group_log(key)?.map(|l| l.state()))
    }

    /// A group this account may write to: refuses with the reason when it
    /// was removed or left.
    pub(crate) fn group_to_write(&self, key: &str) -> Result<GroupState, ClientError> {
        let state = self.group_state(key)?.ok_or_else(|| {
            ClientError::Usage(format!("no conversation {key}; see `tidings chats`"))
        })?;
        if !self.mine().iter().any(|h| state.is_member(h)) {
            return Err(ClientError::Usage(format!(
                "you are no longer a member of {}; an admin ({}) can add you again",
                state.name.as_deref().unwrap_or(key),
                state
                    .admins
                    .iter()
                    .map(Handle::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(state)
    }

    /// Makes a group of this account and `others`, with this account as its
    /// admin; it reaches the others with its first message.
    pub(crate) fn create_group(
        &self,
        others: &[Handle],
    ) -> Result<(String, GroupState), ClientError> {
        let (key, log, state, _) = self.new_group_log(others, None)?;
        self.local.save_group_log(&key, &log)?;
        Ok((key, state))
    }

    fn new_group_log(
        &self,
        others: &[Handle],
        name: Option<&str>,
    ) -> Result<(String, GroupLog, GroupState, GroupChange), ClientError> {
        let id = new_message_id();
        let key = group_key(&id);
        let mut log = GroupLog::new(&id);
        let (change, state) = log
            .propose(
                &self.me()?,
                &new_message_id(),
                GroupOp::Create {
                    members: others.to_vec(),
                    name: name.map(str::to_string),
                },
            )
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        Ok((key, log, state, change))
    }

    /// Makes a named group and tells its members at once (`tidings group
    /// create NAME MEMBER...`), so that it can be written to by name.
    pub async fn create_named_group(
        &mut self,
        name: &str,
        members: &[String],
    ) -> Result<GroupState, ClientError> {
        if name.trim().is_empty() {
            return Err(ClientError::Usage("give the group a name".into()));
        }
        if !self.local.groups_named(name)?.is_empty() {
            return Err(ClientError::Usage(format!(
                "you have a group named \u{201c}{name}\u{201d} already; choose another name"
            )));
        }
        let mut others = Vec::with_capacity(members.len());
        for m in members {
            let h = self.resolve_handle(m)?;
            if self.mine().contains(&h) {
                return Err(ClientError::Usage(format!(
                    "{h} is your own handle; name the other members"
                )));
            }
            if !others.contains(&h) {
                others.push(h);
            }
        }
        if others.is_empty() {
            return Err(ClientError::Usage("name at least one other member".into()));
        }
        let limits = self.api.limits().await?;
        if others.len() + 1 > limits.max_group_members {
            return Err(ClientError::Usage(format!(
                "a group has at most {} members, you included",
                limits.max_group_members
            )));
        }
        let (key, log, state, change) = self.new_group_log(&others, Some(name))?;
        let id = change.stamp.id.clone();
        let before = GroupLog::new(&state.id).state();
        self.send_group_change(&id, &others, &before, &state, change)
            .await?;
        self.keep_own_change(&key, &log, &id, &others, &before)
    }

    /// Stores a group's log and mirrors its state into the conversation
    /// list (members other than this account, and the name). A group
    /// someone else started is not put in the list here: filing it (inbox,
    /// request or junk) does that.
    fn keep_group(
        &self,
        key: &str,
        log: &GroupLog,
        at: u64,
        create: bool,
    ) -> Result<GroupState, ClientError> {
        let state = log.state();
        self.local.save_group_log(key, log)?;
        let others: Vec<String> = state
            .members
            .iter()
            .filter(|h| !self.mine().contains(h))
            .map(Handle::to_string)
            .collect();
        if create || self.local.conversation_members(key)?.is_some() {
            self.local.upsert_conversation(key, &others, at)?;
        }
        if let Some(n) = &state.name {
            self.local.set_title(key, n)?;
        }
        Ok(state)
    }

    /// Changes a group (admins add, remove, rename and promote; anyone may
    /// leave) and tells every member's device, old and new. Members whose
    /// number is not on Tidings (or who left it) are members all the same;
    /// they get the group's messages as SMS and no change notices.
    pub async fn change_group(
        &mut self,
        key: &str,
        edit: GroupEdit,
    ) -> Result<GroupState, ClientError> {
        let key = self.conversation_key(std::slice::from_ref(&key.to_string()))?;
        if !key.starts_with("group:") {
            return Err(ClientError::Usage(format!(
                "{key} is not a group; name one as group:ID or by its name (see `tidings chats`)"
            )));
        }
        let before = self.group_to_write(&key)?;
        let handles = |list: &[String]| -> Result<Vec<Handle>, ClientError> {
            list.iter().map(|m| self.resolve_handle(m)).collect()
        };
        let op = match &edit {
            GroupEdit::Add(l) => GroupOp::Add {
                members: handles(l)?,
            },
            GroupEdit::Remove(l) => {
                let members = handles(l)?;
                if members.iter().any(|h| self.mine().contains(h)) {
                    return Err(ClientError::Usage(
                        "to leave a group use `tidings group leave`".into(),
                    ));
                }
                GroupOp::Remove { members }
            }
            GroupEdit::Rename(name) => GroupOp::Rename {
                name: Some(name.clone()).filter(|n| !n.is_empty()),
            },
            GroupEdit::Admin(l) => GroupOp::Promote {
                members: handles(l)?,
            },
            GroupEdit::Leave => GroupOp::Leave,
        };
        let limits = self.api.limits().await?;
        let mut log = self.group_log(&key)?.expect("group_to_write found it");
        let id = new_message_id();
        let (change, after) = log
            .propose(&self.me()?, &id, op)
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        if after.members.len() > limits.max_group_members {
            return Err(ClientError::Usage(format!(
                "a group has at most {} members, you included",
                limits.max_group_members
            )));
        }
        let mut notify: Vec<Handle> = before
            .members
            .iter()
            .chain(after.members.iter())
            .filter(|h| !self.mine().contains(h))
            .cloned()
            .collect();
        notify.sort();
        notify.dedup();
        self.send_group_change(&id, &notify, &before, &after, change)
            .await?;
        self.keep_own_change(&key, &log, &id, &notify, &before)
    }

    /// After this account's change went out: keeps the log, counts the
    /// members as written to, and leaves the note in the conversation.
    fn keep_own_change(
        &self,
        key: &str,
        log: &GroupLog,
        id: &str,
        told: &[Handle],
        before: &GroupState,
    ) -> Result<GroupState, ClientError> {
        let sent_at = now_ms();
        let state = self.keep_group(key, log, sent_at, true)?;
        let names: Vec<String> = told.iter().map(Handle::to_string).collect();
        self.note_wrote_to(key, &names)?;
        let me = self.me()?;
        let text = describe(&me, before, &state, self.mine());
        self.local.insert_message(
            key,
            self.creds.account,
            me.as_str(),
            id,
            true,
            "event",
            &text,
            sent_at,
            "sent",
        )?;
        Ok(state)
    }

    /// Sends a change to the devices of those of `notify` who are on
    /// Tidings; handles that are not (SMS members, members who left) are
    /// skipped.
    async fn send_group_change(
        &mut self,
        id: &str,
        notify: &[Handle],
        before: &GroupState,
        after: &GroupState,
        change: GroupChange,
    ) -> Result<(), ClientError> {
        let added = after
            .members
            .iter()
            .filter(|h| !before.is_member(h))
            .cloned()
            .collect();
        let removed = before
            .members
            .iter()
            .filter(|h| !after.is_member(h))
            .cloned()
            .collect();
        let content = Content::GroupUpdate {
            group: after.snapshot(),
            added,
            removed,
            sent_at: now_ms(),
            change: Some(change),
        };
        let mut ip = self.on_tidings(notify).await?;
        // A member may leave Tidings between the look-up and the send: the
        // server names them, and the change goes to the others.
        for _ in 0..2 {
            match self.send_content(id, &ip, &content, false).await {
                Ok(_) => return Ok(()),
                Err(ClientError::Api(ApiError::Server { body, .. }))
                    if body.error == ErrorCode::NotRegistered
                        && !body.not_registered.is_empty() =>
                {
                    ip.retain(|h| !body.not_registered.contains(h));
                }
                Err(e) => return Err(e),
            }
        }
        self.send_content(id, &ip, &content, false).await?;
        Ok(())
    }

    /// Those of `handles` that have devices on Tidings.
    pub(crate) async fn on_tidings(&self, handles: &[Handle]) -> Result<Vec<Handle>, ClientError> {
        let mut ip = Vec::with_capacity(handles.len());
        for h in handles {
            match self.devices_of(h, false).await {
                Ok(_) => ip.push(h.clone()),
                Err(ClientError::Api(ApiError::Server { ref body, .. }))
                    if body.error == ErrorCode::NotRegistered => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ip)
    }

    /// Judges a group message from `sender`: returns the conversation key
    /// when the sender is a member, or stores a note that a non-member's
    /// message was dropped and returns the event for it. A group this
    /// device has not heard of starts from the snapshot the message
    /// carries.
    pub(crate) fn admit_group_message(
        &mut self,
        sender: &Handle,
        group: &Group,
        at: u64,
        message_id: &str,
        author: tidings_proto::AccountId,
        ours: bool,
    ) -> Result<Result<String, Vec<Event>>, ClientError> {
        let key = group_key(&group.id);
        let state = match self.group_log(&key)? {
            Some(log) => log.state(),
            None => {
                let log = GroupLog::from_snapshot(group);
                if !log.state().is_member(sender) {
                    // Someone claims a group they are not in: nothing to show.
                    return Ok(Err(Vec::new()));
                }
                self.keep_group(&key, &log, at, ours)?
            }
        };
        if state.is_member(sender) {
            return Ok(Ok(key));
        }
        tracing::info!(group = %key, "dropped a group message from a non-member");
        let text =
            format!("(a message from {sender} was dropped: they are not a member of this group)");
        let inserted = self.local.insert_message(
            &key,
            author,
            sender.as_str(),
            message_id,
            false,
            "event",
            &text,
            at,
            "dropped",
        )?;
        if inserted == Inserted::Duplicate {
            return Ok(Err(Vec::new()));
        }
        let stored = self
            .local
            .messages(&key)?
            .into_iter()
            .rev()
            .find(|m| m.id == message_id);
        Ok(Err(stored
            .map(|m| Event::Message(Box::new(m)))
            .into_iter()
            .collect()))
    }

    /// Applies a received group change. Returns the key and the note to
    /// store, or `None` when there is nothing to show (a re-delivery).
    pub(crate) fn receive_group_change(
        &mut self,
        sender: &Handle,
        group: &Group,
        change: Option<GroupChange>,
        at: u64,
        ours: bool,
    ) -> Result<Option<(String, String)>, ClientError> {
        let key = group_key(&group.id);
        let mine = self.creds.handles.clone();
        let Some(mut log) = self.group_log(&key)? else {
            // Added to a group (or a new device of a member): start from the
            // snapshot of the member who sent the change.
            let log = GroupLog::from_snapshot(group);
            let state = log.state();
            if !state.is_member(sender) {
                return Ok(None);
            }
            self.keep_group(&key, &log, at, ours)?;
            let me = mine.iter().find(|h| state.is_member(h));
            let text = match (me, &state.name) {
                (Some(_), Some(n)) => {
                    format!("{} added you to \u{201c}{n}\u{201d}", who(sender, &mine))
                }
                (Some(_), None) => format!("{} added you to the group", who(sender, &mine)),
                (None, _) => format!("{} updated the group", who(sender, &mine)),
            };
            return Ok(Some((key, text)));
        };
        let Some(change) = change else {
            return Ok(Some((
                key,
                format!("(a group change from {sender} was ignored: it came from an outdated app)"),
            )));
        };
        match log.apply(sender, change) {
            Ok(Applied::Known) => Ok(None),
            Ok(Applied::Changed { before, after }) => {
                self.keep_group(&key, &log, at, ours)?;
                Ok(Some((key, describe(sender, &before, &after, &mine))))
            }
            Err(e) => {
                tracing::info!(group = %key, error = %e, "refused a group change");
                Ok(Some((
                    key,
                    format!("(a group change from {sender} was refused: {e})"),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Handle {
        Handle::parse(s, "US").expect("valid")
    }

    fn state(members: &[&str], admins: &[&str], name: Option<&str>) -> GroupState {
        let mut members: Vec<Handle> = members.iter().map(|m| h(m)).collect();
        members.sort();
        let mut admins: Vec<Handle> = admins.iter().map(|m| h(m)).collect();
        admins.sort();
        GroupState {
            id: "g".into(),
            members,
            admins,
            name: name.map(str::to_string),
            version: 1,
        }
    }

    #[test]
    fn sms_to_group_members_name_the_sender_and_the_group() {
        assert_eq!(
            group_sms_text("Alice", Some("Lisbon trip"), "Train at 9"),
            "Alice in Lisbon trip: Train at 9"
        );
        assert_eq!(
            group_sms_text("+12025550101", None, "hi"),
            "+12025550101 in a group: hi"
        );
    }

    #[test]
    fn an_sms_reply_goes_where_we_wrote_to_the_number_last() {
        let n = "+12025550177";
        let g = "group:abc".to_string();
        assert_eq!(sms_reply_conversation(n, &[]), n);
        assert_eq!(sms_reply_conversation(n, &[(g.clone(), Some(5))]), g);
        assert_eq!(
            sms_reply_conversation(n, &[(n.to_string(), Some(9)), (g.clone(), Some(5))]),
            n
        );
        assert_eq!(
            sms_reply_conversation(n, &[(n.to_string(), Some(5)), (g.clone(), Some(9))]),
            g
        );
        assert_eq!(
            sms_reply_conversation(n, &[(g, None)]),
            n,
            "never wrote there"
        );
    }

    #[test]
    fn notes_say_who_did_what_and_call_the_reader_you() {
        let mine = vec![h("carol@x.org")];
        let before = state(&["a@x.org", "b@x.org", "carol@x.org"], &["a@x.org"], None);
        let after = state(&["a@x.org", "b@x.org"], &["a@x.org"], None);
        assert_eq!(
            describe(&h("a@x.org"), &before, &after, &mine),
            "a@x.org removed you"
        );
        let renamed = state(
            &["a@x.org", "b@x.org", "carol@x.org"],
            &["a@x.org"],
            Some("Trip"),
        );
        assert_eq!(
            describe(&h("carol@x.org"), &before, &renamed, &mine),
            "you named the group \u{201c}Trip\u{201d}"
        );
        let promoted = state(
            &["a@x.org", "b@x.org", "carol@x.org"],
            &["a@x.org", "b@x.org"],
            None,
        );
        assert_eq!(
            describe(&h("a@x.org"), &before, &promoted, &mine),
            "a@x.org made b@x.org admin"
        );
        let left = state(&["b@x.org", "carol@x.org"], &["b@x.org"], None);
        assert_eq!(
            describe(&h("a@x.org"), &before, &left, &mine),
            "a@x.org left (b@x.org now admin)"
        );
    }
}
