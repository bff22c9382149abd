//! Attachment blobs: encrypted files uploaded in chunks, resumable, and
//! downloaded by whoever holds the (unguessable) blob id.
//!
//! The server only ever sees ciphertext: clients encrypt each file with a
//! fresh key and send the key inside the end-to-end encrypted message.
//! Bytes live in a [`BlobStore`] (a local directory by default); metadata
//! and upload progress live in the [`crate::Store`]. Blobs expire with the
//! envelope TTL (the messages that point at them expire then too), and
//! unfinished uploads after `incomplete_upload_hours`.

use std::path::PathBuf;
use std::sync::Arc;
use tidings_proto::ErrorCode;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rand::RngCore;
use tidings_proto::api::{BlobCreate, BlobInfo, BLOB_CHUNK_BYTES};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::store::BlobCreated;
use crate::App;

/// Why the blob store failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Disk or object store IO failed.
    #[error("blob storage failed: {0}")]
    Io(String),
}

/// Where blob bytes live: one object per chunk.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores (or replaces) one chunk.
    async fn put(&self, blob: &str, index: u64, bytes: Bytes) -> Result<(), BlobError>;
    /// Reads one chunk.
    async fn get(&self, blob: &str, index: u64) -> Result<Option<Bytes>, BlobError>;
    /// Deletes every chunk of a blob.
    async fn delete(&self, blob: &str) -> Result<(), BlobError>;
}

/// Blobs as files under a directory: `DIR/ID/INDEX`.
pub struct LocalBlobStore {
    dir: PathBuf,
}

impl LocalBlobStore {
    /// A store rooted at `dir` (created when needed).
    pub fn new(dir: PathBuf) -> Self {
        LocalBlobStore { dir }
    }

    fn path(&self, blob: &str, index: u64) -> PathBuf {
        self.dir.join(blob).join(format!("{index:08}"))
    }
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Io(e.to_string())
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, blob: &str, index: u64, bytes: Bytes) -> Result<(), BlobError> {
        let path = self.path(blob, index);
        let dir = path
            .parent()
            .expect("a chunk path has a parent")
            .to_path_buf();
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        let tmp = dir.join(format!("{index:08}.part"));
        let mut f = tokio::fs::File::create(&tmp).await.map_err(io)?;
        tokio::io::AsyncWriteExt::write_all(&mut f, &bytes)
            .await
            .map_err(io)?;
        f.sync_all().await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)
    }

    async fn get(&self, blob: &str, index: u64) -> Result<Option<Bytes>, BlobError> {
        match tokio::fs::read(self.path(blob, index)).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn delete(&self, blob: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_dir_all(self.dir.join(blob)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

/// Blobs in an S3-compatible object store (production): `blobs/ID/INDEX`.
pub struct S3BlobStore {
    store: Box<dyn object_store::ObjectStore>,
}

impl S3BlobStore {
    /// A store for the bucket and endpoint of the configuration.
    pub fn new(c: &crate::Config) -> Result<S3BlobStore, BlobError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&c.s3_bucket)
            .with_region(&c.s3_region)
            .with_access_key_id(&c.s3_access_key_id)
            .with_secret_access_key(&c.s3_secret_access_key)
            .with_allow_http(c.s3_allow_http);
        if !c.s3_endpoint.is_empty() {
            b = b.with_endpoint(&c.s3_endpoint);
        }
        let store = b
            .build()
            .map_err(|e| BlobError::Io(format!("S3 configuration: {e}")))?;
        Ok(S3BlobStore {
            store: Box::new(store),
        })
    }

    fn path(blob: &str, index: u64) -> object_store::path::Path {
        object_store::path::Path::from(format!("blobs/{blob}/{index:08}"))
    }
}

fn s3(e: object_store::Error) -> BlobError {
    BlobError::Io(e.to_string())
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, blob: &str, index: u64, bytes: Bytes) -> Result<(), BlobError> {
        use object_store::ObjectStoreExt;
        self.store
            .put(
                &Self::path(blob, index),
                object_store::PutPayload::from_bytes(bytes),
            )
            .await
            .map(|_| ())
            .map_err(s3)
    }

    async fn get(&self, blob: &str, index: u64) -> Result<Option<Bytes>, BlobError> {
        use object_store::ObjectStoreExt;
        match self.store.get(&Self::path(blob, index)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(s3)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3(e)),
        }
    }

    async fn delete(&self, blob: &str) -> Result<(), BlobError> {
        use futures_util::StreamExt;
        use object_store::ObjectStoreExt;
        let prefix = object_store::path::Path::from(format!("blobs/{blob}"));
        let mut listing = self.store.list(Some(&prefix));
        let mut paths = Vec::new();
        while let Some(meta) = listing.next().await {
            paths.push(meta.map_err(s3)?.location);
        }
        drop(listing);
        for p in paths {
            match self.store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(s3(e)),
            }
        }
        Ok(())
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        tracing::error!(error = %e, "blob storage failed");
        ApiError::Internal
    }
}

/// Largest ciphertext accepted for an attachment of `max_plain` bytes.
pub fn max_ciphertext(max_plain: u64) -> u64 {
    let chunk = BLOB_CHUNK_BYTES - 16;
    let chunks = max_plain / chunk + 1;
    max_plain + chunks * 16
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn info(id: &str, r: &crate::store::BlobRecord) -> BlobInfo {
    let missing = if r.complete {
        Vec::new()
    } else {
        (0..r.chunks)
            .filter(|i| r.received.binary_search(i).is_err())
            .collect()
    };
    BlobInfo {
        id: id.to_string(),
        size: r.size,
        chunk_bytes: BLOB_CHUNK_BYTES,
        chunks: r.chunks,
        missing,
        complete: r.complete,
    }
}

/// Checks the ciphertext size of a new upload. Zero bytes is an input
/// error (400 `bad_request`: even an empty file's ciphertext has its
/// authentication tag); over the limit for `max_plain` bytes of plaintext
/// is `attachment_too_large`.
pub fn check_size(size: u64, max_plain: u64) -> Result<(), ApiError> {
    if size == 0 {
        return Err(ApiError::BadRequest(
            "an attachment upload has at least one byte of ciphertext; this one has none".into(),
        ));
    }
    if size > max_ciphertext(max_plain) {
        return Err(ApiError::limit(
            ErrorCode::AttachmentTooLarge,
            format!("attachments may be at most {max_plain} bytes (max_attachment_bytes)"),
        ));
    }
    Ok(())
}

/// `POST /v1/blobs`: starts an upload.
pub async fn create(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<BlobCreate>,
) -> Result<(StatusCode, Json<BlobInfo>), ApiError> {
    check_size(req.size, app.config.max_attachment_bytes)?;
    // A banned account sends nothing, attachments included.
    crate::messages::refuse_if_banned(&app, who.account).await?;
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let id = hex::encode(raw);
    let chunks = req.size.div_ceil(BLOB_CHUNK_BYTES);
    let expires = app.now() + app.config.incomplete_upload_hours * 3_600_000;
    let outcome = app
        .store
        .create_blob(
            &id,
            who.account,
            who.device,
            req.size,
            chunks,
            expires,
            app.config.max_uploads_in_progress,
            app.config.max_storage_per_account,
        )
        .await?;
    match outcome {
        BlobCreated::Created => {}
        BlobCreated::TooManyUploads => {
            return Err(ApiError::limit(
                ErrorCode::TooManyUploads,
                format!(
                    "this device already has {} uploads in progress (max_uploads_in_progress); finish them first",
                    app.config.max_uploads_in_progress
                ),
            ))
        }
        BlobCreated::StorageFull => {
            return Err(ApiError::limit(
                ErrorCode::StorageFull,
                format!(
                    "this account's attachments would exceed {} bytes (max_storage_per_account); older ones expire after {} days",
                    app.config.max_storage_per_account, app.config.envelope_ttl_days
                ),
            ))
        }
    }
    let record = app.store.blob(&id).await?.ok_or(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(info(&id, &record))))
}

async fn owned(app: &App, who: Authed, id: &str) -> Result<crate::store::BlobRecord, ApiError> {
    if !valid_id(id) {
        return Err(ApiError::NotFound("no such attachment".into()));
    }
    match app.store.blob(id).await? {
        Some(r) if r.device == who.device => Ok(r),
        _ => Err(ApiError::NotFound("no such upload for this device".into())),
    }
}

/// `GET /v1/blobs/{id}`: upload progress (for the uploading device).
pub async fn status(
    State(app): State<Arc<App>>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<BlobInfo>, ApiError> {
    let r = owned(&app, who, &id).await?;
    Ok(Json(info(&id, &r)))
}

/// `PUT /v1/blobs/{id}/{index}`: stores one chunk (idempotent).
pub async fn put_chunk(
    State(app): State<Arc<App>>,
    who: Authed,
    Path((id, index)): Path<(String, u64)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let r = owned(&app, who, &id).await?;
    if r.complete {
        return Err(ApiError::Conflict("this upload is already complete".into()));
    }
    if index >= r.chunks {
        return Err(ApiError::BadRequest(format!(
            "chunk {index} is past the last chunk {}",
            r.chunks - 1
        )));
    }
    let expected = if index + 1 == r.chunks {
        r.size - index * BLOB_CHUNK_BYTES
    } else {
        BLOB_CHUNK_BYTES
    };
    if body.len() as u64 != expected {
        return Err(ApiError::BadRequest(format!(
            "chunk {index} must be {expected} bytes, got {}",
            body.len()
        )));
    }
    app.blobs.put(&id, index, body).await?;
    app.store.blob_chunk(&id, index).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/blobs/{id}/complete`: finishes an upload.
pub async fn complete(
    State(app): State<Arc<App>>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<BlobInfo>, ApiError> {
    owned(&app, who, &id).await?;
    let expires = app.now() + app.ttl_ms();
    if !app.store.complete_blob(&id, expires).await? {
        let r = owned(&app, who, &id).await?;
        let i = info(&id, &r);
        if !r.complete {
            return Err(ApiError::BadRequest(format!(
                "{} chunks are still missing; upload them first",
                i.missing.len()
            )));
        }
    }
    let r = owned(&app, who, &id).await?;
    Ok(Json(info(&id, &r)))
}

/// `GET /v1/blobs/{id}/{index}`: downloads one chunk of a complete blob.
pub async fn get_chunk(
    State(app): State<Arc<App>>,
    _who: Authed,
    Path((id, index)): Path<(String, u64)>,
) -> Result<Bytes, ApiError> {
    let gone = || ApiError::NotFound("no such attachment (it may have expired)".into());
    if !valid_id(&id) {
        return Err(gone());
    }
    let r = app.store.blob(&id).await?.ok_or_else(gone)?;
    if !r.complete || index >= r.chunks {
        return Err(gone());
    }
    app.blobs.get(&id, index).await?.ok_or_else(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_uploads_are_input_errors_and_big_ones_limits() {
        assert!(matches!(check_size(0, 100), Err(ApiError::BadRequest(_))));
        assert!(check_size(1, 100).is_ok());
        assert!(check_size(max_ciphertext(100), 100).is_ok());
        assert!(matches!(
            check_size(max_ciphertext(100) + 1, 100),
            Err(ApiError::Limit {
                code: ErrorCode::AttachmentTooLarge,
                ..
            })
        ));
    }
}
