//! Attachment uploads and downloads: thin handlers over [`crate::service::blobs`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::{BlobCreate, BlobInfo};

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::service::blobs;
use crate::App;

/// `POST /v1/blobs`: starts an upload.
pub async fn create(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<BlobCreate>,
) -> Result<(StatusCode, Json<BlobInfo>), ApiError> {
    blobs::create(&app, who, req)
        .await
        .map(|r| (StatusCode::CREATED, Json(r)))
}

/// `GET /v1/blobs/{id}`: upload progress (for the uploading device).
pub async fn status(
    State(app): State<Arc<App>>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<BlobInfo>, ApiError> {
    blobs::status(&app, who, id).await.map(Json)
}

/// `PUT /v1/blobs/{id}/{index}`: stores one chunk (idempotent).
pub async fn put_chunk(
    State(app): State<Arc<App>>,
    who: Authed,
    Path((id, index)): Path<(String, u64)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    blobs::put_chunk(&app, who, (id, index), body)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}

/// `POST /v1/blobs/{id}/complete`: finishes an upload.
pub async fn complete(
    State(app): State<Arc<App>>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<BlobInfo>, ApiError> {
    blobs::complete(&app, who, id).await.map(Json)
}

/// `GET /v1/blobs/{id}/{index}`: downloads one chunk of a complete blob.
pub async fn get_chunk(
    State(app): State<Arc<App>>,
    _who: Authed,
    Path((id, index)): Path<(String, u64)>,
) -> Result<Bytes, ApiError> {
    blobs::get_chunk(&app, _who, (id, index)).await
}
