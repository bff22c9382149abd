//! The Kannel gateway: SMS to real carriers through Kannel's `smsbox`.
//!
//! Kannel (`bearerbox` + `smsbox`, packaged by Debian) speaks SMPP and the
//! other carrier protocols; Tidings talks to it over three plain HTTP calls:
//!
//! - outbound: `GET sendsms?username&password&from&to&text&coding&udh&...`
//!   (this module);
//! - inbound: Kannel's `get-url` calls the server's `/v1/kannel/inbound`;
//! - delivery reports: the `dlr-url` given with each SMS calls the server's
//!   `/v1/kannel/dlr`.
//!
//! Tidings splits long texts itself ([`crate::encoding::split`]) and hands
//! Kannel one segment per call with its concatenation header, so that the
//! segment sizes (153 / 67) and the reference of each message are ours and
//! a retried message reaches the phone with the same reference (a phone
//! drops the repeated parts instead of showing the text twice).

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::encoding::{split, url_encode_bytes, Encoding};
use crate::gateway::{check, GatewayError, OutboundSms, SmsGateway};

/// How long one `sendsms` call may take before the SMS is retried later.
pub const SENDSMS_TIMEOUT: Duration = Duration::from_secs(10);
/// Kannel's delivery-report mask asked for: delivered (1), failed (2),
/// buffered (4), accepted by the carrier (8) and rejected by it (16).
pub const DLR_MASK: u8 = 31;

/// Where and how to reach Kannel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KannelConfig {
    /// The `sendsms` URL of smsbox, e.g. `http://127.0.0.1:13013/cgi-bin/sendsms`.
    pub sendsms_url: String,
    /// The `sendsms-user` name.
    pub username: String,
    /// The `sendsms-user` password.
    pub password: String,
    /// Base of the delivery-report URL Kannel calls back, carrying the
    /// shared secret, e.g. `http://127.0.0.1:7878/v1/kannel/dlr?secret=S`;
    /// `None` asks for no reports.
    pub dlr_url: Option<String>,
}

/// The Kannel gateway; see the module documentation.
pub struct KannelGateway {
    config: KannelConfig,
    http: reqwest::Client,
    /// Concatenation references for SMS without a report reference (codes).
    next_reference: AtomicU8,
}

impl KannelGateway {
    /// A gateway for the given Kannel; fails only if no HTTP client can be
    /// built (a broken TLS set-up).
    pub fn new(config: KannelConfig) -> Result<Self, GatewayError> {
        // reqwest is built without a default TLS provider; plain-HTTP calls
        // still need one installed. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(SENDSMS_TIMEOUT)
            .build()
            .map_err(|e| GatewayError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            config,
            http,
            next_reference: AtomicU8::new(0),
        })
    }

    /// The `sendsms` URL for one segment.
    fn url(&self, sms: &OutboundSms, segment: &crate::encoding::Segment, parts: usize) -> String {
        let mut query = vec![
            (
                "username",
                url_encode_bytes(self.config.username.as_bytes()),
            ),
            (
                "password",
                url_encode_bytes(self.config.password.as_bytes()),
            ),
            ("from", url_encode_bytes(sms.from.as_bytes())),
            ("to", url_encode_bytes(sms.to.as_bytes())),
            ("text", url_encode_bytes(segment.text.as_bytes())),
            ("charset", "UTF-8".to_string()),
            (
                "coding",
                match segment.encoding {
                    Encoding::Gsm7 => "0",
                    Encoding::Ucs2 => "2",
                }
                .to_string(),
            ),
        ];
        if let Some(udh) = &segment.udh {
            query.push(("udh", url_encode_bytes(udh)));
        }
        if let (Some(base), Some(id)) = (&self.config.dlr_url, sms.report_ref) {
            let seq = segment
                .udh
                .as_ref()
                .and_then(|u| u.last().copied())
                .unwrap_or(1);
            let callback = format!("{base}&id={id}&part={seq}&parts={parts}&type=%d&reply=%A");
            query.push(("dlr-mask", DLR_MASK.to_string()));
            query.push(("dlr-url", url_encode_bytes(callback.as_bytes())));
        }
        let pairs: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", self.config.sendsms_url, pairs.join("&"))
    }
}

#[async_trait]
impl SmsGateway for KannelGateway {
    async fn send(&self, sms: OutboundSms) -> Result<(), GatewayError> {
        check(&sms)?;
        let reference = match sms.report_ref {
            Some(id) => (id & 0xFF) as u8,
            None => self.next_reference.fetch_add(1, Ordering::Relaxed),
        };
        let segments =
            split(&sms.text, reference).map_err(|e| GatewayError::Unencodable(e.to_string()))?;
        for segment in &segments {
            let response = self
                .http
                .get(self.url(&sms, segment, segments.len()))
                .send()
                .await
                .map_err(|e| GatewayError::Unavailable(format!("Kannel sendsms: {e}")))?;
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            // smsbox answers 202 "0: Accepted for delivery" or "3: Queued
            // for later delivery"; anything else is a refusal.
            if !status.is_success() {
                return Err(GatewayError::Unavailable(format!(
                    "Kannel sendsms answered {status}: {}",
                    body.trim()
                )));
            }
        }
        tracing::debug!(segments = segments.len(), "handed an SMS to Kannel");
        Ok(())
    }

    fn name(&self) -> &'static str {
        "kannel"
    }

    fn reports_delivery(&self) -> bool {
        self.config.dlr_url.is_some()
    }
}

/// What a Kannel delivery report (`%d`) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlrStatus {
    /// 1: the phone received it.
    Delivered,
    /// 2: the phone did not get it.
    Failed,
    /// 4: the carrier holds it for a phone that is off.
    Buffered,
    /// 8: the carrier accepted it.
    Accepted,
    /// 16: the carrier refused it.
    Rejected,
}

impl DlrStatus {
    /// The status for Kannel's `%d` value, if it is one of the five.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => DlrStatus::Delivered,
            2 => DlrStatus::Failed,
            4 => DlrStatus::Buffered,
            8 => DlrStatus::Accepted,
            16 => DlrStatus::Rejected,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> KannelGateway {
        KannelGateway::new(KannelConfig {
            sendsms_url: "http://127.0.0.1:1/cgi-bin/sendsms".into(),
            username: "tidings".into(),
            password: "p w".into(),
            dlr_url: Some("http://127.0.0.1:2/v1/kannel/dlr?secret=s3".into()),
        })
        .expect("client builds")
    }

    #[test]
    fn long_ucs2_text_becomes_segments_with_headers_and_reports() {
        let g = gateway();
        let sms = OutboundSms {
            from: "+12025550101".into(),
            to: "+12025550102".into(),
            text: "😀 ".repeat(40),
            report_ref: Some(0x1234),
        };
        let segments = split(&sms.text, 0x34).expect("fits");
        assert_eq!(segments.len(), 2);
        let url = g.url(&sms, &segments[1], 2);
        assert!(
            url.starts_with("http://127.0.0.1:1/cgi-bin/sendsms?username=tidings&password=p%20w&")
        );
        assert!(url.contains("&coding=2&"), "{url}");
        assert!(url.contains("&udh=%05%00%034%02%02&"), "{url}");
        assert!(url.contains("dlr-url=http%3A%2F%2F127.0.0.1%3A2%2Fv1%2Fkannel%2Fdlr%3Fsecret%3Ds3%26id%3D4660%26part%3D2%26parts%3D2%26type%3D%25d"), "{url}");
    }

    #[tokio::test]
    async fn an_unreachable_kannel_is_unavailable_not_a_loss() {
        let g = gateway();
        let sms = OutboundSms {
            from: "Tidings".into(),
            to: "+12025550102".into(),
            text: "hello".into(),
            report_ref: None,
        };
        assert!(matches!(
            g.send(sms).await,
            Err(GatewayError::Unavailable(_))
        ));
        assert_eq!(DlrStatus::from_code(1), Some(DlrStatus::Delivered));
        assert_eq!(DlrStatus::from_code(3), None);
    }
}
