//! `tidings chat` in a real terminal (tmux): live messages, typing and
//! read receipts while the user types, and sending with Enter.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A tmux server of this test's own, so that nothing else is touched.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (scripts/test installs it)");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "chat"])
    }

    /// Waits until the screen shows `text`; the screen on failure.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the chat never showed {text:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[test]
fn chat_shows_messages_typing_and_receipts_live_and_sends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let p = |n: &str| dir.path().join(n);
    enroll(&server, &p("alice"), "register", "--phone", "+12025550101");
    enroll(&server, &p("bob"), "register", "--email", "bob@example.org");
    ok(tg(&server, &p("alice"), &["settings", "--name", "Alice"]));
    ok(tg(
        &server,
        &p("bob"),
        &["contacts", "add", "+12025550101", "--name", "Alice"],
    ));
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "before the chat"],
    ));

    let tmux = Tmux {
        socket: format!("tidings-chat-{}", std::process::id()),
    };
    let command = format!(
        "TZ=UTC {BIN} --server {} --profile {} chat Alice",
        server.url,
        p("bob").display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "chat",
        "-x",
        "110",
        "-y",
        "30",
        &command,
    ]);
    let screen = tmux.wait_for("live");
    assert!(screen.contains("Alice: before the chat"), "{screen}");
    assert!(screen.contains("times in UTC"), "{screen}");

    // Live: Alice types, then writes.
    ok(tg(&server, &p("alice"), &["typing", "bob@example.org"]));
    tmux.wait_for("Alice is typing");
    ok(tg(
        &server,
        &p("alice"),
        &["send", "bob@example.org", "are you there?"],
    ));
    tmux.wait_for("Alice: are you there?");

    // Bob types and sends with Enter.
    tmux.run(&["send-keys", "-t", "chat", "-l", "yes, here"]);
    tmux.run(&["send-keys", "-t", "chat", "Enter"]);
    let screen = tmux.wait_for("you: yes, here");
    assert!(!screen.contains("not sent"), "{screen}");
    ok(tg(&server, &p("alice"), &["sync"]));
    let on_alice = show(&server, &p("alice"), &["bob@example.org"]);
    assert_eq!(on_alice.last().expect("reply")["body"], "yes, here");
    // What the open chat showed was read, and Alice hears of it.
    let asked = on_alice
        .iter()
        .find(|m| m["body"] == "are you there?")
        .expect("sent");
    assert_eq!(asked["state"], "read", "{on_alice:?}");
    // Alice's delivered and read receipts reach the chat too.
    tmux.wait_for("(delivered");
    ok(tg(&server, &p("alice"), &["read", "bob@example.org"]));
    tmux.wait_for("you: yes, here (read");

    tmux.run(&["send-keys", "-t", "chat", "Escape"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.run(&["list-sessions"]).contains("chat") {
        assert!(Instant::now() < deadline, "Esc leaves the chat");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// At a terminal `register` asks for the code, and asks again after a
/// wrong one instead of giving up.
#[test]
fn the_code_prompt_asks_again_after_a_typo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let profile = dir.path().join("alice");
    let tmux = Tmux {
        socket: format!("tidings-code-{}", std::process::id()),
    };
    let command = format!(
        "{BIN} --server {} --profile {} register --phone +12025550101; sleep 30",
        server.url,
        profile.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "chat",
        "-x",
        "150",
        "-y",
        "20",
        &command,
    ]);
    tmux.wait_for("enter it:");
    let right = code(&server, "+12025550101");
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    tmux.run(&["send-keys", "-t", "chat", "-l", wrong]);
    tmux.run(&["send-keys", "-t", "chat", "Enter"]);
    tmux.wait_for("enter the code again:");
    tmux.run(&["send-keys", "-t", "chat", "-l", &right]);
    tmux.run(&["send-keys", "-t", "chat", "Enter"]);
    let screen = tmux.wait_for("signed in as +12025550101");
    assert!(!screen.contains("tidings:"), "no error: {screen}");
    assert!(profile.join("device.json").exists());
}
