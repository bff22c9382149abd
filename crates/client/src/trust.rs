//! Knowing who you talk to: safety numbers, verification, and notices when
//! a contact's devices change.

use tidings_core::safety::safety_number;
use tidings_proto::DeviceId;
use tidings_proto::Handle;

use crate::client::{new_message_id, Client, ClientError};

/// Where a handle stands.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Verification {
    /// The handle.
    pub handle: String,
    /// The current safety number.
    pub safety_number: String,
    /// True when the user marked this number as verified.
    pub verified: bool,
}

impl Client {
    async fn ed25519_keys(&self, devices: &[DeviceId]) -> Result<Vec<String>, ClientError> {
        let found = self.api().identities(devices).await?;
        Ok(found
            .identities
            .into_iter()
            .map(|i| i.identity.ed25519)
            .collect())
    }

    /// The safety number with `handle`, from both accounts' current device
    /// keys, and whether it is the one the user verified.
    pub async fn verification(&self, handle: &Handle) -> Result<Verification, ClientError> {
        let theirs = self.devices_of_checked(handle).await?;
        let mut mine: Vec<DeviceId> = self
            .api()
            .devices()
            .await?
            .into_iter()
            .map(|d| d.id)
            .collect();
        mine.sort();
        let their_keys = self.ed25519_keys(&theirs).await?;
        let my_keys = self.ed25519_keys(&mine).await?;
        let me = self
            .credentials()
            .handles
            .first()
            .map(Handle::to_string)
            .unwrap_or_default();
        let number = safety_number((&me, &my_keys), (handle.as_str(), &their_keys));
        let (verified, _) = self.local().trust(handle.as_str())?;
        Ok(Verification {
            handle: handle.to_string(),
            verified: verified.as_deref() == Some(number.as_str()),
            safety_number: number,
        })
    }

    /// Marks the current safety number with `handle` as verified.
    pub async fn mark_verified(&self, handle: &Handle) -> Result<Verification, ClientError> {
        let mut v = self.verification(handle).await?;
        self.local()
            .set_trust(handle.as_str(), Some(&v.safety_number), false)?;
        v.verified = true;
        Ok(v)
    }

    /// Refuses to send to handles whose devices changed since the user
    /// verified them, unless `confirm`; a confirmed send clears the flag.
    pub fn check_confirmed(&self, handles: &[Handle], confirm: bool) -> Result<(), ClientError> {
        for h in handles {
            let (verified, must_confirm) = self.local().trust(h.as_str())?;
            if must_confirm && !confirm {
                return Err(ClientError::Usage(format!(
                    "{h}'s devices changed since you verified them: compare numbers with `tidings verify {h}`, then send again with --confirm"
                )));
            }
            if must_confirm {
                self.local()
                    .set_trust(h.as_str(), verified.as_deref(), false)?;
            }
        }
        Ok(())
    }

    /// Records a change of a contact's devices in every conversation with
    /// them, and resets a verification.
    pub(crate) fn note_device_change(
        &self,
        handle: &Handle,
        before: &[DeviceId],
        after: &[DeviceId],
        at: u64,
    ) -> Result<(), ClientError> {
        let added: Vec<String> = after
            .iter()
            .filter(|d| !before.contains(d))
            .map(DeviceId::to_string)
            .collect();
        let removed: Vec<String> = before
            .iter()
            .filter(|d| !after.contains(d))
            .map(DeviceId::to_string)
            .collect();
        if added.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let (verified, _) = self.local().trust(handle.as_str())?;
        let mut text = format!("{handle}'s devices changed");
        if !added.is_empty() {
            text.push_str(&format!(" (added {})", added.join(", ")));
        }
        if !removed.is_empty() {
            text.push_str(&format!(" (removed {})", removed.join(", ")));
        }
        if verified.is_some() {
            text.push_str(
                ": your verification was reset; compare safety numbers again with `tidings verify`",
            );
            self.local().set_trust(handle.as_str(), None, true)?;
        }
        let me = self.credentials().account;
        for conv in self.local().conversations_with(handle.as_str())? {
            self.local().insert_message(
                &conv,
                me,
                handle.as_str(),
                &format!("keys-{}", new_message_id()),
                false,
                "event",
                &text,
                at,
                "notice",
            )?;
        }
        Ok(())
    }
}
