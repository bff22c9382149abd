//! A device whose one-time keys others used up gets a `keys_low` notice
//! from the server and uploads more as soon as it syncs, without showing
//! the user anything.

use serde_json::{json, Value};

mod common;

use common::{credentials, enroll, ok, tg, Server};

async fn call(url: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut req = reqwest::Client::new()
        .request(method.parse().expect("method"), format!("{url}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    assert!(
        resp.status().is_success(),
        "{method} {path}: {}",
        resp.status()
    );
    resp.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_tops_up_its_prekeys_when_told_they_ran_low() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Low at 45 of the 50 a client keeps: above the client's own top-up
    // point (25), so only the notice makes it upload now.
    let server = Server::start_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[("TIDINGS_ONE_TIME_KEYS_LOW", "45")],
    );
    let alice = dir.path().join("alice");
    let bob = dir.path().join("bob");
    enroll(&server, &alice, "register", "--email", "alice@example.org");
    enroll(&server, &bob, "register", "--email", "bob@example.org");
    let (alice_token, alice_device) = credentials(&alice);
    let (bob_token, _) = credentials(&bob);
    let count = || call(&server.url, "GET", "/v1/keys", &alice_token, None);
    assert_eq!(count().await["one_time_keys"], 50);
    for _ in 0..6 {
        let claim = json!({ "devices": [alice_device] });
        call(
            &server.url,
            "POST",
            "/v1/keys/claim",
            &bob_token,
            Some(claim),
        )
        .await;
    }
    assert_eq!(count().await["one_time_keys"], 44);
    let out = ok(tg(&server, &alice, &["--json", "sync"]));
    assert!(!out.contains("keys_low"), "not shown to the user: {out}");
    assert_eq!(
        count().await["one_time_keys"],
        50,
        "topped up to the target"
    );
}
