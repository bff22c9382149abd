//! The stable, machine-readable codes of failed requests and of closed
//! delivery streams.
//!
//! One enum, serialised as `snake_case` strings, so that the server writes
//! and the clients match the same names: a misspelt code is a compile
//! error on both sides instead of a branch that never runs. A code this
//! build does not know (from a newer server) reads as
//! [`ErrorCode::Unknown`], so old clients still show the message.

use serde::{Deserialize, Serialize};

/// Defines [`ErrorCode`] from one list of variants and their names, so
/// that the enum, [`ErrorCode::as_str`] and [`ErrorCode::ALL`] cannot
/// disagree (the tests check the names against serde's).
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// Why a request failed or a stream was closed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
            /// A code this build does not know.
            #[serde(other)]
            Unknown,
        }

        impl ErrorCode {
            /// Every code, `Unknown` last.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)* ErrorCode::Unknown];

            /// The code as it travels, e.g. `stale_devices`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown => "unknown",
                }
            }
        }
    };
}

error_codes! {
    // Requests.
    /// Malformed input.
    BadRequest = "bad_request",
    /// No valid device token.
    Unauthorized = "unauthorized",
    /// A verification code is wrong, expired or used up.
    BadCode = "bad_code",
    /// The thing asked for does not exist (or is not yours).
    NotFound = "not_found",
    /// The request conflicts with the current state.
    Conflict = "conflict",
    /// The sender's device list for a recipient is out of date.
    StaleDevices = "stale_devices",
    /// A handle is not on Tidings.
    NotRegistered = "not_registered",
    /// A dependency (the SMS gateway, mail) is unavailable.
    Unavailable = "unavailable",
    /// A code request needs a proof of work first.
    ProofOfWorkRequired = "proof_of_work_required",
    /// The server's disk is full.
    StorageFull = "storage_full",
    /// The store is busy; try again.
    StorageBusy = "storage_busy",
    /// A failure on the server's side.
    Internal = "internal",
    /// The request body is larger than `max_body_bytes`.
    BodyTooLarge = "body_too_large",
    /// The endpoint does not take this method.
    MethodNotAllowed = "method_not_allowed",
    /// The request took longer than `request_timeout_secs`.
    RequestTimeout = "request_timeout",
    /// A message payload is too large.
    PayloadTooLarge = "payload_too_large",
    /// A rate limit; `retry_after_secs` says when to try again.
    RateLimited = "rate_limited",
    /// The account may not do this for now (spam defence).
    Restricted = "restricted",
    /// The account is banned.
    Banned = "banned",
    /// Too many first contacts today.
    NewRecipientCap = "new_recipient_cap",
    /// A recipient's queue is full.
    QueueFull = "queue_full",
    /// Too many registrations from one network range.
    RegistrationsPerRange = "registrations_per_range",
    /// The SMS allowance is used up.
    SmsLimit = "sms_limit",
    /// An SMS would take too many segments.
    SmsTooLong = "sms_too_long",
    /// An attachment is larger than `max_attachment_bytes`.
    AttachmentTooLarge = "attachment_too_large",
    /// The account has its most devices.
    TooManyDevices = "too_many_devices",
    /// Too many handles in one lookup.
    TooManyHandles = "too_many_handles",
    /// Too many keys in one upload or claim.
    TooManyKeys = "too_many_keys",
    /// Too many download links.
    TooManyLinks = "too_many_links",
    /// Too many recipients in one message.
    TooManyRecipients = "too_many_recipients",
    /// Too many streams are waiting to authenticate.
    TooManyUnauthenticatedStreams = "too_many_unauthenticated_streams",
    /// Too many unfinished uploads.
    TooManyUploads = "too_many_uploads",
    // Streams.
    /// The account has its most connections open.
    TooManyConnections = "too_many_connections",
    /// The device was removed from its account.
    DeviceRemoved = "device_removed",
    /// The device connected again elsewhere.
    Replaced = "replaced",
    /// The server closed the stream.
    Closed = "closed",
    /// The server is restarting.
    ShuttingDown = "shutting_down",
    /// The client sent a frame the server cannot take.
    BadFrame = "bad_frame",
    // Clients.
    /// A client's own code: the server answered without a JSON error body.
    Http = "http",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_travels_as_its_name_and_reads_back() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).expect("serialises");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(
                serde_json::from_str::<ErrorCode>(&json).expect("reads"),
                *code
            );
        }
    }

    #[test]
    fn a_code_from_a_newer_server_reads_as_unknown() {
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"teleported\"").expect("reads"),
            ErrorCode::Unknown
        );
    }
}
