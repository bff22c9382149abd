//! Groups that hold: membership enforced on every device, admins, changes
//! made at once that converge, groups with members off Tidings, and groups
//! and contacts named by name.

mod common;

use common::*;
use serde_json::Value;

fn info(server: &Server, profile: &std::path::Path, group: &str) -> Value {
    json(tg(server, profile, &["--json", "group", "info", group]))
}

#[test]
fn removed_members_are_shut_out_and_only_admins_change_the_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    enroll(
        &server,
        &p("carol"),
        "register",
        "--email",
        "carol@example.org",
    );
    enroll(&server, &p("dan"), "register", "--email", "dan@example.org");

    let sent = json(tg(
        &server,
        &p("alice"),
        &[
            "--json",
            "send",
            "bob@example.org",
            "carol@example.org",
            "hello all",
        ],
    ));
    let group = sent["conversation"].as_str().expect("key").to_string();
    ok(tg(
        &server,
        &p("alice"),
        &["group", "rename", &group, "Lisbon trip"],
    ));
    for who in ["bob", "carol"] {
        ok(tg(&server, &p(who), &["sync"]));
        // A group is named by its name as well as by its id.
        let got = bodies(&show(&server, &p(who), &["Lisbon trip"]));
        assert_eq!(got[0], "hello all", "{who}");
        assert!(got[1].contains("named the group"), "{who}: {got:?}");
    }
    let on_bob = info(&server, &p("bob"), "Lisbon trip");
    assert_eq!(on_bob["admins"], serde_json::json!(["+12025550101"]));

    // Only admins change the group.
    let e = err(tg(
        &server,
        &p("bob"),
        &["group", "add", "Lisbon trip", "dan@example.org"],
    ));
    assert!(
        e.contains("only the group's admins (+12025550101) can do that"),
        "{e}"
    );

    // Alice removes Carol. Carol's device has not heard yet, so it still
    // sends; every other member's device drops the message.
    ok(tg(
        &server,
        &p("alice"),
        &["group", "remove", "Lisbon trip", "carol@example.org"],
    ));
    ok(tg(&server, &p("carol"), &["send", &group, "still here?"]));
    for who in ["bob", "alice"] {
        ok(tg(&server, &p(who), &["sync"]));
        let got = bodies(&show(&server, &p(who), &[&group]));
        assert!(!got.contains(&"still here?".to_string()), "{who}: {got:?}");
        assert!(
            got.last()
                .expect("a note")
                .contains("a message from carol@example.org was dropped: they are not a member"),
            "{who}: {got:?}"
        );
    }
    // Carol's device learns it, says so, and refuses to send or change.
    ok(tg(&server, &p("carol"), &["sync"]));
    let got = bodies(&show(&server, &p("carol"), &[&group]));
    assert_eq!(
        got.last().expect("a note"),
        "+12025550101 removed you",
        "{got:?}"
    );
    let e = err(tg(&server, &p("carol"), &["send", &group, "again?"]));
    assert!(
        e.contains("you are no longer a member of Lisbon trip"),
        "{e}"
    );
    let e = err(tg(
        &server,
        &p("carol"),
        &["group", "add", &group, "carol@example.org"],
    ));
    assert!(e.contains("no longer a member"), "{e}");
    assert_eq!(info(&server, &p("carol"), &group)["member"], false);

    // Alice makes Bob an admin; Bob can then add Dan, who hears of it.
    ok(tg(
        &server,
        &p("alice"),
        &["group", "admin", &group, "bob@example.org"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    ok(tg(
        &server,
        &p("bob"),
        &["group", "add", "Lisbon trip", "dan@example.org"],
    ));
    ok(tg(&server, &p("dan"), &["sync"]));
    let got = bodies(&show(&server, &p("dan"), &["Lisbon trip"]));
    assert_eq!(
        got,
        ["bob@example.org added you to \u{201c}Lisbon trip\u{201d}"]
    );
    ok(tg(
        &server,
        &p("dan"),
        &["send", "Lisbon trip", "hi, I'm Dan"],
    ));
    ok(tg(&server, &p("alice"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("alice"), &[&group]))
            .last()
            .expect("dan's"),
        "hi, I'm Dan"
    );
    // Every member's device agrees on the group.
    let want = info(&server, &p("alice"), &group);
    assert_eq!(
        want["members"],
        serde_json::json!(["+12025550101", "bob@example.org", "dan@example.org"])
    );
    assert_eq!(
        want["admins"],
        serde_json::json!(["+12025550101", "bob@example.org"])
    );
    for who in ["bob", "dan"] {
        ok(tg(&server, &p(who), &["sync"]));
        let got = info(&server, &p(who), &group);
        assert_eq!(got["members"], want["members"], "{who}");
        assert_eq!(got["admins"], want["admins"], "{who}");
    }
    // A member who left Tidings does not stop the group from changing.
    ok(tg(&server, &p("dan"), &["account", "delete", "--yes"]));
    ok(tg(
        &server,
        &p("alice"),
        &["group", "rename", &group, "Lisbon 2027"],
    ));
    ok(tg(
        &server,
        &p("alice"),
        &["send", "Lisbon 2027", "still on"],
    ));
    ok(tg(&server, &p("bob"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("bob"), &["Lisbon 2027"]))
            .last()
            .expect("text"),
        "still on"
    );
}

/// Two admins change the group at the same moment, each before hearing of
/// the other's change; every device ends with both changes, the same way.
#[test]
fn changes_made_at_once_converge_on_every_device() {
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
    let sent = json(tg(
        &server,
        &p("alice"),
        &[
            "--json",
            "send",
            "bob@example.org",
            "carol@example.org",
            "dan@example.org",
            "four of us",
        ],
    ));
    let group = sent["conversation"].as_str().expect("key").to_string();
    ok(tg(
        &server,
        &p("alice"),
        &["group", "admin", &group, "bob@example.org"],
    ));
    for who in ["bob", "carol", "dan"] {
        ok(tg(&server, &p(who), &["sync"]));
    }
    // At once: Alice removes Dan, Bob renames the group and removes Dan too.
    ok(tg(
        &server,
        &p("alice"),
        &["group", "remove", &group, "dan@example.org"],
    ));
    ok(tg(
        &server,
        &p("bob"),
        &["group", "rename", &group, "Two admins"],
    ));
    for who in ["alice", "bob", "carol", "dan"] {
        ok(tg(&server, &p(who), &["sync"]));
    }
    let want = info(&server, &p("carol"), &group);
    assert_eq!(want["name"], "Two admins");
    assert_eq!(
        want["members"],
        serde_json::json!(["alice@example.org", "bob@example.org", "carol@example.org"])
    );
    for who in ["alice", "bob", "dan"] {
        let got = info(&server, &p(who), &group);
        for field in ["members", "admins", "name", "version"] {
            assert_eq!(got[field], want[field], "{who}: {field}");
        }
    }
    assert_eq!(info(&server, &p("dan"), &group)["member"], false);
}

/// A group with a number that is not on Tidings: it can be renamed and
/// changed, the number gets each message as an SMS naming the sender and
/// the group, and its reply lands in the group while the group is where
/// its sender wrote to it last.
#[test]
fn groups_with_sms_members_and_names_as_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    let alice = p("alice");
    ok(tg(
        &server,
        &alice,
        &["register", "--phone", "+12025550101", "--name", "Alice"],
    ));
    let c = code(&server, "+12025550101");
    ok(tg(
        &server,
        &alice,
        &[
            "register",
            "--phone",
            "+12025550101",
            "--name",
            "Alice",
            "--code",
            &c,
        ],
    ));
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    let phone = "+12025550177"; // Not on Tidings.
    let other = "+12025550178"; // Not on Tidings either.

    // Contact names work wherever a handle does.
    ok(tg(
        &server,
        &alice,
        &["contacts", "add", "bob@example.org", "--name", "Bob"],
    ));
    let sent = json(tg(&server, &alice, &["--json", "send", "Bob", "hi Bob"]));
    assert_eq!(sent["conversation"], "bob@example.org");
    assert_eq!(bodies(&show(&server, &alice, &["bob"])), ["hi Bob"]);
    let e = err(tg(&server, &alice, &["show", "Nobody Known"]));
    assert!(
        e.contains("not a phone number, an e-mail address, a contact"),
        "{e}"
    );

    let sent = json(tg(
        &server,
        &alice,
        &["--json", "send", "Bob", phone, "all of us"],
    ));
    let group = sent["conversation"].as_str().expect("key").to_string();
    // Changes work with a member off Tidings.
    ok(tg(
        &server,
        &alice,
        &["group", "rename", &group, "Lisbon trip"],
    ));
    ok(tg(&server, &alice, &["group", "add", "Lisbon trip", other]));
    let members = info(&server, &alice, "Lisbon trip")["members"].clone();
    assert_eq!(
        members,
        serde_json::json!([
            "+12025550101",
            "+12025550177",
            "+12025550178",
            "bob@example.org"
        ])
    );
    let sent = json(tg(
        &server,
        &alice,
        &["--json", "send", "Lisbon trip", "Train at 9"],
    ));
    assert_eq!(sent["via"], "ip+sms");
    for number in [phone, other] {
        let inbox = json(tg(&server, &alice, &["--json", "carrier", "inbox", number]));
        assert_eq!(
            inbox.as_array().expect("list").last().expect("sms")["text"],
            "Alice in Lisbon trip: Train at 9",
            "{number}"
        );
    }
    ok(tg(&server, &p("bob"), &["sync"]));
    assert_eq!(
        bodies(&show(&server, &p("bob"), &["Lisbon trip"]))
            .last()
            .expect("text"),
        "Train at 9"
    );

    // The number answers: the group is where Alice wrote to it last.
    ok(tg(
        &server,
        &alice,
        &[
            "carrier",
            "send",
            "--from",
            phone,
            "--to",
            "+12025550101",
            "I'm in",
        ],
    ));
    ok(tg(&server, &alice, &["sync"]));
    let in_group = show(&server, &alice, &[&group]);
    let last = in_group.last().expect("reply");
    assert_eq!(last["body"], "I'm in");
    assert_eq!(last["via"], "sms");
    assert_eq!(last["from"], phone);
    // After a direct text, the number's replies land in the direct chat.
    ok(tg(&server, &alice, &["send", phone, "just you"]));
    ok(tg(
        &server,
        &alice,
        &[
            "carrier",
            "send",
            "--from",
            phone,
            "--to",
            "+12025550101",
            "ok",
        ],
    ));
    ok(tg(&server, &alice, &["sync"]));
    assert_eq!(bodies(&show(&server, &alice, &[phone])), ["just you", "ok"]);
}
