//! An account's devices: listing and removal.

use tidings_proto::ErrorCode;

use tidings_proto::api::{DeviceId, DeviceInfo};

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::App;

/// `GET /v1/devices`: this account's devices.
pub async fn list(app: &App, who: Authed) -> Result<Vec<DeviceInfo>, ApiError> {
    Ok(app.store.devices(who.account).await?)
}

/// `DELETE /v1/devices/{id}`: removes a device of this account; its token
/// stops working at once, its stream is closed and its queue dropped.
pub async fn remove(app: &App, who: Authed, id: DeviceId) -> Result<(), ApiError> {
    if !app.store.remove_device(who.account, id).await? {
        return Err(ApiError::NotFound(format!(
            "this account has no device {id}; see `tidings devices`"
        )));
    }
    app.hub.kick(id, ErrorCode::DeviceRemoved);
    tracing::info!(account = %who.account, device = %id, "device removed");
    Ok(())
}
