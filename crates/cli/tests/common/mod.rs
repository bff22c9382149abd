//! Helpers shared by the end-to-end tests: a `tidings serve` child process
//! and the `tidings` client commands run against it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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
