//! Device authentication: bearer tokens, stored hashed.
//!
//! A token is `DEVICE.SECRET` where SECRET is 32 random bytes in hex. The
//! server keeps only SHA-256(token): the secret has 256 bits of entropy, so
//! a slow password hash would add nothing, and a leaked database reveals no
//! usable credential. Comparison is constant-time.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use tidings_proto::api::{AccountId, DeviceId};

use crate::error::ApiError;
use crate::store::Digest;
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

/// The full token of a device.
pub fn token(device: DeviceId, secret: &str) -> String {
    format!("{device}.{secret}")
}

/// The stored hash of a token.
pub fn token_hash(token: &str) -> Digest {
    Sha256::digest(token.as_bytes()).into()
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

impl FromRequestParts<Arc<App>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or(ApiError::Unauthorized)?;
        verify(app, token.trim()).await
    }
}
