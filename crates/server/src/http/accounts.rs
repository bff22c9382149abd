//! Codes, registration, login, the account and its handles: thin handlers over [`crate::service::accounts`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::{
    AccountInfo, AddHandleRequest, CodeRequest, CodeSent, DeviceCredentials, LoginRequest,
    RegisterRequest,
};
use tidings_proto::Handle;

use crate::error::ApiError;
use crate::service::accounts;
use crate::service::address::ClientAddr;
use crate::service::auth::Authed;
use crate::App;

/// `POST /v1/codes`: sends a fresh code to a phone number or address.
pub async fn send_code(
    State(app): State<Arc<App>>,
    ClientAddr(ip): ClientAddr,
    Json(req): Json<CodeRequest>,
) -> Result<(StatusCode, Json<CodeSent>), ApiError> {
    accounts::send_code(&app, ip, req)
        .await
        .map(|r| (StatusCode::ACCEPTED, Json(r)))
}

/// `POST /v1/accounts`: creates an account from a proven handle.
pub async fn register(
    State(app): State<Arc<App>>,
    ClientAddr(ip): ClientAddr,
    Json(req): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<DeviceCredentials>), ApiError> {
    accounts::register(&app, ip, req)
        .await
        .map(|r| (StatusCode::CREATED, Json(r)))
}

/// `POST /v1/devices`: adds a device to the account that owns a handle.
pub async fn login(
    State(app): State<Arc<App>>,
    ClientAddr(ip): ClientAddr,
    Json(req): Json<LoginRequest>,
) -> Result<(StatusCode, Json<DeviceCredentials>), ApiError> {
    accounts::login(&app, ip, req)
        .await
        .map(|r| (StatusCode::CREATED, Json(r)))
}

/// `GET /v1/account`: who this device is.
pub async fn me(State(app): State<Arc<App>>, who: Authed) -> Result<Json<AccountInfo>, ApiError> {
    accounts::me(&app, who).await.map(Json)
}

/// `PUT /v1/account`: the settings the server keeps for the account (who
/// may see that its handles are one account).
pub async fn set_settings(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<tidings_proto::api::AccountSettings>,
) -> Result<Json<AccountInfo>, ApiError> {
    accounts::set_settings(&app, who, req).await.map(Json)
}

/// `GET /v1/handles`: the account's handles.
pub async fn handles(
    State(app): State<Arc<App>>,
    who: Authed,
) -> Result<Json<Vec<Handle>>, ApiError> {
    accounts::handles(&app, who).await.map(Json)
}

/// `POST /v1/handles`: adds a handle proven by a code.
pub async fn add_handle(
    State(app): State<Arc<App>>,
    ClientAddr(ip): ClientAddr,
    who: Authed,
    Json(req): Json<AddHandleRequest>,
) -> Result<Json<Vec<Handle>>, ApiError> {
    accounts::add_handle(&app, ip, who, req).await.map(Json)
}

/// `DELETE /v1/handles/{handle}`: unbinds a handle from this account at
/// once; messages waiting for it go back to their senders to be re-sent as
/// SMS.
pub async fn remove_handle(
    State(app): State<Arc<App>>,
    who: Authed,
    Path(text): Path<String>,
) -> Result<Json<Vec<Handle>>, ApiError> {
    accounts::remove_handle(&app, who, text).await.map(Json)
}

/// `DELETE /v1/account`: deletes the account with all its handles, devices,
/// queues and attachments.
pub async fn delete_account(
    State(app): State<Arc<App>>,
    who: Authed,
) -> Result<StatusCode, ApiError> {
    accounts::delete_account(&app, who)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}
