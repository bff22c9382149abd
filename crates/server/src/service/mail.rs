//! E-mail delivery of verification codes.
//!
//! An SMTP relay when one is configured (`smtp_relay`), otherwise the
//! development outbox: mail lands in an in-memory inbox shown at `/carrier`
//! and by `tidings carrier inbox ADDRESS`, like SMS in the simulated carrier.

use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tidings_sms::{InboxMessage, Inboxes};

/// Why an e-mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An address or the configured sender does not parse.
    #[error("invalid address: {0}")]
    Address(String),
    /// The relay refused or could not be reached.
    #[error("mail relay failed: {0}")]
    Relay(String),
}

/// Something that delivers e-mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one plain-text message.
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError>;
}

/// Delivers through an SMTP relay (no TLS: use a relay on the same host or
/// network, e.g. a local Postfix, which handles TLS onwards).
pub struct SmtpMailer {
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// A mailer for `relay` (`host:port`, port 25 when omitted).
    pub fn new(relay: &str, from: &str) -> Result<SmtpMailer, MailError> {
        let (host, port) = match relay.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| MailError::Address(format!("bad port in smtp_relay {relay:?}")))?,
            ),
            None => (relay, 25),
        };
        let from = from
            .parse()
            .map_err(|e| MailError::Address(format!("smtp_from {from:?}: {e}")))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .build();
        Ok(SmtpMailer { from, transport })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Address(format!("{to:?}: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body.to_string())
            .map_err(|e| MailError::Address(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Relay(e.to_string()))?;
        Ok(())
    }
}

/// The development outbox: keeps mail in memory for `/carrier`.
pub struct DevOutbox {
    from: String,
    inboxes: Arc<Inboxes>,
}

impl DevOutbox {
    /// An outbox writing into `inboxes`.
    pub fn new(from: &str, inboxes: Arc<Inboxes>) -> Self {
        DevOutbox {
            from: from.to_string(),
            inboxes,
        }
    }
}

#[async_trait]
impl Mailer for DevOutbox {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.inboxes.deliver(InboxMessage {
            from: self.from.clone(),
            to: to.to_string(),
            text: format!("{subject}\n\n{body}"),
            at,
        });
        Ok(())
    }
}
