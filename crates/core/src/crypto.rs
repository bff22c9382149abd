//! End-to-end encryption with Olm (vodozemac): one pairwise session per
//! pair of devices.
//!
//! A device owns an [`Olm`] account: a Curve25519 identity key, an Ed25519
//! signing key, signed one-time keys and a signed fallback key, which it
//! uploads. A sender claims one of the recipient device's one-time keys
//! (or its fallback key) from the server, checks its signature, opens an
//! outbound session and sends a pre-key message; the recipient opens the
//! matching inbound session from it. After that both sides ratchet.
//!
//! State leaves this module only as pickles encrypted with the caller's
//! 32-byte pickle key.

use base64::Engine;
use serde::{Deserialize, Serialize};
use tidings_proto::DeviceId;
use vodozemac::olm::{
    Account, AccountPickle, OlmMessage, PreKeyMessage, Session, SessionConfig, SessionPickle,
};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature};

/// Most sessions kept per peer device; the oldest is dropped beyond it.
pub const MAX_SESSIONS_PER_DEVICE: usize = 4;
/// One-time keys a device tries to keep published on the server.
pub const ONE_TIME_KEY_TARGET: usize = 50;
/// Largest encrypted payload accepted for decryption, in bytes.
pub const MAX_CIPHERTEXT_BYTES: usize = 256 * 1024;
/// Version of the encrypted payload format.
pub const PAYLOAD_VERSION: u8 = 1;

/// Why encryption or decryption failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A key from the server or a peer does not parse.
    #[error("invalid key: {0}")]
    BadKey(String),
    /// A one-time or fallback key is not signed by the device's identity.
    #[error("a key of device {0} is not signed by its identity key; refusing to use it")]
    BadSignature(DeviceId),
    /// A stored pickle cannot be opened (wrong pickle key or corruption).
    #[error("cannot open stored encryption state: {0}")]
    Pickle(String),
    /// The payload is not an encrypted message of ours.
    #[error("malformed encrypted payload: {0}")]
    Malformed(String),
    /// No session can decrypt the message.
    #[error("cannot decrypt a message from device {device}: {reason}")]
    Undecryptable {
        /// The sending device.
        device: DeviceId,
        /// What failed.
        reason: String,
    },
    /// There is no session and no claimed key to start one.
    #[error("no session with device {0} and no key to start one")]
    NoSession(DeviceId),
}

pub use tidings_proto::api::{IdentityKeys, SignedKey};

/// What is signed for a one-time or fallback key: the purpose and the key,
/// so a signature cannot be replayed for anything else.
pub fn signed_text(key: &str) -> String {
    format!("tidings-prekey-v1:{key}")
}

/// The encrypted form of a payload, as carried in an envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Encrypted {
    /// Format version.
    pub v: u8,
    /// Olm message type: 0 pre-key, 1 normal.
    pub t: u8,
    /// The Olm ciphertext, base64.
    pub c: String,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Parses a Curve25519 public key.
pub fn curve_key(text: &str) -> Result<Curve25519PublicKey, CryptoError> {
    Curve25519PublicKey::from_base64(text).map_err(|e| CryptoError::BadKey(e.to_string()))
}

/// Checks that `key` is signed by the Ed25519 identity `ed25519`.
pub fn verify_signed_key(
    ed25519: &str,
    key: &SignedKey,
    device: DeviceId,
) -> Result<(), CryptoError> {
    let signer =
        Ed25519PublicKey::from_base64(ed25519).map_err(|e| CryptoError::BadKey(e.to_string()))?;
    let signature = Ed25519Signature::from_base64(&key.signature)
        .map_err(|_| CryptoError::BadSignature(device))?;
    signer
        .verify(signed_text(&key.key).as_bytes(), &signature)
        .map_err(|_| CryptoError::BadSignature(device))
}

/// A device's Olm account.
pub struct Olm {
    account: Account,
}

impl Default for Olm {
    fn default() -> Self {
        Self::new()
    }
}

impl Olm {
    /// A new account with fresh identity keys.
    pub fn new() -> Olm {
        Olm {
            account: Account::new(),
        }
    }

    /// Opens an account pickled by [`Olm::pickle`].
    pub fn unpickle(pickle: &str, pickle_key: &[u8; 32]) -> Result<Olm, CryptoError> {
        let p = AccountPickle::from_encrypted(pickle, pickle_key)
            .map_err(|e| CryptoError::Pickle(e.to_string()))?;
        Ok(Olm {
            account: Account::from_pickle(p),
        })
    }

    /// The account as an encrypted pickle.
    pub fn pickle(&self, pickle_key: &[u8; 32]) -> String {
        self.account.pickle().encrypt(pickle_key)
    }

    /// The public identity keys.
    pub fn identity(&self) -> IdentityKeys {
        let keys = self.account.identity_keys();
        IdentityKeys {
            curve25519: keys.curve25519.to_base64(),
            ed25519: keys.ed25519.to_base64(),
        }
    }

    fn sign_key(&self, id: String, key: &Curve25519PublicKey) -> SignedKey {
        let key = key.to_base64();
        SignedKey {
            signature: self.account.sign(signed_text(&key).as_bytes()).to_base64(),
            id,
            key,
        }
    }

    /// Generates `count` one-time keys, marks them published and returns
    /// them signed, for upload.
    pub fn new_one_time_keys(&mut self, count: usize) -> Vec<SignedKey> {
        let count = count.min(self.account.max_number_of_one_time_keys());
        self.account.generate_one_time_keys(count);
        let keys: Vec<SignedKey> = self
            .account
            .one_time_keys()
            .iter()
            .map(|(id, key)| self.sign_key(id.to_base64(), key))
            .collect();
        self.account.mark_keys_as_published();
        keys
    }

    /// Generates a new fallback key (used when one-time keys run out) and
    /// returns it signed.
    pub fn new_fallback_key(&mut self) -> SignedKey {
        self.account.generate_fallback_key();
        let (id, key) = self
            .account
            .fallback_key()
            .into_iter()
            .next()
            .expect("a fallback key was just generated");
        let signed = self.sign_key(id.to_base64(), &key);
        self.account.mark_keys_as_published();
        signed
    }

    /// Encrypts for a peer device: with the newest session in `sessions`,
    /// or, when there is none, with a new outbound session started from the
    /// claimed `prekey` (whose signature must already be verified).
    pub fn encrypt(
        &self,
        device: DeviceId,
        sessions: &mut Sessions,
        prekey: Option<(&str, &str)>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if sessions.sessions.is_empty() {
            let (identity, one_time) = prekey.ok_or(CryptoError::NoSession(device))?;
            let session = self
                .account
                .create_outbound_session(
                    SessionConfig::version_1(),
                    curve_key(identity)?,
                    curve_key(one_time)?,
                )
                .map_err(|e| CryptoError::BadKey(e.to_string()))?;
            sessions.push(session);
        }
        let session = sessions.sessions.first_mut().expect("a session exists now");
        let message = session
            .encrypt(plaintext)
            .map_err(|e| CryptoError::Malformed(e.to_string()))?;
        let (t, bytes) = message.to_parts();
        let encrypted = Encrypted {
            v: PAYLOAD_VERSION,
            t: t as u8,
            c: b64().encode(bytes),
        };
        Ok(serde_json::to_vec(&encrypted).expect("encrypted payloads always serialise"))
    }

    /// Decrypts a payload from a peer device. `expected_identity`, when
    /// known, is the sender device's Curve25519 key as published; a pre-key
    /// message claiming another identity is refused. Returns the plaintext
    /// and the identity key the session is bound to.
    pub fn decrypt(
        &mut self,
        device: DeviceId,
        sessions: &mut Sessions,
        expected_identity: Option<&str>,
        payload: &[u8],
    ) -> Result<(Vec<u8>, String), CryptoError> {
        let undecryptable = |reason: String| CryptoError::Undecryptable { device, reason };
        if payload.len() > MAX_CIPHERTEXT_BYTES {
            return Err(CryptoError::Malformed(format!(
                "larger than {MAX_CIPHERTEXT_BYTES} bytes"
            )));
        }
        let enc: Encrypted =
            serde_json::from_slice(payload).map_err(|e| CryptoError::Malformed(e.to_string()))?;
        if enc.v != PAYLOAD_VERSION {
            return Err(CryptoError::Malformed(format!("unknown version {}", enc.v)));
        }
        let bytes = b64()
            .decode(&enc.c)
            .map_err(|e| CryptoError::Malformed(e.to_string()))?;
        let message = OlmMessage::from_parts(enc.t as usize, &bytes)
            .map_err(|e| CryptoError::Malformed(e.to_string()))?;
        // Existing sessions first (a pre-key message may belong to one).
        for i in 0..sessions.sessions.len() {
            if let OlmMessage::PreKey(pre) = &message {
                if pre.session_id() != sessions.sessions[i].session_id() {
                    continue;
                }
            }
            if let Ok(plain) = sessions.sessions[i].decrypt(&message) {
                let identity = sessions.sessions[i].session_keys().identity_key.to_base64();
                sessions.promote(i);
                return Ok((plain, identity));
            }
        }
        let OlmMessage::PreKey(pre) = message else {
            return Err(undecryptable("no session matches this message".into()));
        };
        self.inbound(device, sessions, expected_identity, &pre)
    }

    fn inbound(
        &mut self,
        device: DeviceId,
        sessions: &mut Sessions,
        expected_identity: Option<&str>,
        pre: &PreKeyMessage,
    ) -> Result<(Vec<u8>, String), CryptoError> {
        let claimed = pre.identity_key();
        if let Some(expected) = expected_identity {
            if curve_key(expected)? != claimed {
                return Err(CryptoError::Undecryptable {
                    device,
                    reason: "the message's identity key is not the device's published key".into(),
                });
            }
        }
        let result = self
            .account
            .create_inbound_session(SessionConfig::version_1(), claimed, pre)
            .map_err(|e| CryptoError::Undecryptable {
                device,
                reason: e.to_string(),
            })?;
        sessions.push(result.session);
        Ok((result.plaintext, claimed.to_base64()))
    }
}

/// The sessions with one peer device, newest first.
#[derive(Default)]
pub struct Sessions {
    sessions: Vec<Session>,
}

impl Sessions {
    /// No sessions yet.
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// Opens sessions pickled by [`Sessions::pickle`].
    pub fn unpickle(pickle: &str, pickle_key: &[u8; 32]) -> Result<Sessions, CryptoError> {
        let list: Vec<String> =
            serde_json::from_str(pickle).map_err(|e| CryptoError::Pickle(e.to_string()))?;
        let sessions = list
            .iter()
            .take(MAX_SESSIONS_PER_DEVICE)
            .map(|p| {
                SessionPickle::from_encrypted(p, pickle_key)
                    .map(Session::from_pickle)
                    .map_err(|e| CryptoError::Pickle(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Sessions { sessions })
    }

    /// The sessions as one encrypted pickle.
    pub fn pickle(&self, pickle_key: &[u8; 32]) -> String {
        let list: Vec<String> = self
            .sessions
            .iter()
            .map(|s| s.pickle().encrypt(pickle_key))
            .collect();
        serde_json::to_string(&list).expect("a list of strings serialises")
    }

    /// True when there is no session.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// How many sessions there are.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    fn push(&mut self, session: Session) {
        self.sessions.insert(0, session);
        self.sessions.truncate(MAX_SESSIONS_PER_DEVICE);
    }

    fn promote(&mut self, i: usize) {
        let s = self.sessions.remove(i);
        self.sessions.insert(0, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn claim(bob: &mut Olm) -> (IdentityKeys, SignedKey) {
        let keys = bob.new_one_time_keys(1);
        (bob.identity(), keys[0].clone())
    }

    #[test]
    fn round_trip_and_ratchet_both_ways() {
        let alice = Olm::new();
        let mut bob = Olm::new();
        let (bob_id, otk) = claim(&mut bob);
        verify_signed_key(&bob_id.ed25519, &otk, DeviceId::from(2u32)).expect("signed by bob");
        let mut a_sessions = Sessions::new();
        let mut b_sessions = Sessions::new();
        let c1 = alice
            .encrypt(
                DeviceId::from(2u32),
                &mut a_sessions,
                Some((&bob_id.curve25519, &otk.key)),
                b"hello bob",
            )
            .expect("encrypts");
        assert!(!String::from_utf8_lossy(&c1).contains("hello"));
        let (p1, who) = bob
            .decrypt(
                DeviceId::from(1u32),
                &mut b_sessions,
                Some(&alice.identity().curve25519),
                &c1,
            )
            .expect("decrypts");
        assert_eq!(p1, b"hello bob");
        assert_eq!(who, alice.identity().curve25519);
        let mut bob_alice = Olm::unpickle(&bob.pickle(&KEY), &KEY).expect("unpickles");
        let mut b_sessions = Sessions::unpickle(&b_sessions.pickle(&KEY), &KEY).expect("unpickles");
        let reply = bob_alice
            .encrypt(DeviceId::from(1u32), &mut b_sessions, None, b"hi alice")
            .expect("encrypts");
        let mut alice = alice;
        let (p2, _) = alice
            .decrypt(DeviceId::from(2u32), &mut a_sessions, None, &reply)
            .expect("decrypts");
        assert_eq!(p2, b"hi alice");
        // The one-time key is used up: a replayed pre-key message opens nothing new.
        let mut fresh = Sessions::new();
        assert!(bob_alice
            .decrypt(DeviceId::from(1u32), &mut fresh, None, &c1)
            .is_err());
    }

    #[test]
    fn forged_signatures_and_identities_are_refused() {
        let mut bob = Olm::new();
        let mallory = Olm::new();
        let (bob_id, mut otk) = claim(&mut bob);
        otk.signature = mallory
            .sign_key("x".into(), &curve_key(&otk.key).expect("key"))
            .signature;
        assert!(matches!(
            verify_signed_key(&bob_id.ed25519, &otk, DeviceId::from(2u32)),
            Err(CryptoError::BadSignature(d)) if d == DeviceId::from(2u32)
        ));
        let alice = Olm::new();
        let (_, otk) = claim(&mut bob);
        let c = alice
            .encrypt(
                DeviceId::from(2u32),
                &mut Sessions::new(),
                Some((&bob_id.curve25519, &otk.key)),
                b"x",
            )
            .expect("encrypts");
        let err = bob
            .decrypt(
                DeviceId::from(1u32),
                &mut Sessions::new(),
                Some(&mallory.identity().curve25519),
                &c,
            )
            .expect_err("identity mismatch");
        assert!(matches!(err, CryptoError::Undecryptable { .. }));
        assert!(bob
            .decrypt(
                DeviceId::from(1u32),
                &mut Sessions::new(),
                None,
                b"{\"v\":9,\"t\":0,\"c\":\"\"}"
            )
            .is_err());
        assert!(Olm::unpickle(&bob.pickle(&KEY), &[8; 32]).is_err());
    }

    #[test]
    fn fallback_key_starts_sessions_when_one_time_keys_run_out() {
        let alice = Olm::new();
        let carol = Olm::new();
        let mut bob = Olm::new();
        let fb = bob.new_fallback_key();
        verify_signed_key(&bob.identity().ed25519, &fb, DeviceId::from(2u32)).expect("signed");
        for sender in [&alice, &carol] {
            let c = sender
                .encrypt(
                    DeviceId::from(2u32),
                    &mut Sessions::new(),
                    Some((&bob.identity().curve25519, &fb.key)),
                    b"via fallback",
                )
                .expect("encrypts");
            let (p, _) = bob
                .decrypt(DeviceId::from(1u32), &mut Sessions::new(), None, &c)
                .expect("decrypts");
            assert_eq!(p, b"via fallback");
        }
    }

    #[test]
    fn sessions_per_device_are_bounded() {
        let mut bob = Olm::new();
        let alice = Olm::new();
        let mut sessions = Sessions::new();
        for _ in 0..MAX_SESSIONS_PER_DEVICE + 2 {
            let (id, otk) = claim(&mut bob);
            let mut s = Sessions::new();
            let c = alice
                .encrypt(
                    DeviceId::from(2u32),
                    &mut s,
                    Some((&id.curve25519, &otk.key)),
                    b"x",
                )
                .expect("encrypts");
            bob.decrypt(DeviceId::from(1u32), &mut sessions, None, &c)
                .expect("decrypts");
        }
        assert_eq!(sessions.len(), MAX_SESSIONS_PER_DEVICE);
    }
}
