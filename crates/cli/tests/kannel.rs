//! End-to-end through a real SMS gateway: `tidings serve` with
//! `sms_gateway = "kannel"`, Debian's Kannel (bearerbox + smsbox) started
//! with the shipped `deploy/kannel/kannel.conf`, and the fake SMS centre of
//! `tidings-sms`'s `dev` feature as the phone network behind Kannel's
//! `smsc = fake`.

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
/// Rewritten setting by setting, not by searching for the shipped numbers,
/// so that a chosen port can never match a later pattern (an admin port
/// of 10000 is not the fake SMSC's `port = 10000`).
fn write_config(dir: &Path, ports: &Ports) -> PathBuf {
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/kannel/kannel.conf"
    );
    let text = std::fs::read_to_string(shipped).expect("the shipped kannel.conf");
    let d = dir.display();
    let mut ports_set = 0;
    let mut lines = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(" = ") else {
            lines.push(line.to_string());
            continue;
        };
        let port = match key {
            "admin-port" => Some(ports.admin),
            "smsbox-port" | "bearerbox-port" => Some(ports.smsbox),
            "sendsms-port" => Some(ports.sendsms),
            // The fake SMSC's, the only other port.
            "port" => Some(ports.fake),
            _ => None,
        };
        if let Some(port) = port {
            ports_set += 1;
            lines.push(format!("{key} = {port}"));
            continue;
        }
        let value = value
            .replace("127.0.0.1:7878", &format!("127.0.0.1:{}", ports.tidings))
            .replace("/var/log/kannel/", &format!("{d}/"))
            .replace("/var/spool/kannel/", &format!("{d}/"))
            .replace("change-me-sendsms", SENDSMS_PASSWORD)
            .replace("change-me-shared-secret", SECRET);
        lines.push(format!("{key} = {value}"));
    }
    let text = lines.join("\n") + "\n";
    assert_eq!(ports_set, 5, "{text}");
    assert!(
        !text.contains("/var/") && !text.contains(":7878/") && !text.contains("change-me-s"),
        "{text}"
    );
    let path = dir.join("kannel.conf");
    std::fs::write(&path, text).expect("write kannel.conf");
    path
}

/// bearerbox and smsbox, killed on drop.
struct Kannel {
    boxes: Vec<Child>,
}

/// Most attempts at starting Kannel: with fresh ports at the beginning,
/// with the same ports when it comes back after being killed.
const START_ATTEMPTS: usize = 3;

/// Backstop for a box that neither comes up nor exits; never reached when
/// things work, however loaded the machine (the readiness checks below
/// return as soon as the box is up, and at once when it gave up).
const BOX_START_LIMIT: Duration = Duration::from_secs(120);

/// How long a box that logged a failure gets to exit by itself.
const BOX_FAILURE_GRACE: Duration = Duration::from_secs(3);

/// What a box writes to its log when it cannot start: a port that
/// someone else holds (`bind failed`), or any fatal error (`PANIC`).
const BOX_FAILURE_MARKS: [&str; 2] = ["PANIC:", "bind failed"];

/// A box's log file, read from where it stood when the box was started
/// (a restarted box appends to the same file).
struct BoxLog {
    path: PathBuf,
    from: usize,
}

impl BoxLog {
    fn at(path: PathBuf) -> BoxLog {
        let from = std::fs::read(&path).map_or(0, |bytes| bytes.len());
        BoxLog { path, from }
    }

    fn text(&self) -> String {
        let bytes = std::fs::read(&self.path).unwrap_or_default();
        String::from_utf8_lossy(bytes.get(self.from..).unwrap_or_default()).into_owned()
    }

    fn failed(&self) -> bool {
        let text = self.text();
        BOX_FAILURE_MARKS.iter().any(|mark| text.contains(mark))
    }
}

/// Whether `port` answers an HTTP `GET path` as Kannel (its `Server`
/// header), with `body` in the answer: a port that merely accepts could be
/// someone else's.
fn kannel_answers(port: u16, path: &str, body: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(5));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // Whatever arrived before the end or the timeout.
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.contains("Server: Kannel/") && answer.contains(body)
}

/// Starts one box and waits until `ready` says it is up. Fails as soon as
/// the box exits or logs a failure (rather than waiting for a port that
/// will never open), with the log in the error.
fn start_box(
    bin: &str,
    conf: &Path,
    log: PathBuf,
    mut ready: impl FnMut(&str) -> bool,
) -> Result<Child, String> {
    let log = BoxLog::at(log);
    let mut child = Command::new(bin)
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin} starts: {e}"));
    let started = Instant::now();
    let outcome = loop {
        if let Some(status) = child.try_wait().expect("the box's status") {
            break Err(format!("{bin} exited ({status}) while starting"));
        }
        if log.failed() {
            // A box that gives up logs why, then exits: let it finish, so
            // the error holds its last words (a box that carries on, as
            // bearerbox does without its admin port, is stopped below).
            let failed_at = Instant::now();
            while failed_at.elapsed() < BOX_FAILURE_GRACE
                && child.try_wait().expect("the box's status").is_none()
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            break Err(format!("{bin} failed while starting"));
        }
        // Ready, and still alive and well after the check: a port that
        // answered while the box was dying was not the box's.
        if ready(&log.text())
            && child.try_wait().expect("the box's status").is_none()
            && !log.failed()
        {
            break Ok(());
        }
        if started.elapsed() > BOX_START_LIMIT {
            break Err(format!("{bin} was not up after {BOX_START_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    match outcome {
        Ok(()) => Ok(child),
        Err(why) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("{why}; its log:\n{}", log.text()))
        }
    }
}

impl Kannel {
    /// Starts bearerbox, then smsbox, each once the previous one is up:
    /// bearerbox has finished its start-up, its admin page answers, and
    /// its smsbox port accepts; smsbox is connected to bearerbox and its
    /// sendsms page answers.
    fn start(conf: &Path, ports: &Ports) -> Result<Kannel, String> {
        let dir = conf.parent().expect("the config's directory");
        let bearerbox = start_box(BEARERBOX, conf, dir.join("bearerbox.log"), |log| {
            log.contains("Start-up done")
                && kannel_answers(ports.admin, "/status.txt", "Status: running")
                && std::net::TcpStream::connect(("127.0.0.1", ports.smsbox)).is_ok()
        })?;
        let mut kannel = Kannel {
            boxes: vec![bearerbox],
        };
        let smsbox = start_box(SMSBOX, conf, dir.join("smsbox.log"), |log| {
            log.contains("Connected to bearerbox")
                && kannel_answers(ports.sendsms, "/cgi-bin/sendsms", "")
        })?;
        kannel.boxes.push(smsbox);
        Ok(kannel)
    }

    /// [`Kannel::start`] on the same ports (the server and the phones know
    /// them), tried again if someone held one of them for a moment.
    fn restart(conf: &Path, ports: &Ports) -> Kannel {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Kannel::start(conf, ports) {
                Ok(kannel) => return kannel,
                Err(why) => failures.push(why),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        panic!("Kannel did not come back:\n{}", failures.join("\n---\n"));
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

/// The fake SMS centre (`tidings_sms::fakesmsc`, the `dev` feature): the
/// phones behind Kannel, with the carrier API, served from a thread of this
/// test.
struct Phones {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Phones {
    fn start(ports: &Ports) -> Phones {
        let bearerbox = format!("127.0.0.1:{}", ports.fake);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the phones");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("the phones listen");
                addr_tx
                    .send(listener.local_addr().expect("an address"))
                    .expect("the test waits for the address");
                let smsc = tidings_sms::fakesmsc::FakeSmsc::start(bearerbox);
                axum::serve(listener, tidings_sms::fakesmsc::router(smsc))
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("the phones serve");
            });
        });
        let addr = addr_rx.recv().expect("the phones' address");
        Phones {
            url: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        }
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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

/// The Tidings server and Kannel, each knowing the other's ports. The
/// server listens on a port the kernel picks, so nobody can take it first;
/// Kannel's ports are chosen in advance, so a start that fails (someone
/// bound one of them first) is tried again with fresh ones.
fn start_kannel_and_server(dir: &Path) -> (Ports, PathBuf, Kannel, Server) {
    let mut failures = Vec::new();
    for attempt in 1..=START_ATTEMPTS {
        let dir = dir.join(format!("attempt-{attempt}"));
        std::fs::create_dir_all(&dir).expect("a directory for this attempt");
        let sendsms = free_port();
        let sendsms_url = format!("http://127.0.0.1:{sendsms}/cgi-bin/sendsms");
        let server = Server::start_with(
            &dir.join("data"),
            "127.0.0.1:0",
            &[
                ("TIDINGS_SMS_GATEWAY", "kannel"),
                ("TIDINGS_KANNEL_SENDSMS_URL", &sendsms_url),
                ("TIDINGS_KANNEL_PASSWORD", SENDSMS_PASSWORD),
                ("TIDINGS_KANNEL_SECRET", SECRET),
            ],
        );
        let tidings = server
            .addr()
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("the server's port");
        let ports = Ports {
            admin: free_port(),
            smsbox: free_port(),
            sendsms,
            fake: free_port(),
            tidings,
        };
        let conf = write_config(&dir, &ports);
        match Kannel::start(&conf, &ports) {
            Ok(kannel) => return (ports, conf, kannel, server),
            Err(why) => {
                eprintln!("Kannel did not start (attempt {attempt}); trying fresh ports: {why}");
                failures.push(why);
            }
        }
    }
    panic!(
        "Kannel did not start in {START_ATTEMPTS} attempts:\n{}",
        failures.join("\n---\n")
    );
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
    let (ports, conf, kannel, server) = start_kannel_and_server(dir.path());
    let phones = Phones::start(&ports);
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

    // The gateway goes down (kill -9) for a minute; an SMS sent meanwhile
    // is queued by Tidings, retried with backoff (1, 2, 4 … s), and
    // delivered once, soon after Kannel is back.
    drop(kannel);
    let down_at = std::time::Instant::now();
    let sent = json(tg(
        &server,
        &bob,
        &["--json", "send", friend, "sent while Kannel was down"],
    ));
    assert_eq!(sent["via"], "sms");
    std::thread::sleep(OUTAGE.saturating_sub(down_at.elapsed()));
    assert!(!phones
        .texts(friend)
        .iter()
        .any(|t| t == "sent while Kannel was down"));
    let _kannel = Kannel::restart(&conf, &ports);
    // The retry after a minute's outage comes at most 64 s after the last.
    let texts = phones.wait_for(
        friend,
        "sent while Kannel was down",
        Duration::from_secs(90),
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

/// How long the gateway stays down in the outage test (the issue asks for
/// a minute).
const OUTAGE: Duration = Duration::from_secs(60);

/// The flaky start this file once had: a port chosen for Kannel that
/// someone else took before Kannel bound it. Each box then gives up (or,
/// for the admin port, carries on without it); the start must say so at
/// once, in the box's own words, so the caller can retry with fresh
/// ports, rather than wait 20 s for a port that never opens ("bearerbox
/// did not open port") or take the other process's listener for Kannel.
#[test]
fn kannel_start_fails_at_once_when_someone_holds_one_of_its_ports() {
    if !kannel_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Kannel is missing: run scripts/test, which installs Debian's kannel"
        );
        eprintln!("skipped: Kannel is not installed (scripts/test installs it)");
        return;
    }
    let cases = [
        ("admin", "bind failed"),
        ("smsbox", "Could not open smsbox port"),
        ("fake", "could not create listening socket"),
        ("sendsms", "Failed to open HTTP socket"),
    ];
    for (which, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = Ports {
            admin: free_port(),
            smsbox: free_port(),
            sendsms: free_port(),
            fake: free_port(),
            tidings: free_port(),
        };
        let taken = match which {
            "admin" => ports.admin,
            "smsbox" => ports.smsbox,
            "fake" => ports.fake,
            _ => ports.sendsms,
        };
        let _someone_else =
            std::net::TcpListener::bind(("127.0.0.1", taken)).expect("someone takes the port");
        let conf = write_config(dir.path(), &ports);
        let started = Instant::now();
        let Err(why) = Kannel::start(&conf, &ports) else {
            panic!("Kannel counted as started with its {which} port held by someone else");
        };
        assert!(why.contains(expected), "{which}: {why}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{which}: took {:?}",
            started.elapsed()
        );
    }
}
