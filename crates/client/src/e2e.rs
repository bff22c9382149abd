//! End-to-end encryption for this device: keeps the Olm account and the
//! sessions in the local store (encrypted with the profile's pickle key),
//! publishes prekeys, and encrypts and decrypts payloads per device.
//!
//! Every change of encryption state happens inside an exclusive local
//! transaction, so two commands on the same profile cannot lose a ratchet
//! step to each other.

use std::collections::HashMap;
use tidings_proto::DeviceId;

use tidings_core::crypto::{verify_signed_key, Olm, Sessions, ONE_TIME_KEY_TARGET};
use tidings_proto::api::{ClaimedKey, UploadKeys};

use crate::client::{Client, ClientError};

impl Client {
    fn olm(&self) -> Result<Olm, ClientError> {
        let pickle = self.local().olm_account()?.ok_or_else(|| {
            ClientError::Usage(
                "this device has no encryption keys; run `tidings login` again".into(),
            )
        })?;
        Ok(Olm::unpickle(&pickle, self.pickle_key())?)
    }

    /// Creates this device's keys if needed, publishes its identity and
    /// tops up one-time keys on the server when fewer than half the target
    /// are left; returns how many it holds.
    pub async fn ensure_keys(&self) -> Result<usize, ClientError> {
        self.top_up_keys(ONE_TIME_KEY_TARGET / 2).await
    }

    /// Answers the server's `keys_low` notice (others claimed most of this
    /// device's one-time keys): tops up to the target now, so that senders
    /// keep getting one-time keys rather than the fallback key.
    pub async fn replenish_keys(&self) -> Result<usize, ClientError> {
        self.top_up_keys(ONE_TIME_KEY_TARGET).await
    }

    /// Uploads one-time keys up to the target when fewer than `below` are
    /// held on the server (and the identity, the first time).
    async fn top_up_keys(&self, below: usize) -> Result<usize, ClientError> {
        let key = *self.pickle_key();
        let fresh = self.local().olm_account()?.is_none();
        let held = if fresh {
            0
        } else {
            self.api().key_count().await?.one_time_keys
        };
        if !fresh && held >= below {
            return Ok(held);
        }
        let upload = self.local().exclusive(|l| {
            let mut olm = match l.olm_account()? {
                Some(p) => Olm::unpickle(&p, &key)?,
                None => Olm::new(),
            };
            let one_time_keys = olm.new_one_time_keys(ONE_TIME_KEY_TARGET.saturating_sub(held));
            let fallback = fresh.then(|| olm.new_fallback_key());
            l.save_olm_account(&olm.pickle(&key))?;
            Ok::<_, ClientError>(UploadKeys {
                identity: olm.identity(),
                one_time_keys,
                fallback,
            })
        })?;
        Ok(self.api().upload_keys(&upload).await?.one_time_keys)
    }

    /// This device's identity keys.
    pub fn identity(&self) -> Result<tidings_proto::api::IdentityKeys, ClientError> {
        Ok(self.olm()?.identity())
    }

    /// Encrypts `plaintext` once for each device, opening sessions (by
    /// claiming prekeys) where there are none yet.
    pub async fn encrypt_for(
        &self,
        devices: &[DeviceId],
        plaintext: &[u8],
    ) -> Result<HashMap<DeviceId, Vec<u8>>, ClientError> {
        let key = *self.pickle_key();
        let mut missing = Vec::new();
        for d in devices {
            if self.local().olm_sessions(*d)?.is_none() {
                missing.push(*d);
            }
        }
        let mut claimed: HashMap<DeviceId, ClaimedKey> = HashMap::new();
        if !missing.is_empty() {
            for c in self.api().claim_keys(&missing).await?.keys {
                verify_signed_key(&c.identity.ed25519, &c.key, c.device)?;
                self.note_identity(c.device, &c.identity.curve25519, &c.identity.ed25519)?;
                claimed.insert(c.device, c);
            }
        }
        self.local().exclusive(|l| {
            let olm = Olm::unpickle(
                &l.olm_account()?.ok_or_else(|| ClientError::Usage("this device has no encryption keys".into()))?,
                &key,
            )?;
            let mut out = HashMap::with_capacity(devices.len());
            for d in devices {
                let mut sessions = match l.olm_sessions(*d)? {
                    Some(p) => Sessions::unpickle(&p, &key)?,
                    None => Sessions::new(),
                };
                let prekey = claimed
                    .get(d)
                    .map(|c| (c.identity.curve25519.as_str(), c.key.key.as_str()));
                let ciphertext = olm.encrypt(*d, &mut sessions, prekey, plaintext).map_err(|e| {
                    ClientError::Usage(format!(
                        "{e}: device {d} has not published encryption keys yet; try again in a moment"
                    ))
                })?;
                l.save_olm_sessions(*d, &sessions.pickle(&key))?;
                out.insert(*d, ciphertext);
            }
            Ok(out)
        })
    }

    /// Remembers a device's identity keys; a different identity for a known
    /// device is logged (devices never change identity; the server would
    /// have to be lying).
    fn note_identity(
        &self,
        device: DeviceId,
        curve25519: &str,
        ed25519: &str,
    ) -> Result<(), ClientError> {
        if let Some((c, e)) = self.local().device_identity(device)? {
            if c != curve25519 || e != ed25519 {
                tracing::warn!(
                    %device,
                    "a device's identity keys changed; keeping the new ones"
                );
            }
        }
        self.local()
            .save_device_identity(device, curve25519, ed25519)?;
        Ok(())
    }

    /// Decrypts a payload sent by `device`.
    pub async fn decrypt_from(
        &self,
        device: DeviceId,
        payload: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let key = *self.pickle_key();
        let expected = match self.local().device_identity(device)? {
            Some((curve, _)) => Some(curve),
            None => {
                let found = self.api().identities(&[device]).await?;
                match found.identities.into_iter().next() {
                    Some(i) => {
                        self.note_identity(device, &i.identity.curve25519, &i.identity.ed25519)?;
                        Some(i.identity.curve25519)
                    }
                    None => None,
                }
            }
        };
        self.local().exclusive(|l| {
            let mut olm = Olm::unpickle(
                &l.olm_account()?.ok_or_else(|| {
                    ClientError::Usage("this device has no encryption keys".into())
                })?,
                &key,
            )?;
            let mut sessions = match l.olm_sessions(device)? {
                Some(p) => Sessions::unpickle(&p, &key)?,
                None => Sessions::new(),
            };
            let (plain, _) = olm.decrypt(device, &mut sessions, expected.as_deref(), payload)?;
            l.save_olm_sessions(device, &sessions.pickle(&key))?;
            l.save_olm_account(&olm.pickle(&key))?;
            Ok(plain)
        })
    }
}

/// Recovery from broken sessions: the receiver of an undecryptable message
/// opens a fresh session with the sending device and asks it to send the
/// message again; the sender re-sends its stored copy over that session.
impl Client {
    /// Sends `content` to exactly one device of `handle` (or of this
    /// account), as a partial send.
    async fn send_to_device(
        &self,
        handle: &tidings_proto::Handle,
        device: DeviceId,
        content: &tidings_core::content::Content,
    ) -> Result<(), ClientError> {
        use base64::Engine;
        let ciphertexts = self.encrypt_for(&[device], &content.to_bytes()).await?;
        let payload = tidings_proto::api::DevicePayload {
            device,
            payload: base64::engine::general_purpose::STANDARD.encode(&ciphertexts[&device]),
        };
        let ours = self.credentials().handles.contains(handle);
        let req = tidings_proto::api::SendRequest {
            id: crate::client::new_message_id(),
            from: None,
            to: if ours {
                Vec::new()
            } else {
                vec![tidings_proto::api::RecipientPayloads {
                    handle: handle.to_string(),
                    devices: vec![payload.clone()],
                }]
            },
            own: if ours { vec![payload] } else { Vec::new() },
            ephemeral: false,
            partial: true,
            sms: Vec::new(),
            no_sms_fallback: false,
        };
        self.api().send(&req).await?;
        Ok(())
    }

    /// Asks the device that sent message `id` to send it again, over a new
    /// session (the old one is what failed).
    pub(crate) async fn request_resend(
        &self,
        sender: &tidings_proto::stream::Sender,
        id: &str,
    ) -> Result<(), ClientError> {
        // Forget the broken sessions so that a fresh one is started.
        self.local().delete_olm_sessions(sender.device)?;
        let content = tidings_core::content::Content::Retry { id: id.to_string() };
        self.send_to_device(&sender.handle, sender.device, &content)
            .await
    }

    /// Answers a re-send request: sends our stored copy of message `id` to
    /// the device that asked, if we wrote it.
    pub(crate) async fn resend(
        &self,
        asker: &tidings_proto::stream::Sender,
        id: &str,
    ) -> Result<(), ClientError> {
        let me = self.credentials().account;
        let Some(conv) = self.local().conversation_of(me, id)? else {
            return Ok(()); // Not ours, or forgotten: nothing to send.
        };
        let Some(m) = self
            .local()
            .messages(&conv)?
            .into_iter()
            .find(|m| m.author_account == me && m.id == id && m.kind == "text")
        else {
            return Ok(());
        };
        // Only a device that was sent the message may ask for it again.
        let allowed = asker.account == me
            || match conv.strip_prefix("group:") {
                Some(_) => self
                    .local()
                    .conversation_members(&conv)?
                    .unwrap_or_default()
                    .contains(&asker.handle.to_string()),
                None => {
                    // The peer's own handle, or another handle of the same
                    // account (the directory may have shown the peer's
                    // account under a stand-in id before it wrote).
                    let peer = Client::parse_handle(&conv)?;
                    asker.handle == peer
                        || self
                            .local()
                            .cached_devices(&peer)?
                            .is_some_and(|(account, _)| account == asker.account)
                        || self.local().account_wrote_in(&conv, asker.account)?
                }
            };
        if !allowed {
            tracing::warn!(
                device = %asker.device,
                "refused a re-send request from a device that was not a recipient"
            );
            return Ok(());
        }
        let (group, to) = match conv.strip_prefix("group:") {
            Some(_) => {
                let state = self
                    .group_state(&conv)?
                    .ok_or_else(|| ClientError::Usage(format!("no conversation {conv}")))?;
                (Some(state.snapshot()), Vec::new())
            }
            None => (None, vec![Client::parse_handle(&conv)?]),
        };
        let reply_to = m
            .reply_to
            .as_ref()
            .map(|q| tidings_core::content::MessageRef {
                account: q.account,
                id: q.id.clone(),
            });
        let content = tidings_core::content::Content::Text {
            reply_to,
            from_name: self.local().setting(crate::client::DISPLAY_NAME)?,
            handles: self.linked_handles()?,
            photo: self.own_photo()?,
            body: m.body,
            sent_at: m.sent_at,
            group,
            to,
            attachments: self.local().attachment_pointers(me, id)?,
            resend_of: Some(id.to_string()),
        };
        tracing::info!(
            device = %asker.device,
            "re-sending a message the device could not decrypt"
        );
        self.send_to_device(&asker.handle, asker.device, &content)
            .await
    }
}
