//! SMS from phones: what becomes of a text that a phone (simulated, or
//! through Kannel) sends to a number.

use tidings_proto::{ErrorCode, Handle};

use crate::error::ApiError;
use crate::store::InboundSms;
use crate::App;

/// Longest text of an SMS from a phone (simulated or through Kannel), in
/// bytes.
pub const MAX_INBOUND_TEXT_BYTES: usize = 1600;

/// Queues an SMS from `from` for every device of the account that owns
/// `to`; false when no account owns `to` (the caller decides what a text to
/// a number outside Tidings means).
pub async fn inbound(app: &App, from: &str, to: &Handle, text: &str) -> Result<bool, ApiError> {
    let max_queue = app.config.limits.max_queue_per_device;
    match app
        .store
        .inbound_sms(from, to, text, app.now(), app.ttl_ms(), max_queue)
        .await?
    {
        InboundSms::Queued(woken) => {
            app.hub.wake(&woken);
            Ok(true)
        }
        InboundSms::QueueFull => Err(queue_full(to, max_queue)),
        InboundSms::NotOnTidings => Ok(false),
    }
}

/// `queue_full`: a device of `to` has `max_queue` envelopes waiting.
pub fn queue_full(to: &Handle, max_queue: u64) -> ApiError {
    ApiError::limit(
        ErrorCode::QueueFull,
        format!(
            "{to} has {max_queue} messages waiting for one of its devices to collect them (max_queue_per_device); try again later"
        ),
    )
}
