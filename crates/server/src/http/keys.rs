//! Prekeys: upload, count, claim, identities: thin handlers over [`crate::service::keys`].

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use tidings_proto::api::{ClaimResponse, DevicesRequest, IdentitiesResponse, KeyCount, UploadKeys};

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::service::keys;
use crate::App;

/// `POST /v1/keys`: publishes identity keys and prekeys of this device.
pub async fn upload(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<UploadKeys>,
) -> Result<Json<KeyCount>, ApiError> {
    keys::upload(&app, who, req).await.map(Json)
}

/// `GET /v1/keys`: how many one-time keys are left for this device.
pub async fn count(State(app): State<Arc<App>>, who: Authed) -> Result<Json<KeyCount>, ApiError> {
    keys::count(&app, who).await.map(Json)
}

/// `POST /v1/keys/claim`: one prekey per device, each handed out once.
/// Claims are limited per requesting account and, so that no one account
/// can drain a device, per requester and target device.
pub async fn claim(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<DevicesRequest>,
) -> Result<Json<ClaimResponse>, ApiError> {
    keys::claim(&app, who, req).await.map(Json)
}

/// `POST /v1/keys/identities`: identity keys of devices, consuming nothing.
pub async fn identities(
    State(app): State<Arc<App>>,
    _who: Authed,
    Json(req): Json<DevicesRequest>,
) -> Result<Json<IdentitiesResponse>, ApiError> {
    keys::identities(&app, _who, req).await.map(Json)
}
