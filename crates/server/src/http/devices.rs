//! The account's devices: thin handlers over [`crate::service::devices`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::DeviceInfo;
use tidings_proto::DeviceId;

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::service::devices;
use crate::App;

/// `GET /v1/devices`: this account's devices.
pub async fn list(
    State(app): State<Arc<App>>,
    who: Authed,
) -> Result<Json<Vec<DeviceInfo>>, ApiError> {
    devices::list(&app, who).await.map(Json)
}

/// `DELETE /v1/devices/{id}`: removes a device of this account; its token
/// stops working at once, its stream is closed and its queue dropped.
pub async fn remove(
    State(app): State<Arc<App>>,
    who: Authed,
    Path(id): Path<DeviceId>,
) -> Result<StatusCode, ApiError> {
    devices::remove(&app, who, id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}
