//! Attachment blobs: encrypted files uploaded in chunks, resumable, and
//! downloaded by whoever holds the (unguessable) blob id.
//!
//! The server only ever sees ciphertext: clients encrypt each file with a
//! fresh key and send the key inside the end-to-end encrypted message.
//! Bytes live in a [`BlobStore`] (a local directory by default); metadata
//! and upload progress live in the [`crate::Store`]. Blobs expire with the
//! envelope TTL (the messages that point at them expire then too), and
//! unfinished uploads after `incomplete_upload_hours`.

use axum::body::Bytes;
use rand::RngCore;
use tidings_proto::api::{BlobCreate, BlobInfo, BLOB_CHUNK_BYTES};
use tidings_proto::ErrorCode;

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::store::blobs::BlobError;
use crate::store::BlobCreated;
use crate::App;

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
pub async fn create(app: &App, who: Authed, req: BlobCreate) -> Result<BlobInfo, ApiError> {
    check_size(req.size, app.config.limits.max_attachment_bytes)?;
    // A banned account sends nothing, attachments included.
    crate::service::messaging::refuse_if_banned(app, who.account).await?;
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let id = hex::encode(raw);
    let chunks = req.size.div_ceil(BLOB_CHUNK_BYTES);
    let expires = app.now() + app.config.limits.incomplete_upload_hours * 3_600_000;
    let outcome = app
        .store
        .create_blob(
            &id,
            who.account,
            who.device,
            req.size,
            chunks,
            expires,
            app.config.limits.max_uploads_in_progress,
            app.config.limits.max_storage_per_account,
        )
        .await?;
    match outcome {
        BlobCreated::Created => {}
        BlobCreated::TooManyUploads => {
            return Err(ApiError::limit(
                ErrorCode::TooManyUploads,
                format!(
                    "this device already has {} uploads in progress (max_uploads_in_progress); finish them first",
                    app.config.limits.max_uploads_in_progress
                ),
            ))
        }
        BlobCreated::StorageFull => {
            return Err(ApiError::limit(
                ErrorCode::StorageFull,
                format!(
                    "this account's attachments would exceed {} bytes (max_storage_per_account); older ones expire after {} days",
                    app.config.limits.max_storage_per_account, app.config.limits.envelope_ttl_days
                ),
            ))
        }
    }
    let record = app.store.blob(&id).await?.ok_or(ApiError::Internal)?;
    Ok(info(&id, &record))
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
pub async fn status(app: &App, who: Authed, id: String) -> Result<BlobInfo, ApiError> {
    let r = owned(app, who, &id).await?;
    Ok(info(&id, &r))
}

/// `PUT /v1/blobs/{id}/{index}`: stores one chunk (idempotent).
pub async fn put_chunk(
    app: &App,
    who: Authed,
    (id, index): (String, u64),
    body: Bytes,
) -> Result<(), ApiError> {
    let r = owned(app, who, &id).await?;
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
    Ok(())
}

/// `POST /v1/blobs/{id}/complete`: finishes an upload.
pub async fn complete(app: &App, who: Authed, id: String) -> Result<BlobInfo, ApiError> {
    owned(app, who, &id).await?;
    let expires = app.now() + app.ttl_ms();
    if !app.store.complete_blob(&id, expires).await? {
        let r = owned(app, who, &id).await?;
        let i = info(&id, &r);
        if !r.complete {
            return Err(ApiError::BadRequest(format!(
                "{} chunks are still missing; upload them first",
                i.missing.len()
            )));
        }
    }
    let r = owned(app, who, &id).await?;
    Ok(info(&id, &r))
}

/// `GET /v1/blobs/{id}/{index}`: downloads one chunk of a complete blob.
pub async fn get_chunk(
    app: &App,
    _who: Authed,
    (id, index): (String, u64),
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
