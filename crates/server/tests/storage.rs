//! Storage under hostile input and faults: ids past `i64::MAX`, a full
//! database, a database locked by another process. Each must end in a clear
//! answer, lose nothing acknowledged, and leave the server working.

mod common;

use common::{call, drain_envelopes, next_frame, open_stream, register, send, start, Server};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// 2^63: one past the largest SQLite integer.
const TOO_BIG: &str = "9223372036854775808";

async fn health(server: &Server) -> (u16, Value) {
    let r = call(server, "GET", "/v1/health", None, None).await;
    (r.status, r.body)
}

#[tokio::test]
async fn ids_past_the_largest_integer_are_refused_at_the_edge_and_break_nothing() {
    let server = start(|_| {}).await;
    let alice = register(&server, "alice@example.org").await;
    let bob = register(&server, "bob@example.org").await;

    // Unauthenticated: once, these took a reader connection each, until
    // every storage endpoint answered 500.
    for _ in 0..8 {
        let r = call(
            &server,
            "GET",
            "/v1/devices",
            Some(&format!("{TOO_BIG}.x")),
            None,
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    // Authenticated: once, each of these killed the writer thread.
    for path in [
        format!("/v1/devices/{TOO_BIG}"),
        "/v1/devices/18446744073709551615".to_string(),
        "/v1/devices/99999999999999999999999".to_string(),
        "/v1/devices/-1".to_string(),
    ] {
        let r = call(&server, "DELETE", &path, Some(&alice.token), None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.body["error"], "bad_request", "{}", r.body);
    }
    let r = call(
        &server,
        "POST",
        "/v1/keys/claim",
        Some(&alice.token),
        Some(json!({"devices": [9223372036854775808u64]})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("out of range")),
        "the error says what is wrong: {}",
        r.body
    );
    let (mut ws, ready) = open_stream(&server, &alice.token).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    ws.send(Message::Text(
        format!("{{\"type\":\"ack\",\"seqs\":[{TOO_BIG}]}}").into(),
    ))
    .await
    .expect("ack sent");
    loop {
        let frame = next_frame(&mut ws).await.expect("an answer to the bad ack");
        if frame["type"] == "error" {
            assert_eq!(frame["error"], "bad_frame", "{frame}");
            break;
        }
    }

    // Everything still works: reads, writes, delivery, health.
    assert_eq!(
        health(&server).await,
        (200, json!({"status": "ok", "storage": "ok"}))
    );
    let r = call(&server, "GET", "/v1/devices", Some(&alice.token), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(&server, &alice, "after-the-storm", &[&bob], "still here").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = drain_envelopes(&server, &bob).await;
    assert_eq!(got.len(), 1, "{got:?}");
}

#[tokio::test]
async fn a_full_database_answers_507_loses_nothing_and_recovers_once_space_is_freed() {
    // Big enough for the schema and two accounts, small enough to fill
    // with a handful of 60 KB messages.
    // About the embedded SQLite file: on SQLite even when the suite runs
    // on PostgreSQL.
    let server = start(|c| {
        c.storage.database_url.clear();
        c.storage.max_database_bytes = 640 * 1024;
        c.limits.sends_per_account_per_minute = 10_000;
        c.limits.send_burst = 10_000;
    })
    .await;
    let alice = register(&server, "alice@example.org").await;
    let bob = register(&server, "bob@example.org").await;
    let big = "x".repeat(60_000);
    let mut accepted = 0;
    let mut full = None;
    for i in 0..100 {
        let r = send(&server, &alice, &format!("m{i}"), &[&bob], &big).await;
        match r.status {
            200 => accepted += 1,
            _ => {
                full = Some(r);
                break;
            }
        }
    }
    let full = full.expect("the database fills up");
    assert_eq!(full.status, 507, "{}", full.body);
    assert_eq!(full.body["error"], "storage_full", "{}", full.body);
    assert!(accepted > 0, "some messages fit before the limit");
    // The refused message was not half-stored; a retry with the same id is
    // refused the same way, not reported as a duplicate.
    let again = send(&server, &alice, &format!("m{accepted}"), &[&bob], &big).await;
    assert_eq!(again.status, 507, "{}", again.body);

    // Every acknowledged message is delivered; acknowledging frees space.
    let got = drain_envelopes(&server, &bob).await;
    assert_eq!(got.len(), accepted, "nothing acknowledged is lost");
    // Sends work again without a restart.
    let mut recovered = false;
    for _ in 0..50 {
        let r = send(
            &server,
            &alice,
            &format!("m{accepted}"),
            &[&bob],
            "small again",
        )
        .await;
        if r.status == 200 {
            recovered = true;
            break;
        }
        assert_eq!(r.status, 507, "{}", r.body);
        // The receipts to alice take space too: let her read them.
        drain_envelopes(&server, &alice).await;
    }
    assert!(recovered, "sends succeed once space is freed");
    assert_eq!(health(&server).await.0, 200);
}

#[tokio::test]
async fn a_database_locked_by_another_process_answers_503_then_recovers() {
    // SQLite's own file lock: on SQLite even when the suite runs on
    // PostgreSQL.
    let server = start(|c| c.storage.database_url.clear()).await;
    let alice = register(&server, "alice@example.org").await;
    let bob = register(&server, "bob@example.org").await;
    let db = server
        .app
        .config
        .data_dir
        .join(tidings_server::DATABASE_FILE);
    // Another process takes the write lock and holds it past the busy
    // timeout (5 s), then lets go when told to.
    let mut locker = Locker(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import sqlite3, sys\n\
                 c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n\
                 c.execute('BEGIN EXCLUSIVE')\n\
                 print('locked', flush=True)\n\
                 sys.stdin.readline()\n\
                 c.execute('ROLLBACK')\n",
            )
            .arg(&db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs"),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(locker.0.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("locker speaks");
    assert_eq!(line.trim(), "locked");

    let r = send(&server, &alice, "while-locked", &[&bob], "hello").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["error"], "storage_busy", "{}", r.body);
    let (status, body) = health(&server).await;
    assert_eq!((status, body["storage"].clone()), (503, json!("busy")));

    // The other process lets go: the same send now goes through, once.
    let mut stdin = locker.0.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"\n").expect("release");
    locker.0.wait().expect("locker exits");
    let r = send(&server, &alice, "while-locked", &[&bob], "hello").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(drain_envelopes(&server, &bob).await.len(), 1);
    assert_eq!(health(&server).await.0, 200);
}

/// The process holding the lock; killed if the test fails early.
struct Locker(std::process::Child);

impl Drop for Locker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
