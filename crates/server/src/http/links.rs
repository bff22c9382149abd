//! Download links for attachments sent by SMS: thin handlers over [`crate::service::links`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use tidings_proto::api::{LinkCreate, LinkInfo};

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::service::links;
use crate::web::html::escape;
use crate::App;

/// Content types served inline; anything else is served as a download.
const INLINE_TYPES: &[&str] = &["image/", "video/", "audio/"];

/// `POST /v1/links`: makes a download link for an uploaded attachment.
pub async fn create(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<LinkCreate>,
) -> Result<(StatusCode, Json<LinkInfo>), ApiError> {
    links::create(&app, who, req)
        .await
        .map(|r| (StatusCode::CREATED, Json(r)))
}

fn expired_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Link expired</title></head>\
             <body><h1>This link has expired</h1><p>Download links sent by SMS work for a limited time. \
             Ask the sender to send the file again.</p></body></html>",
        ),
    )
        .into_response()
}

/// `GET /l/{token}`: the attachment behind a link, decrypted on the fly.
pub async fn download(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    match serve(&app, &token).await {
        Ok(Some(response)) => response,
        Ok(None) => expired_page(),
        Err(e) => e.into_response(),
    }
}

async fn serve(app: &App, token: &str) -> Result<Option<Response>, ApiError> {
    let Some((link, stream)) = links::open(app, token).await? else {
        return Ok(None);
    };
    let inline = INLINE_TYPES
        .iter()
        .any(|p| link.content_type.starts_with(p));
    let disposition = format!(
        "{}; filename=\"{}\"",
        if inline { "inline" } else { "attachment" },
        escape(&link.name).replace('"', "")
    );
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    let value = |s: &str| {
        HeaderValue::from_str(s)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
    };
    headers.insert(header::CONTENT_TYPE, value(&link.content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(link.size));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition)
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Some(response))
}
