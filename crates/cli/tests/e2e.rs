//! End-to-end tests: the built `tidings` binary as server and as client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod common;

use common::*;

#[test]
fn two_accounts_three_devices_receipts_sync_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(&server, &p("carol"), "register", "--phone", "+442079460123");

    // Offline delivery, in order.
    for text in ["one", "two", "three"] {
        ok(tg(&server, &p("alice"), &["send", "bob@example.org", text]));
    }
    // Bob adds a second device; Alice's cached device list is now stale.
    enroll(&server, &p("bob2"), "login", "--email", "bob@example.org");
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "four"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    let got = show(&server, &p("bob"), &["+12025550101"]);
    assert_eq!(bodies(&got), ["one", "two", "three", "four"]);
    // The device added later receives only what was sent after it joined.
    ok(tg(&server, &p("bob2"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("bob2"), &["+12025550101"])),
        ["four"]
    );

    // Sender sync: Bob's reply shows up on his second device as his own.
    ok(tg(
        &server,
        &p("bob"),
        &["send", "+1 202 555 0101", "hi alice"],
    ));
    ok(tg(&server, &p("bob2"), &["sync"]));
    let on_bob2 = show(&server, &p("bob2"), &["+12025550101"]);
    assert_eq!(on_bob2.last().expect("reply")["body"], "hi alice");
    assert_eq!(on_bob2.last().expect("reply")["outgoing"], true);

    // Delivered and read receipts.
    ok(tg(&server, &p("bob"), &["read", "+12025550101"]));
    ok(tg(&server, &p("alice"), &["sync"]));
    let on_alice = show(&server, &p("alice"), &["bob@example.org"]);
    let four = on_alice.iter().find(|m| m["body"] == "four").expect("four");
    assert_eq!(four["delivered_to"].as_array().expect("list").len(), 2);
    assert_eq!(four["state"], "read");
    assert_eq!(on_alice.last().expect("reply")["body"], "hi alice");
    // Bob's other device learns the messages were read.
    ok(tg(&server, &p("bob2"), &["sync"]));
    let chats = json(tg(&server, &p("bob2"), &["--json", "chats"]));
    assert_eq!(chats[0]["unread"], 0);

    // Read receipts can be turned off.
    ok(tg(
        &server,
        &p("alice"),
        &["settings", "--read-receipts", "off"],
    ));
    ok(tg(&server, &p("alice"), &["read", "bob@example.org"]));
    ok(tg(&server, &p("bob"), &["sync"]));
    let mine = show(&server, &p("bob"), &["+12025550101"]);
    assert_ne!(mine.last().expect("reply")["state"], "read");

    // A group of three.
    let sent = json(tg(
        &server,
        &p("alice"),
        &[
            "--json",
            "send",
            "bob@example.org",
            "+442079460123",
            "group hello",
        ],
    ));
    let group = sent["conversation"].as_str().expect("key").to_string();
    assert!(group.starts_with("group:"));
    ok(tg(&server, &p("carol"), &["sync"]));
    ok(tg(&server, &p("carol"), &["send", &group, "carol here"]));
    for who in ["bob", "bob2", "alice"] {
        ok(tg(&server, &p(who), &["sync"]));
        assert_eq!(
            bodies(&show(&server, &p(who), &[&group])),
            ["group hello", "carol here"],
            "{who}"
        );
    }
    // Members are removed by a message every member sees.
    ok(tg(
        &server,
        &p("alice"),
        &["group", "remove", &group, "+442079460123"],
    ));
    for who in ["bob", "carol"] {
        ok(tg(&server, &p(who), &["sync"]));
        let last = show(&server, &p(who), &[&group])
            .last()
            .cloned()
            .expect("event");
        assert_eq!(last["kind"], "event");
        assert!(
            last["body"]
                .as_str()
                .expect("text")
                .contains(if who == "carol" {
                    "removed you"
                } else {
                    "removed +442079460123"
                }),
            "{who}: {last}"
        );
    }
    ok(tg(&server, &p("alice"), &["send", &group, "without carol"]));
    ok(tg(&server, &p("carol"), &["sync"]));
    assert!(!bodies(&show(&server, &p("carol"), &[&group])).contains(&"without carol".to_string()));

    // Clear errors with a non-zero exit.
    let out = tg(&server, &p("alice"), &["send", "nobody@example.org", "hi"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not on Tidings"), "{err}");
    let long = "x".repeat(70_000);
    let out = tg(&server, &p("alice"), &["send", "bob@example.org", &long]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("text too long"));
    let out = tg(&server, &p("nobody"), &["chats"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not signed in"));
}

#[test]
fn online_delivery_is_pushed_and_devices_can_be_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    // Bob knows Alice (a stranger's typing and text would wait in Requests).
    ok(tg(
        &server,
        &p("bob"),
        &["contacts", "add", "alice@example.org"],
    ));
    let listener = Listener::start(&server, &p("bob"), 4);
    ok(tg(&server, &p("alice"), &["typing", "bob@example.org"]));
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "are you there?"],
    ));
    let text = listener.finish();
    assert!(text.contains("\"event\":\"typing\""), "{text}");
    assert!(text.contains("are you there?"), "{text}");

    enroll(
        &server,
        &p("alice2"),
        "login",
        "--email",
        "alice@example.org",
    );
    let devices = json(tg(&server, &p("alice"), &["--json", "devices"]));
    let second = devices[1]["id"].as_u64().expect("id").to_string();
    ok(tg(&server, &p("alice"), &["devices", "remove", &second]));
    let out = tg(&server, &p("alice2"), &["sync"]);
    assert!(!out.status.success());
    assert_eq!(
        json(tg(&server, &p("alice"), &["--json", "devices"]))
            .as_array()
            .expect("list")
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_message_and_duplicates_none() {
    use tidings_client::Api;
    use tidings_proto::api::{DevicePayload, RecipientPayloads, SendRequest};
    use tidings_proto::stream::{EnvelopeBody, ServerFrame};

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    let creds = |n: &str| -> Value {
        serde_json::from_slice(&std::fs::read(p(n).join("device.json")).expect("credentials"))
            .expect("json")
    };
    let (alice, bob) = (creds("alice"), creds("bob"));
    let url = server.url.clone();
    let alice_api =
        Api::new(&url, Some(alice["token"].as_str().expect("t").to_string())).expect("a client");
    let bob_device: tidings_proto::DeviceId =
        serde_json::from_value(bob["device"].clone()).expect("device");
    let request = move |i: usize| SendRequest {
        id: format!("crash-{i}"),
        from: None,
        to: vec![RecipientPayloads {
            handle: "bob@example.org".into(),
            devices: vec![DevicePayload {
                device: bob_device,
                payload: "aGVsbG8=".into(),
            }],
        }],
        own: Vec::new(),
        ephemeral: false,
        partial: false,
        sms: Vec::new(),
        no_sms_fallback: false,
    };

    // Four senders fire continuously until the server is killed under them;
    // each stops at its first failure.
    const MAX_PER_SENDER: usize = 100_000;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let api = alice_api.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for k in 0..MAX_PER_SENDER {
                let i = k * 4 + w;
                match api.send(&request(i)).await {
                    Ok(_) => acked.push(i),
                    Err(_) => return (acked, Some(i)),
                }
            }
            (acked, None)
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (data, addr) = server.kill9();
    let mut acked = Vec::new();
    let mut failed = Vec::new();
    for t in tasks {
        let (a, f) = t.await.expect("sender");
        acked.extend(a);
        failed.extend(f);
    }
    let total = acked.len() + failed.len();
    assert!(
        !acked.is_empty(),
        "some sends were acknowledged before the kill"
    );
    assert_eq!(failed.len(), 4, "the kill interrupted every sender");

    // Restart on the same port and data; retry what was not acknowledged,
    // with the same ids.
    let server = Server::start(&data, &addr);
    for i in &failed {
        alice_api.send(&request(*i)).await.expect("retry succeeds");
    }
    let bob_api = Api::new(
        &server.url,
        Some(bob["token"].as_str().expect("t").to_string()),
    )
    .expect("a client");
    let mut stream = bob_api.stream().await.expect("stream");
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    loop {
        match stream.next().await.expect("frame") {
            Some(ServerFrame::Envelope(env)) => {
                if let EnvelopeBody::Message { id, .. } = &env.body {
                    *seen.entry(id.clone()).or_default() += 1;
                }
                stream.ack(vec![env.seq]).await.expect("ack");
            }
            Some(ServerFrame::Drained) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    for i in &acked {
        assert_eq!(
            seen.get(&format!("crash-{i}")),
            Some(&1),
            "acknowledged message {i}"
        );
    }
    assert_eq!(seen.len(), total, "every message arrived");
    assert!(seen.values().all(|n| *n == 1), "no duplicates");
    eprintln!(
        "crash test: {} acknowledged before the kill, {} retried after",
        acked.len(),
        failed.len()
    );
}

#[test]
fn sigterm_shuts_down_gracefully_and_keeps_what_was_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "before the restart"],
    ));
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", server.child.id())])
        .status()
        .expect("sh runs");
    assert!(status.success());
    let exit = server.child.wait().expect("server exits");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    let addr = server.addr();
    drop(server);
    let server = Server::start(&data, &addr);
    ok(tg(&server, &p("bob"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("bob"), &["alice@example.org"])),
        ["before the restart"]
    );
}

/// Every way `needle` could appear in a file: raw, or base64-encoded at any
/// of the three byte alignments (payloads travel as base64 inside JSON).
fn forms(needle: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = vec![needle.to_vec()];
    for pad in 0..3 {
        let mut bytes = vec![0u8; pad];
        bytes.extend_from_slice(needle);
        let text = b64.encode(&bytes);
        let start = if pad == 0 { 0 } else { 4 };
        let end = text.len().saturating_sub(4);
        out.push(text.as_bytes()[start..end].to_vec());
    }
    out
}

fn hits(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let forms = forms(needle);
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).expect("readable");
        if forms
            .iter()
            .any(|f| bytes.windows(f.len()).any(|w| w == f.as_slice()))
        {
            found.push(entry.display().to_string());
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_server_stores_no_content_in_plaintext() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(
        &server,
        &p("alice2"),
        "login",
        "--email",
        "alice@example.org",
    );
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(
        &server,
        &p("carol"),
        "register",
        "--email",
        "carol@example.org",
    );
    let marker = "MARKER-7f3a9c1e-unique-content";
    // Every kind of content carries the marker: a text, an attachment, a
    // group message, a group name, a reaction.
    let note = p("note.txt");
    std::fs::write(&note, format!("attached {marker} ").repeat(5000)).expect("write");
    let direct = json(tg(
        &server,
        &p("alice"),
        &[
            "--json",
            "send",
            "bob@example.org",
            &format!("direct {marker}"),
            "--attach",
            note.to_str().expect("utf-8"),
        ],
    ));
    let direct_id = direct["id"].as_str().expect("id").to_string();
    let sent = json(tg(
        &server,
        &p("alice"),
        &[
            "--json",
            "send",
            "bob@example.org",
            "carol@example.org",
            &format!("group {marker}"),
        ],
    ));
    let group = sent["conversation"].as_str().expect("key").to_string();
    let group_id = group.trim_start_matches("group:").to_string();
    ok(tg(&server, &p("alice"), &["typing", &group]));
    ok(tg(
        &server,
        &p("alice"),
        &["group", "rename", &group, marker],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    // Requests download nothing until accepted.
    ok(tg(&server, &p("bob"), &["accept", "alice@example.org"]));
    let att = &show(&server, &p("bob"), &["alice@example.org"])[0]["attachments"][0];
    assert_eq!(att["state"], "saved", "the attachment was downloaded");
    let chats = json(tg(&server, &p("bob"), &["--json", "chats"]));
    assert!(
        chats
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["title"] == marker),
        "the group name arrived: {chats}"
    );
    ok(tg(
        &server,
        &p("bob"),
        &["send", &group, &format!("reply {marker}")],
    ));
    ok(tg(&server, &p("bob"), &["react", &direct_id, marker]));
    ok(tg(&server, &p("bob"), &["read", "alice@example.org"]));
    ok(tg(&server, &p("alice"), &["sync"]));
    let on_alice = show(&server, &p("alice"), &["bob@example.org"]);
    assert_eq!(
        on_alice[0]["reactions"],
        serde_json::json!([["bob@example.org", marker]])
    );
    // The conversation model's contents carry it too: a display name, a
    // reply, an edit, a group made with a name, and the account state a
    // new device is handed (a contact's name).
    ok(tg(
        &server,
        &p("alice"),
        &["settings", "--name", &format!("A {marker}")],
    ));
    ok(tg(
        &server,
        &p("alice"),
        &[
            "send",
            "--reply",
            &direct_id[..8],
            "bob@example.org",
            &format!("quoted {marker}"),
        ],
    ));
    ok(tg(
        &server,
        &p("alice"),
        &["edit", &direct_id[..8], &format!("edited {marker}")],
    ));
    ok(tg(
        &server,
        &p("alice"),
        &["group", "create", &format!("G {marker}"), "bob@example.org"],
    ));
    ok(tg(
        &server,
        &p("bob"),
        &[
            "contacts",
            "add",
            "carol@example.org",
            "--name",
            &format!("C {marker}"),
        ],
    ));
    enroll(
        &server,
        &p("bob-new"),
        "login",
        "--email",
        "bob@example.org",
    );
    ok(tg(&server, &p("bob"), &["sync"]));
    let on_bob = show(&server, &p("bob"), &["alice@example.org"]);
    assert_eq!(on_bob[0]["body"], format!("edited {marker}"), "{on_bob:?}");
    assert_eq!(
        on_bob.last().expect("quote")["from_name"],
        format!("A {marker}")
    );
    ok(tg(
        &server,
        &p("alice"),
        &["group", "remove", &group, "carol@example.org"],
    ));
    // Leave some of it undelivered (queued on the server) and some delivered.
    ok(tg(&server, &p("carol"), &["sync"]));
    let on_carol = bodies(&show(&server, &p("carol"), &[&group]));
    assert!(
        on_carol.contains(&format!("group {marker}"))
            && on_carol.contains(&format!("reply {marker}")),
        "{on_carol:?}"
    );
    // The scanner finds plaintext where it is: the clients' local stores.
    assert!(
        !hits(&p("carol"), marker.as_bytes()).is_empty(),
        "the scan can find the marker"
    );
    assert!(!hits(&p("carol"), group_id.as_bytes()).is_empty());
    drop(server);
    assert!(
        data.join("blobs").exists(),
        "the attachment is stored on the server"
    );
    assert_eq!(
        hits(&data, marker.as_bytes()),
        Vec::<String>::new(),
        "content on the server"
    );
    assert_eq!(
        hits(&data, group_id.as_bytes()),
        Vec::<String>::new(),
        "group id on the server"
    );
}

#[test]
fn safety_numbers_match_and_device_changes_reset_verification() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(&server, &p("bob"), "register", "--phone", "+12025550102");
    ok(tg(&server, &p("alice"), &["send", "+12025550102", "hi"]));
    ok(tg(&server, &p("bob"), &["sync"]));
    let on_alice = json(tg(
        &server,
        &p("alice"),
        &["--json", "verify", "+12025550102"],
    ));
    let on_bob = json(tg(
        &server,
        &p("bob"),
        &["--json", "verify", "alice@example.org"],
    ));
    assert_eq!(on_alice["safety_number"], on_bob["safety_number"]);
    assert_eq!(on_alice["verified"], false);
    let marked = json(tg(
        &server,
        &p("alice"),
        &["--json", "verify", "+12025550102", "--mark"],
    ));
    assert_eq!(marked["verified"], true);

    // Bob adds a device: Alice's next send notices, resets the verification
    // and asks for confirmation.
    enroll(&server, &p("bob2"), "login", "--phone", "+12025550102");
    let out = tg(
        &server,
        &p("alice"),
        &["send", "+12025550102", "after the change"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--confirm"));
    let notice = show(&server, &p("alice"), &["+12025550102"])
        .into_iter()
        .find(|m| m["kind"] == "event")
        .expect("a notice");
    assert!(
        notice["body"]
            .as_str()
            .expect("text")
            .contains("verification was reset"),
        "{notice}"
    );
    let now = json(tg(
        &server,
        &p("alice"),
        &["--json", "verify", "+12025550102"],
    ));
    assert_eq!(now["verified"], false);
    assert_ne!(now["safety_number"], on_alice["safety_number"]);
    ok(tg(
        &server,
        &p("alice"),
        &["send", "+12025550102", "confirmed", "--confirm"],
    ));
    ok(tg(
        &server,
        &p("alice"),
        &["send", "+12025550102", "and again"],
    ));
    ok(tg(&server, &p("bob2"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("bob2"), &["alice@example.org"])),
        ["confirmed", "and again"]
    );

    // An unverified contact's change is noted without blocking.
    enroll(
        &server,
        &p("alice2"),
        "login",
        "--email",
        "alice@example.org",
    );
    ok(tg(
        &server,
        &p("bob"),
        &["send", "alice@example.org", "hello both"],
    ));
    let notes: Vec<Value> = show(&server, &p("bob"), &["alice@example.org"])
        .into_iter()
        .filter(|m| m["kind"] == "event")
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(!notes[0]["body"].as_str().expect("text").contains("reset"));
    ok(tg(&server, &p("alice2"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("alice2"), &["+12025550102"])),
        ["hello both"]
    );
}

#[test]
fn a_lost_session_store_recovers_and_the_lost_message_is_sent_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "one"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    ok(tg(
        &server,
        &p("bob"),
        &["send", "alice@example.org", "reply"],
    ));
    ok(tg(&server, &p("alice"), &["sync"]));
    // Bob loses every session (but keeps his account keys).
    let db = rusqlite::Connection::open(p("bob").join("local.sqlite3")).expect("open bob's store");
    let lost = db.execute("DELETE FROM olm_sessions", []).expect("delete");
    assert!(lost > 0);
    drop(db);
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "sent after the loss"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    let placeholder = show(&server, &p("bob"), &["alice@example.org"]);
    assert_eq!(placeholder.last().expect("entry")["state"], "undecryptable");
    // Alice's device answers the re-send request; Bob gets the text.
    ok(tg(&server, &p("alice"), &["sync"]));
    ok(tg(&server, &p("bob"), &["sync"]));
    let got = show(&server, &p("bob"), &["alice@example.org"]);
    assert_eq!(bodies(&got), ["one", "reply", "sent after the loss"]);
    assert!(got.iter().all(|m| m["state"] != "undecryptable"));
    // Both directions work on the new session.
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "later"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    ok(tg(&server, &p("bob"), &["send", "alice@example.org", "ok"]));
    ok(tg(&server, &p("alice"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("alice"), &["bob@example.org"]))
            .last()
            .map(String::as_str),
        Some("ok")
    );
    assert_eq!(
        bodies(&show(&server, &p("bob"), &["alice@example.org"])),
        ["one", "reply", "sent after the loss", "later", "ok"]
    );
}

fn file_digest(path: &Path) -> (u64, u64) {
    // Not cryptographic: enough to compare two files in a test.
    let bytes = std::fs::read(path).expect("readable");
    let mut h: u64 = 0xcbf29ce484222325;
    for b in &bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    (bytes.len() as u64, h)
}

#[test]
fn a_25_mib_file_and_a_photo_reach_every_device_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(&server, &p("bob2"), "login", "--email", "bob@example.org");
    // A 25 MiB file of pseudo-random bytes and an 800x600 photo.
    let big = p("holiday.bin");
    let mut x: u64 = 42;
    let bytes: Vec<u8> = (0..25 * 1024 * 1024)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    std::fs::write(&big, &bytes).expect("write");
    let photo = p("beach.png");
    image::RgbImage::from_fn(800, 600, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 200])
    })
    .save(&photo)
    .expect("png");
    let sent = json(tg(
        &server,
        &p("alice"),
        &[
            "--json",
            "send",
            "bob@example.org",
            "two files",
            "--attach",
            big.to_str().expect("utf-8"),
            "--attach",
            photo.to_str().expect("utf-8"),
        ],
    ));
    assert_eq!(sent["attachments"].as_array().expect("list").len(), 2);
    assert_eq!(
        sent["attachments"][0]["path"].as_str(),
        big.canonicalize().expect("path").to_str()
    );
    for device in ["bob", "bob2"] {
        ok(tg(
            &server,
            &p(device),
            &["contacts", "add", "alice@example.org"],
        ));
        ok(tg(&server, &p(device), &["sync"]));
        let got = show(&server, &p(device), &["alice@example.org"]);
        let atts = got[0]["attachments"]
            .as_array()
            .expect("attachments")
            .clone();
        assert_eq!(atts.len(), 2, "{device}");
        assert_eq!(atts[0]["name"], "holiday.bin");
        assert_eq!(atts[0]["state"], "saved");
        let saved = PathBuf::from(atts[0]["path"].as_str().expect("path"));
        assert!(saved.starts_with(p(device)), "saved inside the profile");
        assert_eq!(
            file_digest(&saved),
            file_digest(&big),
            "{device}: the file is intact"
        );
        assert_eq!(atts[1]["content_type"], "image/png");
        assert_eq!(
            (atts[1]["width"].as_u64(), atts[1]["height"].as_u64()),
            (Some(800), Some(600))
        );
        assert_eq!(atts[1]["has_thumbnail"], true);
        let photo_copy = PathBuf::from(atts[1]["path"].as_str().expect("path"));
        assert_eq!(file_digest(&photo_copy), file_digest(&photo));
    }
    // The human listing names the files and where they are.
    let text = ok(tg(&server, &p("bob"), &["show", "alice@example.org"]));
    assert!(
        text.contains("holiday.bin") && text.contains("beach.png") && text.contains("800x600"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    let client =
        tidings_client::Client::open(tidings_client::Profile::new(p("alice")), Some(&server.url))
            .expect("profile opens");
    let file = p("video.bin");
    let bytes: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).expect("write");
    let chunks = tidings_core::attachment::chunk_count(bytes.len() as u64);

    // Interrupt the upload after ten chunks (like a dropped connection or
    // a killed process).
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let mut seen = 0;
    let mut progress = |_: u64, _: u64| {
        seen += 1;
        if seen == 10 {
            if let Some(t) = tx.take() {
                let _ = t.send(());
            }
        }
    };
    tokio::select! {
        _ = client.upload_attachment(&file, &mut progress) => panic!("the upload should have been interrupted"),
        _ = rx => {}
    }
    let db = rusqlite::Connection::open(p("alice").join("local.sqlite3")).expect("store");
    let blob: String = db
        .query_row("SELECT blob FROM uploads", [], |r| r.get(0))
        .expect("an unfinished upload");
    drop(db);
    let status = client.api().blob_status(&blob).await.expect("status");
    assert!(!status.complete);
    assert!(
        status.missing.len() < chunks as usize && status.missing.len() >= chunks as usize - 11,
        "{}",
        status.missing.len()
    );

    // The next attempt continues the same blob and sends only what is missing.
    let pointer = client
        .upload_attachment(&file, &mut |_, _| {})
        .await
        .expect("resumes");
    assert_eq!(pointer.blob, blob);
    let out = p("downloaded");
    let saved = client
        .download_attachment(&pointer, &out, "x", &mut |_, _| {})
        .await
        .expect("downloads");
    assert_eq!(std::fs::read(saved).expect("read"), bytes);

    // Files picked and abandoned go once old; a draft's file waits with it.
    let picked = p("picked");
    for name in ["a", "sub/b", "c"] {
        let f = picked.join(name);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("dir");
        std::fs::write(&f, name).expect("write");
    }
    let draft = tidings_client::client::outbox::Draft {
        targets: vec!["bob@example.org".into()],
        text: String::new(),
        files: vec![picked.join("c")],
        reply_to: None,
        confirm: false,
        sms_links: false,
    };
    client
        .local()
        .queue_outbox("waiting", 1, &serde_json::to_string(&draft).expect("json"))
        .expect("queue");
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(
        client.forget_unsent(&picked, hour).expect("sweep"),
        0,
        "too recent"
    );
    assert_eq!(
        client
            .forget_unsent(&picked, std::time::Duration::ZERO)
            .expect("sweep"),
        2
    );
    assert!(!picked.join("a").exists() && !picked.join("sub/b").exists());
    assert!(picked.join("c").exists(), "the waiting draft's file stays");
}

#[test]
fn sms_reaches_numbers_not_on_tidings_and_replies_join_the_conversation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    let phone = "+12025550177"; // Not on Tidings.

    // To a number that is not on Tidings: SMS, plainly marked.
    let sent = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", phone, "Dinner at 8? 🍝"],
    ));
    assert_eq!(sent["via"], "sms");
    let inbox = json(tg(
        &server,
        &p("alice"),
        &["--json", "carrier", "inbox", phone],
    ));
    assert_eq!(inbox[0]["text"], "Dinner at 8? 🍝");
    assert_eq!(
        inbox[0]["from"], "+12025550101",
        "replies can come back to Alice's number"
    );
    ok(tg(&server, &p("alice"), &["sync"]));
    let mine = show(&server, &p("alice"), &[phone]);
    assert_eq!(mine[0]["state"], "delivered by SMS");
    let text = ok(tg(&server, &p("alice"), &["show", phone]));
    assert!(text.contains("not end-to-end encrypted"), "{text}");

    // The phone replies: it lands in the same conversation.
    ok(tg(
        &server,
        &p("alice"),
        &[
            "carrier",
            "send",
            "--from",
            phone,
            "--to",
            "+1 202 555 0101",
            "Yes! 👍",
        ],
    ));
    ok(tg(&server, &p("alice"), &["sync"]));
    let conv = show(&server, &p("alice"), &[phone]);
    assert_eq!(bodies(&conv), ["Dinner at 8? 🍝", "Yes! 👍"]);
    assert_eq!(conv[1]["via"], "sms");
    assert_eq!(conv[1]["outgoing"], false);

    // A mixed group: Bob over IP, the phone by SMS.
    let sent = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", "bob@example.org", phone, "all of us"],
    ));
    assert_eq!(sent["via"], "ip+sms");
    ok(tg(&server, &p("bob"), &["sync"]));
    let group = sent["conversation"].as_str().expect("key").to_string();
    assert_eq!(bodies(&show(&server, &p("bob"), &[&group])), ["all of us"]);
    let inbox = json(tg(
        &server,
        &p("alice"),
        &["--json", "carrier", "inbox", phone],
    ));
    assert_eq!(
        inbox.as_array().expect("list").last().expect("sms")["text"],
        "+12025550101 in a group: all of us",
        "an SMS member learns who wrote, and that it was to a group"
    );

    // Numbers typed without a country code are read in TIDINGS_REGION.
    let out = Command::new(BIN)
        .args(["--server", &server.url, "--profile"])
        .arg(p("alice"))
        .args(["--json", "send", "020 7946 0123", "hello London"])
        .env("TIDINGS_REGION", "GB")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(json(out)["conversation"], "+442079460123");

    // E-mail addresses that are not on Tidings cannot get SMS.
    let out = tg(&server, &p("alice"), &["send", "nobody@example.org", "hi"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not on Tidings"));
}

#[test]
fn sms_limits_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("tidings.toml");
    std::fs::write(
        &config,
        "[sms]\nsms_per_account_per_hour = 2\nmax_sms_segments = 2\n",
    )
    .expect("config");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("line");
    let url = line
        .trim()
        .trim_start_matches("tidings: listening on ")
        .to_string();
    let server = Server { child, url, data };
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    let long = "x".repeat(400); // 3 segments of GSM-7.
    let out = tg(&server, &p("alice"), &["send", "+12025550177", &long]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("max_sms_segments"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(tg(&server, &p("alice"), &["send", "+12025550177", "one"]));
    ok(tg(&server, &p("alice"), &["send", "+12025550178", "two"]));
    let out = tg(&server, &p("alice"), &["send", "+12025550179", "three"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sms_per_account_per_hour"));
}

#[test]
fn undelivered_messages_fall_back_to_sms_once_unless_turned_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[
            ("TIDINGS_SMS_FALLBACK_SECS", "2"),
            ("TIDINGS_SWEEP_INTERVAL_SECS", "1"),
        ],
    );
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(&server, &p("bob"), "register", "--phone", "+12025550102");
    // Bob's only device stays offline; Alice writes over IP.
    let sent = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", "+12025550102", "ping"],
    ));
    assert_eq!(sent["via"], "ip");
    std::thread::sleep(Duration::from_millis(3500));
    // Alice's device is told, re-sends the text as SMS, and hears back.
    ok(tg(&server, &p("alice"), &["sync", "--wait", "2"]));
    let mine = show(&server, &p("alice"), &["+12025550102"]);
    assert_eq!(mine[0]["state"], "delivered by SMS", "{mine:?}");
    assert_eq!(mine[0]["via"], "ip+sms");
    let inbox = json(tg(
        &server,
        &p("alice"),
        &["--json", "carrier", "inbox", "+12025550102"],
    ));
    let pings = inbox
        .as_array()
        .expect("list")
        .iter()
        .filter(|m| m["text"] == "ping")
        .count();
    assert_eq!(pings, 1, "exactly one SMS");
    // Asking again changes nothing; Bob never gets the IP copy.
    ok(tg(&server, &p("alice"), &["sync"]));
    ok(tg(&server, &p("bob"), &["sync"]));
    assert!(
        show(&server, &p("bob"), &["alice@example.org"]).is_empty(),
        "the IP copy was withdrawn"
    );

    // With the setting off, nothing falls back.
    ok(tg(
        &server,
        &p("alice"),
        &["settings", "--sms-fallback", "off"],
    ));
    ok(tg(
        &server,
        &p("alice"),
        &["send", "+12025550102", "no fallback"],
    ));
    std::thread::sleep(Duration::from_millis(3500));
    ok(tg(&server, &p("alice"), &["sync", "--wait", "1"]));
    let inbox = json(tg(
        &server,
        &p("alice"),
        &["--json", "carrier", "inbox", "+12025550102"],
    ));
    assert!(!inbox
        .as_array()
        .expect("list")
        .iter()
        .any(|m| m["text"] == "no fallback"));
    ok(tg(&server, &p("bob"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("bob"), &["alice@example.org"])),
        ["no fallback"]
    );
}

#[test]
fn a_number_whose_devices_went_silent_gets_sms_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[("TIDINGS_STALE_AFTER_SECS", "2")],
    );
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(&server, &p("bob"), "register", "--phone", "+12025550102");
    std::thread::sleep(Duration::from_millis(3000));
    send_goes_as_sms_at_once(&server, &p("alice"), "+12025550102", "are you still there?");
    // Bob comes back: messages go over IP again.
    let listener = Listener::start(&server, &p("bob"), 3);
    let sent = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", "+12025550102", "welcome back"],
    ));
    assert_eq!(sent["via"], "ip");
    // Bob's device is told that his number got SMS while it was silent.
    let printed = listener.finish();
    assert!(
        printed.contains("\"event\":\"notice\"")
            && printed.contains("Welcome back")
            && printed.contains("went to you as SMS"),
        "{printed}"
    );
}

#[test]
fn unbinding_a_number_hands_every_waiting_message_back_as_sms_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    // Bob's only device goes silent; Alice writes ten messages, three of
    // them in a group with Carol.
    let (expected, group) = ten_messages_wait_for_bob(&server, dir.path());
    // Bob unbinds his number (he has moved to another phone). It is his
    // last handle, so the CLI asks him to confirm first.
    let refused = tg(&server, &p("bob"), &["handles", "remove", "+12025550102"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("last handle"),
        "{refused:?}"
    );
    let left = json(tg(
        &server,
        &p("bob"),
        &["--json", "handles", "remove", "+12025550102", "--yes"],
    ));
    assert_eq!(left, serde_json::json!([]));
    waiting_messages_reached_bob_as_sms(&server, dir.path(), &expected, &group);
    // Bob's old device gets none of the IP copies.
    let told = ok(tg(&server, &p("bob"), &["sync"]));
    assert!(
        told.contains("notice: +12025550102 was removed from this account"),
        "{told}"
    );
    assert!(show(&server, &p("bob"), &["alice@example.org"]).is_empty());
    // New messages to the number go as SMS at once.
    let sent = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", "+12025550102", "after"],
    ));
    assert_eq!(sent["via"], "sms");
    // Deleting an account needs confirmation, then signs the profile out.
    let out = tg(&server, &p("carol"), &["account", "delete"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    ok(tg(&server, &p("carol"), &["account", "delete", "--yes"]));
    let out = tg(
        &server,
        &p("alice"),
        &["send", "carol@example.org", "hello?"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not on Tidings"));
}

/// Fetches a URL; returns the status and the body.
fn http_get(url: &str) -> (u16, Vec<u8>) {
    tidings_client::api::ensure_tls_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = reqwest::get(url).await.expect("GET");
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").to_vec())
    })
}

#[test]
fn attachments_reach_sms_recipients_as_links_that_expire_once_the_sender_agrees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[
            ("TIDINGS_SMS_LINK_SECS", "3"),
            ("TIDINGS_SWEEP_INTERVAL_SECS", "1"),
        ],
    );
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("alice2"), "login", "--phone", "+12025550101");
    let file = dir.path().join("notes.txt");
    let bytes: Vec<u8> = (0..150_000u32)
        .map(|i| b"tidings "[(i % 8) as usize])
        .collect();
    std::fs::write(&file, &bytes).expect("write file");
    let phone = "+12025550109";
    let file_arg = file.to_str().expect("utf-8 path");

    // Without agreement nothing is uploaded or sent, and the error says why.
    let refused = tg(
        &server,
        &p("alice"),
        &["send", phone, "look at this", "--attach", file_arg],
    );
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("--sms-link") && why.contains("server can read"),
        "{why}"
    );
    let inbox = json(tg(
        &server,
        &p("alice"),
        &["--json", "carrier", "inbox", phone],
    ));
    assert_eq!(inbox, serde_json::json!([]));

    // With agreement the SMS carries a link that serves the exact file.
    let sent = json(tg(
        &server,
        &p("alice"),
        &[
            "--json",
            "send",
            phone,
            "look at this",
            "--attach",
            file_arg,
            "--sms-link",
        ],
    ));
    assert_eq!(sent["via"], "sms");
    let inbox = json(tg(
        &server,
        &p("alice"),
        &["--json", "carrier", "inbox", phone],
    ));
    let text = inbox[0]["text"].as_str().expect("an SMS").to_string();
    assert!(text.starts_with("look at this\nnotes.txt: http"), "{text}");
    let url = text.rsplit(' ').next().expect("a link").to_string();
    let (status, body) = http_get(&url);
    assert_eq!(status, 200);
    assert!(body == bytes, "the link serves the file as sent");

    // Alice's other device shows the message as sent by SMS, delivered.
    ok(tg(&server, &p("alice2"), &["sync"]));
    let copy = show(&server, &p("alice2"), &[phone]);
    assert_eq!(copy.len(), 1, "{copy:?}");
    assert_eq!(copy[0]["via"], "sms");
    assert_eq!(copy[0]["state"], "delivered by SMS");

    // Once the link expires the server forgets the key: the link is dead.
    std::thread::sleep(Duration::from_millis(4500));
    let (status, body) = http_get(&url);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("expired"));
}
