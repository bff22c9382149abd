//! The settings a person changes on one device (read receipts, SMS
//! fallback, display name); the account's other devices follow.

use serde::{Deserialize, Serialize};

use super::{Client, ClientError, DISPLAY_NAME, LINK_HANDLES, READ_RECEIPTS, SMS_FALLBACK};

/// A change of settings; what is `None` stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    /// Send read receipts.
    pub read_receipts: Option<bool>,
    /// Re-send as SMS what reached none of a number's devices in time.
    pub sms_fallback: Option<bool>,
    /// The display name others see.
    pub name: Option<String>,
}

/// The settings as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Read receipts are sent.
    pub read_receipts: bool,
    /// SMS fallback is on.
    pub sms_fallback: bool,
    /// The display name, if chosen.
    pub name: Option<String>,
    /// Who may see this account's other handles: `nobody`, `contacts`,
    /// `everyone`.
    pub link_handles: String,
}

/// `on`/`off` as stored.
fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

impl Client {
    /// The current settings.
    pub fn settings(&self) -> Result<Settings, ClientError> {
        let on = |key| -> Result<bool, ClientError> {
            Ok(self.local.setting(key)?.as_deref() != Some("off"))
        };
        Ok(Settings {
            read_receipts: on(READ_RECEIPTS)?,
            sms_fallback: on(SMS_FALLBACK)?,
            name: self.local.setting(DISPLAY_NAME)?,
            link_handles: self
                .local
                .setting(LINK_HANDLES)?
                .unwrap_or_else(|| "contacts".into()),
        })
    }

    /// Applies a change here, then tells the account's other devices. A
    /// bad name changes nothing; when the other devices cannot be told,
    /// the change stays made here and the error says so.
    pub async fn change_settings(&self, change: &SettingsChange) -> Result<(), ClientError> {
        let name = match &change.name {
            None => None,
            Some(n) => Some(tidings_core::content::clean_display_name(n).ok_or_else(|| {
                ClientError::Usage(format!(
                    "a display name is 1 to {} bytes without control characters",
                    tidings_core::content::MAX_DISPLAY_NAME_BYTES
                ))
            })?),
        };
        if let Some(n) = &name {
            self.local.set_setting(DISPLAY_NAME, n)?;
        }
        for (key, value) in [
            (READ_RECEIPTS, change.read_receipts),
            (SMS_FALLBACK, change.sms_fallback),
        ] {
            if let Some(v) = value {
                self.local.set_setting(key, on_off(v))?;
            }
        }
        if *change != SettingsChange::default() {
            self.share_account_state(false).await?;
        }
        Ok(())
    }
}
