//! The SMS outbox worker: hands queued SMS to the gateway with retries and
//! backoff.
//!
//! An SMS is stored in the same transaction as the envelope that asked for
//! it, so an acknowledged send is never lost even while the gateway is
//! down: the worker retries with exponential backoff and tells the sender's
//! devices what became of each SMS (sent to the carrier, delivered, failed).

use std::sync::Arc;
use std::time::Duration;

use tidings_sms::{GatewayError, OutboundSms};

use crate::store::SmsResult;
use crate::App;

/// SMS handed to the gateway per round.
pub const SMS_BATCH: usize = 32;
/// Longest wait between two attempts of one SMS.
pub const MAX_BACKOFF_MS: u64 = 10 * 60 * 1000;
/// Attempts before an SMS is given up as failed.
pub const MAX_SMS_ATTEMPTS: u32 = 30;
/// How often the worker looks for due SMS when nobody wakes it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Backoff before attempt `attempts + 1`.
pub fn backoff_ms(attempts: u32) -> u64 {
    (1000u64 << attempts.min(20)).min(MAX_BACKOFF_MS)
}

/// Hands every due SMS to the gateway once; returns how many were handled.
pub async fn run_once(app: &App) -> Result<usize, crate::store::StoreError> {
    let (jobs, woken) = app
        .store
        .claim_sms(
            app.now(),
            app.now() + app.config.sms.sms_lease_secs * 1000,
            SMS_BATCH,
            app.ttl_ms(),
        )
        .await?;
    app.hub.wake(&woken);
    let n = jobs.len();
    for job in jobs {
        let sms = OutboundSms {
            from: job.from.clone(),
            to: job.to.to_string(),
            text: job.text.clone(),
            report_ref: Some(job.id),
        };
        let result = match app.sms.send(sms).await {
            // The simulated carrier delivers at once: its acceptance is the
            // delivery report. Real gateways report delivery separately.
            Ok(()) if !app.sms.reports_delivery() => SmsResult::Delivered,
            Ok(()) => SmsResult::Sent,
            Err(GatewayError::TooLong { len, max }) => SmsResult::Failed(format!(
                "text too long for SMS ({len} bytes, at most {max})"
            )),
            Err(GatewayError::Unencodable(why)) => SmsResult::Failed(why),
            Err(GatewayError::Unavailable(why)) if job.attempts + 1 >= MAX_SMS_ATTEMPTS => {
                SmsResult::Failed(format!("the SMS gateway stayed unavailable: {why}"))
            }
            Err(GatewayError::Unavailable(why)) => {
                tracing::warn!(error = %why, attempts = job.attempts + 1, "SMS gateway unavailable; will retry");
                SmsResult::Retry(app.now() + backoff_ms(job.attempts))
            }
        };
        let woken = app
            .store
            .sms_result(job.id, result, app.now(), app.ttl_ms())
            .await?;
        app.hub.wake(&woken);
    }
    Ok(n)
}

/// The worker: runs until the task is aborted.
pub async fn run(app: Arc<App>) {
    loop {
        match run_once(&app).await {
            Ok(n) if n == SMS_BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "SMS worker failed"),
        }
        tokio::select! {
            _ = app.sms_wake.notified() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(super::backoff_ms(0), 1000);
        assert_eq!(super::backoff_ms(1), 2000);
        assert_eq!(super::backoff_ms(40), super::MAX_BACKOFF_MS);
    }
}
