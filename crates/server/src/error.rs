//! Every way a request can fail, as the services report it; `http::error`
//! maps each to a status and a JSON body, once, at the edge.

use tidings_proto::api::DeviceMismatch;
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
    /// The request was not received and answered within
    /// `request_timeout_secs`; the connection closes, since part of the body
    /// may still be on its way.
    #[error("the request was not received and answered within {secs} s (request_timeout_secs); send it again")]
    RequestTimeout {
        /// The limit, in seconds.
        secs: u64,
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
