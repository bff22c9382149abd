//! A messenger's everyday features from the CLI: replies, edits, unsend,
//! delete for me, notes to self, search, short ids, local times, quiet
//! sync, safe sends, `--json` everywhere and closed pipes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn last(server: &Server, profile: &std::path::Path, target: &str) -> Value {
    show(server, profile, &[target])
        .last()
        .cloned()
        .expect("a message")
}

#[test]
fn replies_edits_unsend_delete_notes_and_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    let alice = "+12025550101";
    enroll(&server, &p("alice"), "register", "--phone", alice);
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(&server, &p("bob2"), "login", "--email", "bob@example.org");

    let dinner = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", "bob@example.org", "Dinner at 8? 晚饭见"],
    ));
    let dinner_id = dinner["id"].as_str().expect("id").to_string();
    ok(tg(&server, &p("bob"), &["sync"]));

    // Short ids: `show` prints the first 8 characters; 4 are enough.
    let text = ok(tg(&server, &p("bob"), &["show", alice]));
    assert!(text.contains(&dinner_id[..8]), "{text}");
    let e = err(tg(&server, &p("bob"), &["react", "xyz", "👍"]));
    assert!(e.contains("is not a message id"), "{e}");
    let reacted = json(tg(
        &server,
        &p("bob"),
        &["--json", "react", &dinner_id[..4], "👍"],
    ));
    assert_eq!(reacted["id"], dinner_id.as_str());

    // A reply quotes the message it answers, on both sides.
    ok(tg(
        &server,
        &p("bob"),
        &["send", "--reply", &dinner_id[..6], alice, "Yes, see you"],
    ));
    ok(tg(&server, &p("alice"), &["sync"]));
    let reply = last(&server, &p("alice"), "bob@example.org");
    assert_eq!(reply["body"], "Yes, see you");
    assert_eq!(reply["reply_to"]["id"], dinner_id.as_str());
    assert_eq!(reply["reply_to"]["text"], "Dinner at 8? 晚饭见");
    let text = ok(tg(&server, &p("alice"), &["show", "bob@example.org"]));
    assert!(
        text.contains("\u{21aa} +12025550101: \u{201c}Dinner at 8? 晚饭见\u{201d}"),
        "{text}"
    );
    let first = &show(&server, &p("alice"), &["bob@example.org"])[0];
    assert_eq!(
        first["reactions"][0][1], "👍",
        "the reaction names its message"
    );

    // Edit: only the author, and everyone sees the new text and the history.
    let e = err(tg(
        &server,
        &p("bob"),
        &["edit", &dinner_id[..8], "Dinner at 10"],
    ));
    assert!(e.contains("only its author can change a message"), "{e}");
    ok(tg(
        &server,
        &p("alice"),
        &["edit", &dinner_id[..8], "Dinner at 9? 晚饭见"],
    ));
    for who in ["bob", "bob2"] {
        ok(tg(&server, &p(who), &["sync"]));
        let m = &show(&server, &p(who), &[alice])[0];
        assert_eq!(m["body"], "Dinner at 9? 晚饭见", "{who}");
        assert!(m["edited_at"].is_u64(), "{who}");
        assert_eq!(m["edits"][0]["body"], "Dinner at 8? 晚饭见", "{who}");
    }
    let text = ok(tg(&server, &p("bob"), &["show", alice]));
    assert!(text.contains("Dinner at 9? 晚饭见 (edited)"), "{text}");

    // Search: any part of a word, any script, after the edit.
    let found = json(tg(&server, &p("bob"), &["--json", "search", "晚饭"]));
    assert_eq!(found.as_array().expect("list").len(), 1, "{found}");
    let found = json(tg(&server, &p("bob"), &["--json", "search", "DINNER AT 9"]));
    assert_eq!(found[0]["id"], dinner_id.as_str());
    let found = json(tg(&server, &p("bob"), &["--json", "search", "at 8"]));
    assert_eq!(found, serde_json::json!([]), "the old text is gone");

    // Unsend: gone everywhere, a note stays.
    let oops = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", "bob@example.org", "wrong chat, sorry"],
    ));
    let oops_id = oops["id"].as_str().expect("id").to_string();
    ok(tg(&server, &p("bob"), &["sync"]));
    ok(tg(&server, &p("alice"), &["unsend", &oops_id[..8]]));
    for who in ["bob", "bob2"] {
        ok(tg(&server, &p(who), &["sync"]));
        let m = last(&server, &p(who), alice);
        assert_eq!(
            (m["kind"].as_str(), m["body"].as_str()),
            (Some("unsent"), Some("")),
            "{who}"
        );
        let text = ok(tg(&server, &p(who), &["show", alice]));
        assert!(!text.contains("wrong chat"), "{who}: {text}");
        assert!(text.contains("(message unsent)"), "{who}: {text}");
    }

    // Delete for me: on all of Bob's devices, not on Alice's.
    ok(tg(&server, &p("bob"), &["delete", &dinner_id[..8]]));
    ok(tg(&server, &p("bob2"), &["sync"]));
    for who in ["bob", "bob2"] {
        let ids: Vec<String> = show(&server, &p(who), &[alice])
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_string())
            .collect();
        assert!(!ids.contains(&dinner_id), "{who}");
    }
    assert_eq!(
        show(&server, &p("alice"), &["bob@example.org"])[0]["id"],
        dinner_id.as_str()
    );

    // Notes to self: kept, and copied to one's other devices.
    let note = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", alice, "remember the milk"],
    ));
    assert_eq!(note["conversation"], alice);
    assert_eq!(note["state"], "saved", "no other device to copy it to");
    ok(tg(
        &server,
        &p("bob"),
        &["send", "bob@example.org", "passport in the drawer"],
    ));
    ok(tg(&server, &p("bob2"), &["sync"]));
    assert_eq!(
        last(&server, &p("bob2"), "bob@example.org")["body"],
        "passport in the drawer"
    );
}

#[test]
fn the_cli_is_safe_quiet_and_pipeable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");

    // A forgotten text is refused, not sent as the last handle.
    let e = err(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "+12025550177"],
    ));
    assert!(e.contains("looks like a recipient"), "{e}");
    assert!(show(&server, &p("alice"), &["bob@example.org"]).is_empty());
    let e = err(tg(&server, &p("alice"), &["send", "bob@example.org"]));
    assert!(e.contains("no text to send"), "{e}");
    let sent = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", "bob@example.org", "-m", "+1 202 555 0177"],
    ));
    assert_eq!(sent["body"], "+1 202 555 0177");
    for i in 0..5 {
        ok(tg(
            &server,
            &p("alice"),
            &["send", "bob@example.org", &format!("line {i}")],
        ));
    }

    // `sync` is quiet: no per-device delivery lines unless --verbose.
    ok(tg(&server, &p("bob"), &["sync"]));
    let quiet = ok(tg(&server, &p("alice"), &["sync"]));
    assert!(!quiet.contains("delivered"), "{quiet}");

    // Local times, with the zone said.
    let out = Command::new(BIN)
        .args(["--server", &server.url, "--profile"])
        .arg(p("alice"))
        .args(["show", "bob@example.org"])
        .env("TZ", "Asia/Shanghai")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(times in Asia/Shanghai, UTC+08:00)"),
        "{text}"
    );
    assert!(
        text.contains("] ") && text.contains(" you: line 0"),
        "{text}"
    );

    // `show … | head -1`: the reader stops early; no panic, no error. The
    // conversation is longer than a pipe's buffer, so the CLI does hit the
    // closed pipe.
    let long = "x".repeat(60_000);
    for _ in 0..3 {
        ok(tg(
            &server,
            &p("alice"),
            &["send", "bob@example.org", &long],
        ));
    }
    ok(tg(&server, &p("bob"), &["sync"]));
    let mut child = Command::new(BIN)
        .args(["--server", &server.url, "--profile"])
        .arg(p("bob"))
        .args(["show", "+12025550101"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a line");
    // The pipe is closed here; what is left to print hits EPIPE.
    let out = child.wait_with_output().expect("ends");
    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // --json on commands that printed nothing or plain text.
    let typing = json(tg(
        &server,
        &p("alice"),
        &["--json", "typing", "bob@example.org"],
    ));
    assert_eq!(typing["typing"][0], "bob@example.org");
    let sms = json(tg(
        &server,
        &p("alice"),
        &[
            "--json",
            "carrier",
            "send",
            "--from",
            "+12025550177",
            "--to",
            "+12025550101",
            "hi",
        ],
    ));
    assert_eq!(sms["sent"], true);
}

/// A message written while the server is down waits, and the next sync
/// sends it exactly once; so does the next send, oldest first.
#[test]
fn messages_written_offline_wait_and_go_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "before"],
    ));

    let (data, addr) = server.kill9();
    let url = format!("http://{addr}");
    let offline = |args: &[&str]| {
        Command::new(BIN)
            .args(["--server", &url, "--profile"])
            .arg(p("alice"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("runs")
    };
    let text = ok(offline(&["send", "bob@example.org", "while down 1"]));
    assert!(text.contains("(waiting)"), "{text}");
    assert!(
        text.contains("the next `tidings sync` or `tidings send` sends it"),
        "{text}"
    );
    let w = json(offline(&[
        "--json",
        "send",
        "bob@example.org",
        "while down 2",
    ]));
    assert_eq!(w["state"], "waiting");
    let mine = json(offline(&["--json", "show", "bob@example.org"]));
    let states: Vec<&str> = mine
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["sent", "waiting", "waiting"]);

    let server = Server::start(&data, &addr);
    ok(tg(&server, &p("alice"), &["sync"]));
    // A second sync finds nothing left to send.
    ok(tg(&server, &p("alice"), &["sync"]));
    let mine = show(&server, &p("alice"), &["bob@example.org"]);
    assert!(mine.iter().all(|m| m["state"] != "waiting"), "{mine:?}");
    ok(tg(&server, &p("bob"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("bob"), &["+12025550101"])),
        ["before", "while down 1", "while down 2"],
        "each once, in order"
    );
}

/// An account whose last device logged out: an e-mail address fails
/// visibly, a phone number gets the message as SMS.
#[test]
fn messages_to_an_account_with_no_device_fail_visibly_or_go_as_sms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(&server, &p("carol"), "register", "--phone", "+12025550103");
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "hi Bob"],
    ));
    ok(tg(
        &server,
        &p("alice"),
        &["send", "+12025550103", "hi Carol"],
    ));
    ok(tg(&server, &p("bob"), &["logout"]));
    ok(tg(&server, &p("carol"), &["logout"]));

    let e = err(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "still there?"],
    ));
    assert!(
        e.contains("not delivered: bob@example.org has no device on Tidings"),
        "{e}"
    );
    let m = show(&server, &p("alice"), &["bob@example.org"]);
    let kept = m
        .iter()
        .find(|m| m["body"] == "still there?")
        .expect("the message is kept");
    assert!(
        kept["state"]
            .as_str()
            .expect("state")
            .starts_with("failed: not delivered"),
        "{m:?}"
    );
    // Bob is back: the failed message goes again, as itself, once.
    enroll(&server, &p("bob"), "login", "--email", "bob@example.org");
    let id = kept["id"].as_str().expect("id").to_string();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut client =
        tidings_client::Client::open(tidings_client::Profile::new(p("alice")), Some(&server.url))
            .expect("profile opens");
    let again = runtime
        .block_on(client.retry(&id, &mut |_, _, _| {}))
        .expect("retried");
    assert_eq!(
        (again.id.as_str(), again.state.as_str()),
        (id.as_str(), "sent")
    );
    let not_again = runtime.block_on(client.retry(&id, &mut |_, _, _| {}));
    assert!(
        matches!(&not_again, Err(e) if e.to_string().contains("has not failed")),
        "{not_again:?}"
    );
    drop(client);
    let m = show(&server, &p("alice"), &["bob@example.org"]);
    assert_eq!(
        m.iter().filter(|m| m["body"] == "still there?").count(),
        1,
        "one message, not a copy: {m:?}"
    );
    ok(tg(&server, &p("bob"), &["sync"]));
    let got = bodies(&show(&server, &p("bob"), &["+12025550101"]));
    assert_eq!(
        got.iter().filter(|b| *b == "still there?").count(),
        1,
        "{got:?}"
    );

    let sent = json(tg(
        &server,
        &p("alice"),
        &["--json", "send", "+12025550103", "still there, Carol?"],
    ));
    assert_eq!(sent["via"], "sms");
    let inbox = json(tg(
        &server,
        &p("alice"),
        &["--json", "carrier", "inbox", "+12025550103"],
    ));
    assert_eq!(
        inbox.as_array().expect("list").last().expect("sms")["text"],
        "still there, Carol?"
    );
}

/// A device that joins later is announced on the account's other devices
/// and gets their contacts, blocks and settings; a changed setting follows
/// to every device.
#[test]
fn a_new_device_is_announced_and_agrees_with_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    ok(tg(
        &server,
        &p("bob"),
        &["contacts", "add", "+12025550101", "--name", "Alice"],
    ));
    ok(tg(&server, &p("bob"), &["block", "+12025550199"]));
    ok(tg(&server, &p("bob"), &["sync"]));

    ok(tg(
        &server,
        &p("laptop"),
        &["login", "--email", "bob@example.org"],
    ));
    let c = code(&server, "bob@example.org");
    ok(tg(
        &server,
        &p("laptop"),
        &[
            "login",
            "--email",
            "bob@example.org",
            "--code",
            &c,
            "--device-name",
            "Bob's laptop",
        ],
    ));
    let said = ok(tg(&server, &p("bob"), &["sync"]));
    assert!(
        said.contains("a new device signed in to your account: \u{201c}Bob's laptop\u{201d}"),
        "{said}"
    );
    let again = ok(tg(&server, &p("bob"), &["sync"]));
    assert!(!again.contains("new device"), "announced once: {again}");
    ok(tg(&server, &p("laptop"), &["sync"]));
    let contacts = json(tg(&server, &p("laptop"), &["--json", "contacts"]));
    assert_eq!(contacts[0]["name"], "Alice", "{contacts}");
    // Alice, a contact, is no message request on the laptop either.
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "hello both"],
    ));
    ok(tg(&server, &p("laptop"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("laptop"), &["Alice"])),
        ["hello both"]
    );
    let held = json(tg(&server, &p("laptop"), &["--json", "requests"]));
    assert_eq!(held, serde_json::json!([]));

    // Read receipts turned off on the laptop are off on the phone too.
    ok(tg(
        &server,
        &p("laptop"),
        &["settings", "--read-receipts", "off"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    let settings = json(tg(&server, &p("bob"), &["--json", "settings"]));
    assert_eq!(settings["read_receipts"], "off");
}

/// Display names travel inside messages and are shown instead of handles,
/// except for strangers, whose chosen name could pose as anyone.
#[test]
fn names_not_handles_but_never_a_strangers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(
        &server,
        &p("mallory"),
        "register",
        "--phone",
        "+12025550188",
    );
    ok(tg(
        &server,
        &p("alice"),
        &["settings", "--name", "Alice Liddell"],
    ));
    ok(tg(
        &server,
        &p("mallory"),
        &["settings", "--name", "Your Bank"],
    ));
    ok(tg(&server, &p("bob"), &["send", "+12025550101", "hi"]));
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "hello Bob"],
    ));
    ok(tg(
        &server,
        &p("mallory"),
        &["send", "bob@example.org", "verify your account"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));

    let text = ok(tg(&server, &p("bob"), &["show", "+12025550101"]));
    assert!(text.contains(" Alice Liddell: hello Bob"), "{text}");
    let chats = ok(tg(&server, &p("bob"), &["chats"]));
    assert!(chats.contains("+12025550101 (Alice Liddell)"), "{chats}");
    let strange = ok(tg(&server, &p("bob"), &["show", "+12025550188"]));
    assert!(!strange.contains("Your Bank"), "{strange}");
    assert!(
        strange.contains("+12025550188: verify your account"),
        "{strange}"
    );
    // A contact's name, chosen by the user, wins over the sent one.
    ok(tg(
        &server,
        &p("bob"),
        &["contacts", "add", "+12025550101", "--name", "Mum"],
    ));
    let text = ok(tg(&server, &p("bob"), &["show", "Mum"]));
    assert!(text.contains(" Mum: hello Bob"), "{text}");
    let e = err(tg(
        &server,
        &p("alice"),
        &["settings", "--name", "bad\nname"],
    ));
    assert!(e.contains("display name"), "{e}");
    // Accepting a request gives the accepted person one's name, as writing
    // to them would.
    ok(tg(&server, &p("bob"), &["settings", "--name", "Bob B"]));
    ok(tg(&server, &p("bob"), &["accept", "+12025550188"]));
    ok(tg(&server, &p("mallory"), &["sync"]));
    let chats = ok(tg(&server, &p("mallory"), &["chats"]));
    assert!(chats.contains("bob@example.org (Bob B)"), "{chats}");
}

/// Muted, archived, pinned and deleted conversations are the same on every
/// device of the account.
#[test]
fn conversation_state_follows_to_every_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("carol"), "register", "--phone", "+12025550103");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(&server, &p("bob2"), "login", "--email", "bob@example.org");
    for who in ["alice", "carol"] {
        ok(tg(
            &server,
            &p(who),
            &["send", "bob@example.org", &format!("hi from {who}")],
        ));
    }
    ok(tg(&server, &p("bob"), &["sync"]));
    ok(tg(&server, &p("bob"), &["accept", "+12025550101"]));
    ok(tg(&server, &p("bob"), &["accept", "+12025550103"]));
    // The other device follows the accepts: nothing is a request there.
    ok(tg(&server, &p("bob2"), &["sync"]));
    let held = json(tg(&server, &p("bob2"), &["--json", "requests"]));
    assert_eq!(held, serde_json::json!([]));
    ok(tg(&server, &p("bob"), &["chats", "mute", "+12025550101"]));
    ok(tg(&server, &p("bob"), &["chats", "pin", "+12025550103"]));
    ok(tg(&server, &p("bob2"), &["sync"]));
    let chats = json(tg(&server, &p("bob2"), &["--json", "chats"]));
    assert_eq!(chats[0]["key"], "+12025550103", "pinned first: {chats}");
    assert_eq!(chats[0]["pinned"], true);
    assert_eq!(chats[1]["muted"], true);
    // A muted conversation's new messages are stored but not printed.
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "muted news"],
    ));
    let printed = ok(tg(&server, &p("bob2"), &["sync"]));
    assert!(!printed.contains("muted news"), "{printed}");
    assert_eq!(
        bodies(&show(&server, &p("bob2"), &["+12025550101"]))
            .last()
            .expect("kept"),
        "muted news"
    );
    // Archive, then delete, from the other device.
    ok(tg(
        &server,
        &p("bob2"),
        &["chats", "archive", "+12025550101"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    let list = ok(tg(&server, &p("bob"), &["chats"]));
    assert!(!list.contains("+12025550101 "), "{list}");
    assert!(list.contains("-- 1 archived"), "{list}");
    let archived = ok(tg(&server, &p("bob"), &["chats", "--archived"]));
    assert!(archived.contains("+12025550101"), "{archived}");
    let e = err(tg(
        &server,
        &p("bob2"),
        &["chats", "delete", "+12025550103"],
    ));
    assert!(e.contains("--yes"), "{e}");
    ok(tg(
        &server,
        &p("bob2"),
        &["chats", "delete", "+12025550103", "--yes"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    assert!(show(&server, &p("bob"), &["+12025550103"]).is_empty());
}

/// One person, one conversation: Alice writes to Carol's e-mail address,
/// Carol answers from her phone number, and it is all one conversation in
/// which each message keeps its handle.
#[test]
fn two_handles_of_one_account_are_one_conversation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("carol"), "register", "--phone", "+442079460123");
    ok(tg(
        &server,
        &p("carol"),
        &["handles", "add", "carol@example.org"],
    ));
    let c = code(&server, "carol@example.org");
    ok(tg(
        &server,
        &p("carol"),
        &["handles", "add", "carol@example.org", "--code", &c],
    ));

    // Until Carol writes to Alice, the directory does not tell Alice that
    // the two handles are one account.
    let lookup = |who: &str| -> Value {
        let (token, _) = credentials(&p(who));
        let out = Command::new("curl")
            .args(["-sf", "-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", "Content-Type: application/json", "-d"])
            .arg(r#"{"handles":["carol@example.org","+442079460123"]}"#)
            .arg(format!("{}/v1/directory", server.url))
            .output()
            .expect("curl runs");
        serde_json::from_slice(&out.stdout).expect("a directory answer")
    };
    let before = lookup("alice");
    assert_ne!(
        before["found"][0]["account"], before["found"][1]["account"],
        "{before}"
    );
    ok(tg(
        &server,
        &p("alice"),
        &["send", "carol@example.org", "hi Carol"],
    ));
    ok(tg(&server, &p("carol"), &["sync"]));
    ok(tg(
        &server,
        &p("carol"),
        &["send", "+12025550101", "hi from my phone"],
    ));
    ok(tg(&server, &p("alice"), &["sync"]));
    let conv = show(&server, &p("alice"), &["carol@example.org"]);
    assert_eq!(bodies(&conv), ["hi Carol", "hi from my phone"]);
    assert_eq!(
        conv[1]["from"], "+442079460123",
        "the message keeps its handle"
    );
    let chats = json(tg(&server, &p("alice"), &["--json", "chats"]));
    assert_eq!(chats.as_array().expect("list").len(), 1, "{chats}");
    // Either handle names the one conversation.
    ok(tg(
        &server,
        &p("alice"),
        &["send", "+442079460123", "got it"],
    ));
    let conv = show(&server, &p("alice"), &["+442079460123"]);
    assert_eq!(bodies(&conv), ["hi Carol", "hi from my phone", "got it"]);
    let after = lookup("alice");
    assert_eq!(after["found"][0]["account"], after["found"][1]["account"]);
    // Carol can keep her handles apart from everyone.
    ok(tg(
        &server,
        &p("carol"),
        &["settings", "--link-handles", "nobody"],
    ));
    let apart = lookup("alice");
    assert_ne!(apart["found"][0]["account"], apart["found"][1]["account"]);
    let own = lookup("carol");
    assert_eq!(
        own["found"][0]["account"], own["found"][1]["account"],
        "her own"
    );
}

/// A new device gets the history from an old one, after the user confirms
/// there: conversations, groups, replies and attachments.
#[test]
fn a_new_device_gets_the_history_from_an_old_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    let photo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tour/beach.png");
    ok(tg(
        &server,
        &p("alice"),
        &[
            "send",
            "bob@example.org",
            "one",
            "--attach",
            photo.to_str().expect("utf-8"),
        ],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    ok(tg(&server, &p("bob"), &["send", "+12025550101", "two"]));
    ok(tg(
        &server,
        &p("alice"),
        &["group", "create", "Trip", "bob@example.org"],
    ));
    ok(tg(&server, &p("alice"), &["send", "Trip", "in the group"]));
    ok(tg(&server, &p("alice"), &["sync"]));

    enroll(&server, &p("laptop"), "login", "--phone", "+12025550101");
    let first = ok(tg(&server, &p("laptop"), &["sync"]));
    assert!(
        first.contains("this device has no message history"),
        "{first}"
    );
    // Confirmation is needed: without a terminal, --yes.
    let e = err(tg(&server, &p("alice"), &["history", "send"]));
    assert!(e.contains("--yes"), "{e}");
    let sent = json(tg(
        &server,
        &p("alice"),
        &["--json", "history", "send", "--yes"],
    ));
    assert_eq!(sent["conversations"], 2, "{sent}");
    // The first try fails on the laptop (its history folder is taken by a
    // file); the offer is kept, and the next sync brings it over.
    let blocker = p("laptop").join("history");
    std::fs::write(&blocker, "in the way").expect("write");
    let failed = ok(tg(&server, &p("laptop"), &["sync"]));
    assert!(failed.contains("could not be brought over yet"), "{failed}");
    assert!(show(&server, &p("laptop"), &["bob@example.org"]).is_empty());
    std::fs::remove_file(&blocker).expect("remove");
    let got = ok(tg(&server, &p("laptop"), &["sync"]));
    assert!(got.contains("your message history arrived"), "{got}");
    let direct = show(&server, &p("laptop"), &["bob@example.org"]);
    assert_eq!(bodies(&direct), ["one", "two"]);
    assert_eq!(direct[0]["attachments"][0]["state"], "saved", "{direct:?}");
    let trip = bodies(&show(&server, &p("laptop"), &["Trip"]));
    assert_eq!(trip.last().expect("text"), "in the group");
    // Life goes on in the same conversations.
    ok(tg(&server, &p("bob"), &["sync"]));
    ok(tg(
        &server,
        &p("bob"),
        &["send", "Trip", "hello both devices"],
    ));
    ok(tg(&server, &p("laptop"), &["sync"]));
    let trip = bodies(&show(&server, &p("laptop"), &["Trip"]));
    assert_eq!(trip.last().expect("text"), "hello both devices");
    // Imported once: a second sync adds nothing.
    ok(tg(&server, &p("laptop"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("laptop"), &["bob@example.org"])).len(),
        2
    );
}

/// A profile photo reaches the people its owner writes to, fetched once,
/// and never from a stranger.
#[test]
fn a_profile_photo_reaches_who_one_writes_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(
        &server,
        &p("mallory"),
        "register",
        "--phone",
        "+12025550188",
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let photo = root.join("docs/tour/beach.png");
    let pdf = root.join("docs/tour/menu.pdf");
    let e = err(tg(
        &server,
        &p("alice"),
        &["settings", "--photo", pdf.to_str().expect("utf-8")],
    ));
    assert!(e.contains("is not a photo"), "{e}");
    for who in ["alice", "mallory"] {
        ok(tg(
            &server,
            &p(who),
            &["settings", "--photo", photo.to_str().expect("utf-8")],
        ));
    }
    ok(tg(&server, &p("bob"), &["send", "+12025550101", "hi"]));
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "hello with my face"],
    ));
    ok(tg(
        &server,
        &p("mallory"),
        &["send", "bob@example.org", "guess who"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    let chats = json(tg(&server, &p("bob"), &["--json", "chats"]));
    let of = |key: &str| -> Value {
        chats
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["key"] == key)
            .cloned()
            .expect("a conversation")
    };
    let saved = of("+12025550101")["photo"]
        .as_str()
        .expect("fetched")
        .to_string();
    assert_eq!(
        std::fs::read(&saved).expect("the photo file"),
        std::fs::read(&photo).expect("the original"),
        "the same picture"
    );
    assert!(
        of("+12025550188")["photo"].is_null(),
        "a stranger's photo is not fetched"
    );
}

/// A device that logs in to an account whose other devices are gone says
/// there is no history to get.
#[test]
fn without_an_old_device_a_new_one_says_there_is_no_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(
        &server,
        &p("old"),
        "register",
        "--email",
        "carol@example.org",
    );
    let first = ok(tg(&server, &p("old"), &["sync"]));
    assert!(
        !first.contains("history"),
        "a new account expects none: {first}"
    );
    ok(tg(&server, &p("old"), &["logout"]));
    enroll(&server, &p("new"), "login", "--email", "carol@example.org");
    let said = ok(tg(&server, &p("new"), &["sync"]));
    assert!(
        said.contains("no message history, and no other device of your account"),
        "{said}"
    );
    // So are a bad server address and a server that is down.
    let bad = Command::new(BIN)
        .args(["--server", "ht!tp://x", "--profile"])
        .arg(p("new"))
        .args(["register", "--email", "x@example.org"])
        .output()
        .expect("runs");
    let e = err(bad);
    assert!(e.contains("is not a server address"), "{e}");
    let down = Command::new(BIN)
        .args(["--server", "http://127.0.0.1:9", "--profile"])
        .arg(p("new"))
        .args(["sync"])
        .output()
        .expect("runs");
    let e = err(down);
    assert!(
        e.contains("cannot reach the server at http://127.0.0.1:9"),
        "{e}"
    );
    // Usage errors are one line too.
    let e = err(tg(&server, &p("new"), &["send"]));
    assert!(e.contains("tidings --help"), "{e}");
}
