//! End-to-end tests of message requests: strangers' conversations are held
//! back (no notification, receipts, typing, downloads or clickable links)
//! until accepted; spam goes to junk; block and report.

use serde_json::Value;

mod common;

use common::*;

/// Spam written for these tests (not from the training corpus).
const SPAM: &str = "URGENT: your mobile number has won a 2000 pound bonus prize! \
                    Text CLAIM to 87121 to collect, 150p/msg";
const SPAM_SMS: &str =
    "FREE entry to win a brand new phone! Reply WIN to 80086 now, txt STOP to end";

fn list(v: Value) -> Vec<Value> {
    v.as_array().expect("a list").clone()
}

fn chat_state(server: &Server, profile: &std::path::Path, key: &str) -> Option<String> {
    list(json(tg(server, profile, &["--json", "chats"])))
        .into_iter()
        .find(|c| c["key"] == key)
        .map(|c| c["state"].as_str().expect("state").to_string())
}

fn requests(server: &Server, profile: &std::path::Path, junk: bool) -> Vec<Value> {
    let mut args = vec!["--json", "requests"];
    if junk {
        args.push("--junk");
    }
    list(json(tg(server, profile, &args)))
}

#[test]
fn a_strangers_message_is_held_back_until_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    let note = p("club.txt");
    std::fs::write(&note, "climbing club timetable").expect("write");

    let text = "hi, it's Bob from the climbing club, is this still your number? \
                the schedule is at https://example.com/club";
    ok(tg(
        &server,
        &p("bob"),
        &[
            "send",
            "+12025550101",
            text,
            "--attach",
            note.to_str().expect("utf-8"),
        ],
    ));

    // A quiet note, without the text.
    let synced = ok(tg(&server, &p("alice"), &["--json", "sync"]));
    assert!(synced.contains("\"event\":\"request\""), "{synced}");
    assert!(!synced.contains("climbing"), "{synced}");
    let human = ok(tg(&server, &p("bob"), &["sync"]));
    assert!(!human.contains("message request"), "bob: {human}");

    // Not in the chats; in the requests, with why and a score.
    assert_eq!(
        chat_state(&server, &p("alice"), "bob@example.org").as_deref(),
        Some("request")
    );
    let chats = ok(tg(&server, &p("alice"), &["chats"]));
    assert!(!chats.contains("bob@example.org:"), "{chats}");
    assert!(chats.contains("1 message request(s)"), "{chats}");
    let held = requests(&server, &p("alice"), false);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["conversation"], "bob@example.org");
    assert_eq!(held[0]["from"], "bob@example.org");
    assert_eq!(held[0]["reason"], "unknown_sender");
    assert!(held[0]["score"].as_f64().expect("a score") < 0.4);
    let listed = ok(tg(&server, &p("alice"), &["requests"]));
    assert!(listed.contains("unknown sender"), "{listed}");
    assert!(!listed.contains("https://"), "{listed}");

    // Links are defanged in `show`; the JSON keeps the raw text.
    let shown = ok(tg(&server, &p("alice"), &["show", "bob@example.org"]));
    assert!(shown.contains("MESSAGE REQUEST"), "{shown}");
    assert!(shown.contains("hxxps[:]//example[.]com/club"), "{shown}");
    assert!(!shown.contains("https://example.com"), "{shown}");
    let got = show(&server, &p("alice"), &["bob@example.org"]);
    assert_eq!(got[0]["request"], true);
    assert_eq!(got[0]["folder"], "request");
    assert_eq!(got[0]["body"], text);
    // The attachment waits.
    assert_eq!(got[0]["attachments"][0]["state"], "pending");

    // Reading sends no receipt; typing is refused.
    ok(tg(&server, &p("alice"), &["read", "bob@example.org"]));
    ok(tg(&server, &p("bob"), &["sync"]));
    let on_bob = show(&server, &p("bob"), &["+12025550101"]);
    assert_eq!(on_bob[0]["state"], "delivered", "{on_bob:?}");
    let typing = tg(&server, &p("alice"), &["typing", "bob@example.org"]);
    assert!(!typing.status.success());
    assert!(String::from_utf8_lossy(&typing.stderr).contains("message request"));

    // Accepting moves it, downloads the attachment and sends the receipt
    // held back.
    let accepted = json(tg(
        &server,
        &p("alice"),
        &["--json", "accept", "bob@example.org"],
    ));
    assert_eq!(accepted["conversation"], "bob@example.org");
    assert_eq!(accepted["receipts"], 1);
    assert_eq!(
        chat_state(&server, &p("alice"), "bob@example.org").as_deref(),
        Some("inbox")
    );
    assert!(requests(&server, &p("alice"), false).is_empty());
    let got = show(&server, &p("alice"), &["bob@example.org"]);
    assert!(got[0].get("request").is_none());
    assert_eq!(got[0]["attachments"][0]["state"], "saved");
    ok(tg(&server, &p("bob"), &["sync"]));
    assert_eq!(
        show(&server, &p("bob"), &["+12025550101"])[0]["state"],
        "read"
    );

    // From now on: notifications and receipts as usual.
    ok(tg(
        &server,
        &p("bob"),
        &["send", "+12025550101", "see you Thursday"],
    ));
    let synced = ok(tg(&server, &p("alice"), &["--json", "sync"]));
    assert!(synced.contains("see you Thursday"), "{synced}");
    ok(tg(&server, &p("alice"), &["read", "bob@example.org"]));
    ok(tg(&server, &p("bob"), &["sync"]));
    let on_bob = show(&server, &p("bob"), &["+12025550101"]);
    assert_eq!(on_bob[1]["state"], "read", "{on_bob:?}");

    // Only requests can be accepted.
    let again = tg(&server, &p("alice"), &["accept", "bob@example.org"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("not a message request"));
}

#[test]
fn contacts_and_people_i_wrote_to_reach_the_inbox() {
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
    enroll(
        &server,
        &p("dave"),
        "register",
        "--email",
        "dave@example.org",
    );
    enroll(&server, &p("erin"), "register", "--phone", "+12025550105");

    // A saved contact, even with a spammy text.
    let saved = json(tg(
        &server,
        &p("alice"),
        &[
            "--json",
            "contacts",
            "add",
            "dave@example.org",
            "--name",
            "Dave",
        ],
    ));
    assert_eq!(saved["name"], "Dave");
    let contacts = list(json(tg(&server, &p("alice"), &["--json", "contacts"])));
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["handle"], "dave@example.org");
    ok(tg(
        &server,
        &p("dave"),
        &["send", "alice@example.org", SPAM],
    ));
    let synced = ok(tg(&server, &p("alice"), &["--json", "sync"]));
    assert!(synced.contains("\"event\":\"message\""), "{synced}");
    assert_eq!(
        chat_state(&server, &p("alice"), "dave@example.org").as_deref(),
        Some("inbox")
    );

    // Someone Alice wrote to: the reply goes to the inbox; on Erin's side,
    // Alice's first message was a request until Erin answered.
    ok(tg(
        &server,
        &p("alice"),
        &["send", "+12025550105", "hello Erin, Alice here"],
    ));
    ok(tg(&server, &p("erin"), &["sync"]));
    assert_eq!(
        chat_state(&server, &p("erin"), "alice@example.org").as_deref(),
        Some("request")
    );
    ok(tg(&server, &p("erin"), &["read", "alice@example.org"]));
    ok(tg(
        &server,
        &p("erin"),
        &["send", "alice@example.org", "hi Alice!"],
    ));
    assert_eq!(
        chat_state(&server, &p("erin"), "alice@example.org").as_deref(),
        Some("inbox"),
        "writing back accepts"
    );
    ok(tg(&server, &p("alice"), &["sync"]));
    assert_eq!(
        chat_state(&server, &p("alice"), "+12025550105").as_deref(),
        Some("inbox")
    );
    let on_alice = show(&server, &p("alice"), &["+12025550105"]);
    assert_eq!(
        on_alice[0]["state"], "read",
        "the receipt held back goes with the reply: {on_alice:?}"
    );
    assert!(requests(&server, &p("alice"), false).is_empty());
    assert!(requests(&server, &p("alice"), true).is_empty());

    // Clear errors at the limits of input.
    let long = "n".repeat(300);
    let out = tg(
        &server,
        &p("alice"),
        &["contacts", "add", "erin@example.org", "--name", &long],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("256 bytes"));
    let out = tg(&server, &p("alice"), &["block", "alice@example.org"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("your own handle"));
}

#[test]
fn spam_goes_to_junk_and_block_and_report_drop_later_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(
        &server,
        &p("spammer"),
        "register",
        "--phone",
        "+12025550166",
    );
    enroll(
        &server,
        &p("frank"),
        "register",
        "--email",
        "frank@example.org",
    );

    // Spam from a stranger: junk, without any event.
    ok(tg(&server, &p("spammer"), &["send", "+12025550101", SPAM]));
    let synced = ok(tg(&server, &p("alice"), &["--json", "sync"]));
    assert!(synced.trim().is_empty(), "{synced}");
    assert!(requests(&server, &p("alice"), false).is_empty());
    let junk = requests(&server, &p("alice"), true);
    assert_eq!(junk.len(), 1, "{junk:?}");
    assert_eq!(junk[0]["conversation"], "+12025550166");
    assert_eq!(junk[0]["reason"], "likely_spam");
    assert!(junk[0]["score"].as_f64().expect("score") > 0.9);
    assert_eq!(
        chat_state(&server, &p("alice"), "+12025550166").as_deref(),
        Some("junk")
    );
    let chats = ok(tg(&server, &p("alice"), &["chats"]));
    assert!(chats.contains("1 in junk"), "{chats}");

    // Restored: a request again, and further spam does not move it back.
    ok(tg(
        &server,
        &p("alice"),
        &["requests", "restore", "+12025550166"],
    ));
    assert!(requests(&server, &p("alice"), true).is_empty());
    assert_eq!(requests(&server, &p("alice"), false).len(), 1);

    // Report junk: the token goes to the server, the sender is blocked and
    // the conversation deleted; later messages are dropped.
    let reported = json(tg(
        &server,
        &p("alice"),
        &["--json", "report", "+12025550166", "--share-text"],
    ));
    assert_eq!(reported["deleted"], serde_json::json!(["+12025550166"]));
    assert_eq!(
        reported["reported"], true,
        "the server took the report: {reported}"
    );
    assert_eq!(reported["shared_text"], true);
    ok(tg(&server, &p("spammer"), &["send", "+12025550101", SPAM]));
    ok(tg(&server, &p("alice"), &["sync"]));
    assert!(show(&server, &p("alice"), &["+12025550166"]).is_empty());
    assert!(requests(&server, &p("alice"), false).is_empty());
    assert!(requests(&server, &p("alice"), true).is_empty());

    // Block: later messages are dropped, earlier ones stay.
    ok(tg(
        &server,
        &p("frank"),
        &["send", "+12025550101", "hello, we met at the station"],
    ));
    ok(tg(&server, &p("alice"), &["sync"]));
    let blocked = json(tg(
        &server,
        &p("alice"),
        &["--json", "block", "frank@example.org"],
    ));
    assert_eq!(blocked["handle"], "frank@example.org");
    ok(tg(
        &server,
        &p("frank"),
        &["send", "+12025550101", "why no answer?"],
    ));
    ok(tg(&server, &p("alice"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("alice"), &["frank@example.org"])),
        ["hello, we met at the station"]
    );
    let held = requests(&server, &p("alice"), false);
    assert_eq!(held[0]["blocked"], true);
    // Deleting a request leaves nothing behind.
    ok(tg(
        &server,
        &p("alice"),
        &["requests", "delete", "frank@example.org"],
    ));
    assert!(show(&server, &p("alice"), &["frank@example.org"]).is_empty());
    assert!(requests(&server, &p("alice"), false).is_empty());
    // Unblocked, a new message is a new request.
    ok(tg(&server, &p("alice"), &["unblock", "frank@example.org"]));
    ok(tg(
        &server,
        &p("frank"),
        &["send", "+12025550101", "third try"],
    ));
    ok(tg(&server, &p("alice"), &["sync"]));
    assert_eq!(requests(&server, &p("alice"), false).len(), 1);
}

#[test]
fn sms_from_unknown_numbers_are_requests_or_junk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    let carrier = |from: &str, text: &str| {
        ok(tg(
            &server,
            &p("alice"),
            &[
                "carrier",
                "send",
                "--from",
                from,
                "--to",
                "+12025550101",
                text,
            ],
        ))
    };
    carrier("+12025550199", SPAM_SMS);
    carrier(
        "+12025550198",
        "Hi, this is the dentist's office confirming Tuesday",
    );
    ok(tg(&server, &p("alice"), &["sync"]));
    let junk = requests(&server, &p("alice"), true);
    assert_eq!(junk.len(), 1, "{junk:?}");
    assert_eq!(junk[0]["conversation"], "+12025550199");
    assert_eq!(junk[0]["reason"], "likely_spam");
    let held = requests(&server, &p("alice"), false);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["conversation"], "+12025550198");
    assert_eq!(held[0]["reportable"], false, "SMS carry no report token");
    // A number Alice texted is known: its reply is not held back.
    ok(tg(
        &server,
        &p("alice"),
        &["send", "+12025550177", "Are you on Tidings yet?"],
    ));
    carrier("+12025550177", "Not yet! Call me at 555-0177");
    ok(tg(&server, &p("alice"), &["sync"]));
    assert_eq!(
        chat_state(&server, &p("alice"), "+12025550177").as_deref(),
        Some("inbox")
    );
}

#[test]
fn group_messages_with_a_known_member_are_not_requests() {
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
    enroll(
        &server,
        &p("carol"),
        "register",
        "--email",
        "carol@example.org",
    );
    enroll(&server, &p("dan"), "register", "--email", "dan@example.org");
    ok(tg(
        &server,
        &p("alice"),
        &["contacts", "add", "bob@example.org"],
    ));

    // Dan, a stranger, starts a group with Alice and Carol, another
    // stranger: a request.
    let sent = json(tg(
        &server,
        &p("dan"),
        &[
            "--json",
            "send",
            "alice@example.org",
            "carol@example.org",
            "selling my bike",
        ],
    ));
    let stranger_group = sent["conversation"].as_str().expect("key").to_string();
    let synced = ok(tg(&server, &p("alice"), &["--json", "sync"]));
    assert!(!synced.contains("selling my bike"), "{synced}");
    assert_eq!(
        chat_state(&server, &p("alice"), &stranger_group).as_deref(),
        Some("request")
    );
    let held = requests(&server, &p("alice"), false);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["from"], "dan@example.org");

    // Carol starts a group with Alice and Bob, whom Alice knows: not a
    // request.
    let sent = json(tg(
        &server,
        &p("carol"),
        &[
            "--json",
            "send",
            "alice@example.org",
            "bob@example.org",
            "planning the trip",
        ],
    ));
    let known_group = sent["conversation"].as_str().expect("key").to_string();
    let synced = ok(tg(&server, &p("alice"), &["--json", "sync"]));
    assert!(synced.contains("planning the trip"), "{synced}");
    assert_eq!(
        chat_state(&server, &p("alice"), &known_group).as_deref(),
        Some("inbox")
    );

    // Carol now shares an accepted group with Bob: she is known, and her
    // direct messages are not requests.
    ok(tg(
        &server,
        &p("carol"),
        &["send", "alice@example.org", "hi Alice, Carol from the trip"],
    ));
    ok(tg(&server, &p("alice"), &["sync"]));
    assert_eq!(
        chat_state(&server, &p("alice"), "carol@example.org").as_deref(),
        Some("inbox")
    );

    // Accepting the group request moves it.
    ok(tg(&server, &p("alice"), &["accept", &stranger_group]));
    assert_eq!(
        chat_state(&server, &p("alice"), &stranger_group).as_deref(),
        Some("inbox")
    );
}

#[test]
fn contacts_accepts_and_blocks_reach_every_device_of_the_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(&server, &p("bob2"), "login", "--email", "bob@example.org");
    enroll(
        &server,
        &p("carol"),
        "register",
        "--email",
        "carol@example.org",
    );
    enroll(
        &server,
        &p("dave"),
        "register",
        "--email",
        "dave@example.org",
    );
    ok(tg(&server, &p("bob2"), &["sync"]));

    // On his phone Bob saves Carol and blocks Dave; his laptop learns both.
    ok(tg(
        &server,
        &p("bob"),
        &["contacts", "add", "carol@example.org", "--name", "Carol"],
    ));
    ok(tg(&server, &p("bob"), &["block", "dave@example.org"]));
    ok(tg(&server, &p("bob2"), &["sync"]));
    let contacts = list(json(tg(&server, &p("bob2"), &["--json", "contacts"])));
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["handle"], "carol@example.org");
    assert_eq!(contacts[0]["name"], "Carol");

    ok(tg(
        &server,
        &p("carol"),
        &["send", "bob@example.org", "climbing tonight?"],
    ));
    ok(tg(
        &server,
        &p("dave"),
        &["send", "bob@example.org", "cheap watches"],
    ));
    ok(tg(&server, &p("bob2"), &["sync"]));
    assert_eq!(
        chat_state(&server, &p("bob2"), "carol@example.org").as_deref(),
        Some("inbox")
    );
    assert_eq!(
        chat_state(&server, &p("bob2"), "dave@example.org"),
        None,
        "blocked"
    );

    // Unblocking on one device unblocks on the other.
    ok(tg(&server, &p("bob2"), &["unblock", "dave@example.org"]));
    ok(tg(&server, &p("bob"), &["sync"]));
    ok(tg(
        &server,
        &p("dave"),
        &["send", "bob@example.org", "sorry, wrong number"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    assert_eq!(
        chat_state(&server, &p("bob"), "dave@example.org").as_deref(),
        Some("request")
    );
    // Accepting on the phone moves it to the inbox on the laptop too.
    ok(tg(&server, &p("bob"), &["accept", "dave@example.org"]));
    ok(tg(&server, &p("bob2"), &["sync"]));
    assert_eq!(
        chat_state(&server, &p("bob2"), "dave@example.org").as_deref(),
        Some("inbox")
    );
}

/// A new campaign the shipped model lets through to Requests (written for
/// this test, not from any corpus): four variants of one text.
const NEW_CAMPAIGN: [&str; 5] = [
    "Hi, I'm Lily from Golden Harbour Estates. We have sea-view flats at 30% off this week, reply 1 for photos",
    "Good morning! Golden Harbour Estates has sea-view flats at 35% off, this week only. Reply 1 for photos, Lily",
    "Hello, Lily here from Golden Harbour Estates: sea-view flats at 25% off this week, reply 1 and I send the photos",
    "Hi again, this is Lily at Golden Harbour Estates, sea-view flats at 40% off only this week, reply 1 for the photos",
    "Lily from Golden Harbour Estates again: the sea-view flats at 45% off go on Friday, reply 1 for photos",
];

#[test]
fn reports_teach_the_filter_on_every_device_and_a_restore_unteaches_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("alice2"), "login", "--phone", "+12025550101");
    ok(tg(&server, &p("alice2"), &["sync"]));
    let spammers = [
        "+12025550171",
        "+12025550172",
        "+12025550173",
        "+12025550174",
    ];
    for (i, s) in spammers.iter().enumerate() {
        enroll(&server, &p(&format!("s{i}")), "register", "--phone", s);
    }

    // Three accounts send three variants: new to the model, they wait in
    // Requests; Alice reports them (without sharing the text).
    for (i, _) in spammers[..3].iter().enumerate() {
        ok(tg(
            &server,
            &p(&format!("s{i}")),
            &["send", "+12025550101", NEW_CAMPAIGN[i]],
        ));
    }
    ok(tg(&server, &p("alice"), &["sync"]));
    for s in &spammers[..3] {
        assert_eq!(
            chat_state(&server, &p("alice"), s).as_deref(),
            Some("request"),
            "{s} before any lesson"
        );
    }
    for s in &spammers[..3] {
        ok(tg(&server, &p("alice"), &["report", s]));
    }
    ok(tg(&server, &p("alice2"), &["sync"]));

    // The fourth variant, from a fourth account, goes to Junk on both of
    // Alice's devices, for its content (no campaign was published).
    ok(tg(
        &server,
        &p("s3"),
        &["send", "+12025550101", NEW_CAMPAIGN[3]],
    ));
    for device in ["alice", "alice2"] {
        ok(tg(&server, &p(device), &["sync"]));
        let junk = requests(&server, &p(device), true);
        assert_eq!(junk.len(), 1, "{device}: {junk:?}");
        assert_eq!(junk[0]["conversation"], spammers[3], "{device}");
        assert_eq!(junk[0]["reason"], "likely_spam", "{device}");
        assert!(
            junk[0]["score"].as_f64().expect("score") >= 0.8,
            "{device}: {junk:?}"
        );
    }

    // Alice restores it on her phone: it was someone she wants to hear
    // from. Its next text stays out of Junk, on both devices.
    ok(tg(
        &server,
        &p("alice"),
        &["requests", "restore", spammers[3]],
    ));
    ok(tg(&server, &p("alice2"), &["sync"]));
    ok(tg(
        &server,
        &p("s3"),
        &["send", "+12025550101", NEW_CAMPAIGN[4]],
    ));
    for device in ["alice", "alice2"] {
        ok(tg(&server, &p(device), &["sync"]));
        assert!(requests(&server, &p(device), true).is_empty(), "{device}");
        assert_eq!(
            chat_state(&server, &p(device), spammers[3]).as_deref(),
            Some("request"),
            "{device}"
        );
    }

    // The lessons can be seen and forgotten; the second device kept the
    // three reports and the restore too.
    let lessons = list(json(tg(
        &server,
        &p("alice2"),
        &["--json", "spam", "lessons"],
    )));
    let labels: Vec<&str> = lessons
        .iter()
        .map(|l| l["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["spam", "spam", "spam", "ham"], "{lessons:?}");
    let forgot = json(tg(
        &server,
        &p("alice"),
        &["--json", "spam", "lessons", "--forget"],
    ));
    assert_eq!(forgot["forgotten"], 4);
    assert!(list(json(tg(
        &server,
        &p("alice"),
        &["--json", "spam", "lessons"]
    )))
    .is_empty());
}

#[test]
fn a_reported_chinese_campaign_goes_to_junk_for_everyone_despite_disguises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    // Written for this test: a gambling advert, then its disguised variants.
    let campaign = "【金沙娱乐】尊贵会员您好，您的账户已获赠388元体验金，百家乐、真人视讯、体育投注一站畅玩，登录 www.js8866vip.com 立即领取";
    let reported_too = "【金沙娱乐】尊贵会员您好，您的账户已获赠588元体验金，百家乐、真人视讯、体育投注一站畅玩，登录 www.js8866vip.com 立即领取";
    let variants = [
        // Spaces and symbols pushed between the characters.
        "【金 沙 娱 乐】尊*贵*会*员您好，您的账户已获赠388元体验金，百 家 乐、真人视讯、体育投注一站畅玩，登录 www.js8866vip.com 立即领取",
        // Full-width letters and a Cyrillic о in the link.
        "【金沙娱乐】尊贵会员您好，您的账户已获赠388元体验金，百家乐、真人视讯、体育投注一站畅玩，登录 ｗｗｗ.js8866vip.cоm 立即领取",
        // Another link, glued to the text.
        "【金沙娱乐】尊贵会员您好，您的账户已获赠388元体验金，百家乐、真人视讯、体育投注一站畅玩，登录http://t.cn/A6Kx9q立即领取",
    ];
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--phone", "+12025550102");
    enroll(&server, &p("s1"), "register", "--phone", "+12025550181");
    enroll(&server, &p("s2"), "register", "--phone", "+12025550182");
    enroll(&server, &p("s3"), "register", "--phone", "+12025550183");

    // Two people report the campaign and share its text.
    ok(tg(&server, &p("s1"), &["send", "+12025550101", campaign]));
    ok(tg(
        &server,
        &p("s2"),
        &["send", "+12025550102", reported_too],
    ));
    for (who, from) in [("alice", "+12025550181"), ("bob", "+12025550182")] {
        ok(tg(&server, &p(who), &["sync"]));
        let reported = json(tg(
            &server,
            &p(who),
            &["--json", "report", from, "--share-text"],
        ));
        assert_eq!(reported["reported"], true, "{reported}");
    }

    // People who never saw it get its disguised variants from yet another
    // account: each is filed in Junk as a match of the published campaign.
    for (i, text) in variants.iter().enumerate() {
        let name = format!("r{i}");
        let number = format!("+1202555019{i}");
        enroll(&server, &p(&name), "register", "--phone", &number);
        ok(tg(&server, &p("s3"), &["send", &number, text]));
        ok(tg(&server, &p(&name), &["sync"]));
        let junk = requests(&server, &p(&name), true);
        assert_eq!(junk.len(), 1, "variant {i}: {junk:?}");
        assert_eq!(junk[0]["reason"], "campaign_match", "variant {i}: {junk:?}");
    }
}
