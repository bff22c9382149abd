//! `tidings logout` revokes the device on the server: afterwards its token
//! is refused everywhere and its open stream is closed. When the server
//! cannot be reached, logout deletes nothing unless `--force`, and then
//! says that the device stays registered.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::{credentials, enroll, ok, tg, Server};

async fn status(url: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> u16 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut req = reqwest::Client::new()
        .request(method.parse().expect("method"), format!("{url}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request").status().as_u16()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame as JSON; `None` once the server closed the stream.
async fn frame(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame or the close in time")?
            .ok()?;
        match msg {
            Message::Text(t) => return Some(serde_json::from_str(&t).expect("JSON frame")),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

async fn open_stream(url: &str, token: &str) -> (Ws, Value) {
    let ws_url = format!("{}/v1/stream", url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("stream connects");
    ws.send(Message::Text(
        json!({"type": "auth", "token": token}).to_string().into(),
    ))
    .await
    .expect("auth");
    let first = frame(&mut ws).await.expect("an answer to auth");
    (ws, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_token_everywhere_and_closes_its_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let alice = dir.path().join("alice");
    enroll(&server, &alice, "register", "--phone", "+12025550131");
    let (token, device) = credentials(&alice);
    let (mut ws, first) = open_stream(&server.url, &token).await;
    assert_eq!(first["type"], "ready", "{first}");

    let out = ok(tg(&server, &alice, &["logout"]));
    assert!(out.contains("removed from the server"), "{out}");
    assert!(!alice.join("device.json").exists(), "credentials deleted");

    // The open stream is told and closed.
    let mut told = false;
    while let Some(f) = frame(&mut ws).await {
        told |= f["error"] == "device_removed";
    }
    assert!(told, "the stream said why it closed");
    // The old token opens nothing any more.
    let (mut ws, first) = open_stream(&server.url, &token).await;
    assert_eq!(first["error"], "unauthorized", "{first}");
    assert!(frame(&mut ws).await.is_none());
    for (method, path, body) in [
        ("GET", "/v1/account", None),
        ("GET", "/v1/devices", None),
        ("GET", "/v1/handles", None),
        ("DELETE", "/v1/handles/%2B12025550131", None),
        ("DELETE", &format!("/v1/devices/{device}"), None),
        ("POST", "/v1/directory", Some(json!({"handles": []}))),
        ("GET", "/v1/keys", None),
        ("POST", "/v1/keys/claim", Some(json!({"devices": [device]}))),
        ("POST", "/v1/messages", Some(json!({"id": "x", "to": []}))),
        ("POST", "/v1/blobs", Some(json!({"size": 10}))),
        ("DELETE", "/v1/account", None),
    ] {
        assert_eq!(
            status(&server.url, method, path, &token, body).await,
            401,
            "{method} {path}"
        );
    }
    // The number is still the account's (the logged-out token could not
    // remove it), and logging in again works.
    let again = dir.path().join("alice2");
    enroll(&server, &again, "login", "--phone", "+12025550131");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_without_the_server_deletes_nothing_unless_forced_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let bob = dir.path().join("bob");
    enroll(&server, &bob, "register", "--email", "bob@example.org");
    let (token, device) = credentials(&bob);
    let url = server.url.clone();
    let (data, addr) = server.kill9();
    // The profile still names the (now stopped) server.
    let run = |args: &[&str]| {
        std::process::Command::new(common::BIN)
            .arg("--profile")
            .arg(&bob)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("tidings runs")
    };

    let refused = run(&["logout"]);
    let stderr = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(
        !refused.status.success(),
        "logout must not pretend: {stderr}"
    );
    assert!(stderr.contains("nothing was deleted"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(bob.join("device.json").exists(), "credentials kept");

    let forced = run(&["logout", "--force"]);
    let stderr = String::from_utf8_lossy(&forced.stderr).to_string();
    assert!(forced.status.success(), "{stderr}");
    assert!(stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains("stays registered"), "{stderr}");
    assert!(
        stderr.contains(&format!("tidings devices remove {device}")),
        "{stderr}"
    );
    assert!(!bob.join("device.json").exists(), "credentials deleted");

    // As the warning said, the device is still registered on the server.
    let server = Server::start(&data, &addr);
    assert_eq!(server.url, url);
    assert_eq!(status(&url, "GET", "/v1/account", &token, None).await, 200);
}
