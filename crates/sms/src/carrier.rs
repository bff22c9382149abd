//! The built-in simulated carrier: the embedded default SMS gateway.
//!
//! Every SMS "sent" lands in the inbox of the simulated phone with that
//! number, where `tidings carrier inbox NUMBER` and the `/carrier` page show
//! it. It lets one laptop run the whole product, codes included.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::gateway::{check, GatewayError, OutboundSms, SmsGateway};
use crate::inbox::{InboxMessage, Inboxes};

/// A simulated phone network that delivers instantly into inboxes.
#[derive(Clone, Default)]
pub struct SimulatedCarrier {
    inboxes: Arc<Inboxes>,
}

impl SimulatedCarrier {
    /// A carrier with empty inboxes.
    pub fn new() -> Self {
        Self::default()
    }

    /// A carrier whose inboxes keep at most `max_bytes` in total (see
    /// [`Inboxes::with_max_bytes`]).
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        SimulatedCarrier {
            inboxes: Arc::new(Inboxes::with_max_bytes(max_bytes)),
        }
    }

    /// The inboxes of the simulated phones.
    pub fn inboxes(&self) -> &Inboxes {
        &self.inboxes
    }
}

#[async_trait]
impl SmsGateway for SimulatedCarrier {
    async fn send(&self, sms: OutboundSms) -> Result<(), GatewayError> {
        check(&sms)?;
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        tracing::debug!(to = %sms.to, "simulated carrier delivered an SMS");
        self.inboxes.deliver(InboxMessage {
            from: sms.from,
            to: sms.to,
            text: sms.text,
            at,
        });
        Ok(())
    }

    fn name(&self) -> &'static str {
        "simulated"
    }

    fn reports_delivery(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sent_sms_lands_in_the_phone_inbox() {
        let carrier = SimulatedCarrier::new();
        let sms = OutboundSms {
            from: "Tidings".into(),
            to: "+12025550101".into(),
            text: "Your code is 123456".into(),
            report_ref: None,
        };
        carrier.send(sms.clone()).await.expect("accepted");
        let inbox = carrier.inboxes().messages("+12025550101");
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0].text, sms.text);
        let long = OutboundSms {
            text: "x".repeat(crate::gateway::MAX_SMS_TEXT_BYTES + 1),
            ..sms
        };
        assert!(matches!(
            carrier.send(long).await,
            Err(GatewayError::TooLong { .. })
        ));
    }
}
