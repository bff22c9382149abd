//! Download links for attachments sent by SMS.
//!
//! A phone that is not on Tidings cannot decrypt an attachment, so an SMS
//! carries a short-lived link instead. The sender's client (after the
//! sender agreed) hands the server the attachment's key with
//! `POST /v1/links`; `GET /l/{token}` then decrypts the stored blob on the
//! fly. The key lives only in the link's row, which is deleted when the link
//! expires (`sms_link_secs`): from then on the server holds ciphertext only,
//! as for every other attachment.

use tidings_proto::ErrorCode;

use axum::body::Bytes;
use rand::RngCore;
use tidings_core::attachment::{sanitise_name, AttachmentPointer, Decryptor};
use tidings_proto::api::{LinkCreate, LinkInfo};

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::store::{LinkCreated, LinkRecord};
use crate::App;

/// Longest content type accepted, in bytes.
pub const MAX_CONTENT_TYPE_BYTES: usize = 100;

fn valid_token(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `POST /v1/links`: makes a download link for an uploaded attachment.
pub async fn create(app: &App, who: Authed, req: LinkCreate) -> Result<LinkInfo, ApiError> {
    let key = AttachmentPointer::decode_key(&req.key)
        .map_err(|_| ApiError::BadRequest("key must be 32 bytes of base64".into()))?;
    // A link goes out by SMS: a banned account may not send one.
    crate::service::messaging::refuse_if_banned(app, who.account).await?;
    let content_type = if req.content_type.len() <= MAX_CONTENT_TYPE_BYTES
        && req.content_type.contains('/')
        && req
            .content_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/.+-".contains(&b))
    {
        req.content_type.clone()
    } else {
        "application/octet-stream".to_string()
    };
    // The key must open the blob: a wrong key would make a link that only
    // ever fails.
    let gone = || ApiError::NotFound("no such attachment of this account".into());
    if req.blob.len() != 32 || !req.blob.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(gone());
    }
    let record = app.store.blob(&req.blob).await?.ok_or_else(gone)?;
    if record.account != who.account || !record.complete {
        return Err(gone());
    }
    let first = app.blobs.get(&req.blob, 0).await?.ok_or_else(gone)?;
    Decryptor::new(&key)
        .decrypt_chunk(&first, record.chunks == 1)
        .map_err(|_| ApiError::BadRequest("the key does not open this attachment".into()))?;

    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let now = app.now();
    let link = LinkRecord {
        token: token.clone(),
        blob: req.blob,
        account: who.account,
        key: req.key,
        name: sanitise_name(&req.name),
        content_type,
        size: req.size,
        created_at: now,
        expires_at: now + app.config.sms.sms_link_secs * 1000,
    };
    match app
        .store
        .create_link(link, app.config.sms.sms_links_per_account_per_day)
        .await?
    {
        LinkCreated::Created { expires_at } => {
            tracing::info!(account = %who.account, "made an SMS download link");
            Ok(LinkInfo {
                    url: format!("{}/l/{token}", app.config.public_base()),
                    expires_at,
                })
        }
        LinkCreated::NoSuchBlob => Err(gone()),
        LinkCreated::TooMany => Err(ApiError::limit(
            ErrorCode::TooManyLinks,
            format!(
                "this account made {} download links in the last 24 hours (sms_links_per_account_per_day); try again later",
                app.config.sms.sms_links_per_account_per_day
            ),
        )),
    }
}

/// A link's attachment as plaintext chunks, decrypted on the fly.
pub type Plaintext = futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// The attachment behind a link that has not expired, as its record and
/// its plaintext; `None` when the token is malformed, unknown or expired,
/// or the blob is gone.
pub async fn open(app: &App, token: &str) -> Result<Option<(LinkRecord, Plaintext)>, ApiError> {
    if !valid_token(token) {
        return Ok(None);
    }
    let Some(link) = app.store.link(token, app.now()).await? else {
        return Ok(None);
    };
    let Some(blob) = app.store.blob(&link.blob).await? else {
        return Ok(None);
    };
    let key = AttachmentPointer::decode_key(&link.key).map_err(|_| ApiError::Internal)?;
    let chunks = blob.chunks;
    let store = app.blobs.clone();
    let id = link.blob.clone();
    let state = (Decryptor::new(&key), 0u64);
    let stream = futures_util::stream::unfold(Some(state), move |state| {
        let store = store.clone();
        let id = id.clone();
        async move {
            let (mut decryptor, index) = state?;
            if index >= chunks {
                return None;
            }
            let last = index + 1 == chunks;
            let chunk = match store.get(&id, index).await {
                Ok(Some(c)) => c,
                Ok(None) => return Some((Err(std::io::Error::other("chunk missing")), None)),
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            match decryptor.decrypt_chunk(&chunk, last) {
                Ok(plain) => Some((Ok(Bytes::from(plain)), Some((decryptor, index + 1)))),
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    Ok(Some((link, Box::pin(stream))))
}
