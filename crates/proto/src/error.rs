//! The stable, machine-readable codes of failed requests and of closed
//! delivery streams.
//!
//! One enum, serialised as `snake_case` strings, so that the server writes
//! and the clients match the same names: a misspelt code is a compile
//! error on both sides instead of a branch that never runs. A code this
//! build does not know (from a newer server) reads as
//! [`ErrorCode::Unknown`], so old clients still show the message.

use serde::{Deserialize, Serialize};

/// Why a request failed or a stream was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // Requests.
    /// Malformed input.
    BadRequest,
    /// No valid device token.
    Unauthorized,
    /// A verification code is wrong, expired or used up.
    BadCode,
    /// The thing asked for does not exist (or is not yours).
    NotFound,
    /// The request conflicts with the current state.
    Conflict,
    /// The sender's device list for a recipient is out of date.
    StaleDevices,
    /// A handle is not on Tidings.
    NotRegistered,
    /// A dependency (the SMS gateway, mail) is unavailable.
    Unavailable,
    /// A code request needs a proof of work first.
    ProofOfWorkRequired,
    /// The server's disk is full.
    StorageFull,
    /// The store is busy; try again.
    StorageBusy,
    /// A failure on the server's side.
    Internal,
    /// The request body is larger than `max_body_bytes`.
    BodyTooLarge,
    /// The endpoint does not take this method.
    MethodNotAllowed,
    /// The request took longer than `request_timeout_secs`.
    RequestTimeout,
    /// A message payload is too large.
    PayloadTooLarge,
    /// A rate limit; `retry_after_secs` says when to try again.
    RateLimited,
    /// The account may not do this for now (spam defence).
    Restricted,
    /// The account is banned.
    Banned,
    /// Too many first contacts today.
    NewRecipientCap,
    /// A recipient's queue is full.
    QueueFull,
    /// Too many registrations from one network range.
    RegistrationsPerRange,
    /// The SMS allowance is used up.
    SmsLimit,
    /// An SMS would take too many segments.
    SmsTooLong,
    /// An attachment is larger than `max_attachment_bytes`.
    AttachmentTooLarge,
    /// The account has its most devices.
    TooManyDevices,
    /// Too many handles in one lookup.
    TooManyHandles,
    /// Too many keys in one upload or claim.
    TooManyKeys,
    /// Too many download links.
    TooManyLinks,
    /// Too many recipients in one message.
    TooManyRecipients,
    /// Too many streams are waiting to authenticate.
    TooManyUnauthenticatedStreams,
    /// Too many unfinished uploads.
    TooManyUploads,
    // Streams.
    /// The account has its most connections open.
    TooManyConnections,
    /// The device was removed from its account.
    DeviceRemoved,
    /// The device connected again elsewhere.
    Replaced,
    /// The server closed the stream.
    Closed,
    /// The server is restarting.
    ShuttingDown,
    /// The client sent a frame the server cannot take.
    BadFrame,
    // Clients.
    /// A client's own code: the server answered without a JSON error body.
    Http,
    /// A code this build does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it travels, e.g. `stale_devices`.
    pub fn as_str(self) -> &'static str {
        // A table, checked against serde's names by the tests below.
        use ErrorCode::*;
        match self {
            BadRequest => "bad_request",
            Unauthorized => "unauthorized",
            BadCode => "bad_code",
            NotFound => "not_found",
            Conflict => "conflict",
            StaleDevices => "stale_devices",
            NotRegistered => "not_registered",
            Unavailable => "unavailable",
            ProofOfWorkRequired => "proof_of_work_required",
            StorageFull => "storage_full",
            StorageBusy => "storage_busy",
            Internal => "internal",
            BodyTooLarge => "body_too_large",
            MethodNotAllowed => "method_not_allowed",
            RequestTimeout => "request_timeout",
            PayloadTooLarge => "payload_too_large",
            RateLimited => "rate_limited",
            Restricted => "restricted",
            Banned => "banned",
            NewRecipientCap => "new_recipient_cap",
            QueueFull => "queue_full",
            RegistrationsPerRange => "registrations_per_range",
            SmsLimit => "sms_limit",
            SmsTooLong => "sms_too_long",
            AttachmentTooLarge => "attachment_too_large",
            TooManyDevices => "too_many_devices",
            TooManyHandles => "too_many_handles",
            TooManyKeys => "too_many_keys",
            TooManyLinks => "too_many_links",
            TooManyRecipients => "too_many_recipients",
            TooManyUnauthenticatedStreams => "too_many_unauthenticated_streams",
            TooManyUploads => "too_many_uploads",
            TooManyConnections => "too_many_connections",
            DeviceRemoved => "device_removed",
            Replaced => "replaced",
            Closed => "closed",
            ShuttingDown => "shutting_down",
            BadFrame => "bad_frame",
            Http => "http",
            Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code: `as_str` is what serde writes, and it reads back.
    const ALL: &[ErrorCode] = {
        use ErrorCode::*;
        &[
            BadRequest,
            Unauthorized,
            BadCode,
            NotFound,
            Conflict,
            StaleDevices,
            NotRegistered,
            Unavailable,
            ProofOfWorkRequired,
            StorageFull,
            StorageBusy,
            Internal,
            BodyTooLarge,
            MethodNotAllowed,
            RequestTimeout,
            PayloadTooLarge,
            RateLimited,
            Restricted,
            Banned,
            NewRecipientCap,
            QueueFull,
            RegistrationsPerRange,
            SmsLimit,
            SmsTooLong,
            AttachmentTooLarge,
            TooManyDevices,
            TooManyHandles,
            TooManyKeys,
            TooManyLinks,
            TooManyRecipients,
            TooManyUnauthenticatedStreams,
            TooManyUploads,
            TooManyConnections,
            DeviceRemoved,
            Replaced,
            Closed,
            ShuttingDown,
            BadFrame,
            Http,
            Unknown,
        ]
    };

    #[test]
    fn each_code_travels_as_its_name_and_reads_back() {
        for code in ALL {
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
