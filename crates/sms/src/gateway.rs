//! The interface between the server and whatever delivers SMS.
//!
//! The server only ever talks to `dyn SmsGateway`, so the built-in simulated
//! carrier and a real gateway are interchangeable and pass the same tests.

use async_trait::async_trait;

/// Longest SMS text the gateway accepts in one call, in bytes; longer texts
/// are a caller bug (verification codes and notices are short).
pub const MAX_SMS_TEXT_BYTES: usize = 1600;

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// Sender number or short code shown to the recipient, E.164 or text.
    pub from: String,
    /// Recipient phone number, E.164.
    pub to: String,
    /// The text.
    pub text: String,
    /// Number that identifies this SMS in the gateway's delivery reports
    /// (the server's outbox row); `None` when no report is wanted (codes).
    pub report_ref: Option<i64>,
}

/// Why an SMS could not be handed to the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The text is longer than [`MAX_SMS_TEXT_BYTES`].
    #[error("SMS text is too long ({len} bytes, at most {max})")]
    TooLong {
        /// Length of the text.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The text cannot be put into SMS segments (too many segments).
    #[error("SMS text cannot be sent: {0}")]
    Unencodable(String),
    /// The gateway is not reachable now; the caller may retry later.
    #[error("SMS gateway unavailable: {0}")]
    Unavailable(String),
}

/// Something that can send SMS: the simulated carrier, or a real gateway.
#[async_trait]
pub trait SmsGateway: Send + Sync {
    /// Hands one SMS to the carrier; `Ok` means the carrier accepted it.
    async fn send(&self, sms: OutboundSms) -> Result<(), GatewayError>;

    /// Short name for logs and the status page, e.g. `simulated`.
    fn name(&self) -> &'static str;

    /// Whether delivery to the phone is reported later (through a delivery
    /// report) rather than known when [`SmsGateway::send`] returns.
    fn reports_delivery(&self) -> bool;
}

/// Checks the limits every gateway shares; implementations call it first.
pub fn check(sms: &OutboundSms) -> Result<(), GatewayError> {
    if sms.text.len() > MAX_SMS_TEXT_BYTES {
        return Err(GatewayError::TooLong {
            len: sms.text.len(),
            max: MAX_SMS_TEXT_BYTES,
        });
    }
    Ok(())
}
