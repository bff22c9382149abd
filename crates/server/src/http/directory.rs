//! Handle lookups: thin handlers over [`crate::service::directory`].

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use tidings_proto::api::{DirectoryRequest, DirectoryResponse};

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::service::directory;
use crate::App;

/// `POST /v1/directory`: devices of each handle that is on Tidings.
pub async fn lookup(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<DirectoryRequest>,
) -> Result<Json<DirectoryResponse>, ApiError> {
    directory::lookup(&app, who, req).await.map(Json)
}
