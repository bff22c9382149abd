//! The one place where server errors become HTTP answers: [`ApiError`] as a
//! status and a JSON [`ErrorBody`], and the plain-text errors of axum's
//! extractors rewritten to the same shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tidings_proto::api::ErrorBody;
use tidings_proto::ErrorCode;

use crate::error::ApiError;

/// The HTTP status and error code of an error.
fn status_and_code(e: &ApiError) -> (StatusCode, ErrorCode) {
    match e {
        ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
        ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
        ApiError::BadCode(_) => (StatusCode::FORBIDDEN, ErrorCode::BadCode),
        ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
        ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
        ApiError::StaleDevices(_) => (StatusCode::CONFLICT, ErrorCode::StaleDevices),
        ApiError::NotRegistered(_) => (StatusCode::NOT_FOUND, ErrorCode::NotRegistered),
        ApiError::Limit { code, .. } => (StatusCode::TOO_MANY_REQUESTS, *code),
        ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
        ApiError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, *code),
        ApiError::ProofOfWork(_) => (
            StatusCode::PRECONDITION_REQUIRED,
            ErrorCode::ProofOfWorkRequired,
        ),
        ApiError::StorageFull => (StatusCode::INSUFFICIENT_STORAGE, ErrorCode::StorageFull),
        ApiError::StorageBusy => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::StorageBusy),
        ApiError::RequestTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, ErrorCode::RequestTimeout),
        ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = status_and_code(&self);
        let message = self.to_string();
        let mut body = ErrorBody {
            error: code,
            message,
            mismatches: Vec::new(),
            not_registered: Vec::new(),
            retry_after_secs: None,
            pow: None,
        };
        let close = matches!(self, ApiError::RequestTimeout { .. });
        match self {
            ApiError::StaleDevices(m) => body.mismatches = m,
            ApiError::NotRegistered(h) => body.not_registered = h,
            ApiError::Limit {
                retry_after_secs, ..
            } => body.retry_after_secs = retry_after_secs,
            ApiError::ProofOfWork(c) => body.pow = Some(Box::new(c)),
            _ => {}
        }
        let mut response = (status, Json(body)).into_response();
        if close {
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// Most bytes of a plain-text error body that is rewritten as JSON.
const MAX_PLAIN_ERROR_BYTES: usize = 4096;

/// Turns the plain-text errors of axum's extractors and router (bad JSON,
/// body too large, unknown path, wrong method) into the JSON error body
/// every client understands, keeping their other headers.
pub async fn explain_plain_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !status.is_client_error() || is_json || status == StatusCode::SWITCHING_PROTOCOLS {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_PLAIN_ERROR_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let (code, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
        (
            ErrorCode::BodyTooLarge,
            "request body too large (limit max_body_bytes, see GET /v1/limits); send less per request"
                .to_string(),
        )
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        // The router adds `Allow` after this layer has run.
        (
            ErrorCode::MethodNotAllowed,
            "this endpoint does not take this method; the Allow header lists those it takes"
                .to_string(),
        )
    } else if status == StatusCode::NOT_FOUND && text.is_empty() {
        (ErrorCode::NotFound, "no such endpoint".to_string())
    } else {
        (ErrorCode::BadRequest, format!("malformed request: {text}"))
    };
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    // axum answers 422 for JSON of the wrong shape (an id out of range, a
    // missing field); to clients that is a malformed request like any other.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let mut out = json_error(status, code, message);
    let mut name = None;
    for (next, value) in parts.headers.drain() {
        // `drain` names a header only at its first value.
        name = next.or(name);
        if let Some(name) = &name {
            out.headers_mut().append(name.clone(), value);
        }
    }
    out
}

/// A JSON error answer with no details beyond its code and message.
fn json_error(status: StatusCode, code: ErrorCode, message: String) -> Response {
    let body = ErrorBody {
        error: code,
        message,
        mismatches: Vec::new(),
        not_registered: Vec::new(),
        retry_after_secs: None,
        pow: None,
    };
    (status, Json(body)).into_response()
}
