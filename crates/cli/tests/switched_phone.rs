//! End-to-end: someone who moved to a phone without Tidings removes their
//! number through the `/deregister` page in a real browser (Chromium driven
//! by `e2e/deregister.mjs`), and every message that was waiting for their
//! old device reaches the phone as SMS, once and in order.
//!
//! Needs `node`, Debian's `/usr/bin/chromium` and `e2e/node_modules`
//! (`scripts/install-browser` installs them). Without them the test is
//! skipped with a note, except under CI, where it fails.

use std::process::{Command, Stdio};

mod common;

use common::*;

const BROWSER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../e2e/deregister.mjs");

#[test]
fn a_number_removed_in_the_browser_gets_every_waiting_message_as_sms_once_in_order() {
    if !browser_available("the /deregister browser test", &[]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    // Bob's only device goes silent (it never syncs again); Alice writes ten
    // messages, three of them in a group with Carol.
    let (expected, group) = ten_messages_wait_for_bob(&server, dir.path());
    // Bob, on his new phone, removes the number in a browser.
    let browser = Command::new("node")
        .arg(BROWSER_SCRIPT)
        .arg(&server.url)
        .arg("+12025550102")
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    assert!(
        browser.status.success(),
        "the browser could not remove the number:\n{}{}",
        String::from_utf8_lossy(&browser.stdout),
        String::from_utf8_lossy(&browser.stderr)
    );
    // The number is gone from his account, so from his old device too.
    assert_eq!(
        json(tg(&server, &p("bob"), &["--json", "handles"])),
        serde_json::json!([])
    );
    waiting_messages_reached_bob_as_sms(&server, dir.path(), &expected, &group);
    // Bob's old device gets none of the IP copies.
    ok(tg(&server, &p("bob"), &["sync"]));
    assert!(show(&server, &p("bob"), &["alice@example.org"]).is_empty());
    // New messages to the number go as SMS at once.
    send_goes_as_sms_at_once(&server, &p("alice"), "+12025550102", "after");
}
