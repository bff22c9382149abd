//! Helpers shared by the end-to-end tests: a `tidings serve` child process
//! and the `tidings` client commands run against it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_tidings");

pub struct Server {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
}

impl Server {
    pub fn start(data: &Path, listen: &str) -> Server {
        Server::start_with(data, listen, &[])
    }

    pub fn start_with(data: &Path, listen: &str, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", listen, "--data"])
            .arg(data)
            .envs(env.iter().copied())
            .env("TIDINGS_CODE_SENDS_PER_ADDRESS_PER_HOUR", "100000")
            .env("TIDINGS_CODE_CHECKS_PER_ADDRESS_PER_HOUR", "100000")
            .env("TIDINGS_SENDS_PER_ACCOUNT_PER_MINUTE", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a first line");
        let url = line
            .trim()
            .strip_prefix("tidings: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server {
            child,
            url,
            data: data.to_path_buf(),
        }
    }

    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    pub fn kill9(mut self) -> (PathBuf, String) {
        // `Child::kill` sends SIGKILL on Unix: no chance to flush anything.
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.data.clone(), self.addr())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tg(server: &Server, profile: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--server")
        .arg(&server.url)
        .arg("--profile")
        .arg(profile)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("tidings runs")
}

/// Lowest port [`free_port`] hands out.
const FIRST_FREE_PORT: u16 = 10_000;

/// A loopback port nobody holds right now, for a helper process (Kannel,
/// aiosmtpd) that must be told its port before it binds it.
///
/// The port is picked below the kernel's ephemeral range, so the kernel
/// cannot give it to another socket (any process's outgoing connection, or
/// a bind to port 0) between this check and the helper's bind; a port
/// found by binding port 0 could be, and under load it was (the Kannel
/// test's "bearerbox did not open port"). Only a process that binds this
/// very port can still take it, which callers detect by the helper failing
/// to start (see `kannel.rs`). No port is handed out twice in one process.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let first_ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    assert!(
        first_ephemeral > FIRST_FREE_PORT + 1_000,
        "the ephemeral port range starts at {first_ephemeral}: no room below it for test ports"
    );
    let span = u64::from(first_ephemeral - FIRST_FREE_PORT);
    let mut given = GIVEN
        .lock()
        .expect("no test panics while holding this lock");
    for _ in 0..1_000 {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = FIRST_FREE_PORT + u16::try_from(random % span).expect("below the range start");
        if given.contains(&port) || std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        given.push(port);
        return port;
    }
    panic!("no free port in {FIRST_FREE_PORT}..{first_ephemeral} after 1000 tries");
}

/// Waits until `what` accepts connections on `port` (20 s at most).
pub fn wait_for_port(port: u16, what: &str) {
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{what} did not open port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A `tidings --json sync --wait SECS` in the background that has caught
/// up with its queue, so its device counts as connected from now on.
pub struct Listener {
    child: Child,
    out: BufReader<ChildStdout>,
    seen: String,
}

impl Listener {
    /// Starts the sync and returns once it says it is live.
    pub fn start(server: &Server, profile: &Path, secs: u64) -> Listener {
        let mut child = Command::new(BIN)
            .args(["--server", &server.url, "--profile"])
            .arg(profile)
            .args(["--json", "sync", "--wait", &secs.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sync runs");
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let n = out.read_line(&mut line).expect("sync's output");
            assert!(n > 0, "sync ended before it was live: {seen}");
            seen.push_str(&line);
            if line.contains("\"event\":\"live\"") {
                break;
            }
        }
        Listener { child, out, seen }
    }

    /// Waits for the sync to end and returns everything it printed.
    pub fn finish(mut self) -> String {
        self.out
            .read_to_string(&mut self.seen)
            .expect("sync's output");
        let status = self.child.wait().expect("sync ends");
        assert!(status.success(), "sync failed: {}", self.seen);
        self.seen
    }
}

pub fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn json(out: Output) -> Value {
    serde_json::from_str(ok(out).trim()).expect("JSON output")
}

pub fn code(server: &Server, handle: &str) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inbox = json(tg(
        server,
        tmp.path(),
        &["--json", "carrier", "inbox", handle],
    ));
    let text = inbox.as_array().and_then(|a| a.last()).expect("a message")["text"]
        .as_str()
        .expect("text")
        .to_string();
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a code")
        .to_string()
}

pub fn enroll(server: &Server, profile: &Path, verb: &str, kind: &str, handle: &str) {
    let first = ok(tg(server, profile, &[verb, kind, handle]));
    assert!(first.contains("run `tidings"), "{first}");
    let c = code(server, handle);
    ok(tg(server, profile, &[verb, kind, handle, "--code", &c]));
}

pub fn show(server: &Server, profile: &Path, target: &[&str]) -> Vec<Value> {
    let mut args = vec!["--json", "show"];
    args.extend_from_slice(target);
    json(tg(server, profile, &args))
        .as_array()
        .expect("a list")
        .clone()
}

pub fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["body"].as_str().expect("body").to_string())
        .collect()
}

/// Sends `text` to `number` from `profile`; checks that it went as SMS at
/// once and is the latest text on that phone.
pub fn send_goes_as_sms_at_once(server: &Server, profile: &Path, number: &str, text: &str) {
    let sent = json(tg(server, profile, &["--json", "send", number, text]));
    assert_eq!(sent["via"], "sms");
    let inbox = json(tg(server, profile, &["--json", "carrier", "inbox", number]));
    assert_eq!(
        inbox.as_array().expect("list").last().expect("sms")["text"],
        text
    );
}

/// The number that leaves Tidings in the switched-phone story.
pub const BOB_NUMBER: &str = "+12025550102";

/// The switched-phone story up to the point Bob leaves: Alice, Bob (by
/// number, whose only device then stays silent) and Carol register, and
/// Alice writes Bob ten messages, three of them in a group with Carol.
/// Returns the texts in order and the group's conversation key.
pub fn ten_messages_wait_for_bob(server: &Server, dir: &Path) -> (Vec<String>, String) {
    let p = |n: &str| dir.join(n);
    enroll(
        server,
        &p("alice"),
        "register",
        "--email",
        "alice@example.org",
    );
    enroll(server, &p("bob"), "register", "--phone", BOB_NUMBER);
    enroll(
        server,
        &p("carol"),
        "register",
        "--email",
        "carol@example.org",
    );
    let mut expected = Vec::new();
    for i in 1..=7 {
        let text = format!("direct {i}");
        ok(tg(server, &p("alice"), &["send", BOB_NUMBER, &text]));
        expected.push(text);
    }
    let mut group = String::new();
    for i in 1..=3 {
        let text = format!("group {i}");
        let target: Vec<&str> = if group.is_empty() {
            vec![BOB_NUMBER, "carol@example.org"]
        } else {
            vec![group.as_str()]
        };
        let mut args = vec!["--json", "send"];
        args.extend(target);
        args.push(&text);
        let sent = json(tg(server, &p("alice"), &args));
        group = sent["conversation"].as_str().expect("key").to_string();
        // As SMS, a group message names its sender and the group.
        expected.push(format!("alice@example.org in a group: {text}"));
    }
    (expected, group)
}

/// After Bob's number left: Alice's device re-sends every waiting message
/// as SMS, once and in order, each shown as delivered by SMS, while Carol
/// got the group messages over IP as usual.
pub fn waiting_messages_reached_bob_as_sms(
    server: &Server,
    dir: &Path,
    expected: &[String],
    group: &str,
) {
    let p = |n: &str| dir.join(n);
    ok(tg(server, &p("alice"), &["sync", "--wait", "2"]));
    ok(tg(server, &p("alice"), &["sync", "--wait", "1"]));
    let inbox = json(tg(
        server,
        &p("alice"),
        &["--json", "carrier", "inbox", BOB_NUMBER],
    ));
    let texts: Vec<String> = inbox
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_string())
        .filter(|t| !t.contains("Tidings code"))
        .collect();
    assert_eq!(texts, expected, "every message once, in order");
    let direct = show(server, &p("alice"), &[BOB_NUMBER]);
    assert_eq!(direct.len(), 7, "{direct:?}");
    assert!(
        direct.iter().all(|m| m["state"] == "delivered by SMS"),
        "{direct:?}"
    );
    let in_group = show(server, &p("alice"), &[group]);
    assert_eq!(in_group.len(), 3, "{in_group:?}");
    assert!(
        in_group.iter().all(|m| m["state"] == "delivered by SMS"),
        "{in_group:?}"
    );
    ok(tg(server, &p("carol"), &["sync"]));
    assert_eq!(
        bodies(&show(server, &p("carol"), &[group])),
        ["group 1", "group 2", "group 3"]
    );
}

/// The token and device id a profile holds.
pub fn credentials(profile: &std::path::Path) -> (String, u64) {
    let text = std::fs::read_to_string(profile.join("device.json")).expect("credentials");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    (
        v["token"].as_str().expect("token").to_string(),
        v["device"].as_u64().expect("device"),
    )
}

/// A failure's one line on stderr (the CLI's errors are one line each).
pub fn err(out: Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    e
}

/// Where the browser tests' node packages live.
const E2E_MODULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../e2e/node_modules");
/// Debian's Chromium, which the browser tests drive.
const CHROMIUM: &str = "/usr/bin/chromium";

/// What is missing to drive Chromium from node, plus any of `extra` (a
/// path and how to get it) that does not exist; none when all is there.
pub fn browser_missing(extra: &[(&str, &str)]) -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let modules = Path::new(E2E_MODULES);
    let mut missing: Vec<&str> = [
        (!node).then_some("node"),
        (!Path::new(CHROMIUM).exists()).then_some(CHROMIUM),
        (!modules.join("playwright-core").exists() || !modules.join("axe-core").exists())
            .then_some("e2e/node_modules (scripts/install-browser)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    missing.extend(
        extra
            .iter()
            .filter(|(path, _)| !Path::new(path).exists())
            .map(|(_, what)| *what),
    );
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// True when `what` (a browser test) can run; false with a note when it is
/// skipped; panics under CI, where skipping would hide a broken set-up.
pub fn browser_available(what: &str, extra: &[(&str, &str)]) -> bool {
    let Some(missing) = browser_missing(extra) else {
        return true;
    };
    if std::env::var_os("CI").is_some() {
        panic!("{what} cannot run: missing {missing}");
    }
    eprintln!("note: skipping {what}: missing {missing}");
    false
}
