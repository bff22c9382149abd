//! End-to-end through a real SMS gateway: `tidings serve` with
//! `sms_gateway = "kannel"`, Debian's Kannel (bearerbox + smsbox) started
//! with the shipped `deploy/kannel/kannel.conf`, and `tidings fake-smsc` as
//! the phone network behind Kannel's `smsc = fake`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::*;

const BEARERBOX: &str = "/usr/sbin/bearerbox";
const SMSBOX: &str = "/usr/sbin/smsbox";

/// Ports and secrets of one Kannel set-up.
struct Ports {
    admin: u16,
    smsbox: u16,
    sendsms: u16,
    fake: u16,
    tidings: u16,
}

const SENDSMS_PASSWORD: &str = "sendsms-pw-for-tests";
const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// The shipped kannel.conf with this test's ports, paths and secrets.
fn write_config(dir: &Path, ports: &Ports) -> PathBuf {
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/kannel/kannel.conf"
    );
    let text = std::fs::read_to_string(shipped).expect("the shipped kannel.conf");
    let d = dir.display();
    let text = text
        .replace(
            "admin-port = 13000",
            &format!("admin-port = {}", ports.admin),
        )
        .replace("port = 13001", &format!("port = {}", ports.smsbox))
        .replace(
            "sendsms-port = 13013",
            &format!("sendsms-port = {}", ports.sendsms),
        )
        .replace("port = 10000", &format!("port = {}", ports.fake))
        .replace("127.0.0.1:7878", &format!("127.0.0.1:{}", ports.tidings))
        .replace("/var/log/kannel/", &format!("{d}/"))
        .replace("/var/spool/kannel/", &format!("{d}/"))
        .replace("change-me-sendsms", SENDSMS_PASSWORD)
        .replace("change-me-shared-secret", SECRET);
    assert!(!text.contains("13001") && !text.contains("7878"), "{text}");
    let path = dir.join("kannel.conf");
    std::fs::write(&path, text).expect("write kannel.conf");
    path
}

/// bearerbox and smsbox, killed on drop.
struct Kannel {
    boxes: Vec<Child>,
}

impl Kannel {
    fn start(conf: &Path, ports: &Ports) -> Kannel {
        let spawn = |bin: &str| {
            Command::new(bin)
                .arg(conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{bin} starts: {e}"))
        };
        let bearerbox = spawn(BEARERBOX);
        wait_for_port(ports.smsbox, "bearerbox");
        let smsbox = spawn(SMSBOX);
        wait_for_port(ports.sendsms, "smsbox");
        Kannel {
            boxes: vec![bearerbox, smsbox],
        }
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        for child in self.boxes.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `tidings fake-smsc`: the phones behind Kannel, with the carrier API.
struct Phones {
    child: Child,
    url: String,
}

impl Phones {
    fn start(ports: &Ports) -> Phones {
        let mut child = Command::new(BIN)
            .args(["fake-smsc", "--bearerbox"])
            .arg(format!("127.0.0.1:{}", ports.fake))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("fake-smsc starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("a first line");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("an address")
            .to_string();
        assert!(url.starts_with("http://"), "{line}");
        Phones { child, url }
    }

    fn run(&self, args: &[&str]) -> Value {
        let out = Command::new(BIN)
            .args(["--server", &self.url, "--json", "carrier"])
            .args(args)
            .output()
            .expect("tidings runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if out.stdout.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    fn texts(&self, number: &str) -> Vec<String> {
        self.run(&["inbox", number])
            .as_array()
            .expect("list")
            .iter()
            .map(|m| m["text"].as_str().expect("text").to_string())
            .collect()
    }

    /// Waits until the phone received `text`.
    fn wait_for(&self, number: &str, text: &str, within: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let texts = self.texts(number);
            if texts.iter().any(|t| t == text) {
                return texts;
            }
            assert!(
                start.elapsed() < within,
                "{number} never got {text:?}; inbox: {texts:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Phones {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `show` on `profile` until `check` holds for the conversation.
fn wait_show(
    server: &Server,
    profile: &Path,
    with: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        ok(tg(server, profile, &["sync", "--wait", "1"]));
        let messages = show(server, profile, &[with]);
        if check(&messages) {
            return messages;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "conversation with {with} never got there: {messages:?}"
        );
    }
}

fn kannel_installed() -> bool {
    Path::new(BEARERBOX).exists() && Path::new(SMSBOX).exists()
}

#[test]
fn sms_through_kannel_out_in_reports_long_texts_and_a_gateway_restart() {
    if !kannel_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Kannel is missing: run scripts/test, which installs Debian's kannel"
        );
        eprintln!("skipped: Kannel is not installed (scripts/test installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = Ports {
        admin: free_port(),
        smsbox: free_port(),
        sendsms: free_port(),
        fake: free_port(),
        tidings: free_port(),
    };
    let conf = write_config(dir.path(), &ports);
    let kannel = Kannel::start(&conf, &ports);
    let phones = Phones::start(&ports);
    let sendsms = format!("http://127.0.0.1:{}/cgi-bin/sendsms", ports.sendsms);
    let server = Server::start_with(
        &dir.path().join("data"),
        &format!("127.0.0.1:{}", ports.tidings),
        &[
            ("TIDINGS_SMS_GATEWAY", "kannel"),
            ("TIDINGS_KANNEL_SENDSMS_URL", &sendsms),
            ("TIDINGS_KANNEL_PASSWORD", SENDSMS_PASSWORD),
            ("TIDINGS_KANNEL_SECRET", SECRET),
        ],
    );
    let bob = dir.path().join("bob");
    let number = "+12025550102";
    let friend = "+12025550103";

    // The registration code itself travels through Kannel to Bob's phone.
    let first = ok(tg(&server, &bob, &["register", "--phone", number]));
    assert!(first.contains("run `tidings"), "{first}");
    let start = Instant::now();
    let code = loop {
        let code = phones.texts(number).iter().rev().find_map(|t| {
            t.split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .map(str::to_string)
        });
        if let Some(code) = code {
            break code;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no code came");
        std::thread::sleep(Duration::from_millis(200));
    };
    ok(tg(
        &server,
        &bob,
        &["register", "--phone", number, "--code", &code],
    ));

    // Outbound to a phone not on Tidings, with a delivery report.
    let sent = json(tg(
        &server,
        &bob,
        &["--json", "send", friend, "hello phone"],
    ));
    assert_eq!(sent["via"], "sms");
    phones.wait_for(friend, "hello phone", Duration::from_secs(20));
    wait_show(&server, &bob, friend, |m| {
        m.iter()
            .any(|m| m["body"] == "hello phone" && m["state"] == "delivered by SMS")
    });

    // A long UCS-2 text: split into segments with headers, reassembled on
    // the phone, exactly.
    let long = "Привет из Tidings! 你好 😀 ".repeat(7);
    assert!(long.encode_utf16().count() > 2 * 67);
    ok(tg(&server, &bob, &["send", friend, &long]));
    phones.wait_for(friend, &long, Duration::from_secs(20));

    // Inbound: the phone answers, short and long; both join Bob's
    // conversation with that number.
    let reply_long = "Ответ 😀 длинный, ".repeat(10);
    phones.run(&["send", "--from", friend, "--to", number, "got it ✓"]);
    phones.run(&["send", "--from", friend, "--to", number, &reply_long]);
    let conversation = wait_show(&server, &bob, friend, |m| {
        m.iter().any(|m| m["body"] == "got it ✓") && m.iter().any(|m| m["body"] == reply_long)
    });
    let bodies = bodies(&conversation);
    assert_eq!(
        bodies.iter().filter(|b| **b == reply_long).count(),
        1,
        "{bodies:?}"
    );

    // The gateway goes down (kill -9); an SMS sent meanwhile is queued by
    // Tidings and delivered once Kannel is back.
    drop(kannel);
    let sent = json(tg(
        &server,
        &bob,
        &["--json", "send", friend, "sent while Kannel was down"],
    ));
    assert_eq!(sent["via"], "sms");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!phones
        .texts(friend)
        .iter()
        .any(|t| t == "sent while Kannel was down"));
    let _kannel = Kannel::start(&conf, &ports);
    let texts = phones.wait_for(
        friend,
        "sent while Kannel was down",
        Duration::from_secs(60),
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| *t == "sent while Kannel was down")
            .count(),
        1,
        "{texts:?}"
    );
    wait_show(&server, &bob, friend, |m| {
        m.iter()
            .any(|m| m["body"] == "sent while Kannel was down" && m["state"] == "delivered by SMS")
    });
}
