//! The periodic sweep: expires undelivered envelopes (telling their
//! senders), stale codes and old idempotency keys.

use std::sync::Arc;
use std::time::Duration;

use crate::store::StoreError;
use crate::App;

/// Runs one sweep now; returns how many devices were sent notices.
pub async fn once(app: &App) -> Result<usize, StoreError> {
    let fallback_before = app
        .now()
        .saturating_sub(app.config.sms.sms_fallback_secs * 1000);
    let asked = app
        .store
        .request_fallbacks(fallback_before, app.now(), app.ttl_ms())
        .await?;
    app.hub.wake(&asked);
    let woken = app.store.expire(app.now(), app.ttl_ms()).await?;
    for blob in app.store.expire_blobs(app.now()).await? {
        if let Err(e) = app.blobs.delete(&blob).await {
            tracing::error!(error = %e, "cannot delete an expired attachment");
        }
    }
    let links = app.store.expire_links(app.now()).await?;
    if links > 0 {
        tracing::info!(links, "expired SMS download links (their keys are gone)");
    }
    app.hub.wake(&woken);
    if !woken.is_empty() {
        tracing::info!(notices = woken.len(), "expired undelivered envelopes");
    }
    Ok(woken.len())
}

/// Sweeps every `sweep_interval_secs` until the task is aborted.
pub async fn run(app: Arc<App>) {
    let mut tick =
        tokio::time::interval(Duration::from_secs(app.config.storage.sweep_interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = once(&app).await {
            tracing::error!(error = %e, "sweep failed");
        }
    }
}
