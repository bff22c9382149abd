//! The one place where server errors become HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tidings_proto::api::{DeviceMismatch, ErrorBody};
use tidings_proto::{ErrorCode, Handle};

use crate::store::StoreError;

/// Every way a request can fail, with what the user should do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid input.
    #[error("{0}")]
    BadRequest(String),
    /// Missing, malformed or revoked device token.
    #[error("not signed in: this device's credential is missing or no longer valid; run `tidings login`")]
    Unauthorized,
    /// The code is wrong, expired or used up.
    #[error("{0}")]
    BadCode(String),
    /// The thing asked for does not exist (for this account).
    #[error("{0}")]
    NotFound(String),
    /// The handle already belongs to an account.
    #[error("{0}")]
    Conflict(String),
    /// The sender's view of a recipient's devices is out of date.
    #[error("the recipients' devices changed; look them up again and resend")]
    StaleDevices(Vec<DeviceMismatch>),
    /// Some recipient handles are not on Tidings.
    #[error("not on Tidings: {}", list(.0))]
    NotRegistered(Vec<Handle>),
    /// A limit was hit.
    #[error("{message}")]
    Limit {
        /// Stable code of the limit.
        code: ErrorCode,
        /// What happened and what to do.
        message: String,
        /// When a retry can succeed, for rate limits.
        retry_after_secs: Option<u64>,
    },
    /// Something outside the client's control, e.g. the SMS gateway is down.
    #[error("{0}")]
    Unavailable(String),
    /// The account may not do this (restricted or banned); says why and
    /// how to appeal.
    #[error("{message}")]
    Forbidden {
        /// Stable code: `restricted` or `banned`.
        code: ErrorCode,
        /// Why, and what to do.
        message: String,
    },
    /// A code request needs a proof of work first.
    #[error("solve this proof-of-work challenge and ask again (many codes were sent to this handle, registrations are busy, or your network was recently abused)")]
    ProofOfWork(tidings_proto::api::PowChallenge),
    /// The server's disk is full: nothing was accepted; retrying later
    /// succeeds once the operator frees space.
    #[error("the server is out of storage space; nothing was accepted, try again later")]
    StorageFull,
    /// Storage is momentarily unusable (locked by another process).
    #[error("the server's storage is busy; nothing was accepted, try again in a moment")]
    StorageBusy,
    /// A bug or a broken disk; details are in the server log.
    #[error("internal error; the server log has details")]
    Internal,
}

fn list(handles: &[Handle]) -> String {
    handles
        .iter()
        .map(Handle::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
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
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }

    /// Shorthand for a limit error that is not about time.
    pub fn limit(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::Limit {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Full => {
                tracing::warn!("storage is full; refusing writes until space is freed");
                ApiError::StorageFull
            }
            StoreError::Busy => {
                tracing::warn!("storage is locked by another process");
                ApiError::StorageBusy
            }
            e => {
                tracing::error!(error = %e, "storage failed");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = self.to_string();
        let mut body = ErrorBody {
            error: code,
            message,
            mismatches: Vec::new(),
            not_registered: Vec::new(),
            retry_after_secs: None,
            pow: None,
        };
        match self {
            ApiError::StaleDevices(m) => body.mismatches = m,
            ApiError::NotRegistered(h) => body.not_registered = h,
            ApiError::Limit {
                retry_after_secs, ..
            } => body.retry_after_secs = retry_after_secs,
            ApiError::ProofOfWork(c) => body.pow = Some(Box::new(c)),
            _ => {}
        }
        (status, Json(body)).into_response()
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

/// `408 request_timeout`: the request was not received and answered within
/// `request_timeout_secs`. The connection closes, since part of the body
/// may still be on its way.
pub fn request_timeout(limit: std::time::Duration) -> Response {
    let mut out = json_error(
        StatusCode::REQUEST_TIMEOUT,
        ErrorCode::RequestTimeout,
        format!(
            "the request was not received and answered within {} s (request_timeout_secs); send it again",
            limit.as_secs()
        ),
    );
    out.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    out
}
