//! Device authentication: bearer tokens, stored hashed.
//!
//! A token is `DEVICE.SECRET` where SECRET is 32 random bytes in hex. The
//! server keeps only SHA-256(token): the secret has 256 bits of entropy, so
//! a slow password hash would add nothing, and a leaked database reveals no
//! usable credential. Comparison is constant-time.

use rand::RngCore;
use subtle::ConstantTimeEq;
use tidings_proto::api::{AccountId, DeviceId};

use crate::error::ApiError;
use crate::store::token_hash;
use crate::App;

/// An authenticated device, extracted from `Authorization: Bearer TOKEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authed {
    /// The device's account.
    pub account: AccountId,
    /// The device.
    pub device: DeviceId,
}

/// A fresh secret part of a token.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Checks a token against the store.
pub async fn verify(app: &App, token: &str) -> Result<Authed, ApiError> {
    if token.len() > 128 {
        return Err(ApiError::Unauthorized);
    }
    let device: DeviceId = token
        .split_once('.')
        .and_then(|(d, _)| d.parse().ok())
        .ok_or(ApiError::Unauthorized)?;
    let Some((account, stored)) = app.store.device_credential(device).await? else {
        return Err(ApiError::Unauthorized);
    };
    if !bool::from(stored.ct_eq(&token_hash(token))) {
        return Err(ApiError::Unauthorized);
    }
    Ok(Authed { account, device })
}
