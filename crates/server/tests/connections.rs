//! Connection-level hardening, against a real server on loopback: slow and
//! idle clients are disconnected, connections are capped in total and per
//! client address, a stream client that never acknowledges holds a bounded
//! number of bytes, unauthenticated streams are timed out and capped, and
//! every answer (errors and HTML pages included) is JSON where it should be
//! and carries the security headers.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::{call, http, register, send, start, Server, Ws};

/// Longest wait for something the server must do (a timeout of one or two
/// seconds firing, a freed place being seen).
const DEADLINE: Duration = Duration::from_secs(10);

fn addr(server: &Server) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// A TCP connection to the server from loopback address `from`.
async fn connect_from(server: &Server, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback address");
    socket.connect(addr(server)).await.expect("connects")
}

async fn connect(server: &Server) -> TcpStream {
    connect_from(server, [127, 0, 0, 1]).await
}

/// Half a request head, then nothing: a slowloris client.
async fn stalled(server: &Server, from: [u8; 4]) -> TcpStream {
    let mut c = connect_from(server, from).await;
    c.write_all(b"GET /v1/limits HTTP/1.1\r\nHost: tidings\r\nX-Slow: ")
        .await
        .expect("half a head");
    c
}

/// Reads until the server closes the connection; `None` when it did not
/// within `within`. Returns what was read.
async fn read_to_close(c: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, c.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// One complete request on a fresh connection from `from`; the status line
/// of the answer, or `None` when the connection was closed without one.
async fn get_from(server: &Server, from: [u8; 4], path: &str) -> Option<String> {
    let mut c = connect_from(server, from).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: tidings\r\nConnection: close\r\n\r\n");
    if c.write_all(request.as_bytes()).await.is_err() {
        return None;
    }
    let text = read_to_close(&mut c, DEADLINE)
        .await
        .expect("an answer or a close");
    text.lines()
        .next()
        .filter(|l| l.starts_with("HTTP/1.1"))
        .map(str::to_string)
}

/// Asserts the connection is open: the server answers a request on it.
async fn answers(c: &mut TcpStream) {
    c.write_all(b"GET /v1/limits HTTP/1.1\r\nHost: tidings\r\nConnection: close\r\n\r\n")
        .await
        .expect("request sent");
    let text = read_to_close(c, DEADLINE).await.expect("answer");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn a_client_that_sends_half_a_request_head_is_disconnected() {
    let s = start(|c| c.connections.header_read_timeout_secs = 1).await;
    let started = Instant::now();
    let mut slow = stalled(&s, [127, 0, 0, 1]).await;
    let got = read_to_close(&mut slow, DEADLINE).await;
    assert!(got.is_some(), "still open after {DEADLINE:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A kept-alive connection that sends nothing more is closed likewise.
    let mut kept = connect(&s).await;
    kept.write_all(b"GET /v1/limits HTTP/1.1\r\nHost: tidings\r\n\r\n")
        .await
        .expect("request");
    let text = read_to_close(&mut kept, DEADLINE)
        .await
        .expect("closed after the answer");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    // The head timeout is long here, so only the idle timeout can act.
    let s = start(|c| {
        c.connections.header_read_timeout_secs = 60;
        c.connections.request_timeout_secs = 1;
        c.connections.idle_timeout_secs = 1;
    })
    .await;
    let mut silent = connect(&s).await;
    assert!(read_to_close(&mut silent, DEADLINE).await.is_some());
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let s = start(|c| {
        c.connections.request_timeout_secs = 1;
        c.connections.idle_timeout_secs = 30;
    })
    .await;
    let mut c = connect(&s).await;
    c.write_all(
        b"POST /v1/codes HTTP/1.1\r\nHost: tidings\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"handle\":",
    )
    .await
    .expect("head and part of the body");
    let text = read_to_close(&mut c, DEADLINE)
        .await
        .expect("answered and closed");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"error\":\"request_timeout\""), "{text}");
    assert!(text.contains("request_timeout_secs"), "{text}");
}

#[tokio::test]
async fn an_oversized_request_head_is_refused() {
    let s = start(|c| c.connections.max_header_bytes = 8192).await;
    let mut c = connect(&s).await;
    let big = "a".repeat(20_000);
    let request = format!("GET /v1/limits HTTP/1.1\r\nHost: tidings\r\nX-Big: {big}\r\n\r\n");
    let _ = c.write_all(request.as_bytes()).await;
    let text = read_to_close(&mut c, DEADLINE).await.expect("closed");
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
}

#[tokio::test]
async fn http2_without_tls_is_not_spoken() {
    let s = start(|_| {}).await;
    let mut c = connect(&s).await;
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    let text = read_to_close(&mut c, DEADLINE).await.expect("closed");
    // No HTTP/2 SETTINGS frame comes back: an HTTP/1.1 error or nothing.
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4"),
        "{text:?}"
    );
}

#[tokio::test]
async fn connections_are_capped_per_address_and_in_total() {
    let s = start(|c| {
        c.connections.max_connections = 3;
        c.connections.max_connections_per_address = 2;
        c.connections.header_read_timeout_secs = 60;
    })
    .await;
    let mut a1 = connect_from(&s, [127, 0, 0, 1]).await;
    let _a2 = connect_from(&s, [127, 0, 0, 1]).await;
    // The listener takes connections in order, so a1 and a2 are counted
    // before this one, which is closed at once.
    let mut a3 = connect_from(&s, [127, 0, 0, 1]).await;
    assert_eq!(read_to_close(&mut a3, DEADLINE).await.as_deref(), Some(""));
    // Another client address has its own share...
    let mut b1 = connect_from(&s, [127, 0, 0, 2]).await;
    // ...until the total is reached.
    let mut c1 = connect_from(&s, [127, 0, 0, 3]).await;
    assert_eq!(read_to_close(&mut c1, DEADLINE).await.as_deref(), Some(""));
    // The admitted connections work.
    answers(&mut b1).await;
    answers(&mut a1).await;
    // Their places are free again once they closed.
    let deadline = Instant::now() + DEADLINE;
    loop {
        if get_from(&s, [127, 0, 0, 3], "/v1/limits").await.as_deref() == Some("HTTP/1.1 200 OK") {
            break;
        }
        assert!(Instant::now() < deadline, "no place was freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn stalled_connections_up_to_the_cap_time_out_and_service_resumes() {
    const CAP: usize = 50;
    let s = start(|c| {
        c.connections.max_connections = CAP;
        c.connections.max_connections_per_address = CAP;
        // Long enough that opening CAP connections on a busy machine
        // finishes before the first of them times out.
        c.connections.header_read_timeout_secs = 3;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..CAP {
        slow.push(stalled(&s, [127, 0, 0, 1]).await);
    }
    // Every place is held: a real request is refused...
    assert_eq!(get_from(&s, [127, 0, 0, 1], "/v1/limits").await, None);
    // ...until the stalled ones time out; then requests succeed again.
    for c in &mut slow {
        assert!(
            read_to_close(c, DEADLINE).await.is_some(),
            "a stalled connection stayed open"
        );
    }
    let deadline = Instant::now() + DEADLINE;
    loop {
        if get_from(&s, [127, 0, 0, 1], "/v1/limits").await.as_deref() == Some("HTTP/1.1 200 OK") {
            break;
        }
        assert!(Instant::now() < deadline, "service did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ws_connect(server: &Server) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}/v1/stream", server.url.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url)
        .await
        .map(|(ws, _)| ws)
}

/// The next text frame as JSON, skipping pings; `None` on close.
async fn frame(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("a frame in time")?
            .ok()?;
        match msg {
            Message::Text(t) => return Some(serde_json::from_str(&t).expect("JSON frame")),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

async fn auth(ws: &mut Ws, token: &str) {
    ws.send(Message::Text(
        json!({"type": "auth", "token": token}).to_string().into(),
    ))
    .await
    .expect("auth sent");
    let ready = frame(ws).await.expect("ready");
    assert_eq!(ready["type"], "ready", "{ready}");
}

#[tokio::test]
async fn an_unauthenticated_stream_is_closed_after_the_auth_timeout() {
    let s = start(|c| c.connections.stream_auth_timeout_secs = 1).await;
    let started = Instant::now();
    let mut ws = ws_connect(&s).await.expect("upgrades");
    let f = frame(&mut ws).await.expect("an error frame");
    assert_eq!(f["error"], "unauthorized", "{f}");
    assert!(frame(&mut ws).await.is_none(), "closed");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed only after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unauthenticated_streams_are_capped() {
    let s = start(|c| c.connections.max_unauthenticated_streams = 2).await;
    let bob = register(&s, "+12025550101").await;
    let mut w1 = ws_connect(&s).await.expect("first");
    let _w2 = ws_connect(&s).await.expect("second");
    match ws_connect(&s).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("JSON error");
            assert_eq!(body["error"], "too_many_unauthenticated_streams");
            assert!(body["message"]
                .as_str()
                .expect("message")
                .contains("max_unauthenticated_streams"));
        }
        other => panic!("a third waiting stream was let in: {:?}", other.map(|_| ())),
    }
    // Authenticating frees the place.
    auth(&mut w1, &bob.token).await;
    let _w3 = ws_connect(&s).await.expect("a place was freed");
}

#[tokio::test]
async fn a_stream_client_that_does_not_ack_gets_at_most_the_byte_window() {
    const WINDOW: usize = 100_000;
    const QUEUED: usize = 9;
    let s = start(|c| c.connections.max_inflight_bytes_per_stream = WINDOW).await;
    let alice = register(&s, "+12025550102").await;
    let bob = register(&s, "+12025550103").await;
    // Envelopes of about 40 KB: two fit in the window, three do not.
    let text = "x".repeat(30_000);
    for i in 0..QUEUED {
        let r = send(&s, &alice, &format!("m{i}"), &[&bob], &text).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let url = format!("{}/v1/stream", s.url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrades");
    auth(&mut ws, &bob.token).await;
    let mut received = 0;
    let mut rounds = 0;
    loop {
        // The server fills the window before it reads our next frame, so
        // everything it pushes before acks arrives before the pong.
        ws.send(Message::Ping(b"mark".to_vec().into()))
            .await
            .expect("ping");
        let mut seqs = Vec::new();
        let mut bytes = 0;
        let mut drained = false;
        loop {
            let msg = tokio::time::timeout(DEADLINE, ws.next())
                .await
                .expect("a frame in time")
                .expect("open")
                .expect("frame");
            match msg {
                Message::Pong(_) => break,
                Message::Text(t) => {
                    let f: Value = serde_json::from_str(&t).expect("JSON");
                    match f["type"].as_str() {
                        Some("envelope") => {
                            bytes += t.len();
                            seqs.push(f["seq"].as_u64().expect("seq"));
                        }
                        Some("drained") => drained = true,
                        _ => panic!("unexpected frame {f}"),
                    }
                }
                _ => {}
            }
        }
        assert!(bytes <= WINDOW, "{bytes} bytes pushed unacknowledged");
        received += seqs.len();
        if received < QUEUED {
            assert_eq!(seqs.len(), 2, "the window holds two envelopes");
            assert!(!drained);
        } else {
            assert!(drained, "caught up");
            break;
        }
        ws.send(Message::Text(
            json!({"type": "ack", "seqs": seqs}).to_string().into(),
        ))
        .await
        .expect("ack");
        rounds += 1;
        assert!(rounds < QUEUED, "no progress");
    }
    assert_eq!(received, QUEUED);
}

#[tokio::test]
async fn one_envelope_larger_than_the_window_still_goes() {
    let s = start(|c| c.connections.max_inflight_bytes_per_stream = 1000).await;
    let alice = register(&s, "+12025550104").await;
    let bob = register(&s, "+12025550105").await;
    for i in 0..2 {
        let r = send(&s, &alice, &format!("big{i}"), &[&bob], &"y".repeat(5000)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let url = format!("{}/v1/stream", s.url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrades");
    auth(&mut ws, &bob.token).await;
    ws.send(Message::Ping(b"mark".to_vec().into()))
        .await
        .expect("ping");
    let mut envelopes = Vec::new();
    loop {
        let msg = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        match msg {
            Message::Pong(_) => break,
            Message::Text(t) => {
                let f: Value = serde_json::from_str(&t).expect("JSON");
                if f["type"] == "envelope" {
                    envelopes.push(f);
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        envelopes.len(),
        1,
        "exactly one, though larger than the window"
    );
    let seq = envelopes[0]["seq"].as_u64().expect("seq");
    ws.send(Message::Text(
        json!({"type": "ack", "seqs": [seq]}).to_string().into(),
    ))
    .await
    .expect("ack");
    let next = frame(&mut ws).await.expect("the second after the ack");
    assert_eq!(next["type"], "envelope", "{next}");
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_get_json_errors() {
    let s = start(|_| {}).await;
    let r = http()
        .put(format!("{}/v1/messages", s.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 405);
    let allow = r
        .headers()
        .get("allow")
        .expect("Allow header")
        .to_str()
        .expect("text")
        .to_string();
    assert!(allow.contains("POST"), "{allow}");
    let body: Value = r.json().await.expect("JSON body");
    assert_eq!(body["error"], "method_not_allowed", "{body}");
    assert!(body["message"].as_str().expect("message").contains("Allow"));

    let r = call(&s, "GET", "/v1/no-such-thing", None, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "not_found", "{}", r.body);
}

#[tokio::test]
async fn every_answer_carries_security_headers() {
    let s = start(|_| {}).await;
    let client = http();
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/carrier"),
        ("GET", "/deregister"),
        ("GET", "/l/no-such-link"),
        ("GET", "/v1/limits"),
        ("GET", "/v1/account"),
        ("GET", "/nowhere"),
        ("PUT", "/v1/messages"),
    ] {
        let r = client
            .request(method.parse().expect("method"), format!("{}{path}", s.url))
            .send()
            .await
            .expect("answer");
        let h = r.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(get("x-content-type-options"), "nosniff", "{method} {path}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{method} {path}");
        assert_eq!(get("x-frame-options"), "DENY", "{method} {path}");
        let csp = get("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{method} {path}: {csp}");
        assert!(
            csp.contains("frame-ancestors 'none'"),
            "{method} {path}: {csp}"
        );
        if get("content-type").starts_with("text/html") {
            assert!(!csp.contains("script-src"), "{method} {path}: {csp}");
        }
        if path == "/deregister" {
            // The page's own policy is kept: its forms post back here.
            assert!(csp.contains("form-action 'self'"), "{csp}");
        }
    }
}
