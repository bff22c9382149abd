//! Profile photos. Like the display name, the photo travels inside this
//! account's texts, so only people it writes to get it: the picture is
//! uploaded once as an encrypted attachment, and each text carries its
//! pointer (key and digest, no preview). Receivers fetch each new photo
//! once, at the end of `sync`, for conversations that are not requests.

use tidings_core::attachment::AttachmentPointer;
use tidings_core::content::MAX_PROFILE_PHOTO_BYTES;

use super::{Client, ClientError};

/// Setting key for this account's photo: its pointer, as JSON.
pub const PROFILE_PHOTO: &str = "profile_photo";
/// Setting key for when the photo was last uploaded (milliseconds).
const PROFILE_PHOTO_AT: &str = "profile_photo_at";
/// The photo's own copy in the profile, uploaded again before the server
/// lets the blob expire.
const OWN_PHOTO_FILE: &str = "own-photo";
const DAY_MS: u64 = 86_400_000;

/// Whether a photo uploaded at `at` must be uploaded again by `now`: the
/// server keeps blobs for the envelope TTL, so a photo goes up again once
/// half of that has passed, and a pointer in a text never names a blob
/// about to expire.
pub fn photo_due(at: u64, now: u64, ttl_days: u64) -> bool {
    now.saturating_sub(at) >= ttl_days.saturating_mul(DAY_MS) / 2
}

/// A received photo pointer as kept: small enough, and an image.
pub fn acceptable_photo(pointer: &AttachmentPointer) -> bool {
    pointer.size <= MAX_PROFILE_PHOTO_BYTES && pointer.content_type.starts_with("image/")
}

impl Client {
    /// Sets this account's photo from a file: checked, uploaded encrypted,
    /// and handed to this account's other devices.
    pub async fn set_profile_photo(&self, path: &std::path::Path) -> Result<(), ClientError> {
        let files = self.profile.files();
        let size = files
            .metadata(path)
            .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", path.display())))?
            .len;
        if size == 0 || size > MAX_PROFILE_PHOTO_BYTES {
            return Err(ClientError::Usage(format!(
                "a profile photo is 1 to {MAX_PROFILE_PHOTO_BYTES} bytes; {} is {size}",
                path.display()
            )));
        }
        let own = self.profile.dir().join(OWN_PHOTO_FILE);
        if path != own {
            files.copy(path, &own).map_err(|e| {
                ClientError::Usage(format!("cannot keep a copy in {}: {e}", own.display()))
            })?;
        }
        let mut pointer = self.upload_attachment(&own, &mut |_, _| {}).await?;
        if !pointer.content_type.starts_with("image/") {
            return Err(ClientError::Usage(format!(
                "{} is not a photo (it reads as {})",
                path.display(),
                pointer.content_type
            )));
        }
        // The preview would ride in every text; receivers fetch the photo.
        pointer.thumbnail = None;
        let json = serde_json::to_string(&pointer).expect("pointers serialise");
        self.local.set_setting(PROFILE_PHOTO, &json)?;
        self.local
            .set_setting(PROFILE_PHOTO_AT, &super::now_ms().to_string())?;
        self.share_account_state(false).await
    }

    /// Uploads this account's photo again when it is due ([`photo_due`]);
    /// asks the server its TTL at most once a day.
    pub(crate) async fn refresh_own_photo(&self) -> Result<(), ClientError> {
        let Some(at) = self
            .local
            .setting(PROFILE_PHOTO_AT)?
            .and_then(|v| v.parse::<u64>().ok())
        else {
            return Ok(());
        };
        let now = super::now_ms();
        if !photo_due(at, now, 2) {
            return Ok(());
        }
        let ttl_days = self.api.limits().await?.envelope_ttl_days;
        let own = self.profile.dir().join(OWN_PHOTO_FILE);
        if photo_due(at, now, ttl_days) && self.profile.files().exists(&own) {
            self.set_profile_photo(&own).await?;
        }
        Ok(())
    }

    /// Gives this account's name and photo to `handle` (on accepting its
    /// message request).
    pub(crate) async fn send_profile(&self, handle: &str) -> Result<(), ClientError> {
        let name = self.local.setting(super::DISPLAY_NAME)?;
        let photo = self.own_photo()?;
        if name.is_none() && photo.is_none() {
            return Ok(());
        }
        let to = Self::parse_handle(handle)?;
        let content = tidings_core::content::Content::Profile { name, photo };
        self.send_content(&super::new_message_id(), &[to], &content, false)
            .await?;
        Ok(())
    }

    /// This account's photo as kept on this device: where it is and its
    /// content type (none without a photo).
    pub fn own_photo_file(&self) -> Result<Option<(std::path::PathBuf, String)>, ClientError> {
        let own = self.profile.dir().join(OWN_PHOTO_FILE);
        Ok(self
            .own_photo()?
            .filter(|_| self.profile.files().exists(&own))
            .map(|p| (own, p.content_type)))
    }

    /// This account's photo pointer, for its texts.
    pub(crate) fn own_photo(&self) -> Result<Option<Box<AttachmentPointer>>, ClientError> {
        Ok(self
            .local
            .setting(PROFILE_PHOTO)?
            .and_then(|j| serde_json::from_str(&j).ok())
            .map(Box::new))
    }

    /// Keeps the photo a sender's text carried.
    pub(crate) fn keep_sender_photo(
        &self,
        handle: &str,
        pointer: &AttachmentPointer,
    ) -> Result<(), ClientError> {
        if acceptable_photo(pointer) {
            let json = serde_json::to_string(pointer).expect("pointers serialise");
            self.local.set_profile_photo(handle, &json)?;
        }
        Ok(())
    }

    /// Fetches the photos not fetched yet, of people whose conversations
    /// are not held back; returns how many were saved.
    pub async fn fetch_photos(&self) -> Result<usize, ClientError> {
        let dir = self.profile.dir().join("photos");
        let mut saved = 0;
        for (handle, json) in self.local.photos_to_fetch()? {
            if self.is_held(&handle)? || self.local.is_blocked(&handle)? {
                continue;
            }
            let Ok(pointer) = serde_json::from_str::<AttachmentPointer>(&json) else {
                continue;
            };
            if !acceptable_photo(&pointer) {
                continue;
            }
            let prefix: String = handle
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            match self
                .download_attachment(&pointer, &dir, &prefix, &mut |_, _| {})
                .await
            {
                Ok(path) => {
                    self.local
                        .set_photo_path(&handle, &path.display().to_string())?;
                    saved += 1;
                }
                Err(e) => tracing::info!(error = %e, "a profile photo could not be fetched"),
            }
        }
        Ok(saved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(size: u64, content_type: &str) -> AttachmentPointer {
        AttachmentPointer {
            blob: "b".into(),
            key: String::new(),
            digest: String::new(),
            size,
            name: "me.png".into(),
            content_type: content_type.into(),
            thumbnail: None,
            width: None,
            height: None,
            duration_ms: None,
        }
    }

    #[test]
    fn a_photo_goes_up_again_halfway_through_the_blob_lifetime() {
        let day = DAY_MS;
        assert!(!photo_due(0, 3 * day, 7));
        assert!(photo_due(0, 4 * day, 7));
        assert!(photo_due(5, 5, 0), "a server keeping nothing: always");
        assert!(!photo_due(10 * day, day, 7), "a clock that went back");
    }

    #[test]
    fn only_small_images_are_kept() {
        assert!(acceptable_photo(&pointer(1000, "image/png")));
        assert!(!acceptable_photo(&pointer(1000, "application/pdf")));
        assert!(!acceptable_photo(&pointer(
            MAX_PROFILE_PHOTO_BYTES + 1,
            "image/jpeg"
        )));
    }
}
