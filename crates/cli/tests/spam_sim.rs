//! `tidings spam-sim` on a small population checks the spam defence
//! against the targets of the default campaign: spam reaching a main inbox
//! with a notification, spam left visible in Requests, spam accounts
//! stopped before their 20th message, legitimate messages between contacts
//! held back, and legitimate first contacts filed in Junk.

use std::process::Command;

use serde_json::Value;

#[test]
fn a_small_campaign_meets_the_spam_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plot = dir.path().join("spam-sim.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args([
            "--json",
            "spam-sim",
            "--users",
            "300",
            "--days",
            "3",
            "--spam-accounts-per-day",
            "15",
            "--plot",
        ])
        .arg(&plot)
        .output()
        .expect("tidings runs");
    assert!(
        out.status.success(),
        "spam-sim failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    let svg = std::fs::read_to_string(&plot).expect("the plot is written");
    assert!(svg.contains("<svg"), "not an SVG: {svg:.200}");

    assert_eq!(summary["misattributed_deliveries"], 0);
    assert!(summary["spam"]["sent"].as_u64().expect("spam sent") > 100);
    assert!(
        summary["spam_accounts"]["registered"]
            .as_u64()
            .expect("accounts")
            >= 40
    );
    let targets = summary["targets"].as_array().expect("targets");
    let target = |name: &str| -> &Value {
        targets
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("target {name} in {targets:?}"))
    };
    let missed: Vec<String> = [
        "spam_main_inbox_percent",
        "spam_visible_in_requests_percent",
        "spam_accounts_stopped_before_20_percent",
        "legit_between_contacts_held_back",
        "legit_first_contacts_junk_percent",
    ]
    .iter()
    .map(|name| target(name))
    .filter(|t| t["met"] != true)
    .map(|t| {
        format!(
            "{}: {} (limit {} {})",
            t["name"], t["value"], t["comparison"], t["limit"]
        )
    })
    .collect();
    assert!(
        missed.is_empty(),
        "targets missed:\n{}\nspam: {:#}\nspam accounts: {:#}\nlegitimate: {:#}",
        missed.join("\n"),
        summary["spam"],
        summary["spam_accounts"],
        summary["legit"]
    );
}
