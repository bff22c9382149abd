//! Group membership: who is in a group, who runs it, and how every member's
//! device comes to the same answer.
//!
//! There is no group server. The truth is a log of membership changes that
//! each device keeps for itself. A change is accepted only from the device
//! of its author (the envelope's Olm session authenticates the sender, and
//! the change must name that sender as its author), only if the author may
//! make it (admins add, remove, rename and promote; anyone may leave), and
//! only on top of what the device already knows. Every member's device gets
//! every change (store-and-forward delivers to every device that was a
//! member's when the change was sent), and the state is a pure function of
//! the set of changes: they are replayed in one total order, by
//! [`Stamp`] (version, then author, then change id), each checked against
//! the state the changes before it produced. So two admins who change the
//! group at once (both at version *n*) make two changes at version *n*+1,
//! and every device, whichever it received first, replays both in the same
//! order and reaches the same state.
//!
//! A device that learns of a group from a member (it was just added, or the
//! group was made by its first message) starts from the snapshot that
//! member sent ([`Group`]) and applies the changes that come after it:
//! trust on first use of the group, as with a contact's first message.

use serde::{Deserialize, Serialize};
use tidings_proto::Handle;

use crate::content::{Group, MAX_GROUP_NAME_BYTES};

/// Most members a group can hold on any device, whatever a server allows:
/// a change that would grow a group past it is refused, so a hostile
/// member cannot make every other device hold an unbounded list.
pub const MAX_GROUP_MEMBERS: usize = 1_000;
/// Changes a device keeps in its log; older ones are folded into the base
/// snapshot. A change concurrent with this many later ones (it sorts before
/// the base when it finally arrives) is dropped.
pub const MAX_GROUP_CHANGES: usize = 64;
/// Longest change id, in bytes.
pub const MAX_CHANGE_ID_BYTES: usize = 64;

/// Where a change sits in the one order every device replays.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stamp {
    /// One more than the highest version its author knew.
    pub version: u64,
    /// The member who made it.
    pub author: Handle,
    /// The id of the message that carried it (random, chosen by the author).
    pub id: String,
}

/// What a change does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GroupOp {
    /// Makes the group; its author is its first admin.
    Create {
        /// Members besides the author.
        members: Vec<Handle>,
        /// The group's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Adds members (admins only).
    Add {
        /// Who joins.
        members: Vec<Handle>,
    },
    /// Removes members (admins only).
    Remove {
        /// Who goes.
        members: Vec<Handle>,
    },
    /// Names or renames the group (admins only).
    Rename {
        /// The new name; none removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Makes members admins (admins only).
    Promote {
        /// Who becomes an admin.
        members: Vec<Handle>,
    },
    /// Its author leaves (anyone).
    Leave,
}

/// One membership change, as its author made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupChange {
    /// Its place in the replay order.
    pub stamp: Stamp,
    /// What it does.
    #[serde(flatten)]
    pub op: GroupOp,
}

/// Why a change was not accepted. Each says what the user can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The author is not (or no longer) a member.
    #[error("{0} is not a member of this group")]
    NotMember(Handle),
    /// The change needs an admin.
    #[error("only the group's admins ({admins}) can do that")]
    NotAdmin {
        /// The admins, comma-separated, to ask.
        admins: String,
    },
    /// The envelope's sender is not the change's author.
    #[error("a group change from {sender} claims to be by {author}")]
    WrongAuthor {
        /// Who sent it.
        sender: Handle,
        /// Who it names.
        author: Handle,
    },
    /// Too many members.
    #[error("a group has at most {0} members")]
    TooMany(usize),
    /// A bad name.
    #[error("a group name is at most {MAX_GROUP_NAME_BYTES} bytes without control characters")]
    BadName,
    /// A change that changes nothing (adding a member, removing a
    /// stranger, promoting an admin).
    #[error("that changes nothing: {0}")]
    NoChange(String),
    /// The change id is empty or too long.
    #[error("a group change id is 1 to {MAX_CHANGE_ID_BYTES} bytes")]
    BadId,
    /// A second `create` for a group that exists.
    #[error("the group exists already")]
    Exists,
}

/// The group as one device sees it after replaying its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// The group id.
    pub id: String,
    /// Members, sorted.
    pub members: Vec<Handle>,
    /// Admins (always members), sorted.
    pub admins: Vec<Handle>,
    /// The name.
    pub name: Option<String>,
    /// Highest version applied.
    pub version: u64,
}

impl GroupState {
    /// Whether `h` is a member.
    pub fn is_member(&self, h: &Handle) -> bool {
        self.members.binary_search(h).is_ok()
    }

    /// Whether `h` is an admin.
    pub fn is_admin(&self, h: &Handle) -> bool {
        self.admins.binary_search(h).is_ok()
    }

    /// The snapshot sent along with messages and changes.
    pub fn snapshot(&self) -> Group {
        Group {
            id: self.id.clone(),
            members: self.members.clone(),
            name: self.name.clone(),
            admins: self.admins.clone(),
            version: self.version,
        }
    }

    fn admin_list(&self) -> String {
        self.admins
            .iter()
            .map(Handle::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The state after `change`, or why it may not be made here. This is
    /// the one rule every device applies, both to its user's own changes
    /// and to those it receives.
    pub fn step(&self, change: &GroupChange) -> Result<GroupState, GroupError> {
        let author = &change.stamp.author;
        if change.stamp.id.is_empty() || change.stamp.id.len() > MAX_CHANGE_ID_BYTES {
            return Err(GroupError::BadId);
        }
        let mut next = self.clone();
        match &change.op {
            GroupOp::Create { members, name } => {
                if !self.members.is_empty() {
                    return Err(GroupError::Exists);
                }
                check_name(name.as_deref())?;
                next.members = members.clone();
                next.members.push(author.clone());
                next.admins = vec![author.clone()];
                next.name = name.clone();
            }
            op => {
                if !self.is_member(author) {
                    return Err(GroupError::NotMember(author.clone()));
                }
                if !matches!(op, GroupOp::Leave) && !self.is_admin(author) {
                    return Err(GroupError::NotAdmin {
                        admins: self.admin_list(),
                    });
                }
                match op {
                    GroupOp::Add { members } => {
                        let new: Vec<&Handle> =
                            members.iter().filter(|h| !self.is_member(h)).collect();
                        if new.is_empty() {
                            return Err(GroupError::NoChange("already members".into()));
                        }
                        next.members.extend(new.into_iter().cloned());
                    }
                    GroupOp::Remove { members } => {
                        if !members.iter().any(|h| self.is_member(h)) {
                            return Err(GroupError::NoChange("not members".into()));
                        }
                        next.members.retain(|h| !members.contains(h));
                        next.admins.retain(|h| !members.contains(h));
                    }
                    GroupOp::Rename { name } => {
                        check_name(name.as_deref())?;
                        if *name == self.name {
                            return Err(GroupError::NoChange("the group has that name".into()));
                        }
                        next.name = name.clone();
                    }
                    GroupOp::Promote { members } => {
                        if let Some(h) = members.iter().find(|h| !self.is_member(h)) {
                            return Err(GroupError::NotMember(h.clone()));
                        }
                        if members.iter().all(|h| self.is_admin(h)) {
                            return Err(GroupError::NoChange("already admins".into()));
                        }
                        next.admins.extend(members.iter().cloned());
                    }
                    GroupOp::Leave => {
                        next.members.retain(|h| h != author);
                        next.admins.retain(|h| h != author);
                    }
                    GroupOp::Create { .. } => unreachable!("handled above"),
                }
            }
        }
        next.members.sort();
        next.members.dedup();
        next.admins.sort();
        next.admins.dedup();
        if next.members.len() > MAX_GROUP_MEMBERS {
            return Err(GroupError::TooMany(MAX_GROUP_MEMBERS));
        }
        // A group whose last admin left is not orphaned: its first member
        // in sort order takes over, the same on every device.
        if next.admins.is_empty() {
            if let Some(first) = next.members.first() {
                next.admins.push(first.clone());
            }
        }
        next.version = self.version.max(change.stamp.version);
        Ok(next)
    }
}

fn check_name(name: Option<&str>) -> Result<(), GroupError> {
    match name {
        Some(n) if n.len() > MAX_GROUP_NAME_BYTES || n.chars().any(char::is_control) => {
            Err(GroupError::BadName)
        }
        _ => Ok(()),
    }
}

/// What a device keeps of one group: a base snapshot and the changes after
/// it, from which [`GroupLog::state`] replays the current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLog {
    /// The state before `changes`.
    pub base: GroupState,
    /// Changes with a version above the base's, in replay order.
    pub changes: Vec<GroupChange>,
}

/// What applying a received change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// It is new; the state before and after.
    Changed {
        /// Before.
        before: Box<GroupState>,
        /// After.
        after: Box<GroupState>,
    },
    /// It was known already, or sorts before the base (a re-delivery, or a
    /// change concurrent with more than [`MAX_GROUP_CHANGES`] others).
    Known,
}

impl GroupLog {
    /// An empty log for group `id`, before its `create`.
    pub fn new(id: &str) -> GroupLog {
        GroupLog {
            base: GroupState {
                id: id.to_string(),
                members: Vec::new(),
                admins: Vec::new(),
                name: None,
                version: 0,
            },
            changes: Vec::new(),
        }
    }

    /// Starts from a member's snapshot (see the module documentation). A
    /// snapshot with no admins comes from a client older than admins: all
    /// its members are admins, as they all could change the group then.
    pub fn from_snapshot(group: &Group) -> GroupLog {
        let mut members = group.members.clone();
        members.sort();
        members.dedup();
        members.truncate(MAX_GROUP_MEMBERS);
        let mut admins: Vec<Handle> = group
            .admins
            .iter()
            .filter(|a| members.binary_search(a).is_ok())
            .cloned()
            .collect();
        if admins.is_empty() {
            admins = members.clone();
        }
        admins.sort();
        admins.dedup();
        GroupLog {
            base: GroupState {
                id: group.id.clone(),
                members,
                admins,
                name: group.name.clone(),
                version: group.version,
            },
            changes: Vec::new(),
        }
    }

    /// The current state: the base with every change replayed in order.
    /// Changes that are not valid where they fall are skipped, the same on
    /// every device.
    pub fn state(&self) -> GroupState {
        let mut state = self.base.clone();
        for c in &self.changes {
            if let Ok(next) = state.step(c) {
                state = next;
            }
        }
        state
    }

    /// Makes a change as `author` on this device: stamped one version past
    /// everything known, checked, and applied. Returns the change to send.
    pub fn propose(
        &mut self,
        author: &Handle,
        id: &str,
        op: GroupOp,
    ) -> Result<(GroupChange, GroupState), GroupError> {
        let state = self.state();
        let change = GroupChange {
            stamp: Stamp {
                version: state.version + 1,
                author: author.clone(),
                id: id.to_string(),
            },
            op,
        };
        let after = state.step(&change)?;
        self.changes.push(change.clone());
        self.compact();
        Ok((change, after))
    }

    /// Applies a change received from `sender`'s device. The change must be
    /// by its sender and valid where it falls in the replay order.
    pub fn apply(&mut self, sender: &Handle, change: GroupChange) -> Result<Applied, GroupError> {
        if &change.stamp.author != sender {
            return Err(GroupError::WrongAuthor {
                sender: sender.clone(),
                author: change.stamp.author.clone(),
            });
        }
        if change.stamp.version <= self.base.version
            || self.changes.iter().any(|c| c.stamp == change.stamp)
        {
            return Ok(Applied::Known);
        }
        let before = self.state();
        // Where it falls: replay up to it, and check it there.
        let at = self.changes.partition_point(|c| c.stamp < change.stamp);
        let mut prefix = self.base.clone();
        for c in &self.changes[..at] {
            if let Ok(next) = prefix.step(c) {
                prefix = next;
            }
        }
        prefix.step(&change)?;
        self.changes.insert(at, change);
        self.compact();
        Ok(Applied::Changed {
            before: Box::new(before),
            after: Box::new(self.state()),
        })
    }

    /// Folds the oldest changes into the base while there are more than
    /// [`MAX_GROUP_CHANGES`]; whole versions at a time, so that the base's
    /// version is a clean cut.
    fn compact(&mut self) {
        while self.changes.len() > MAX_GROUP_CHANGES {
            let cut = self.changes[0].stamp.version;
            let n = self.changes.partition_point(|c| c.stamp.version <= cut);
            for c in self.changes.drain(..n) {
                if let Ok(next) = self.base.step(&c) {
                    self.base = next;
                }
            }
            self.base.version = self.base.version.max(cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Handle {
        Handle::parse(s, "US").expect("test handles are valid")
    }

    fn created(by: &str, others: &[&str]) -> GroupLog {
        let mut log = GroupLog::new("g1");
        log.propose(
            &h(by),
            "c0",
            GroupOp::Create {
                members: others.iter().map(|o| h(o)).collect(),
                name: Some("Lisbon trip".into()),
            },
        )
        .expect("create");
        log
    }

    #[test]
    fn the_creator_is_the_admin_and_only_admins_change_members() {
        let mut log = created("alice@x.org", &["bob@x.org", "carol@x.org"]);
        let s = log.state();
        assert_eq!(s.admins, vec![h("alice@x.org")]);
        assert_eq!(s.members.len(), 3);
        let err = log
            .propose(
                &h("bob@x.org"),
                "c1",
                GroupOp::Remove {
                    members: vec![h("carol@x.org")],
                },
            )
            .expect_err("bob is no admin");
        assert!(matches!(err, GroupError::NotAdmin { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "only the group's admins (alice@x.org) can do that"
        );
        log.propose(
            &h("alice@x.org"),
            "c2",
            GroupOp::Promote {
                members: vec![h("bob@x.org")],
            },
        )
        .expect("alice promotes bob");
        let (_, s) = log
            .propose(
                &h("bob@x.org"),
                "c3",
                GroupOp::Remove {
                    members: vec![h("carol@x.org")],
                },
            )
            .expect("bob is an admin now");
        assert!(!s.is_member(&h("carol@x.org")));
    }

    #[test]
    fn a_removed_member_cannot_re_add_themselves_or_anyone() {
        let mut log = created("alice@x.org", &["bob@x.org", "carol@x.org"]);
        log.propose(
            &h("alice@x.org"),
            "c1",
            GroupOp::Remove {
                members: vec![h("carol@x.org")],
            },
        )
        .expect("remove");
        let forged = GroupChange {
            stamp: Stamp {
                version: 3,
                author: h("carol@x.org"),
                id: "c2".into(),
            },
            op: GroupOp::Add {
                members: vec![h("carol@x.org")],
            },
        };
        assert_eq!(
            log.apply(&h("carol@x.org"), forged),
            Err(GroupError::NotMember(h("carol@x.org")))
        );
        assert!(!log.state().is_member(&h("carol@x.org")));
    }

    #[test]
    fn a_change_must_come_from_its_author() {
        let mut log = created("alice@x.org", &["bob@x.org"]);
        let forged = GroupChange {
            stamp: Stamp {
                version: 2,
                author: h("alice@x.org"),
                id: "c1".into(),
            },
            op: GroupOp::Add {
                members: vec![h("mallory@x.org")],
            },
        };
        assert!(matches!(
            log.apply(&h("bob@x.org"), forged),
            Err(GroupError::WrongAuthor { .. })
        ));
    }

    /// Two admins change the group at once; devices receive the two changes
    /// in opposite orders and agree.
    #[test]
    fn concurrent_changes_converge_in_any_order() {
        let mut base = created("alice@x.org", &["bob@x.org", "carol@x.org", "dan@x.org"]);
        base.propose(
            &h("alice@x.org"),
            "c1",
            GroupOp::Promote {
                members: vec![h("bob@x.org")],
            },
        )
        .expect("promote");
        // Alice removes Dan and renames; Bob, at the same time, removes
        // Carol and demotes nobody: both at version 3.
        let mut at_alice = base.clone();
        let (a1, _) = at_alice
            .propose(
                &h("alice@x.org"),
                "a1",
                GroupOp::Remove {
                    members: vec![h("dan@x.org")],
                },
            )
            .expect("alice removes dan");
        let mut at_bob = base.clone();
        let (b1, _) = at_bob
            .propose(
                &h("bob@x.org"),
                "b1",
                GroupOp::Remove {
                    members: vec![h("carol@x.org")],
                },
            )
            .expect("bob removes carol");
        assert_eq!(a1.stamp.version, b1.stamp.version);
        at_alice
            .apply(&h("bob@x.org"), b1.clone())
            .expect("b1 at alice");
        at_bob
            .apply(&h("alice@x.org"), a1.clone())
            .expect("a1 at bob");
        let mut at_dan = base.clone();
        at_dan.apply(&h("bob@x.org"), b1).expect("b1 at dan");
        at_dan.apply(&h("alice@x.org"), a1).expect("a1 at dan");
        let s = at_alice.state();
        assert_eq!(s, at_bob.state());
        assert_eq!(s, at_dan.state());
        assert_eq!(s.members, vec![h("alice@x.org"), h("bob@x.org")]);
    }

    /// An admin removes another admin while that admin adds someone: the
    /// replay order decides, and every device decides alike.
    #[test]
    fn a_change_racing_its_authors_removal_is_judged_the_same_everywhere() {
        let mut base = created("alice@x.org", &["bob@x.org", "carol@x.org"]);
        base.propose(
            &h("alice@x.org"),
            "c1",
            GroupOp::Promote {
                members: vec![h("bob@x.org")],
            },
        )
        .expect("promote");
        let mut at_alice = base.clone();
        let (a, _) = at_alice
            .propose(
                &h("alice@x.org"),
                "z-remove-bob",
                GroupOp::Remove {
                    members: vec![h("bob@x.org")],
                },
            )
            .expect("alice removes bob");
        let mut at_bob = base.clone();
        let (b, _) = at_bob
            .propose(
                &h("bob@x.org"),
                "b-add-eve",
                GroupOp::Add {
                    members: vec![h("eve@x.org")],
                },
            )
            .expect("bob adds eve");
        // Alice's change sorts first (alice < bob): Bob's add then falls
        // after his removal and is skipped on every device.
        let _ = at_alice.apply(&h("bob@x.org"), b.clone());
        at_bob
            .apply(&h("alice@x.org"), a.clone())
            .expect("a at bob");
        let mut at_carol = base.clone();
        at_carol.apply(&h("alice@x.org"), a).expect("a at carol");
        let _ = at_carol.apply(&h("bob@x.org"), b);
        assert_eq!(at_bob.state(), at_carol.state());
        assert_eq!(at_alice.state(), at_carol.state());
        assert!(!at_carol.state().is_member(&h("eve@x.org")));
        assert!(!at_carol.state().is_member(&h("bob@x.org")));
    }

    #[test]
    fn the_last_admin_leaving_hands_over_and_redelivery_is_known() {
        let mut log = created("alice@x.org", &["bob@x.org", "carol@x.org"]);
        let (leave, s) = log
            .propose(&h("alice@x.org"), "c1", GroupOp::Leave)
            .expect("leave");
        assert_eq!(s.admins, vec![h("bob@x.org")]);
        assert_eq!(
            log.apply(&h("alice@x.org"), leave),
            Ok(Applied::Known),
            "a change applied twice changes nothing"
        );
    }

    #[test]
    fn names_and_sizes_are_bounded() {
        let mut log = created("alice@x.org", &["bob@x.org"]);
        let long = "x".repeat(MAX_GROUP_NAME_BYTES + 1);
        assert_eq!(
            log.propose(
                &h("alice@x.org"),
                "c1",
                GroupOp::Rename { name: Some(long) }
            ),
            Err(GroupError::BadName)
        );
        let many: Vec<Handle> = (0..MAX_GROUP_MEMBERS)
            .map(|i| h(&format!("m{i}@x.org")))
            .collect();
        assert_eq!(
            log.propose(&h("alice@x.org"), "c2", GroupOp::Add { members: many })
                .map(|_| ()),
            Err(GroupError::TooMany(MAX_GROUP_MEMBERS))
        );
    }

    #[test]
    fn the_log_is_compacted_and_the_state_kept() {
        let mut log = created("alice@x.org", &["bob@x.org"]);
        for i in 0..(MAX_GROUP_CHANGES * 2) {
            log.propose(
                &h("alice@x.org"),
                &format!("r{i}"),
                GroupOp::Rename {
                    name: Some(format!("name {i}")),
                },
            )
            .expect("rename");
        }
        assert!(log.changes.len() <= MAX_GROUP_CHANGES);
        let s = log.state();
        assert_eq!(
            s.name.as_deref(),
            Some(&*format!("name {}", MAX_GROUP_CHANGES * 2 - 1))
        );
        assert_eq!(s.version, (MAX_GROUP_CHANGES * 2 + 1) as u64);
    }

    #[test]
    fn a_snapshot_from_an_old_client_makes_every_member_an_admin() {
        let g = Group {
            id: "g".into(),
            members: vec![h("bob@x.org"), h("alice@x.org")],
            name: None,
            admins: Vec::new(),
            version: 0,
        };
        let s = GroupLog::from_snapshot(&g).state();
        assert_eq!(s.admins, s.members);
        assert_eq!(s.members[0], h("alice@x.org"));
    }
}
