//! Prekeys for end-to-end encryption: devices publish their identity keys
//! and signed one-time keys; senders claim one key per recipient device to
//! open an Olm session.
//!
//! The server cannot forge keys: every one-time and fallback key is signed
//! by the device's Ed25519 identity key, which clients check. Identity keys
//! are set once per device and never replaced (a new identity is a new
//! device). Claims are rate-limited because each one consumes a key.

use tidings_proto::ErrorCode;

use tidings_proto::api::{
    AccountId, ClaimResponse, DeviceId, DevicesRequest, IdentitiesResponse, KeyCount, UploadKeys,
    MAX_KEYS_PER_UPLOAD,
};

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::store::KeysOutcome;
use crate::App;

/// Longest base64 text accepted for a key or signature.
pub const MAX_KEY_TEXT: usize = 128;

fn check_text(what: &str, s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > MAX_KEY_TEXT {
        return Err(ApiError::BadRequest(format!(
            "{what} must be 1 to {MAX_KEY_TEXT} characters"
        )));
    }
    Ok(())
}

/// `POST /v1/keys`: publishes identity keys and prekeys of this device.
pub async fn upload(app: &App, who: Authed, req: UploadKeys) -> Result<KeyCount, ApiError> {
    if req.one_time_keys.len() > MAX_KEYS_PER_UPLOAD {
        return Err(ApiError::limit(
            ErrorCode::TooManyKeys,
            format!("at most {MAX_KEYS_PER_UPLOAD} one-time keys per upload"),
        ));
    }
    check_text("identity key", &req.identity.curve25519)?;
    check_text("signing key", &req.identity.ed25519)?;
    for k in req.one_time_keys.iter().chain(req.fallback.iter()) {
        check_text("key id", &k.id)?;
        check_text("key", &k.key)?;
        check_text("signature", &k.signature)?;
    }
    let outcome = app
        .store
        .put_keys(
            who.device,
            req.identity,
            req.one_time_keys,
            req.fallback,
            app.config.limits.max_one_time_keys_per_device,
        )
        .await?;
    match outcome {
        KeysOutcome::Stored(n) => Ok(KeyCount { one_time_keys: n }),
        KeysOutcome::IdentityMismatch => Err(ApiError::Conflict(
            "this device already published other identity keys; a new identity needs a new device (`tidings login`)".into(),
        )),
        KeysOutcome::TooMany => Err(ApiError::limit(
            ErrorCode::TooManyKeys,
            format!(
                "the server holds at most {} one-time keys per device (max_one_time_keys_per_device)",
                app.config.limits.max_one_time_keys_per_device
            ),
        )),
    }
}

/// `GET /v1/keys`: how many one-time keys are left for this device.
pub async fn count(app: &App, who: Authed) -> Result<KeyCount, ApiError> {
    Ok(KeyCount {
        one_time_keys: app.store.count_keys(who.device).await?,
    })
}

fn check_devices(app: &App, req: &DevicesRequest) -> Result<(), ApiError> {
    let max = (app.config.limits.max_recipients + 1) * app.config.limits.max_devices;
    if req.devices.len() > max {
        return Err(ApiError::limit(
            ErrorCode::TooManyDevices,
            format!("at most {max} devices per request"),
        ));
    }
    Ok(())
}

/// Refuses a claim that names a device twice: each mention would take
/// another of its keys, and no client needs two sessions at once.
pub fn check_distinct(devices: &[DeviceId]) -> Result<(), ApiError> {
    let mut seen = std::collections::BTreeSet::new();
    for d in devices {
        if !seen.insert(*d) {
            return Err(ApiError::BadRequest(format!(
                "device {d} is named twice; a claim takes one key per device"
            )));
        }
    }
    Ok(())
}

/// The limiter key of claims by `requester` from `device`.
pub fn target_key(requester: AccountId, device: DeviceId) -> String {
    format!("{requester}>{device}")
}

/// `POST /v1/keys/claim`: one prekey per device, each handed out once.
/// Claims are limited per requesting account and, so that no one account
/// can drain a device, per requester and target device.
pub async fn claim(app: &App, who: Authed, req: DevicesRequest) -> Result<ClaimResponse, ApiError> {
    check_devices(app, &req)?;
    check_distinct(&req.devices)?;
    let now = app.now();
    let limited = |name: &str, l: crate::service::ratelimit::Limited| ApiError::Limit {
        code: ErrorCode::RateLimited,
        message: format!(
            "too many key claims ({name}); try again in {} s",
            l.retry_after_secs
        ),
        retry_after_secs: Some(l.retry_after_secs),
    };
    for device in &req.devices {
        app.limits
            .claims_per_target
            .hit(&target_key(who.account, *device), now)
            .await
            .map_err(|l| limited(app.limits.claims_per_target.name(), l))?;
    }
    let key = who.account.to_string();
    for _ in &req.devices {
        app.limits
            .claims
            .hit(&key, now)
            .await
            .map_err(|l| limited(app.limits.claims.name(), l))?;
    }
    let (keys, woken) = app
        .store
        .claim_keys(
            &req.devices,
            app.config.limits.one_time_keys_low,
            now,
            app.ttl_ms(),
        )
        .await?;
    if !woken.is_empty() {
        tracing::info!(devices = woken.len(), "one-time keys ran low; owners told");
        app.hub.wake(&woken);
    }
    Ok(ClaimResponse { keys })
}

/// `POST /v1/keys/identities`: identity keys of devices, consuming nothing.
pub async fn identities(
    app: &App,
    _who: Authed,
    req: DevicesRequest,
) -> Result<IdentitiesResponse, ApiError> {
    check_devices(app, &req)?;
    Ok(IdentitiesResponse {
        identities: app.store.identities(&req.devices).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u32) -> DeviceId {
        DeviceId::from(n)
    }

    #[test]
    fn duplicate_devices_are_refused() {
        assert!(check_distinct(&[d(1), d(2), d(3)]).is_ok());
        assert!(check_distinct(&[]).is_ok());
        let err = check_distinct(&[d(4), d(5), d(4)]).expect_err("duplicate");
        assert!(
            matches!(err, ApiError::BadRequest(ref m) if m.contains("device 4")),
            "{err}"
        );
    }

    #[test]
    fn claims_are_counted_per_requester_and_target() {
        assert_ne!(
            target_key(AccountId::from(1u32), d(23)),
            target_key(AccountId::from(12u32), d(3))
        );
        assert_ne!(
            target_key(AccountId::from(1u32), d(2)),
            target_key(AccountId::from(2u32), d(1))
        );
    }
}
