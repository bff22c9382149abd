//! `tidings serve` and the development carrier (issue 10, defects 2 and
//! 9): a public address needs real delivery or `--dev`, development mode
//! says so loudly, and the client solves the proof of work the server asks
//! for before it sends a code.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;

use common::{enroll, Server, BIN};

#[test]
fn serve_refuses_a_public_address_without_dev() {
    let data = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("tidings runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for says in ["not a loopback address", "kannel", "smtp_relay", "--dev"] {
        assert!(stderr.contains(says), "{stderr} should say {says}");
    }
    assert!(out.stdout.is_empty(), "it never listened");
}

#[test]
fn serve_with_dev_on_a_public_address_warns() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(BIN)
        .args(["serve", "--dev", "--listen", "0.0.0.0:0", "--data"])
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tidings runs");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a first line");
    assert!(
        line.starts_with("tidings: listening on http://0.0.0.0:"),
        "{line}"
    );
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut warning = String::new();
    for _ in 0..20 {
        warning.clear();
        let n = stderr.read_line(&mut warning).expect("stderr");
        if n == 0 || warning.contains("WARNING") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(warning.contains("WARNING: development mode"), "{warning}");
    assert!(warning.contains("/carrier"), "{warning}");
    assert!(
        warning.contains("reachable from other machines"),
        "{warning}"
    );
}

#[test]
fn the_client_solves_the_work_asked_for_before_a_code() {
    let data = tempfile::tempdir().expect("tempdir");
    // Every code request needs a proof of work.
    let server = Server::start_with(
        data.path(),
        "127.0.0.1:0",
        &[
            ("TIDINGS_CODE_SENDS_PER_HANDLE_PER_HOUR", "0"),
            ("TIDINGS_POW_BITS", "8"),
        ],
    );
    let profile = tempfile::tempdir().expect("tempdir");
    enroll(
        &server,
        profile.path(),
        "register",
        "--phone",
        "+12025550123",
    );
}
