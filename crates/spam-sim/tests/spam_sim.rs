//! `tidings-spam-sim` on a small population, in English and Chinese (the
//! default `--language mixed`), checks the spam defence against the targets
//! of the default campaign: spam reaching a main inbox with a notification,
//! spam left visible in Requests, spam accounts that had a 20th message
//! accepted, legitimate messages between contacts held back, and legitimate
//! first contacts filed in Junk; and that e-mail-only spam accounts get
//! fewer first contacts than phone-verified ones.

use std::process::Command;

use serde_json::Value;

#[test]
fn a_small_campaign_meets_the_spam_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plot = dir.path().join("spam-sim.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_tidings-spam-sim"))
        .args([
            "--json",
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
        .expect("tidings-spam-sim runs");
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
        "spam_accounts_held_below_20_percent",
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

    // Both languages ran: Chinese campaigns were sent and Chinese first
    // contacts delivered.
    let kinds = summary["spam"]["by_campaign"].to_string();
    assert!(
        kinds.contains("zh_gambling") && kinds.contains("prize"),
        "{kinds}"
    );
    let by_language = &summary["legit"]["first_contacts_by_language"];
    for lang in ["en", "zh"] {
        assert!(
            by_language[lang]["delivered"].as_u64().unwrap_or(0) > 10,
            "{by_language}"
        );
    }
    // E-mail-only accounts were held to a lower allowance than phone ones.
    let by_handle = summary["spam_accounts"]["by_handle"]
        .as_array()
        .expect("by handle");
    let kind = |k: &str| {
        by_handle
            .iter()
            .find(|h| h["kind"] == k)
            .unwrap_or_else(|| panic!("{k} in {by_handle:?}"))
    };
    let (mail, phone) = (kind("e-mail"), kind("phone"));
    let allowance = |h: &Value| h["allowance_first_day"].as_u64().expect("allowance");
    assert!(allowance(mail) < allowance(phone), "{by_handle:?}");
    assert!(mail["accounts"].as_u64().expect("accounts") > 0);
    assert!(
        mail["accepted_max_per_day"].as_u64().expect("max") <= allowance(mail),
        "{by_handle:?}"
    );
    assert!(
        mail["cap_refusals"].as_u64().expect("refusals") > 0,
        "{by_handle:?}"
    );
}
