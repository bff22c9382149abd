//! Devices that agree: this account's contacts, relations, blocks and
//! settings travel to its other devices end-to-end encrypted, like every
//! payload, and are accepted only from the account's own devices.
//!
//! Single changes already travel as `relation` contents. This module
//! covers what those cannot: a device that joins later gets the whole
//! state from a device that was there (it notices the newcomer at the end
//! of its next `sync`, tells its user, and hands the state over), and a
//! changed setting reaches the other devices.

use tidings_core::content::{Content, RelationChange, MAX_STATE_ENTRIES, MAX_STATE_LESSONS};
use tidings_proto::{DeviceId, Handle};
use tidings_spam::{Label, Lesson};

use super::{
    new_message_id, Client, ClientError, Event, DISPLAY_NAME, READ_RECEIPTS, SMS_FALLBACK,
};

/// Setting key for the devices of this account this device has seen, so
/// that a new one is announced once.
const KNOWN_DEVICES: &str = "known_devices";
/// The settings that travel between devices.
pub const SHARED_SETTINGS: [&str; 4] = [
    READ_RECEIPTS,
    SMS_FALLBACK,
    DISPLAY_NAME,
    super::photo::PROFILE_PHOTO,
];

/// Which of `now` are new since `before` (this device aside), or none when
/// this device never looked before (its own first sync announces nothing).
pub fn new_devices(before: Option<&[DeviceId]>, now: &[DeviceId], me: DeviceId) -> Vec<DeviceId> {
    match before {
        None => Vec::new(),
        Some(b) => now
            .iter()
            .filter(|d| **d != me && !b.contains(d))
            .copied()
            .collect(),
    }
}

impl Client {
    /// Looks for devices of this account that joined since the last look;
    /// announces each and hands them this account's state.
    pub(crate) async fn welcome_new_devices(&mut self) -> Result<Vec<Event>, ClientError> {
        let devices = self.api.devices().await?;
        let now: Vec<DeviceId> = devices.iter().map(|d| d.id).collect();
        let before: Option<Vec<DeviceId>> = self
            .local
            .setting(KNOWN_DEVICES)?
            .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect());
        let new = new_devices(before.as_deref(), &now, self.creds.device);
        let list = now
            .iter()
            .map(DeviceId::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut events = Vec::new();
        if before.is_none() {
            // This device's first look: say how to bring the history over,
            // or that no device can.
            events.extend(self.no_history_note(now.len() > 1)?);
        }
        if !new.is_empty() {
            self.share_account_state(true).await?;
            for d in devices.iter().filter(|d| new.contains(&d.id)) {
                events.push(Event::Notice {
                    notice: "new_device".into(),
                    text: format!(
                        "a new device signed in to your account: \u{201c}{}\u{201d} (device {}); \
                         it got your contacts and settings. If it is not yours, remove it with \
                         `tidings devices remove {}`",
                        d.name, d.id, d.id
                    ),
                });
            }
        }
        self.local.set_setting(KNOWN_DEVICES, &list)?;
        Ok(events)
    }

    /// Sends this account's state to its other devices: everything
    /// (`all`), or only the settings.
    pub async fn share_account_state(&self, all: bool) -> Result<(), ClientError> {
        if self.own_devices(true).await?.is_empty() {
            return Ok(());
        }
        let settings: Vec<(String, String)> = SHARED_SETTINGS
            .iter()
            .filter_map(|k| {
                self.local
                    .setting(k)
                    .ok()
                    .flatten()
                    .map(|v| (k.to_string(), v))
            })
            .collect();
        let mut parts = vec![Content::AccountState {
            contacts: Vec::new(),
            known: Vec::new(),
            blocked: Vec::new(),
            settings,
            lessons: Vec::new(),
        }];
        if all {
            let parse = |h: &str| Self::parse_handle(h).ok();
            let contacts: Vec<(Handle, Option<String>)> = self
                .local
                .contacts()?
                .into_iter()
                .filter_map(|c| parse(&c.handle).map(|h| (h, c.name)))
                .collect();
            let known: Vec<Handle> = self
                .local
                .relations()?
                .iter()
                .filter_map(|h| parse(h))
                .collect();
            let blocked: Vec<Handle> = self
                .local
                .blocked()?
                .iter()
                .filter_map(|(h, _)| parse(h))
                .collect();
            for c in contacts.chunks(MAX_STATE_ENTRIES) {
                parts.push(state_part(c.to_vec(), Vec::new(), Vec::new()));
            }
            for k in known.chunks(MAX_STATE_ENTRIES) {
                parts.push(state_part(Vec::new(), k.to_vec(), Vec::new()));
            }
            for b in blocked.chunks(MAX_STATE_ENTRIES) {
                parts.push(state_part(Vec::new(), Vec::new(), b.to_vec()));
            }
            let lessons: Vec<(String, String)> = self
                .local
                .lessons()?
                .into_iter()
                .map(|l| (l.label.as_str().to_owned(), l.text))
                .collect();
            for l in lessons.chunks(MAX_STATE_LESSONS) {
                let mut part = state_part(Vec::new(), Vec::new(), Vec::new());
                if let Content::AccountState { lessons, .. } = &mut part {
                    *lessons = l.to_vec();
                }
                parts.push(part);
            }
        }
        for part in &parts {
            self.send_content(&new_message_id(), &[], part, false)
                .await?;
        }
        Ok(())
    }

    /// Applies state from another device of this account.
    pub(crate) fn apply_account_state(&mut self, content: Content) -> Result<(), ClientError> {
        let Content::AccountState {
            contacts,
            known,
            blocked,
            settings,
            lessons,
        } = content
        else {
            return Ok(());
        };
        for (h, name) in contacts.iter().take(MAX_STATE_ENTRIES) {
            self.apply_relation(h, RelationChange::Contact, name.as_deref(), None)?;
        }
        for h in known.iter().take(MAX_STATE_ENTRIES) {
            self.local.add_relation(
                h.as_str(),
                crate::local::relations::Known::Accepted,
                super::now_ms(),
            )?;
        }
        for h in blocked.iter().take(MAX_STATE_ENTRIES) {
            self.apply_relation(h, RelationChange::Block, None, None)?;
        }
        for (label, text) in lessons.iter().take(MAX_STATE_LESSONS) {
            if let Ok(label) = label.parse::<Label>() {
                self.learn(Lesson::new(label, text))?;
            }
        }
        for (k, v) in settings.iter().take(SHARED_SETTINGS.len()) {
            if k == super::photo::PROFILE_PHOTO {
                let ok = serde_json::from_str::<tidings_core::attachment::AttachmentPointer>(v)
                    .is_ok_and(|p| super::photo::acceptable_photo(&p));
                if ok {
                    self.local.set_setting(k, v)?;
                }
            } else if k == DISPLAY_NAME {
                if let Some(name) = tidings_core::content::clean_display_name(v) {
                    self.local.set_setting(k, &name)?;
                }
            } else if SHARED_SETTINGS.contains(&k.as_str()) && (v == "on" || v == "off") {
                self.local.set_setting(k, v)?;
            }
        }
        Ok(())
    }
}

fn state_part(
    contacts: Vec<(Handle, Option<String>)>,
    known: Vec<Handle>,
    blocked: Vec<Handle>,
) -> Content {
    Content::AccountState {
        contacts,
        known,
        blocked,
        settings: Vec::new(),
        lessons: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_new_once_and_the_first_look_announces_nothing() {
        let d = |n: u32| DeviceId::from(n);
        assert!(new_devices(None, &[d(1), d(2)], d(1)).is_empty());
        assert_eq!(new_devices(Some(&[d(1)]), &[d(1), d(2)], d(1)), [d(2)]);
        assert!(new_devices(Some(&[d(1), d(2)]), &[d(1), d(2)], d(1)).is_empty());
        assert!(
            new_devices(Some(&[d(2)]), &[d(1), d(2)], d(1)).is_empty(),
            "not myself"
        );
    }
}
