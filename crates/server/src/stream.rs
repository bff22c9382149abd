//! The delivery stream: a WebSocket per connected device.
//!
//! After the client's `auth` frame, the server pushes the device's queue in
//! order, at most [`MAX_IN_FLIGHT`] unacknowledged at a time, sends `drained`
//! whenever it has caught up, and pushes new envelopes as they arrive. An
//! envelope is deleted only when the client acknowledges it, so a crash on
//! either side re-delivers rather than loses; clients drop duplicates by
//! the sender's message id.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tidings_proto::stream::{ClientFrame, ServerFrame, MAX_IN_FLIGHT};
use tidings_proto::{DeviceId, Seq};

use crate::auth::{self, Authed};
use crate::App;

/// How long a new connection may take to authenticate.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval of keep-alive pings.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);

/// `GET /v1/stream`: upgrades to the delivery WebSocket.
pub async fn connect(State(app): State<Arc<App>>, ws: WebSocketUpgrade) -> Response {
    let max = app.config.max_frame_bytes;
    ws.max_frame_size(max)
        .max_message_size(max)
        .on_upgrade(move |socket| async move {
            if let Err(e) = session(app, socket).await {
                tracing::debug!(error = %e, "stream ended with an error");
            }
        })
}

type Sink = SplitSink<WebSocket, Message>;

async fn send(sink: &mut Sink, frame: &ServerFrame) -> Result<(), axum::Error> {
    let text = serde_json::to_string(frame).expect("server frames always serialise");
    sink.send(Message::Text(text.into())).await
}

async fn refuse(sink: &mut Sink, error: &str, message: &str) {
    let frame = ServerFrame::Error {
        error: error.into(),
        message: message.into(),
    };
    let _ = send(sink, &frame).await;
    let _ = sink.send(Message::Close(None)).await;
}

async fn session(app: Arc<App>, socket: WebSocket) -> Result<(), axum::Error> {
    let (mut sink, mut frames) = socket.split();
    let who = match tokio::time::timeout(AUTH_TIMEOUT, frames.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => match serde_json::from_str(&text) {
            Ok(ClientFrame::Auth { token }) => auth::verify(&app, &token).await.ok(),
            _ => None,
        },
        _ => None,
    };
    let Some(Authed { account, device }) = who else {
        refuse(
            &mut sink,
            "unauthorized",
            "the first frame must be {\"type\":\"auth\",\"token\":...} with a valid device token",
        )
        .await;
        return Ok(());
    };
    let Ok(mut reg) = app.hub.register(account, device) else {
        refuse(
            &mut sink,
            "too_many_connections",
            &format!(
                "this account already has {} connections open (max_connections_per_account)",
                app.config.max_connections_per_account
            ),
        )
        .await;
        return Ok(());
    };
    tracing::debug!(%account, %device, "stream open");
    match app
        .store
        .device_connected(
            device,
            app.now(),
            app.config.stale_after_secs * 1000,
            app.ttl_ms(),
        )
        .await
    {
        Ok(woken) => app.hub.wake(&woken),
        Err(e) => tracing::warn!(error = %e, "cannot record last-seen time"),
    }
    let result = pump(&app, device, &mut reg, &mut sink, &mut frames).await;
    app.hub.unregister(device, reg.id);
    if let Err(e) = app.store.touch_device(device, app.now()).await {
        tracing::warn!(error = %e, "cannot record last-seen time");
    }
    tracing::debug!(%account, %device, "stream closed");
    result
}

async fn pump(
    app: &App,
    device: DeviceId,
    reg: &mut crate::hub::Registration,
    sink: &mut Sink,
    frames: &mut futures_util::stream::SplitStream<WebSocket>,
) -> Result<(), axum::Error> {
    send(sink, &ServerFrame::Ready { device }).await?;
    let mut last_pushed = Seq::default();
    let mut in_flight: HashSet<Seq> = HashSet::with_capacity(MAX_IN_FLIGHT);
    let mut fetch = true;
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        if fetch && in_flight.len() < MAX_IN_FLIGHT {
            let room = MAX_IN_FLIGHT - in_flight.len();
            let batch = match app.store.queued(device, last_pushed, room).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a queue");
                    refuse(
                        sink,
                        "internal",
                        "the server cannot read your queue; reconnect later",
                    )
                    .await;
                    return Ok(());
                }
            };
            let caught_up = batch.len() < room;
            for envelope in batch {
                debug_assert!(envelope.seq > last_pushed, "queues are read in order");
                last_pushed = envelope.seq;
                in_flight.insert(envelope.seq);
                send(sink, &ServerFrame::Envelope(envelope)).await?;
            }
            if caught_up {
                send(sink, &ServerFrame::Drained).await?;
            }
            fetch = false;
        }
        tokio::select! {
            _ = reg.wake.notified() => fetch = true,
            Some(envelope) = reg.ephemeral.recv() => {
                send(sink, &ServerFrame::Envelope(envelope)).await?;
            }
            frame = frames.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e),
                };
                let Ok(ClientFrame::Ack { seqs }) = serde_json::from_str(&text) else {
                    refuse(sink, "bad_frame", "expected an ack frame").await;
                    return Ok(());
                };
                if seqs.len() > MAX_IN_FLIGHT {
                    refuse(sink, "bad_frame", &format!("at most {MAX_IN_FLIGHT} acks per frame")).await;
                    return Ok(());
                }
                match app.store.ack(device, &seqs, app.now(), app.ttl_ms()).await {
                    Ok(woken) => app.hub.wake(&woken),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot record acks");
                        refuse(sink, "internal", "the server cannot record acknowledgements; reconnect later").await;
                        return Ok(());
                    }
                }
                for s in &seqs {
                    in_flight.remove(s);
                }
                fetch = true;
            }
            reason = &mut reg.kicked => {
                let reason = reason.unwrap_or("closed");
                let message = match reason {
                    "replaced" => "this device connected again elsewhere; this connection is closed",
                    "device_removed" => "this device was removed from the account; run `tidings login` to add it again",
                    _ => "connection closed by the server",
                };
                refuse(sink, reason, message).await;
                return Ok(());
            }
            _ = reg.shutdown.changed() => {
                refuse(sink, "shutting_down", "the server is restarting; reconnect in a moment").await;
                return Ok(());
            }
            _ = ping.tick() => sink.send(Message::Ping(Default::default())).await?,
        }
    }
}
