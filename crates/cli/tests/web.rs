//! End-to-end: the web app in a real browser (Debian's Chromium driven by
//! the scripts in `e2e/web/`), against a `tidings serve` that serves the
//! built app (`web/dist`, made by `scripts/build-web`).
//!
//! A script prints `STEP name` when it needs something done outside the
//! browser (a CLI user answering, the server stopped or started again),
//! waits for the test to do it and answer `go`, and ends with exit 0 when
//! every check passed.
//!
//! Without node, Chromium, e2e/node_modules or a built app the tests are
//! skipped with a note, except under CI, where they fail.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use common::*;

const E2E: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../e2e");
const WEB_DIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/dist");

/// True when the browser tests can run (see `common::browser_available`).
fn available() -> bool {
    let index = format!("{WEB_DIST}/index.html");
    browser_available(
        "a web app browser test",
        &[(&index, "web/dist (scripts/build-web)")],
    )
}

/// A server that serves the built app.
fn web_server(data: &Path, listen: &str) -> Server {
    Server::start_with(data, listen, &[("TIDINGS_WEB_DIR", WEB_DIST)])
}

/// Runs `e2e/web/SCRIPT` against `url` with `args`; `on_step` does what a
/// `STEP` line asks. Panics with the script's output when it fails.
fn run_script(script: &str, url: &str, args: &[&str], mut on_step: impl FnMut(&str)) {
    let mut child = Command::new("node")
        .arg(Path::new(E2E).join("web").join(script))
        .arg(url)
        .args(args)
        .current_dir(E2E)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut seen = String::new();
    for line in stdout.lines() {
        let line = line.expect("the script's output is text");
        seen.push_str(&line);
        seen.push('\n');
        if let Some(step) = line.strip_prefix("STEP ") {
            on_step(step.trim());
            writeln!(stdin, "go").expect("the script waits for go");
        }
    }
    let out = child.wait_with_output().expect("node ends");
    assert!(
        out.status.success(),
        "{script} failed:\n{seen}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn profile(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Runs `script` (with `args`) against a fresh server that serves the app;
/// `on_step(server, dir, step)` does what the script asks, with `dir` a
/// temporary directory for CLI profiles.
fn scenario(script: &str, args: &[&str], mut on_step: impl FnMut(&Server, &Path, &str)) {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = web_server(&dir.path().join("data"), "127.0.0.1:0");
    let url = server.url.clone();
    run_script(script, &url, args, |step| {
        on_step(&server, dir.path(), step)
    });
}

/// For a script that asks for no step.
fn no_steps(script: &'static str) -> impl FnMut(&Server, &Path, &str) {
    move |_, _, step| panic!("{script} asked for an unknown step {step}")
}

#[test]
fn two_people_chat_in_real_time_after_a_request_is_accepted() {
    scenario("chat.mjs", &[], no_steps("chat.mjs"));
}

#[test]
fn photos_videos_and_files_travel_between_browsers_intact() {
    scenario("attach.mjs", &[], no_steps("attach.mjs"));
}

#[test]
fn a_known_person_notifies_a_background_tab_and_a_stranger_never_does() {
    scenario("notify.mjs", &[], no_steps("notify.mjs"));
}

#[test]
fn a_second_tab_waits_for_the_first_and_then_takes_over_the_profile() {
    scenario("tabs.mjs", &[], no_steps("tabs.mjs"));
}

/// The simulated phone `from` answers `to` by SMS.
fn phone_answers(server: &Server, dir: &Path, from: &str, to: &str, text: &str) {
    let cli = profile(dir, "carrier");
    ok(tg(
        server,
        &cli,
        &["carrier", "send", "--from", from, "--to", to, text],
    ));
}

#[test]
fn sms_goes_to_a_number_not_on_tidings_and_its_reply_lands_in_the_same_conversation() {
    scenario("sms.mjs", &[], |server, dir, step| match step {
        "reply-by-sms" => {
            phone_answers(server, dir, "+12025550177", "+12025550111", "Yes, by SMS!")
        }
        other => panic!("unknown step {other}"),
    });
}

#[test]
fn a_reload_keeps_the_session_and_a_message_written_offline_goes_once_when_the_server_is_back() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = Some(web_server(&data, "127.0.0.1:0"));
    let addr = server.as_ref().expect("running").addr();
    let url = server.as_ref().expect("running").url.clone();
    let bob = profile(dir.path(), "bob");
    run_script("offline.mjs", &url, &[], |step| match step {
        "bob-registers" => {
            let s = server.as_ref().expect("running");
            enroll(s, &bob, "register", "--phone", "+12025550122");
        }
        "stop-server" => {
            server.take().expect("running").kill9();
        }
        "start-server" => {
            server = Some(web_server(&data, &addr));
        }
        "bob-reads" => {
            let s = server.as_ref().expect("running");
            ok(tg(s, &bob, &["sync"]));
            let got = show(s, &bob, &["+12025550121"]);
            let texts = bodies(&got);
            assert_eq!(
                texts.iter().filter(|t| *t == "written offline").count(),
                1,
                "the offline message arrives exactly once: {texts:?}"
            );
            assert!(
                texts.contains(&"before the reload".to_string()),
                "{texts:?}"
            );
        }
        other => panic!("unknown step {other}"),
    });
}

#[test]
fn a_web_user_and_cli_users_talk_both_ways_directly_and_in_a_group() {
    scenario("interop.mjs", &[], |server, dir, step| {
        let (bob, carol) = (profile(dir, "bob"), profile(dir, "carol"));
        match step {
            "cli-users-register" => {
                enroll(server, &bob, "register", "--phone", "+12025550142");
                enroll(server, &carol, "register", "--phone", "+12025550143");
            }
            "bob-answers" => {
                ok(tg(server, &bob, &["sync"]));
                let got = show(server, &bob, &["+12025550141"]);
                assert_eq!(bodies(&got), ["Hi Bob, from the web"]);
                ok(tg(server, &bob, &["accept", "+12025550141"]));
                ok(tg(
                    server,
                    &bob,
                    &["send", "+12025550141", "Hi Alice, from the terminal"],
                ));
            }
            "group-answers" => {
                ok(tg(server, &bob, &["sync"]));
                let got = show(server, &bob, &["Lisbon trip"]);
                assert_eq!(
                    bodies(&got).last().map(String::as_str),
                    Some("Group hello from the web")
                );
                ok(tg(
                    server,
                    &bob,
                    &["send", "Lisbon trip", "Group hello from the terminal"],
                ));
                ok(tg(server, &carol, &["sync"]));
                let requests = ok(tg(server, &carol, &["requests"]));
                assert!(requests.contains("Lisbon trip"), "{requests}");
            }
            "bob-adds-a-device" => {
                enroll(
                    server,
                    &profile(dir, "bob2"),
                    "login",
                    "--phone",
                    "+12025550142",
                );
            }
            "dave-has-no-device" => {
                let dave = profile(dir, "dave");
                enroll(server, &dave, "register", "--email", "dave@example.org");
                ok(tg(server, &dave, &["logout"]));
            }
            "dave-returns" => {
                let dave = profile(dir, "dave");
                enroll(server, &dave, "login", "--email", "dave@example.org");
            }
            "dave-has-it-once" => {
                let dave = profile(dir, "dave");
                ok(tg(server, &dave, &["sync"]));
                let got = show(server, &dave, &["+12025550141"]);
                assert_eq!(bodies(&got), ["Dave, are you there?"]);
            }
            other => panic!("unknown step {other}"),
        }
    });
}

/// Where the screenshots go: `docs/screenshots/`, committed and shown in
/// the README.
const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/screenshots");

#[test]
fn the_main_screens_pass_an_accessibility_check_and_are_photographed() {
    std::fs::create_dir_all(SCREENSHOTS).expect("the screenshot directory");
    scenario(
        "screens.mjs",
        &[SCREENSHOTS],
        |server, dir, step| match step {
            "dan-replies" => phone_answers(
                server,
                dir,
                "+12025550177",
                "+12025550151",
                "Sounds great, see you at 8 🍷",
            ),
            other => panic!("unknown step {other}"),
        },
    );
}
