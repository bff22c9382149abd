//! Helpers shared by the server's integration tests: a real server on an
//! ephemeral port with a manual clock, JSON calls (optionally from a given
//! client address), registration by code, and the delivery stream.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tidings_server::{App, Config, ManualClock};
use tokio_tungstenite::tungstenite::Message;

/// A running server.
pub struct Server {
    pub url: String,
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Installs the process's TLS crypto provider, which reqwest (built without
/// one) needs before any client exists. Every test calls it through
/// [`http`] or [`start`], whichever runs first.
pub fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client for calls the helpers below do not cover.
pub fn http() -> reqwest::Client {
    tls();
    reqwest::Client::new()
}

/// The environment variable naming a PostgreSQL server for the tests
/// (`postgres://user@host:port/maintenance-db`): with it, every server the
/// tests start stores in a fresh database of its own there instead of
/// SQLite (`scripts/test` runs the suite both ways).
pub const POSTGRES_ENV: &str = "TIDINGS_TEST_POSTGRES";

/// Whether the tests run against PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(POSTGRES_ENV).is_ok_and(|v| !v.is_empty())
}

/// A new, empty database on the test PostgreSQL server, as a URL; `None`
/// when the tests run on SQLite.
pub fn fresh_postgres() -> Option<String> {
    let base = std::env::var(POSTGRES_ENV).ok().filter(|v| !v.is_empty())?;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand_suffix()
    );
    let admin = base.clone();
    let create = name.clone();
    // The synchronous client may not run on an async task: use a thread.
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&admin, postgres::NoTls)
            .expect("the test PostgreSQL server (TIDINGS_TEST_POSTGRES) answers");
        c.batch_execute(&format!("CREATE DATABASE {create}"))
            .expect("a test database can be created");
    })
    .join()
    .expect("creating a test database");
    let (server, _) = base.rsplit_once('/').expect("the URL names a database");
    Some(format!("{server}/{name}"))
}

fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    format!("{:x}", h.finish() & 0xffff_ffff)
}

/// Starts a server with the defaults changed by `tune`.
pub async fn start(tune: impl FnOnce(&mut Config)) -> Server {
    tls();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.storage.database_url = fresh_postgres().unwrap_or_default();
    tune(&mut config);
    let clock = Arc::new(ManualClock::new());
    let app = App::open(config, clock.clone()).expect("server opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
    tokio::spawn(async move {
        tidings_server::serve(listener, served, async {
            let _ = rx.await;
        })
        .await
        .expect("serves");
    });
    Server {
        url,
        app,
        clock,
        stop: Some(tx),
        _dir: dir,
    }
}

/// A response.
pub struct Resp {
    pub status: u16,
    pub body: Value,
}

/// A JSON call, optionally with a token and a client address
/// (`X-Forwarded-For`, honoured when `trust_forwarded_for` is on).
pub async fn call_from(
    server: &Server,
    from: Option<&str>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut req = http().request(
        method.parse().expect("method"),
        format!("{}{path}", server.url),
    );
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", ip);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request goes through");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp { status, body }
}

/// A JSON call from the default address.
pub async fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    call_from(server, None, method, path, token, body).await
}

/// The latest 6-digit code the simulated carrier or mail outbox holds.
pub async fn latest_code(server: &Server, handle: &str) -> String {
    let inbox = call(
        server,
        "GET",
        &format!("/v1/carrier/{}", handle.replace('+', "%2B")),
        None,
        None,
    )
    .await;
    let text = inbox
        .body
        .as_array()
        .and_then(|a| a.last())
        .expect("a message")["text"]
        .as_str()
        .expect("text")
        .to_string();
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_string()
}

/// A registered device.
#[derive(Debug, Clone)]
pub struct Dev {
    pub account: u64,
    pub device: u64,
    pub token: String,
    pub handle: String,
}

/// Asks for a code for `handle` (from client address `from`, when given)
/// and reads it from the simulated carrier or mail outbox; the server's
/// answer when it refuses to send one.
pub async fn request_code(
    server: &Server,
    from: Option<&str>,
    handle: &str,
) -> Result<String, Resp> {
    let r = call_from(
        server,
        from,
        "POST",
        "/v1/codes",
        None,
        Some(json!({ "handle": handle })),
    )
    .await;
    if r.status != 202 {
        return Err(r);
    }
    let normalised = r.body["handle"].as_str().expect("normalised handle");
    Ok(latest_code(server, normalised).await)
}

/// A code for `handle`, which the server must agree to send.
pub async fn code_for(server: &Server, handle: &str) -> String {
    match request_code(server, None, handle).await {
        Ok(code) => code,
        Err(r) => panic!("code request: {} {}", r.status, r.body),
    }
}

async fn try_register_as(server: &Server, from: Option<&str>, handle: &str) -> Resp {
    let code = match request_code(server, from, handle).await {
        Ok(code) => code,
        Err(refused) => return refused,
    };
    call_from(
        server,
        from,
        "POST",
        "/v1/accounts",
        None,
        Some(json!({ "handle": handle, "code": code, "device_name": "test" })),
    )
    .await
}

/// Registers `handle` from client address `from`; the raw answer.
pub async fn try_register_from(server: &Server, from: &str, handle: &str) -> Resp {
    try_register_as(server, Some(from), handle).await
}

/// Registers `handle` from client address `from`.
pub async fn register_from(server: &Server, from: &str, handle: &str) -> Dev {
    let r = try_register_from(server, from, handle).await;
    assert_eq!(r.status, 201, "{}", r.body);
    dev(&r.body)
}

/// Registers `handle` from the default address.
pub async fn register(server: &Server, handle: &str) -> Dev {
    let r = try_register_as(server, None, handle).await;
    assert_eq!(r.status, 201, "{}", r.body);
    dev(&r.body)
}

/// The device in a registration or login answer.
pub fn dev(body: &Value) -> Dev {
    Dev {
        account: body["account"].as_u64().expect("account"),
        device: body["device"].as_u64().expect("device"),
        token: body["token"].as_str().expect("token").to_string(),
        handle: body["handles"][0].as_str().expect("handle").to_string(),
    }
}

/// Sends `text` from `from` to one device of each of `to`.
pub async fn send(server: &Server, from: &Dev, id: &str, to: &[&Dev], text: &str) -> Resp {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let to: Vec<Value> = to
        .iter()
        .map(|d| json!({"handle": d.handle, "devices": [{"device": d.device, "payload": b64.encode(text)}]}))
        .collect();
    call(
        server,
        "POST",
        "/v1/messages",
        Some(&from.token),
        Some(json!({"id": id, "to": to, "own": []})),
    )
    .await
}

/// A delivery stream.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the stream of `dev` and returns every envelope waiting, acked.
pub async fn drain_envelopes(server: &Server, dev: &Dev) -> Vec<Value> {
    let url = server.url.replace("http://", "ws://") + "/v1/stream";
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("stream connects");
    ws.send(Message::Text(
        json!({"type": "auth", "token": dev.token})
            .to_string()
            .into(),
    ))
    .await
    .expect("auth");
    let mut out = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        let Message::Text(t) = msg else { continue };
        let f: Value = serde_json::from_str(&t).expect("JSON frame");
        match f["type"].as_str() {
            Some("envelope") => {
                let seq = f["seq"].as_u64().expect("seq");
                ws.send(Message::Text(
                    json!({"type": "ack", "seqs": [seq]}).to_string().into(),
                ))
                .await
                .expect("ack");
                out.push(f);
            }
            Some("drained") => return out,
            Some("ready") => {}
            other => panic!("unexpected frame {other:?}: {f}"),
        }
    }
}

/// Opens a delivery stream with `token`; the stream and its first frame.
pub async fn open_stream(server: &Server, token: &str) -> (Ws, Value) {
    let url = format!("{}/v1/stream", server.url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects");
    ws.send(Message::Text(
        json!({"type": "auth", "token": token}).to_string().into(),
    ))
    .await
    .expect("auth sent");
    let first = next_frame(&mut ws).await.expect("first frame");
    (ws, first)
}

/// The next JSON frame, or `None` once the stream is closed; a server
/// that sends neither within 10 s fails the test.
pub async fn next_frame(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame or the close in time")?
            .ok()?;
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).ok(),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}
