//! The README's tour ("Five minutes with the CLI"), run command by command
//! against a fresh server, from the repository's folder as the tour says.
//! Each command must succeed; the build and PATH lines are this test's own
//! binary, and the profiles under /tmp go to a temporary folder.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// The tour's commands: the indented lines of the section, without
/// comments, blank lines, and the build and PATH set-up.
fn tour_commands(readme: &str) -> Vec<String> {
    let start = readme
        .find("## Five minutes with the CLI")
        .expect("the README has the tour");
    let rest = &readme[start..];
    let end = rest
        .find("\nEvery command prints JSON")
        .expect("the tour ends");
    rest[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .map(|l| l.split("  #").next().unwrap_or(l).trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with("cargo build") && !l.starts_with("export PATH"))
        .collect()
}

#[test]
fn the_readme_tour_works_step_by_step() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let commands = tour_commands(&readme);
    assert!(commands.len() > 30, "{commands:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let bin_dir = Path::new(BIN).parent().expect("the binary's folder");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let profiles = format!("{}/", dir.path().display());
    for command in &commands {
        let line = command.replace("/tmp/", &profiles);
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &line])
            .current_dir(&root)
            .env("PATH", &path)
            .env("TIDINGS_SERVER", &server.url)
            .env_remove("TIDINGS_PROFILE")
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "tour step failed: {command}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The steps did what they say.
    let p = |n: &str| dir.path().join(n);
    let on_laptop = show(&server, &p("bob-laptop"), &["+12025550101"]);
    assert_eq!(bodies(&on_laptop), ["On my way"]);
    let trip = bodies(&show(&server, &p("alice"), &["Lisbon trip"]));
    assert!(
        trip.ends_with(&["Train at 9?".to_string(), "I'll be there".to_string()]),
        "{trip:?}"
    );
    let inbox = json(tg(
        &server,
        &p("alice"),
        &["--json", "carrier", "inbox", "+442079460123"],
    ));
    assert_eq!(
        inbox.as_array().expect("list").last().expect("sms")["text"],
        "Alice in Lisbon trip: Train at 9?"
    );
    let on_bob = show(&server, &p("bob"), &["Alice"]);
    assert!(
        on_bob
            .iter()
            .any(|m| m["attachments"][0]["state"] == "saved"),
        "the photo was downloaded: {on_bob:?}"
    );
    let blocked = json(tg(&server, &p("bob"), &["--json", "requests"]));
    assert!(
        !blocked.to_string().contains("+12025550188"),
        "the reported stranger is gone: {blocked}"
    );
}

#[test]
fn the_tour_is_read_as_commands() {
    let readme = "## Five minutes with the CLI\n\n    cargo build --release\n    # a comment\n    tidings chats\n    tidings sync            # downloads\n\nEvery command prints JSON";
    assert_eq!(tour_commands(readme), ["tidings chats", "tidings sync"]);
}
