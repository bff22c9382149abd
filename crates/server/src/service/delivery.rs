//! Delivery to a connected device: what the stream reads, what an ack
//! changes, and what connecting and disconnecting record. The WebSocket
//! framing and flow control stay in `http::stream`.

use tidings_proto::stream::Envelope;
use tidings_proto::{DeviceId, Seq};

use crate::store::StoreError;
use crate::App;

/// Whether the device still exists: a removal that committed between the
/// token check and the stream's registration kicked nobody, so the stream
/// asks again once registered.
pub async fn still_registered(app: &App, device: DeviceId) -> bool {
    matches!(app.store.device_credential(device).await, Ok(Some(_)))
}

/// Records that the device connected, and wakes the devices told that its
/// account is reachable again after being stale.
pub async fn connected(app: &App, device: DeviceId) {
    match app
        .store
        .device_connected(
            device,
            app.now(),
            app.config.sms.stale_after_secs * 1000,
            app.ttl_ms(),
        )
        .await
    {
        Ok(woken) => app.hub.wake(&woken),
        Err(e) => tracing::warn!(error = %e, "cannot record last-seen time"),
    }
}

/// Records when the device was last connected.
pub async fn disconnected(app: &App, device: DeviceId) {
    if let Err(e) = app.store.touch_device(device, app.now()).await {
        tracing::warn!(error = %e, "cannot record last-seen time");
    }
}

/// Up to `limit` envelopes waiting for the device after `after`, in order.
pub async fn queued(
    app: &App,
    device: DeviceId,
    after: Seq,
    limit: usize,
) -> Result<Vec<Envelope>, StoreError> {
    app.store.queued(device, after, limit).await
}

/// Deletes acknowledged envelopes and wakes the senders that got delivery
/// receipts.
pub async fn ack(app: &App, device: DeviceId, seqs: &[Seq]) -> Result<(), StoreError> {
    let woken = app.store.ack(device, seqs, app.now(), app.ttl_ms()).await?;
    app.hub.wake(&woken);
    Ok(())
}
