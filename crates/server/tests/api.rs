//! Integration tests: a real server on an ephemeral port with a temporary
//! data directory, driven over HTTP and WebSocket.

use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tidings_server::Config;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::{call, code_for, dev, register, start, Resp, Server};

async fn login(server: &Server, handle: &str) -> Resp {
    let code = code_for(server, handle).await;
    call(
        server,
        "POST",
        "/v1/devices",
        None,
        Some(json!({ "handle": handle, "code": code, "device_name": "second" })),
    )
    .await
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn send_body(id: &str, to: &[(&str, Vec<u64>)], own: &[u64], payload: &[u8]) -> Value {
    json!({
        "id": id,
        "to": to.iter().map(|(h, ds)| json!({
            "handle": h,
            "devices": ds.iter().map(|d| json!({"device": d, "payload": b64(payload)})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "own": own.iter().map(|d| json!({"device": d, "payload": b64(payload)})).collect::<Vec<_>>(),
    })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn stream(server: &Server, token: &str) -> (Ws, Value) {
    let url = format!("{}/v1/stream", server.url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects");
    ws.send(Message::Text(
        json!({"type": "auth", "token": token}).to_string().into(),
    ))
    .await
    .expect("auth sent");
    let first = next(&mut ws).await.expect("first frame");
    (ws, first)
}

async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).ok();
        }
        if let Message::Close(_) = msg {
            return None;
        }
    }
}

/// The next envelope, skipping `drained` markers.
async fn next_envelope(ws: &mut Ws) -> Option<Value> {
    loop {
        let f = next(ws).await?;
        if f["type"] != "drained" {
            return Some(f);
        }
    }
}

/// True when the server closes the connection (after any frames).
async fn closes(ws: &mut Ws) -> bool {
    for _ in 0..10 {
        match next(ws).await {
            None => return true,
            Some(f) if f["type"] == "envelope" => return false,
            Some(_) => {}
        }
    }
    false
}

/// Reads envelopes until `drained`, acknowledging them.
async fn drain(ws: &mut Ws) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let f = next(ws).await.expect("frame");
        match f["type"].as_str() {
            Some("envelope") => {
                let seq = f["seq"].as_u64().expect("seq");
                ws.send(Message::Text(
                    json!({"type":"ack","seqs":[seq]}).to_string().into(),
                ))
                .await
                .expect("ack");
                out.push(f);
            }
            Some("drained") => return out,
            other => panic!("unexpected frame {other:?}: {f}"),
        }
    }
}

#[tokio::test]
async fn codes_are_single_use_limited_and_do_not_reveal_registration() {
    let s = start(|_| {}).await;
    let alice = register(&s, "+12025550101").await;
    // Same answer for a registered and an unregistered number.
    let a = call(
        &s,
        "POST",
        "/v1/codes",
        None,
        Some(json!({"handle": "+12025550101"})),
    )
    .await;
    let b = call(
        &s,
        "POST",
        "/v1/codes",
        None,
        Some(json!({"handle": "+12025550102"})),
    )
    .await;
    assert_eq!(a.status, b.status);
    assert_eq!(a.body["expires_in_secs"], b.body["expires_in_secs"]);
    // Wrong codes: five tries, then the code is void.
    let code = code_for(&s, "+12025550102").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (0..5).rev() {
        let r = call(
            &s,
            "POST",
            "/v1/accounts",
            None,
            Some(json!({"handle": "+12025550102", "code": wrong, "device_name": "x"})),
        )
        .await;
        assert_eq!(r.status, 403);
        assert_eq!(r.body["error"], "bad_code");
        if left > 0 {
            assert!(
                r.body["message"]
                    .as_str()
                    .expect("msg")
                    .contains(&format!("{left} tries left")),
                "{}",
                r.body
            );
        }
    }
    let r = call(
        &s,
        "POST",
        "/v1/accounts",
        None,
        Some(json!({"handle": "+12025550102", "code": code, "device_name": "x"})),
    )
    .await;
    assert_eq!(
        r.status, 403,
        "the right code after five wrong tries is refused"
    );
    // Expiry: a code older than 10 minutes is refused.
    let code = code_for(&s, "carol@example.org").await;
    s.clock.advance(10 * 60 * 1000 + 1);
    let r = call(
        &s,
        "POST",
        "/v1/accounts",
        None,
        Some(json!({"handle": "carol@example.org", "code": code, "device_name": "x"})),
    )
    .await;
    assert_eq!(r.status, 403);
    // Single use.
    let code = code_for(&s, "dave@example.org").await;
    let body = json!({"handle": "dave@example.org", "code": code, "device_name": "x"});
    assert_eq!(
        call(&s, "POST", "/v1/accounts", None, Some(body.clone()))
            .await
            .status,
        201
    );
    assert_eq!(
        call(&s, "POST", "/v1/accounts", None, Some(body))
            .await
            .status,
        403
    );
    // Registering a taken handle with a valid code says so, and login works.
    let code = code_for(&s, "+12025550101").await;
    let r = call(
        &s,
        "POST",
        "/v1/accounts",
        None,
        Some(json!({"handle": "+1 (202) 555-0101", "code": code, "device_name": "x"})),
    )
    .await;
    assert_eq!(r.status, 409);
    let r = call(
        &s,
        "POST",
        "/v1/devices",
        None,
        Some(json!({"handle": "+12025550101", "code": code, "device_name": "x"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["account"].as_u64(), Some(alice.account));
    // Login to an unregistered handle.
    let r = login(&s, "erin@example.org").await;
    assert_eq!(r.status, 404);
    // Bad input is explained.
    let r = call(
        &s,
        "POST",
        "/v1/codes",
        None,
        Some(json!({"handle": "+15550101001"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"]
        .as_str()
        .expect("msg")
        .contains("not a valid phone number"));
    let r = call(&s, "POST", "/v1/codes", None, Some(json!({"nope": 1}))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "bad_request");
}

#[tokio::test]
async fn code_sends_are_rate_limited_per_handle_and_per_address() {
    // Refused requests count nothing, so the third address limit is hit by
    // the fourth request that got through.
    let s = start(|c| {
        c.codes.code_sends_per_handle_per_address_per_hour = 2;
        c.codes.code_sends_per_address_per_hour = 3;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            call(
                &s,
                "POST",
                "/v1/codes",
                None,
                Some(json!({"handle": "a@example.org"}))
            )
            .await
            .status,
            202
        );
    }
    let r = call(
        &s,
        "POST",
        "/v1/codes",
        None,
        Some(json!({"handle": "a@example.org"})),
    )
    .await;
    assert_eq!(r.status, 429);
    assert!(r.body["retry_after_secs"].as_u64().expect("retry") > 0);
    assert!(r.body["message"]
        .as_str()
        .expect("m")
        .contains("code_sends_per_handle_per_address_per_hour"));
    assert_eq!(
        call(
            &s,
            "POST",
            "/v1/codes",
            None,
            Some(json!({"handle": "b@example.org"}))
        )
        .await
        .status,
        202
    );
    let r = call(
        &s,
        "POST",
        "/v1/codes",
        None,
        Some(json!({"handle": "c@example.org"})),
    )
    .await;
    assert_eq!(r.status, 429);
    assert!(r.body["message"]
        .as_str()
        .expect("m")
        .contains("code_sends_per_address_per_hour"));
    s.clock.advance(3_600_000);
    assert_eq!(
        call(
            &s,
            "POST",
            "/v1/codes",
            None,
            Some(json!({"handle": "c@example.org"}))
        )
        .await
        .status,
        202
    );
}

#[tokio::test]
async fn every_endpoint_needs_a_valid_token() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let forged = format!("{}.{}", alice.device, "0".repeat(64));
    for token in [None, Some("garbage"), Some(forged.as_str())] {
        for (method, path, body) in [
            ("GET", "/v1/account", None),
            ("GET", "/v1/handles", None),
            (
                "POST",
                "/v1/handles",
                Some(json!({"handle": "x@example.org", "code": "123456"})),
            ),
            ("GET", "/v1/devices", None),
            ("DELETE", "/v1/devices/1", None),
            ("POST", "/v1/directory", Some(json!({"handles": []}))),
            ("POST", "/v1/messages", Some(json!({"id": "x", "to": []}))),
            (
                "POST",
                "/v1/messages/fallback",
                Some(json!({"id": "x", "handle": "+12025550101", "text": "t"})),
            ),
            ("DELETE", "/v1/handles/alice%40example.org", None),
            ("DELETE", "/v1/account", None),
            ("POST", "/v1/blobs", Some(json!({"size": 10}))),
            ("GET", "/v1/blobs/0123456789abcdef0123456789abcdef", None),
            (
                "POST",
                "/v1/links",
                Some(
                    json!({"blob": "0".repeat(32), "key": "", "name": "a", "content_type": "text/plain", "size": 1}),
                ),
            ),
            ("GET", "/v1/keys", None),
        ] {
            let r = call(&s, method, path, token, body).await;
            assert_eq!(r.status, 401, "{method} {path} with {token:?}");
        }
    }
    let (mut ws, first) = stream(&s, &forged).await;
    assert_eq!(first["error"], "unauthorized");
    assert!(next(&mut ws).await.is_none());
    // A device of another account cannot be removed.
    let bob = register(&s, "bob@example.org").await;
    let r = call(
        &s,
        "DELETE",
        &format!("/v1/devices/{}", bob.device),
        Some(&alice.token),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        call(&s, "GET", "/v1/account", Some(&bob.token), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn delivery_online_offline_in_order_with_receipts_sync_and_idempotency() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "+12025550102").await;
    let r = login(&s, "alice@example.org").await;
    assert_eq!(r.status, 201);
    let alice2 = dev(&r.body);

    // Bob is offline: ten messages queue up.
    for i in 0..10 {
        let body = send_body(
            &format!("m{i}"),
            &[(&bob.handle, vec![bob.device])],
            &[alice2.device],
            format!("hello {i}").as_bytes(),
        );
        let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["duplicate"], false);
    }
    // The same id again is a no-op.
    let again = send_body(
        "m3",
        &[(&bob.handle, vec![bob.device])],
        &[alice2.device],
        b"hello 3",
    );
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(again)).await;
    assert_eq!(r.body["duplicate"], true);

    let (mut ws, ready) = stream(&s, &bob.token).await;
    assert_eq!(ready["type"], "ready");
    let got = drain(&mut ws).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|e| e["body"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(got[0]["body"]["sender"]["handle"], "alice@example.org");
    assert_eq!(got[0]["body"]["payload"], b64(b"hello 0"));

    // Online: pushed at once.
    let body = send_body(
        "live",
        &[(&bob.handle, vec![bob.device])],
        &[alice2.device],
        b"live",
    );
    assert_eq!(
        call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body))
            .await
            .status,
        200
    );
    let f = next_envelope(&mut ws).await.expect("pushed");
    assert_eq!(f["body"]["id"], "live");
    ws.send(Message::Text(
        json!({"type":"ack","seqs":[f["seq"]]}).to_string().into(),
    ))
    .await
    .expect("ack");

    // Sender sync: Alice's second device has copies of all eleven.
    let (mut ws2, _) = stream(&s, &alice2.token).await;
    let copies = drain(&mut ws2).await;
    let copies: Vec<&Value> = copies
        .iter()
        .filter(|e| e["body"]["kind"] == "message")
        .collect();
    assert_eq!(copies.len(), 11);
    // Delivered receipts reach both of Alice's devices.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut ws1, _) = stream(&s, &alice.token).await;
    let receipts = drain(&mut ws1).await;
    let delivered: Vec<&Value> = receipts
        .iter()
        .filter(|e| e["body"]["kind"] == "delivered")
        .collect();
    assert_eq!(delivered.len(), 11, "{receipts:?}");
    assert_eq!(delivered[0]["body"]["device"].as_u64(), Some(bob.device));
    // Acknowledged envelopes are gone: a new connection gets nothing.
    drop(ws);
    let (mut ws, _) = stream(&s, &bob.token).await;
    assert!(drain(&mut ws).await.is_empty());
}

#[tokio::test]
async fn stale_device_lists_are_refused_with_the_difference() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let bob2 = dev(&login(&s, "bob@example.org").await.body);
    let body = send_body("x", &[(&bob.handle, vec![bob.device, 999])], &[], b"hi");
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"], "stale_devices");
    assert_eq!(r.body["mismatches"][0]["handle"], "bob@example.org");
    assert_eq!(r.body["mismatches"][0]["missing"], json!([bob2.device]));
    assert_eq!(r.body["mismatches"][0]["extra"], json!([999]));
    // The directory gives the current list, and the retry succeeds.
    let d = call(
        &s,
        "POST",
        "/v1/directory",
        Some(&alice.token),
        Some(json!({"handles": ["BOB@example.org", "nobody@example.org"]})),
    )
    .await;
    assert_eq!(
        d.body["found"][0]["devices"],
        json!([bob.device, bob2.device])
    );
    assert_eq!(d.body["not_found"], json!(["nobody@example.org"]));
    let body = send_body(
        "x",
        &[(&bob.handle, vec![bob.device, bob2.device])],
        &[],
        b"hi",
    );
    assert_eq!(
        call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body))
            .await
            .status,
        200
    );
    // Unregistered recipients are named.
    let body = send_body("y", &[("nobody@example.org", vec![1])], &[], b"hi");
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["not_registered"], json!(["nobody@example.org"]));
}

#[tokio::test]
async fn removed_device_loses_access_and_queue_at_once() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let bob2 = dev(&login(&s, "bob@example.org").await.body);
    let (mut ws, _) = stream(&s, &bob2.token).await;
    assert!(drain(&mut ws).await.is_empty());
    let r = call(
        &s,
        "DELETE",
        &format!("/v1/devices/{}", bob2.device),
        Some(&bob.token),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let f = next_envelope(&mut ws).await.expect("a closing frame");
    assert_eq!(f["error"], "device_removed");
    assert_eq!(
        call(&s, "GET", "/v1/account", Some(&bob2.token), None)
            .await
            .status,
        401
    );
    let d = call(&s, "GET", "/v1/devices", Some(&bob.token), None).await;
    assert_eq!(d.body.as_array().expect("list").len(), 1);
    let body = send_body("z", &[(&bob.handle, vec![bob.device])], &[], b"hi");
    assert_eq!(
        call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn undelivered_envelopes_expire_and_the_sender_is_told() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let body = send_body("old", &[(&bob.handle, vec![bob.device])], &[], b"hi");
    assert_eq!(
        call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body))
            .await
            .status,
        200
    );
    s.clock.advance(29 * 24 * 3_600_000);
    tidings_server::workers::sweep::once(&s.app)
        .await
        .expect("sweep");
    let (mut ws, _) = stream(&s, &alice.token).await;
    assert!(
        drain(&mut ws).await.is_empty(),
        "nothing expires before 30 days"
    );
    s.clock.advance(24 * 3_600_000 + 1);
    assert_eq!(
        tidings_server::workers::sweep::once(&s.app)
            .await
            .expect("sweep"),
        1
    );
    let f = next_envelope(&mut ws).await.expect("failure notice pushed");
    assert_eq!(f["body"]["kind"], "failed");
    assert_eq!(f["body"]["id"], "old");
    assert_eq!(f["body"]["reason"], "expired");
    let (mut bws, _) = stream(&s, &bob.token).await;
    assert!(
        drain(&mut bws).await.is_empty(),
        "the expired envelope is gone"
    );
}

#[tokio::test]
async fn typing_is_pushed_to_connected_devices_and_never_stored() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let mut body = send_body("t1", &[(&bob.handle, vec![bob.device])], &[], b"typing");
    body["ephemeral"] = json!(true);
    assert_eq!(
        call(
            &s,
            "POST",
            "/v1/messages",
            Some(&alice.token),
            Some(body.clone())
        )
        .await
        .status,
        200
    );
    let (mut ws, _) = stream(&s, &bob.token).await;
    assert!(
        drain(&mut ws).await.is_empty(),
        "typing while offline is not stored"
    );
    body["id"] = json!("t2");
    assert_eq!(
        call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body))
            .await
            .status,
        200
    );
    let f = next_envelope(&mut ws).await.expect("typing pushed");
    assert_eq!(f["body"]["kind"], "ephemeral");
    assert_eq!(f["seq"], 0);
}

#[tokio::test]
async fn every_limit_is_enforced_with_a_clear_error() {
    let s = start(|c| {
        c.limits.max_payload_bytes = 100;
        c.limits.max_recipients = 2;
        c.limits.max_group_members = 3;
        c.limits.max_queue_per_device = 3;
        c.connections.max_connections_per_account = 1;
        c.connections.max_body_bytes = 16 * 1024;
        c.connections.max_frame_bytes = 1024;
        c.limits.max_devices = 2;
    })
    .await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let carol = register(&s, "carol@example.org").await;
    let dave = register(&s, "dave@example.org").await;
    // Payload bytes per device.
    let body = send_body("p", &[(&bob.handle, vec![bob.device])], &[], &[0u8; 101]);
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (429, Some("payload_too_large"))
    );
    // Recipients per send.
    let body = send_body(
        "r",
        &[
            (&bob.handle, vec![bob.device]),
            (&carol.handle, vec![carol.device]),
            (&dave.handle, vec![dave.device]),
        ],
        &[],
        b"x",
    );
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(r.body["error"], "too_many_recipients");
    // Queued envelopes per device: the fourth is refused, the first three kept.
    for i in 0..3 {
        let body = send_body(
            &format!("q{i}"),
            &[(&bob.handle, vec![bob.device])],
            &[],
            b"x",
        );
        assert_eq!(
            call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body))
                .await
                .status,
            200
        );
    }
    let body = send_body("q3", &[(&bob.handle, vec![bob.device])], &[], b"x");
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(r.body["error"], "queue_full");
    // Others are still served.
    let body = send_body("c", &[(&carol.handle, vec![carol.device])], &[], b"x");
    assert_eq!(
        call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body))
            .await
            .status,
        200
    );
    // Request body size.
    let big = json!({"id": "b", "to": [{"handle": "bob@example.org", "devices": [{"device": 1, "payload": "A".repeat(20_000)}]}]});
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(big)).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (413, Some("body_too_large"))
    );
    // Devices per account.
    assert_eq!(login(&s, "bob@example.org").await.status, 201);
    let r = login(&s, "bob@example.org").await;
    assert_eq!(r.body["error"], "too_many_devices");
    // Connections per account (one allowed): a second device is refused.
    let devices = call(&s, "GET", "/v1/devices", Some(&bob.token), None).await;
    assert_eq!(devices.body.as_array().expect("list").len(), 2);
    let (mut ws, _) = stream(&s, &bob.token).await;
    let got = drain(&mut ws).await;
    assert_eq!(got.len(), 3, "the queued messages survive the refusals");
    let r = login(&s, "carol@example.org").await;
    let carol2 = dev(&r.body);
    let (_cws, _) = stream(&s, &carol.token).await;
    let (mut cws2, first) = stream(&s, &carol2.token).await;
    assert_eq!(first["error"], "too_many_connections");
    assert!(closes(&mut cws2).await);
    // WebSocket frame size: an oversized frame closes that connection only.
    ws.send(Message::Text("x".repeat(2048).into()))
        .await
        .expect("sent");
    assert!(closes(&mut ws).await);
    assert_eq!(
        call(&s, "GET", "/v1/account", Some(&bob.token), None)
            .await
            .status,
        200
    );
}

fn keys_body(identity: (&str, &str), otks: usize, start: usize) -> Value {
    json!({
        "identity": {"curve25519": identity.0, "ed25519": identity.1},
        "one_time_keys": (start..start + otks).map(|i| json!({"id": format!("k{i:04}"), "key": format!("otk{i}"), "signature": "sig"})).collect::<Vec<_>>(),
        "fallback": {"id": "fb", "key": "fallback-key", "signature": "sig"},
    })
}

#[tokio::test]
async fn prekeys_are_published_claimed_once_and_limited() {
    let s = start(|c| {
        c.limits.max_one_time_keys_per_device = 5;
        c.limits.key_claims_per_account_per_hour = 10;
    })
    .await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let r = call(
        &s,
        "POST",
        "/v1/keys",
        Some(&bob.token),
        Some(keys_body(("c1", "e1"), 3, 0)),
    )
    .await;
    assert_eq!(
        (r.status, r.body["one_time_keys"].as_u64()),
        (200, Some(3)),
        "{}",
        r.body
    );
    // The identity is fixed once published.
    let r = call(
        &s,
        "POST",
        "/v1/keys",
        Some(&bob.token),
        Some(keys_body(("c2", "e1"), 1, 3)),
    )
    .await;
    assert_eq!(r.status, 409);
    // The per-device limit.
    let r = call(
        &s,
        "POST",
        "/v1/keys",
        Some(&bob.token),
        Some(keys_body(("c1", "e1"), 3, 3)),
    )
    .await;
    assert_eq!(r.body["error"], "too_many_keys");
    // Each one-time key is handed out once, then the fallback key.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = call(
            &s,
            "POST",
            "/v1/keys/claim",
            Some(&alice.token),
            Some(json!({"devices": [bob.device, 9999]})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let keys = r.body["keys"].as_array().expect("keys").clone();
        assert_eq!(keys.len(), 1, "devices without keys are skipped");
        assert_eq!(keys[0]["identity"]["curve25519"], "c1");
        seen.push((
            keys[0]["key"]["key"].as_str().expect("key").to_string(),
            keys[0]["fallback"].as_bool().expect("flag"),
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("otk0".into(), false),
            ("otk1".into(), false),
            ("otk2".into(), false),
            ("fallback-key".into(), true)
        ]
    );
    let r = call(&s, "GET", "/v1/keys", Some(&bob.token), None).await;
    assert_eq!(r.body["one_time_keys"], 0);
    // Identities are readable without consuming keys.
    let r = call(
        &s,
        "POST",
        "/v1/keys/identities",
        Some(&alice.token),
        Some(json!({"devices": [bob.device]})),
    )
    .await;
    assert_eq!(r.body["identities"][0]["identity"]["ed25519"], "e1");
    // Claims are rate-limited per account (ten per hour here, eight used: two devices per request).
    for _ in 0..2 {
        assert_eq!(
            call(
                &s,
                "POST",
                "/v1/keys/claim",
                Some(&alice.token),
                Some(json!({"devices": [bob.device]}))
            )
            .await
            .status,
            200
        );
    }
    let r = call(
        &s,
        "POST",
        "/v1/keys/claim",
        Some(&alice.token),
        Some(json!({"devices": [bob.device]})),
    )
    .await;
    assert_eq!(r.status, 429);
    assert!(r.body["message"]
        .as_str()
        .expect("m")
        .contains("key_claims_per_account_per_hour"));
    // Uploads are bounded per request, and keys need a token.
    let r = call(
        &s,
        "POST",
        "/v1/keys",
        Some(&alice.token),
        Some(keys_body(("a", "b"), 101, 0)),
    )
    .await;
    assert_eq!(r.body["error"], "too_many_keys");
    for (method, path) in [
        ("GET", "/v1/keys"),
        ("POST", "/v1/keys"),
        ("POST", "/v1/keys/claim"),
        ("POST", "/v1/keys/identities"),
    ] {
        let body = (method == "POST").then(|| json!({"devices": []}));
        assert_eq!(
            call(&s, method, path, None, body).await.status,
            401,
            "{path}"
        );
    }
    // Removing a device removes its keys.
    let bob2 = dev(&login(&s, "bob@example.org").await.body);
    call(
        &s,
        "POST",
        "/v1/keys",
        Some(&bob2.token),
        Some(keys_body(("c3", "e3"), 1, 0)),
    )
    .await;
    call(
        &s,
        "DELETE",
        &format!("/v1/devices/{}", bob2.device),
        Some(&bob.token),
        None,
    )
    .await;
    let r = call(
        &s,
        "POST",
        "/v1/keys/identities",
        Some(&bob.token),
        Some(json!({"devices": [bob2.device]})),
    )
    .await;
    assert_eq!(r.body["identities"], json!([]));
}

#[tokio::test]
async fn partial_sends_reach_a_subset_of_devices_that_really_belong() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let bob2 = dev(&login(&s, "bob@example.org").await.body);
    let mut body = send_body("p1", &[(&bob.handle, vec![bob2.device])], &[], b"just one");
    body["partial"] = json!(true);
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut body = send_body(
        "p2",
        &[(&bob.handle, vec![alice.device])],
        &[],
        b"not bob's",
    );
    body["partial"] = json!(true);
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(r.body["error"], "stale_devices");
    assert_eq!(r.body["mismatches"][0]["extra"], json!([alice.device]));
    let mut body = send_body("p3", &[(&bob.handle, vec![])], &[], b"");
    body["partial"] = json!(true);
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(r.status, 400);
    let (mut ws, _) = stream(&s, &bob2.token).await;
    assert_eq!(drain(&mut ws).await.len(), 1);
    let (mut ws, _) = stream(&s, &bob.token).await;
    assert!(drain(&mut ws).await.is_empty());
}

async fn put_raw(s: &Server, path: &str, token: &str, bytes: Vec<u8>) -> u16 {
    common::http()
        .put(format!("{}{path}", s.url))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn get_raw(s: &Server, path: &str, token: &str) -> (u16, Vec<u8>) {
    let r = common::http()
        .get(format!("{}{path}", s.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn blobs_in_the_local_directory() {
    blobs_upload_in_resumable_chunks_with_limits_and_expire(|_| {}).await;
}

/// The same test against an S3-compatible store: `scripts/test` starts one
/// (moto's S3 server) and sets `TIDINGS_TEST_S3_ENDPOINT`.
#[tokio::test]
async fn blobs_in_an_s3_compatible_store() {
    let Some(endpoint) = std::env::var("TIDINGS_TEST_S3_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must provide an S3 endpoint in TIDINGS_TEST_S3_ENDPOINT"
        );
        eprintln!("skipped: TIDINGS_TEST_S3_ENDPOINT is not set (scripts/test sets it)");
        return;
    };
    let bucket = format!("tidings-test-{}", std::process::id());
    let r = common::http()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 endpoint answers");
    assert!(
        r.status().is_success(),
        "creating bucket {bucket}: {}",
        r.status()
    );
    blobs_upload_in_resumable_chunks_with_limits_and_expire(move |c| {
        c.storage.blob_store = tidings_server::config::BlobStore::S3;
        c.storage.s3_endpoint = endpoint;
        c.storage.s3_bucket = bucket;
        c.storage.s3_access_key_id = "test".into();
        c.storage.s3_secret_access_key = "test".into();
        c.storage.s3_allow_http = true;
    })
    .await;
}

async fn blobs_upload_in_resumable_chunks_with_limits_and_expire(store: impl FnOnce(&mut Config)) {
    let chunk = tidings_proto::api::BLOB_CHUNK_BYTES as usize;
    let s = start(|c| {
        c.limits.max_attachment_bytes = 3 * 65536;
        c.limits.max_uploads_in_progress = 2;
        c.limits.max_storage_per_account = 5 * 65536;
        store(c);
    })
    .await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let size = 2 * chunk + 100;
    let r = call(
        &s,
        "POST",
        "/v1/blobs",
        Some(&alice.token),
        Some(json!({"size": size})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["missing"], json!([0, 1, 2]));
    // Chunks arrive out of order; a wrong size is refused; the status says
    // what is missing, so an interrupted upload resumes.
    assert_eq!(
        put_raw(&s, &format!("/v1/blobs/{id}/2"), &alice.token, vec![2; 100]).await,
        204
    );
    assert_eq!(
        put_raw(&s, &format!("/v1/blobs/{id}/0"), &alice.token, vec![0; 10]).await,
        400
    );
    assert_eq!(
        put_raw(
            &s,
            &format!("/v1/blobs/{id}/0"),
            &alice.token,
            vec![0; chunk]
        )
        .await,
        204
    );
    assert_eq!(
        put_raw(&s, &format!("/v1/blobs/{id}/0"), &bob.token, vec![0; chunk]).await,
        404,
        "only the uploader"
    );
    let st = call(
        &s,
        "GET",
        &format!("/v1/blobs/{id}"),
        Some(&alice.token),
        None,
    )
    .await;
    assert_eq!(st.body["missing"], json!([1]));
    let r = call(
        &s,
        "POST",
        &format!("/v1/blobs/{id}/complete"),
        Some(&alice.token),
        None,
    )
    .await;
    assert_eq!(r.status, 400, "incomplete");
    let (code, _) = get_raw(&s, &format!("/v1/blobs/{id}/0"), &bob.token).await;
    assert_eq!(code, 404, "not downloadable before completion");
    assert_eq!(
        put_raw(
            &s,
            &format!("/v1/blobs/{id}/1"),
            &alice.token,
            vec![1; chunk]
        )
        .await,
        204
    );
    let r = call(
        &s,
        "POST",
        &format!("/v1/blobs/{id}/complete"),
        Some(&alice.token),
        None,
    )
    .await;
    assert_eq!(r.body["complete"], true);
    let (code, bytes) = get_raw(&s, &format!("/v1/blobs/{id}/2"), &bob.token).await;
    assert_eq!((code, bytes), (200, vec![2; 100]));
    let local_dir = s.app.config.data_dir.join("blobs");
    assert_eq!(
        local_dir.exists(),
        s.app.config.storage.blob_store == tidings_server::config::BlobStore::Local,
        "bytes are in the configured store"
    );
    // Limits: size, uploads in progress, storage per account.
    let r = call(
        &s,
        "POST",
        "/v1/blobs",
        Some(&alice.token),
        Some(json!({"size": 4 * chunk})),
    )
    .await;
    assert_eq!(r.body["error"], "attachment_too_large");
    for _ in 0..2 {
        assert_eq!(
            call(
                &s,
                "POST",
                "/v1/blobs",
                Some(&alice.token),
                Some(json!({"size": 10}))
            )
            .await
            .status,
            201
        );
    }
    let r = call(
        &s,
        "POST",
        "/v1/blobs",
        Some(&alice.token),
        Some(json!({"size": 10})),
    )
    .await;
    assert_eq!(r.body["error"], "too_many_uploads");
    let r = call(
        &s,
        "POST",
        "/v1/blobs",
        Some(&bob.token),
        Some(json!({"size": 3 * chunk})),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(
        &s,
        "POST",
        "/v1/blobs",
        Some(&bob.token),
        Some(json!({"size": 3 * chunk})),
    )
    .await;
    assert_eq!(r.body["error"], "storage_full");
    // Blobs need a token.
    assert_eq!(
        call(&s, "POST", "/v1/blobs", None, Some(json!({"size": 10})))
            .await
            .status,
        401
    );
    assert_eq!(get_raw(&s, &format!("/v1/blobs/{id}/0"), "x").await.0, 401);
    // Everything expires: the unfinished uploads after a day, the blob
    // with the envelope TTL; the bytes are deleted from disk.
    s.clock.advance(31 * 24 * 3_600_000);
    tidings_server::workers::sweep::once(&s.app)
        .await
        .expect("sweep");
    assert_eq!(
        get_raw(&s, &format!("/v1/blobs/{id}/2"), &bob.token)
            .await
            .0,
        404
    );
    assert_eq!(
        s.app.blobs.get(&id, 2).await.expect("store answers"),
        None,
        "bytes deleted"
    );
    let blob_dir = s.app.config.data_dir.join("blobs").join(&id);
    assert!(!blob_dir.exists());
    assert_eq!(
        call(
            &s,
            "POST",
            "/v1/blobs",
            Some(&alice.token),
            Some(json!({"size": 10}))
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn handles_whose_devices_all_went_silent_are_not_reachable() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "+12025550102").await;
    let look = |s: &Server, token: String| {
        let url = s.url.clone();
        async move {
            let r = common::http()
                .post(format!("{url}/v1/directory"))
                .bearer_auth(token)
                .json(&json!({"handles": ["+12025550102"]}))
                .send()
                .await
                .expect("request");
            r.json::<Value>().await.expect("json")["found"][0]["reachable"].clone()
        }
    };
    assert_eq!(look(&s, alice.token.clone()).await, true);
    s.clock.advance(15 * 24 * 3_600_000);
    assert_eq!(
        look(&s, alice.token.clone()).await,
        false,
        "silent for 15 days"
    );
    // While unreachable, a registered number may be sent SMS.
    let body = json!({"id": "s1", "to": [], "sms": [{"handle": "+12025550102", "text": "hello"}]});
    assert_eq!(
        call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body))
            .await
            .status,
        200
    );
    let (mut ws, _) = stream(&s, &bob.token).await;
    assert_eq!(look(&s, alice.token.clone()).await, true, "connected again");
    // Bob's device is told why its number got SMS meanwhile.
    let notice = next_envelope(&mut ws).await.expect("a notice");
    assert_eq!(notice["body"]["kind"], "account_notice");
    assert_eq!(notice["body"]["notice"], "back_from_silence");
    assert!(notice["body"]["text"]
        .as_str()
        .expect("text")
        .contains("offline for more than 14 days"));
    let body = json!({"id": "s2", "to": [], "sms": [{"handle": "+12025550102", "text": "hello"}]});
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(
        r.status, 409,
        "reachable numbers get IP, not SMS: {}",
        r.body
    );
}

#[tokio::test]
async fn kannel_callbacks_need_the_shared_secret() {
    let secret = "0123456789abcdef-secret";
    let s = start(|c| {
        c.sms.sms_gateway = tidings_server::config::SmsGateway::Kannel;
        c.sms.kannel_password = "pw".into();
        c.sms.kannel_secret = secret.into();
        c.sms.kannel_sendsms_url = "http://127.0.0.1:1/cgi-bin/sendsms".into();
    })
    .await;
    let inbound = "from=%2B12025550103&to=%2B12025550102&coding=0&bin=hello";
    let dlr = "id=1&part=1&parts=1&type=1&reply=";
    for query in [
        format!("/v1/kannel/inbound?{inbound}"),
        format!("/v1/kannel/inbound?secret=wrong&{inbound}"),
        format!("/v1/kannel/inbound?secret={}&{inbound}", &secret[..10]),
        format!("/v1/kannel/dlr?{dlr}"),
        format!("/v1/kannel/dlr?secret=wrong&{dlr}"),
    ] {
        let r = call(&s, "GET", &query, None, None).await;
        assert_eq!(r.status, 401, "{query}");
    }
    let ok = call(
        &s,
        "GET",
        &format!("/v1/kannel/inbound?secret={secret}&{inbound}"),
        None,
        None,
    )
    .await;
    assert_eq!(ok.status, 200);
    // UCS-2 (coding 2) is decoded; a bad encoding is a clear 400.
    let ucs2 = call(
        &s,
        "GET",
        &format!("/v1/kannel/inbound?secret={secret}&from=%2B12025550103&to=%2B12025550102&coding=2&bin=%D8%3D"),
        None,
        None,
    )
    .await;
    assert_eq!(ucs2.status, 400);
    let r = call(
        &s,
        "GET",
        &format!("/v1/kannel/dlr?secret={secret}&id=1&part=1&parts=1&type=99"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    // A delivery report of failure reaches the sender's devices with the
    // carrier's reason; a later success cannot undo a final state.
    let alice = register(&s, "alice@example.org").await;
    let body = json!({"id": "s1", "to": [], "sms": [{"handle": "+12025550109", "text": "hello"}]});
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for kind in [16, 1] {
        let r = call(
            &s,
            "GET",
            &format!("/v1/kannel/dlr?secret={secret}&id=1&part=1&parts=1&type={kind}&reply=NACK%2F0x0000000b%2FInvalid+Destination"),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let (mut ws, _) = stream(&s, &alice.token).await;
    let statuses: Vec<Value> = drain(&mut ws)
        .await
        .into_iter()
        .filter(|e| e["body"]["kind"] == "sms_status")
        .map(|e| e["body"].clone())
        .collect();
    assert_eq!(statuses.len(), 1, "one final state: {statuses:?}");
    assert_eq!(statuses[0]["status"], "failed");
    assert!(statuses[0]["reason"]
        .as_str()
        .expect("reason")
        .contains("Invalid Destination"));
    // With the simulated carrier, the Kannel endpoints are closed.
    let plain = start(|_| {}).await;
    let r = call(
        &plain,
        "GET",
        &format!("/v1/kannel/inbound?secret=&{inbound}"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn links_are_made_only_for_the_accounts_own_complete_uploads() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let blob = call(
        &s,
        "POST",
        "/v1/blobs",
        Some(&alice.token),
        Some(json!({"size": 40})),
    )
    .await;
    assert_eq!(blob.status, 201);
    let id = blob.body["id"].as_str().expect("id").to_string();
    let key = b64(&[7u8; 32]);
    let link = |token: &str| {
        let (s, id, key, token) = (&s, id.clone(), key.clone(), token.to_string());
        async move {
            call(
                s,
                "POST",
                "/v1/links",
                Some(&token),
                Some(json!({"blob": id, "key": key, "name": "a.txt", "content_type": "text/plain", "size": 24})),
            )
            .await
        }
    };
    // Not complete yet, and never Bob's.
    assert_eq!(link(&alice.token).await.status, 404);
    assert_eq!(
        put_raw(
            &s,
            &format!("/v1/blobs/{id}/0"),
            &alice.token,
            vec![0u8; 40]
        )
        .await,
        204
    );
    let done = call(
        &s,
        "POST",
        &format!("/v1/blobs/{id}/complete"),
        Some(&alice.token),
        None,
    )
    .await;
    assert_eq!(done.status, 200);
    assert_eq!(link(&bob.token).await.status, 404);
    // The bytes are not a ciphertext under this key: refused.
    let r = link(&alice.token).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("key"),
        "{}",
        r.body
    );
    // Unknown and malformed link tokens give the same expired page.
    for token in ["0123456789abcdef0123456789abcdef", "nope"] {
        let (status, body) = get_raw(&s, &format!("/l/{token}"), "").await;
        assert_eq!(status, 404);
        assert!(String::from_utf8_lossy(&body).contains("expired"));
    }
}
