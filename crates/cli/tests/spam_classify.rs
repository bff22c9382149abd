//! `tidings spam classify` reads Chinese and English and says which
//! language each message is in.

use std::process::Command;

use serde_json::Value;

#[test]
fn spam_classify_reads_chinese_and_says_which_language() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["--json", "spam", "classify"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("tidings runs");
    // Written for this test.
    let lines = [
        "【金沙娱乐】新会员首充送588元彩金，百家乐真人视讯，登录 js8866vip.com 领取，退订回T",
        "今晚一起吃饭吗？我大概七点到",
        "URGENT! You have WON a £1000 cash prize. Call 09061701461 now to claim",
        "Are we still on for dinner tonight?",
    ];
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.join("\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("tidings finishes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Value> = String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let got: Vec<(&str, &str)> = verdicts
        .iter()
        .map(|v| {
            (
                v["label"].as_str().expect("label"),
                v["language"].as_str().expect("language"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("spam", "zh"), ("ham", "zh"), ("spam", "en"), ("ham", "en")],
        "{verdicts:?}"
    );
}
