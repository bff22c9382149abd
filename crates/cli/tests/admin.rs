//! `tidings admin` against the data directory of a running server.

use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::*;

fn admin(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("tidings runs")
}

#[test]
fn operators_ban_unban_and_tune_with_a_logged_reason() {
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

    let out = ok(admin(
        &data,
        &["ban", "bob@example.org", "--reason", "sold fake tickets"],
    ));
    assert!(out.contains("banned"), "{out}");
    let refused = tg(&server, &p("bob"), &["send", "alice@example.org", "hi"]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("banned") && why.contains("appeal"), "{why}");

    let flagged = ok(admin(&data, &["flagged"]));
    assert!(flagged.contains("banned"), "{flagged}");
    ok(admin(
        &data,
        &["unban", "bob@example.org", "--reason", "appeal accepted"],
    ));
    ok(tg(
        &server,
        &p("bob"),
        &["send", "alice@example.org", "hi again"],
    ));
    let shown = json(admin(&data, &["--json", "show", "bob@example.org"]));
    let log: Vec<&str> = shown["actions"]
        .as_array()
        .expect("log")
        .iter()
        .map(|a| a["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(log, ["sold fake tickets", "appeal accepted"]);

    let tuned = json(admin(&data, &["--json", "set", "restrict_at_reports", "5"]));
    assert_eq!(tuned["restrict_at_reports"], 5);
    let bad = admin(&data, &["set", "no_such_threshold", "1"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("restrict_at_reports"));
}
