//! A fake SMS centre: the phone network behind Kannel in tests and demos.
//!
//! With `smsc = fake`, Kannel's bearerbox listens on a port and expects an
//! SMS centre to connect and exchange lines `SENDER RECEIVER TYPE DATA`.
//! Debian's package lacks Kannel's own `fakesmsc`, so this is ours. It plays
//! every phone that is not on Tidings:
//!
//! - SMS that Kannel delivers land in the inbox of the receiving phone,
//!   after long messages are reassembled from their segments;
//! - [`FakeSmsc::submit`] makes a phone send an SMS, split into segments
//!   with concatenation headers when it is long.
//!
//! [`router`] serves the same two HTTP calls as the server's simulated
//! carrier (`GET /v1/carrier/{number}`, `POST /v1/carrier/send`), so
//! `tidings --server URL carrier inbox|send` drives either one.
//!
//! The line protocol does not carry the coding of a segment with a header
//! (`udh`) or of 8-bit `data`: such bytes are read with
//! [`crate::encoding::decode_untyped`].

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::encoding::{
    count_segments, decode_untyped, looks_like_text, parse_concat_udh, split, ucs2_decode,
    url_decode_bytes, url_encode_bytes, Encoding, Reassembler,
};
use crate::inbox::{InboxMessage, Inboxes};

/// Longest line accepted from bearerbox, in bytes.
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Lines waiting to be written to bearerbox (phones sending SMS).
pub const OUTGOING_QUEUE: usize = 1024;
/// Wait between attempts to reach bearerbox.
pub const RECONNECT_DELAY: Duration = Duration::from_millis(200);
/// Longest text a phone may send, in bytes.
pub const MAX_SUBMIT_TEXT_BYTES: usize = 1600;

/// Why a phone could not send an SMS.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// A number is empty or holds a space (the line protocol splits on it).
    #[error("a phone number must be non-empty and without spaces")]
    BadNumber,
    /// The text is empty or too long.
    #[error("an SMS text is 1 to {MAX_SUBMIT_TEXT_BYTES} bytes")]
    BadText,
    /// Too many lines are waiting for bearerbox.
    #[error("the fake SMS centre has {OUTGOING_QUEUE} SMS waiting for Kannel; try again later")]
    QueueFull,
}

/// The fake SMS centre's state; see the module documentation.
pub struct FakeSmsc {
    phones: Inboxes,
    outgoing: mpsc::Sender<String>,
    reassembler: Mutex<Reassembler>,
    next_reference: AtomicU8,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl FakeSmsc {
    /// Starts a centre that keeps connecting to bearerbox at `bearerbox`
    /// (`host:port`) and reconnects whenever Kannel restarts.
    pub fn start(bearerbox: String) -> Arc<FakeSmsc> {
        let (tx, rx) = mpsc::channel(OUTGOING_QUEUE);
        let smsc = Arc::new(FakeSmsc {
            phones: Inboxes::new(),
            outgoing: tx,
            reassembler: Mutex::new(Reassembler::new()),
            next_reference: AtomicU8::new(1),
        });
        tokio::spawn(connection(smsc.clone(), bearerbox, rx));
        smsc
    }

    /// What the phones received.
    pub fn phones(&self) -> &Inboxes {
        &self.phones
    }

    /// Makes phone `from` send `text` to `to` through Kannel.
    pub fn submit(&self, from: &str, to: &str, text: &str) -> Result<(), SubmitError> {
        let valid = |n: &str| !n.is_empty() && !n.contains(char::is_whitespace);
        if !valid(from) || !valid(to) {
            return Err(SubmitError::BadNumber);
        }
        if text.is_empty() || text.len() > MAX_SUBMIT_TEXT_BYTES {
            return Err(SubmitError::BadText);
        }
        let (encoding, segments) = count_segments(text);
        let plain =
            encoding == Encoding::Gsm7 && segments == 1 && !text.contains(|c: char| c.is_control());
        let lines = if plain {
            vec![format!("{from} {to} text {text}")]
        } else {
            let reference = self.next_reference.fetch_add(1, Ordering::Relaxed);
            let parts = split(text, reference).map_err(|_| SubmitError::BadText)?;
            parts
                .iter()
                .map(|part| {
                    let data = match part.encoding {
                        Encoding::Gsm7 => part.text.as_bytes().to_vec(),
                        Encoding::Ucs2 => part.payload.clone(),
                    };
                    match &part.udh {
                        Some(udh) => format!(
                            "{from} {to} udh {} {}",
                            url_encode_bytes(udh),
                            url_encode_bytes(&data)
                        ),
                        None => format!("{from} {to} data {}", url_encode_bytes(&data)),
                    }
                })
                .collect()
        };
        let permits = lines.len();
        // Reserve room for every segment first, so a message never goes
        // out in part.
        let mut reserved = Vec::with_capacity(permits);
        for _ in 0..permits {
            reserved.push(
                self.outgoing
                    .try_reserve()
                    .map_err(|_| SubmitError::QueueFull)?,
            );
        }
        for (permit, line) in reserved.into_iter().zip(lines) {
            permit.send(line);
        }
        Ok(())
    }

    /// Handles one line from bearerbox (without its line end): an SMS for
    /// a phone. Public so that `fuzz/` can feed it untrusted lines.
    pub fn receive(&self, line: &str) {
        let mut fields = line.splitn(4, ' ');
        let (Some(from), Some(to), Some(kind), Some(data)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            tracing::warn!("fake SMSC: malformed line from bearerbox");
            return;
        };
        let text = match kind {
            "text" => Some(data.to_string()),
            "ucs-2" => url_decode_bytes(data)
                .ok()
                .and_then(|b| ucs2_decode(&b).ok()),
            "data" => url_decode_bytes(data)
                .ok()
                .and_then(|b| decode_untyped(&b).ok()),
            "udh" => self.segment(from, data),
            _ => None,
        };
        match text {
            Some(text) => self.phones.deliver(InboxMessage {
                from: from.to_string(),
                to: to.to_string(),
                text,
                at: now_ms(),
            }),
            None => tracing::debug!(kind, "fake SMSC: line gave no complete message yet"),
        }
    }

    /// One segment (`UDH [data] BYTES`); the whole text once all arrived.
    fn segment(&self, from: &str, data: &str) -> Option<String> {
        let tokens: Vec<&str> = data.split(' ').collect();
        let (udh, bytes) = match tokens.as_slice() {
            [udh, "data", bytes] | [udh, bytes] => (*udh, *bytes),
            _ => return None,
        };
        let udh = url_decode_bytes(udh).ok()?;
        let bytes = url_decode_bytes(bytes).ok()?;
        let Some(info) = parse_concat_udh(&udh) else {
            return decode_untyped(&bytes).ok();
        };
        let mut reassembler = self
            .reassembler
            .lock()
            .expect("reassembler lock is never poisoned");
        let result = if looks_like_text(&bytes) {
            let text = String::from_utf8(bytes).expect("checked by looks_like_text");
            reassembler.push_text(from, info, &text, now_ms())
        } else {
            reassembler.push_ucs2(from, info, &bytes, now_ms())
        };
        result.ok().flatten()
    }
}

/// Keeps one connection to bearerbox up: reads SMS for phones, writes SMS
/// from phones. A line that could not be written is kept for the next
/// connection.
async fn connection(smsc: Arc<FakeSmsc>, bearerbox: String, mut rx: mpsc::Receiver<String>) {
    let mut pending: Option<String> = None;
    loop {
        let stream = match TcpStream::connect(&bearerbox).await {
            Ok(s) => s,
            Err(_) => {
                if rx.is_closed() && pending.is_none() {
                    return;
                }
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        tracing::info!(%bearerbox, "fake SMSC connected to bearerbox");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::with_capacity(MAX_LINE_BYTES, read);
        let mut buf = Vec::new();
        loop {
            if let Some(line) = pending.take() {
                if write
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    pending = Some(line);
                    break;
                }
                continue;
            }
            // `read_until` keeps what it read in `buf` when the select
            // drops it for an outgoing line, so `buf` is only cleared once
            // a whole line was handled.
            let mut limited =
                (&mut lines).take((MAX_LINE_BYTES + 1 - buf.len().min(MAX_LINE_BYTES)) as u64);
            tokio::select! {
                read = limited.read_until(b'\n', &mut buf) => {
                    match read {
                        Ok(0) | Err(_) => break,
                        Ok(_) if buf.len() > MAX_LINE_BYTES => {
                            tracing::warn!("fake SMSC: overlong line from bearerbox; reconnecting");
                            break;
                        }
                        Ok(_) if !buf.ends_with(b"\n") => {}
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf).into_owned();
                            buf.clear();
                            smsc.receive(line.trim_end_matches(['\r', '\n']));
                        }
                    }
                }
                next = rx.recv() => match next {
                    Some(line) => pending = Some(line),
                    None => return,
                }
            }
        }
        tracing::info!("fake SMSC lost bearerbox; reconnecting");
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Body of `POST /v1/carrier/send`.
#[derive(Debug, Deserialize)]
struct Submit {
    from: String,
    to: String,
    text: String,
}

/// The HTTP face of the centre: the phones' inboxes and sending from a phone.
pub fn router(smsc: Arc<FakeSmsc>) -> Router {
    Router::new()
        .route("/v1/carrier/send", post(submit))
        .route("/v1/carrier/{number}", get(inbox))
        .with_state(smsc)
}

async fn inbox(
    State(smsc): State<Arc<FakeSmsc>>,
    Path(number): Path<String>,
) -> Json<Vec<InboxMessage>> {
    Json(smsc.phones.messages(&number))
}

async fn submit(
    State(smsc): State<Arc<FakeSmsc>>,
    Json(req): Json<Submit>,
) -> (StatusCode, String) {
    match smsc.submit(&req.from, &req.to, &req.text) {
        Ok(()) => (StatusCode::ACCEPTED, String::new()),
        Err(e @ SubmitError::QueueFull) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A stand-in bearerbox: the centre connects, and the test reads and
    /// writes lines as bearerbox would.
    #[tokio::test]
    async fn lines_both_ways_with_segments_reassembled() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let smsc = FakeSmsc::start(addr);
        let (socket, _) = listener.accept().await.expect("centre connects");
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();

        smsc.submit("+12025550103", "+12025550101", "hi there")
            .expect("queued");
        let line = lines.next_line().await.expect("read").expect("line");
        assert_eq!(line, "+12025550103 +12025550101 text hi there");

        let long = "Привет, 世界! 😀 ".repeat(10);
        smsc.submit("+12025550103", "+12025550101", &long)
            .expect("queued");
        let mut got = Vec::new();
        for _ in 0..split(&long, 0).expect("fits").len() {
            let line = lines.next_line().await.expect("read").expect("line");
            assert!(
                line.starts_with("+12025550103 +12025550101 udh %05%00%03"),
                "{line}"
            );
            got.push(line);
        }
        // Echo the segments back as bearerbox would deliver them, in the
        // format Kannel 1.4.5 writes (`udh UDH data BYTES`), out of order.
        got.reverse();
        for line in got {
            let rest = line.splitn(4, ' ').nth(3).expect("data");
            let (udh, bytes) = rest.split_once(' ').expect("two fields");
            write
                .write_all(format!("+12025550101 +12025550104 udh {udh} data {bytes}\n").as_bytes())
                .await
                .expect("write");
        }
        write
            .write_all(b"Tidings +12025550104 ucs-2 %00c%00o%00d%00e%00%20%D8%3D%DE%00\n")
            .await
            .expect("write");
        for _ in 0..100 {
            if smsc.phones().messages("+12025550104").len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let inbox = smsc.phones().messages("+12025550104");
        assert_eq!(inbox.len(), 2, "{inbox:?}");
        assert_eq!(inbox[0].text, long);
        assert_eq!(inbox[1].text, "code 😀");
        assert!(matches!(
            smsc.submit("a b", "+1", "x"),
            Err(SubmitError::BadNumber)
        ));
        assert!(matches!(
            smsc.submit("+1", "+2", ""),
            Err(SubmitError::BadText)
        ));
    }
}
