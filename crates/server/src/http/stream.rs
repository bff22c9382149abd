//! The delivery stream: a WebSocket per connected device.
//!
//! After the client's `auth` frame, the server pushes the device's queue in
//! order, at most [`MAX_IN_FLIGHT`] envelopes and
//! `max_inflight_bytes_per_stream` bytes unacknowledged at a time (see
//! [`Window`]), sends `drained` whenever it has caught up, and pushes new
//! envelopes as they arrive. An envelope is deleted only when the client
//! acknowledges it, so a crash on either side re-delivers rather than
//! loses; clients drop duplicates by the sender's message id.
//!
//! What a slow client can cost is bounded: a stream must authenticate
//! within `stream_auth_timeout_secs` and at most
//! `max_unauthenticated_streams` may be waiting to; the server reads from
//! the queue only what the byte window can take; and a frame the client
//! does not take within `idle_timeout_secs` closes the stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tidings_proto::ErrorCode;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tidings_proto::stream::{ClientFrame, ServerFrame, MAX_IN_FLIGHT};
use tidings_proto::{DeviceId, Seq};

use crate::cluster::hub::Unauthenticated;
use crate::error::ApiError;
use crate::service::auth::{self, Authed};
use crate::service::delivery;
use crate::App;

/// Interval of keep-alive pings.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);

/// Initial read buffer of a stream. Client frames are small (auth, acks);
/// the buffer grows for a larger one, up to `max_frame_bytes`.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Bytes of an envelope frame beyond its base64 payload: sender, ids,
/// report token, JSON. Only sizes reads from the queue; the byte window
/// itself counts real frame sizes.
pub const ENVELOPE_OVERHEAD_BYTES: usize = 16 * 1024;

/// `GET /v1/stream`: upgrades to the delivery WebSocket, unless
/// `max_unauthenticated_streams` are already waiting to authenticate.
pub async fn connect(
    State(app): State<Arc<App>>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let Some(waiting) = app.hub.unauthenticated() else {
        let secs = app.config.connections.stream_auth_timeout_secs;
        return Err(ApiError::Limit {
            code: ErrorCode::TooManyUnauthenticatedStreams,
            message: format!(
                "too many delivery streams are waiting to authenticate (max_unauthenticated_streams); try again in {secs} s"
            ),
            retry_after_secs: Some(secs),
        });
    };
    let max = app.config.connections.max_frame_bytes;
    Ok(ws
        .max_frame_size(max)
        .max_message_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        // Every frame is flushed as it is sent, so no more than one frame
        // is ever buffered; say so rather than reserve the 128 KiB default.
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            if let Err(e) = session(app, socket, waiting).await {
                tracing::debug!(error = %e, "stream ended with an error");
            }
        }))
}

type Sink = SplitSink<WebSocket, Message>;

/// What a stream has pushed and not yet had acknowledged: at most
/// `max_count` envelopes and `max_bytes` bytes of frames, except that one
/// envelope always goes when nothing is in flight, however large, so a big
/// envelope cannot block a queue.
#[derive(Debug)]
pub struct Window {
    max_count: usize,
    max_bytes: usize,
    sizes: HashMap<Seq, usize>,
    bytes: usize,
}

impl Window {
    /// An empty window.
    pub fn new(max_count: usize, max_bytes: usize) -> Window {
        Window {
            max_count,
            max_bytes,
            sizes: HashMap::new(),
            bytes: 0,
        }
    }

    /// Whether a frame of `bytes` may be pushed now.
    pub fn fits(&self, bytes: usize) -> bool {
        self.sizes.is_empty()
            || (self.sizes.len() < self.max_count
                && self.bytes.saturating_add(bytes) <= self.max_bytes)
    }

    /// Records a pushed envelope.
    pub fn push(&mut self, seq: Seq, bytes: usize) {
        if let Some(old) = self.sizes.insert(seq, bytes) {
            self.bytes -= old;
        }
        self.bytes += bytes;
    }

    /// Forgets an acknowledged envelope (unknown sequence numbers are
    /// ignored).
    pub fn ack(&mut self, seq: Seq) {
        if let Some(size) = self.sizes.remove(&seq) {
            self.bytes -= size;
        }
    }

    /// How many envelopes to read from the queue, if each may be as large
    /// as `largest` bytes: no more than the window could take, so a slow
    /// client never makes the server hold more than about one window of
    /// envelopes in memory. At least one while there is any room.
    pub fn to_read(&self, largest: usize) -> usize {
        if self.sizes.is_empty() {
            return (self.max_bytes / largest.max(1)).clamp(1, self.max_count);
        }
        let count_room = self.max_count.saturating_sub(self.sizes.len());
        let byte_room = self.max_bytes.saturating_sub(self.bytes);
        if count_room == 0 || byte_room == 0 {
            return 0;
        }
        (byte_room / largest.max(1)).clamp(1, count_room)
    }

    /// Envelopes in flight.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Whether this envelope was pushed and not yet acknowledged.
    pub fn holds(&self, seq: Seq) -> bool {
        self.sizes.contains_key(&seq)
    }

    /// Bytes in flight.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

fn text(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).expect("server frames always serialise")
}

/// Sends a frame, failing when the client does not take it within
/// `idle_timeout_secs` (it stopped reading; its connection is dropped).
async fn send_text(app: &App, sink: &mut Sink, text: String) -> Result<(), axum::Error> {
    send_message(app, sink, Message::Text(text.into())).await
}

async fn send_message(app: &App, sink: &mut Sink, message: Message) -> Result<(), axum::Error> {
    match tokio::time::timeout(app.config.idle_timeout(), sink.send(message)).await {
        Ok(sent) => sent,
        Err(_) => Err(axum::Error::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client took no frame within idle_timeout_secs",
        ))),
    }
}

async fn send(app: &App, sink: &mut Sink, frame: &ServerFrame) -> Result<(), axum::Error> {
    send_text(app, sink, text(frame)).await
}

async fn refuse(app: &App, sink: &mut Sink, error: ErrorCode, message: &str) {
    let frame = ServerFrame::Error {
        error,
        message: message.into(),
    };
    let _ = send(app, sink, &frame).await;
    let _ = send_message(app, sink, Message::Close(None)).await;
}

async fn session(
    app: Arc<App>,
    socket: WebSocket,
    waiting: Unauthenticated,
) -> Result<(), axum::Error> {
    let (mut sink, mut frames) = socket.split();
    let who = match tokio::time::timeout(app.config.stream_auth_timeout(), frames.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => match serde_json::from_str(&text) {
            Ok(ClientFrame::Auth { token }) => auth::verify(&app, &token).await.ok(),
            _ => None,
        },
        _ => None,
    };
    drop(waiting);
    let Some(Authed { account, device }) = who else {
        refuse(
            &app,
            &mut sink,
            ErrorCode::Unauthorized,
            "the first frame must be {\"type\":\"auth\",\"token\":...} with a valid device token",
        )
        .await;
        return Ok(());
    };
    let Ok(mut reg) = app.hub.register(account, device) else {
        refuse(
            &app,
            &mut sink,
            ErrorCode::TooManyConnections,
            &format!(
                "this account already has {} connections open (max_connections_per_account)",
                app.config.connections.max_connections_per_account
            ),
        )
        .await;
        return Ok(());
    };
    // A removal (or logout) that committed between the token check and the
    // registration kicked nobody; looking again now closes that window,
    // since any later removal finds this registration and kicks it.
    if !delivery::still_registered(&app, device).await {
        app.hub.unregister(device, reg.id);
        refuse(
            &app,
            &mut sink,
            ErrorCode::DeviceRemoved,
            "this device was removed from the account; run `tidings login` to add it again",
        )
        .await;
        return Ok(());
    }
    tracing::debug!(%account, %device, "stream open");
    delivery::connected(&app, device).await;
    let result = pump(&app, device, &mut reg, &mut sink, &mut frames).await;
    app.hub.unregister(device, reg.id);
    delivery::disconnected(&app, device).await;
    tracing::debug!(%account, %device, "stream closed");
    result
}

/// The largest envelope frame the queue can hold, as far as reading is
/// concerned: a payload of `max_payload_bytes` in base64, plus overhead.
fn largest_envelope(app: &App) -> usize {
    app.config.limits.max_payload_bytes.div_ceil(3) * 4 + ENVELOPE_OVERHEAD_BYTES
}

async fn pump(
    app: &App,
    device: DeviceId,
    reg: &mut crate::cluster::hub::Registration,
    sink: &mut Sink,
    frames: &mut futures_util::stream::SplitStream<WebSocket>,
) -> Result<(), axum::Error> {
    send(app, sink, &ServerFrame::Ready { device }).await?;
    let largest = largest_envelope(app);
    let mut window = Window::new(
        MAX_IN_FLIGHT,
        app.config.connections.max_inflight_bytes_per_stream,
    );
    let mut fetch = true;
    // Whether the queue may hold more than is in flight: then an ack, which
    // makes room, reads again. Once a read has caught up, new entries come
    // with a wake-up (sent after their commit), so acks alone need no read:
    // on a busy stream that halves the queue reads.
    let mut backlog = true;
    // With several nodes, a wake-up from another one may be lost (Redis
    // away, a signal dropped): then the queue is polled instead, and
    // always now and then, so a lost signal delays but never loses.
    let clustered = app.hub.bus().is_some();
    let mut poll = tokio::time::interval(Duration::from_secs(app.config.cluster.cluster_poll_secs));
    let mut safety = tokio::time::interval(Duration::from_secs(
        app.config.cluster.cluster_safety_poll_secs,
    ));
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        // Fill the window before listening again: read what it can take,
        // push what fits, stop when it is full or the queue is empty.
        while fetch {
            let want = window.to_read(largest);
            if want == 0 {
                fetch = false; // Full: an ack makes room.
                backlog = true;
                break;
            }
            // From the queue's start, past what is in flight: on
            // PostgreSQL, nodes commit concurrently, so an entry can become
            // visible after one with a higher number was pushed; reading
            // from the start finds it, where a cursor would skip it.
            let in_flight = window.len();
            let read = in_flight + want;
            let batch = match delivery::queued(app, device, Seq::default(), read).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a queue");
                    refuse(
                        app,
                        sink,
                        ErrorCode::Internal,
                        "the server cannot read your queue; reconnect later",
                    )
                    .await;
                    return Ok(());
                }
            };
            let caught_up = batch.len() < read;
            for envelope in batch {
                if window.holds(envelope.seq) {
                    continue;
                }
                let seq = envelope.seq;
                let frame = text(&ServerFrame::Envelope(envelope));
                if !window.fits(frame.len()) {
                    // Read again once acks make room.
                    fetch = false;
                    backlog = true;
                    break;
                }
                window.push(seq, frame.len());
                send_text(app, sink, frame).await?;
            }
            if fetch && caught_up {
                send(app, sink, &ServerFrame::Drained).await?;
                fetch = false;
                backlog = false;
            }
        }
        tokio::select! {
            _ = reg.wake.notified() => fetch = true,
            _ = poll.tick(), if app.hub.degraded() => fetch = true,
            _ = safety.tick(), if clustered => fetch = true,
            Some(envelope) = reg.ephemeral.recv() => {
                send(app, sink, &ServerFrame::Envelope(envelope)).await?;
            }
            frame = frames.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e),
                };
                let Ok(ClientFrame::Ack { seqs }) = serde_json::from_str(&text) else {
                    refuse(app, sink, ErrorCode::BadFrame, "expected an ack frame").await;
                    return Ok(());
                };
                if seqs.len() > MAX_IN_FLIGHT {
                    refuse(app, sink, ErrorCode::BadFrame, &format!("at most {MAX_IN_FLIGHT} acks per frame")).await;
                    return Ok(());
                }
                match delivery::ack(app, device, &seqs).await {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "cannot record acks");
                        refuse(app, sink, ErrorCode::Internal, "the server cannot record acknowledgements; reconnect later").await;
                        return Ok(());
                    }
                }
                for s in &seqs {
                    window.ack(*s);
                }
                fetch = backlog;
            }
            reason = &mut reg.kicked => {
                let reason = reason.unwrap_or(ErrorCode::Closed);
                let message = match reason {
                    ErrorCode::Replaced => "this device connected again elsewhere; this connection is closed",
                    ErrorCode::DeviceRemoved => "this device was removed from the account; run `tidings login` to add it again",
                    _ => "connection closed by the server",
                };
                refuse(app, sink, reason, message).await;
                return Ok(());
            }
            _ = reg.shutdown.changed() => {
                refuse(app, sink, ErrorCode::ShuttingDown, "the server is restarting; reconnect in a moment").await;
                return Ok(());
            }
            _ = ping.tick() => send_message(app, sink, Message::Ping(Default::default())).await?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: u64) -> Seq {
        Seq::new(n).expect("small")
    }

    #[test]
    fn the_window_bounds_bytes_and_count_but_always_lets_one_through() {
        let mut w = Window::new(3, 1000);
        assert!(w.fits(5000), "one envelope always goes");
        w.push(seq(1), 5000);
        assert!(!w.fits(1), "nothing more while it is out");
        assert_eq!(w.to_read(100), 0);
        w.ack(seq(1));
        assert_eq!(w.bytes(), 0);
        w.push(seq(2), 400);
        assert!(w.fits(600));
        assert!(!w.fits(601));
        w.push(seq(3), 100);
        w.push(seq(4), 100);
        assert!(!w.fits(1), "count bound");
        w.ack(seq(99)); // unknown: ignored
        w.ack(seq(3));
        assert_eq!(w.bytes(), 500);
        assert!(w.fits(500));
    }

    #[test]
    fn reads_only_what_the_window_can_take() {
        let w = Window::new(256, 1000);
        assert_eq!(w.to_read(300), 3);
        assert_eq!(w.to_read(5000), 1, "at least one when empty");
        let mut w = Window::new(256, 1000);
        w.push(seq(1), 900);
        assert_eq!(w.to_read(300), 1, "at least one while there is room");
        w.push(seq(2), 100);
        assert_eq!(w.to_read(300), 0, "no byte room");
        let mut w = Window::new(2, 1_000_000);
        assert_eq!(w.to_read(10), 2, "count bound");
        w.push(seq(1), 10);
        assert_eq!(w.to_read(10), 1);
    }
}
