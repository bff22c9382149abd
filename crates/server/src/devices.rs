//! An account's devices: listing and removal.

use std::sync::Arc;
use tidings_proto::ErrorCode;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::{DeviceId, DeviceInfo};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::App;

/// `GET /v1/devices`: this account's devices.
pub async fn list(
    State(app): State<Arc<App>>,
    who: Authed,
) -> Result<Json<Vec<DeviceInfo>>, ApiError> {
    Ok(Json(app.store.devices(who.account).await?))
}

/// `DELETE /v1/devices/{id}`: removes a device of this account; its token
/// stops working at once, its stream is closed and its queue dropped.
pub async fn remove(
    State(app): State<Arc<App>>,
    who: Authed,
    Path(id): Path<DeviceId>,
) -> Result<StatusCode, ApiError> {
    if !app.store.remove_device(who.account, id).await? {
        return Err(ApiError::NotFound(format!(
            "this account has no device {id}; see `tidings devices`"
        )));
    }
    app.hub.kick(id, ErrorCode::DeviceRemoved);
    tracing::info!(account = %who.account, device = %id, "device removed");
    Ok(StatusCode::NO_CONTENT)
}
