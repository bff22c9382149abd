//! E-mail codes through a real SMTP server: `tidings serve` with
//! `smtp_relay` set hands each code to aiosmtpd (installed by
//! `scripts/test`), the user reads it from the mail and registers; with the
//! relay down, asking for a code fails with an error that says to retry,
//! and nothing lands in the development outbox.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, json, ok, tg, wait_for_port, Server};

/// aiosmtpd with its debugging handler, which writes every message it
/// accepts to `log`.
struct Smtp {
    child: Child,
    port: u16,
}

impl Smtp {
    fn start(log: &Path) -> Option<Smtp> {
        let available = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(
                std::env::var("CI").is_err(),
                "CI must have aiosmtpd (scripts/test installs it)"
            );
            return None;
        }
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Debugging"])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).expect("the SMTP log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        wait_for_port(port, "aiosmtpd");
        Some(Smtp { child, port })
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The code in the last mail to `to` in the SMTP log, waiting for it.
fn mailed_code(log: &Path, to: &str) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let code = text
            .split("---------- MESSAGE FOLLOWS ----------")
            .filter(|m| m.contains(&format!("To: {to}")))
            .last()
            .map(|m| {
                // Undo quoted-printable soft line breaks.
                m.replace("=\r\n", "").replace("=\n", "")
            })
            .and_then(|m| {
                let (_, rest) = m.split_once("Your Tidings code is ")?;
                let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
                (code.len() == 6).then_some(code)
            });
        if let Some(code) = code {
            return code;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no code mailed to {to}: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn email_codes_go_through_the_smtp_relay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("smtp.log");
    let Some(smtp) = Smtp::start(&log) else {
        eprintln!("skipped: aiosmtpd is not installed (scripts/test installs it)");
        return;
    };
    let relay = format!("127.0.0.1:{}", smtp.port);
    let server = Server::start_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[
            ("TIDINGS_SMTP_RELAY", relay.as_str()),
            ("TIDINGS_SMTP_FROM", "Tidings <codes@tidings.example>"),
        ],
    );
    let alice = dir.path().join("alice");
    let first = ok(tg(
        &server,
        &alice,
        &["register", "--email", "alice@example.org"],
    ));
    assert!(
        first.contains("a code was sent to alice@example.org"),
        "{first}"
    );
    let code = mailed_code(&log, "alice@example.org");
    let mail = std::fs::read_to_string(&log).expect("the SMTP log");
    assert!(
        mail.contains("From: Tidings <codes@tidings.example>"),
        "{mail}"
    );
    assert!(mail.contains("Subject: Your Tidings code"), "{mail}");
    ok(tg(
        &server,
        &alice,
        &["register", "--email", "alice@example.org", "--code", &code],
    ));
    let whoami = json(tg(&server, &alice, &["--json", "handles"]));
    assert!(whoami.to_string().contains("alice@example.org"), "{whoami}");
    // With a relay configured, nothing goes to the development outbox.
    let outbox = json(tg(
        &server,
        &alice,
        &["--json", "carrier", "inbox", "alice@example.org"],
    ));
    assert_eq!(outbox, serde_json::json!([]));

    // The relay goes away: asking for a code fails and says to retry.
    drop(smtp);
    let refused = tg(
        &server,
        &dir.path().join("bob"),
        &["register", "--email", "bob@example.org"],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("the code could not be sent right now; try again in a few minutes"),
        "{stderr}"
    );
}
