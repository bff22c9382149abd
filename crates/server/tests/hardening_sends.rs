//! Issue 10, sends: a send reveals no more about who is registered than
//! the directory does; a device can remove itself (logout) and its token
//! then fails everywhere; bans hold for every kind of send; prekeys cannot
//! be drained by one requester, duplicate claims are refused and the owner
//! is told to replenish; empty inputs are input errors, not limits.

use serde_json::{json, Value};
use tidings_server::store::abuse::AdminCommand;

mod common;

use common::{call, drain_envelopes, next_frame, open_stream, register, send, Dev, Resp, Server};

/// A send to `handles` with no payloads at all: the probe of defect 4.
async fn probe(s: &Server, from: &Dev, id: &str, handles: &[String]) -> Resp {
    let to: Vec<Value> = handles
        .iter()
        .map(|h| json!({"handle": h, "devices": []}))
        .collect();
    call(
        s,
        "POST",
        "/v1/messages",
        Some(&from.token),
        Some(json!({"id": id, "to": to, "own": []})),
    )
    .await
}

fn strangers(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}@example.org")).collect()
}

fn spent_lookups(r: &Resp) {
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["error"], "rate_limited");
    assert!(
        r.body["message"]
            .as_str()
            .expect("message")
            .contains("lookups_per_account_per_minute"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn sends_reveal_registration_only_within_the_lookup_budget() {
    const BUDGET: usize = 40;
    let s = common::start(|c| c.limits.lookups_per_account_per_minute = BUDGET as u32).await;
    let prober = register(&s, "prober@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    // An account that never looked anything up sends empty envelopes to
    // 31 handles at a time (one of them registered).
    let mut learned = 0;
    let mut refused = None;
    for batch in 0..20 {
        let mut handles = strangers(&format!("p{batch}-"), 30);
        handles.push(bob.handle.clone());
        let r = probe(&s, &prober, &format!("probe{batch}"), &handles).await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        assert!(matches!(r.status, 404 | 409), "{} {}", r.status, r.body);
        // bob is remembered after the first batch: only new handles count.
        learned += if batch == 0 { 31 } else { 30 };
    }
    assert!(
        learned <= BUDGET,
        "learned the registration of {learned} handles in a minute; the directory allows {BUDGET}"
    );
    spent_lookups(&refused.expect("the probe runs out of lookups"));
    // The directory is out of budget too: one budget, not two.
    let r = call(
        &s,
        "POST",
        "/v1/directory",
        Some(&prober.token),
        Some(json!({"handles": ["fresh@example.org"]})),
    )
    .await;
    spent_lookups(&r);
    // SMS parts reveal registration (a reachable number is refused) and
    // count as well.
    let r = call(
        &s,
        "POST",
        "/v1/messages",
        Some(&prober.token),
        Some(json!({"id": "sms1", "to": [], "sms": [{"handle": "+12025550177", "text": "hi"}]})),
    )
    .await;
    spent_lookups(&r);
    // A minute later the budget is back.
    s.clock.advance(60_000);
    let r = probe(&s, &prober, "later", &strangers("later-", 5)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body["not_registered"].as_array().expect("list").len(), 5);
}

#[tokio::test]
async fn a_client_that_looked_recipients_up_is_not_charged_again() {
    const BUDGET: usize = 40;
    let s = common::start(|c| c.limits.lookups_per_account_per_minute = BUDGET as u32).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let mut handles = strangers("q", 30);
    handles.push(bob.handle.clone());
    let r = call(
        &s,
        "POST",
        "/v1/directory",
        Some(&alice.token),
        Some(json!({ "handles": handles })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Sending to what it looked up costs nothing more, however often.
    for i in 0..20 {
        let r = probe(&s, &alice, &format!("again{i}"), &handles).await;
        assert_eq!(r.status, 404, "send {i}: {}", r.body);
    }
    for i in 0..20 {
        let r = send(&s, &alice, &format!("real{i}"), &[&bob], "hi").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // The rest of the budget (9) still buys new handles.
    let r = probe(&s, &alice, "new", &strangers("r", 9)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    spent_lookups(&probe(&s, &alice, "one-more", &strangers("s", 1)).await);
    // Remembered handles are forgotten after lookup_memory_secs and then
    // cost a lookup again: the 31 take 31 of the fresh budget.
    s.clock
        .advance(s.app.config.limits.lookup_memory_secs * 1000);
    assert_eq!(probe(&s, &alice, "forgotten", &handles).await.status, 404);
    assert_eq!(probe(&s, &alice, "t", &strangers("t", 9)).await.status, 404);
    spent_lookups(&probe(&s, &alice, "u", &strangers("u", 1)).await);
}

/// Every authenticated route, with a body it would accept from a valid token.
fn routes(dev: &Dev) -> Vec<(&'static str, String, Option<Value>)> {
    let blob = "0123456789abcdef0123456789abcdef";
    vec![
        ("GET", "/v1/account".into(), None),
        ("DELETE", "/v1/account".into(), None),
        ("GET", "/v1/handles".into(), None),
        (
            "POST",
            "/v1/handles".into(),
            Some(json!({"handle": "x@example.org", "code": "123456"})),
        ),
        (
            "DELETE",
            format!("/v1/handles/{}", dev.handle.replace('+', "%2B")),
            None,
        ),
        ("GET", "/v1/devices".into(), None),
        ("DELETE", format!("/v1/devices/{}", dev.device), None),
        ("POST", "/v1/directory".into(), Some(json!({"handles": []}))),
        ("GET", "/v1/keys".into(), None),
        (
            "POST",
            "/v1/keys".into(),
            Some(json!({"identity": {"curve25519": "c", "ed25519": "e"}})),
        ),
        (
            "POST",
            "/v1/keys/claim".into(),
            Some(json!({"devices": []})),
        ),
        (
            "POST",
            "/v1/keys/identities".into(),
            Some(json!({"devices": []})),
        ),
        (
            "POST",
            "/v1/messages".into(),
            Some(json!({"id": "x", "to": []})),
        ),
        (
            "POST",
            "/v1/messages/fallback".into(),
            Some(json!({"id": "x", "handle": "+12025550101", "text": "t"})),
        ),
        ("POST", "/v1/blobs".into(), Some(json!({"size": 10}))),
        ("GET", format!("/v1/blobs/{blob}"), None),
        ("POST", format!("/v1/blobs/{blob}/complete"), None),
        ("GET", format!("/v1/blobs/{blob}/0"), None),
        ("PUT", format!("/v1/blobs/{blob}/0"), None),
        (
            "POST",
            "/v1/links".into(),
            Some(
                json!({"blob": blob, "key": "", "name": "a", "content_type": "text/plain", "size": 1}),
            ),
        ),
        (
            "POST",
            "/v1/reports".into(),
            Some(json!({"token": "t", "junk": true})),
        ),
    ]
}

#[tokio::test]
async fn a_device_that_removes_itself_is_revoked_everywhere() {
    let s = common::start(|_| {}).await;
    let alice = register(&s, "+12025550110").await;
    let bob = register(&s, "bob@example.org").await;
    assert_eq!(send(&s, &bob, "m1", &[&alice], "hi").await.status, 200);
    let (mut ws, first) = open_stream(&s, &alice.token).await;
    assert_eq!(first["type"], "ready", "{first}");
    // Logout: the device deletes itself.
    let r = call(
        &s,
        "DELETE",
        &format!("/v1/devices/{}", alice.device),
        Some(&alice.token),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let mut told = false;
    while let Some(f) = next_frame(&mut ws).await {
        told |= f["error"] == "device_removed";
    }
    assert!(told, "the open stream is told and closed");
    for (method, path, body) in routes(&alice) {
        let r = call(&s, method, &path, Some(&alice.token), body).await;
        assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
    }
    let (mut ws, first) = open_stream(&s, &alice.token).await;
    assert_eq!(first["error"], "unauthorized");
    assert!(next_frame(&mut ws).await.is_none());
    // Its queue went with it.
    let queued = s
        .app
        .store
        .queued(
            tidings_proto::DeviceId::new(alice.device).expect("device id"),
            0.into(),
            10,
        )
        .await
        .expect("read");
    assert!(queued.is_empty(), "{queued:?}");
}

async fn set_standing(s: &Server, dev: &Dev, state: &str) {
    s.app
        .store
        .admin(
            AdminCommand::SetStanding {
                account: dev.account as i64,
                state: Some(state.into()),
                reason: "test".into(),
                cluster: false,
            },
            s.app.config.spam_policy(),
            s.app.now(),
        )
        .await
        .expect("admin");
}

fn ephemeral(to: &Dev, id: &str) -> Value {
    json!({
        "id": id,
        "ephemeral": true,
        "to": [{"handle": to.handle, "devices": [{"device": to.device, "payload": "dHlwaW5n"}]}],
        "own": [],
    })
}

fn forbidden(r: &Resp, code: &str) {
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["error"], code, "{}", r.body);
}

#[tokio::test]
async fn banned_accounts_can_send_nothing_of_any_kind() {
    let s = common::start(|_| {}).await;
    let spammer = register(&s, "+12025550120").await;
    let victim = register(&s, "victim@example.org").await;
    let friend = register(&s, "friend@example.org").await;
    // Before the ban everything goes through.
    let r = call(
        &s,
        "POST",
        "/v1/messages",
        Some(&spammer.token),
        Some(ephemeral(&victim, "t0")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    set_standing(&s, &spammer, "banned").await;

    let (mut ws, first) = open_stream(&s, &victim.token).await;
    assert_eq!(first["type"], "ready");
    for i in 0..5 {
        let r = call(
            &s,
            "POST",
            "/v1/messages",
            Some(&spammer.token),
            Some(ephemeral(&victim, &format!("t{}", i + 1))),
        )
        .await;
        forbidden(&r, "banned");
    }
    forbidden(&send(&s, &spammer, "m", &[&victim], "hi").await, "banned");
    let sms = json!({"id": "s", "to": [], "sms": [{"handle": "+12025550199", "text": "hi"}]});
    forbidden(
        &call(&s, "POST", "/v1/messages", Some(&spammer.token), Some(sms)).await,
        "banned",
    );
    let fallback = json!({"id": "m", "handle": "+12025550199", "text": "hi"});
    forbidden(
        &call(
            &s,
            "POST",
            "/v1/messages/fallback",
            Some(&spammer.token),
            Some(fallback),
        )
        .await,
        "banned",
    );
    forbidden(
        &call(
            &s,
            "POST",
            "/v1/blobs",
            Some(&spammer.token),
            Some(json!({"size": 100})),
        )
        .await,
        "banned",
    );
    let link = json!({"blob": "0".repeat(32), "key": "A".repeat(43) + "=", "name": "a", "content_type": "text/plain", "size": 1});
    forbidden(
        &call(&s, "POST", "/v1/links", Some(&spammer.token), Some(link)).await,
        "banned",
    );
    let report = json!({"token": "abc", "junk": true});
    forbidden(
        &call(
            &s,
            "POST",
            "/v1/reports",
            Some(&spammer.token),
            Some(report),
        )
        .await,
        "banned",
    );
    // Nothing reached the victim: after `drained`, the first envelope is a
    // marker a friend sends now (pushes arrive in order, so anything the
    // spammer got through would come before it).
    let f = next_frame(&mut ws).await.expect("drained");
    assert_eq!(f["type"], "drained", "{f}");
    let r = call(
        &s,
        "POST",
        "/v1/messages",
        Some(&friend.token),
        Some(ephemeral(&victim, "marker")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = next_frame(&mut ws).await.expect("the marker");
    assert_eq!(f["body"]["kind"], "ephemeral", "{f}");
    assert_eq!(f["body"]["sender"]["account"], friend.account, "{f}");
}

#[tokio::test]
async fn restricted_accounts_type_and_text_only_to_people_who_wrote_first() {
    let s = common::start(|_| {}).await;
    let restricted = register(&s, "r@example.org").await;
    let friend = register(&s, "friend@example.org").await;
    let stranger = register(&s, "stranger@example.org").await;
    assert_eq!(
        send(&s, &friend, "f1", &[&restricted], "hello")
            .await
            .status,
        200
    );
    set_standing(&s, &restricted, "restricted").await;
    let r = call(
        &s,
        "POST",
        "/v1/messages",
        Some(&restricted.token),
        Some(ephemeral(&stranger, "e1")),
    )
    .await;
    forbidden(&r, "restricted");
    let r = call(
        &s,
        "POST",
        "/v1/messages",
        Some(&restricted.token),
        Some(ephemeral(&friend, "e2")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // SMS to a number not on Tidings: nobody there wrote first.
    let sms = json!({"id": "s", "to": [], "sms": [{"handle": "+12025550198", "text": "hi"}]});
    forbidden(
        &call(
            &s,
            "POST",
            "/v1/messages",
            Some(&restricted.token),
            Some(sms),
        )
        .await,
        "restricted",
    );
    assert_eq!(
        send(&s, &restricted, "ok", &[&friend], "hi").await.status,
        200
    );
}

fn keys_body(prefix: &str, n: usize) -> Value {
    json!({
        "identity": {"curve25519": format!("{prefix}-c"), "ed25519": format!("{prefix}-e")},
        "one_time_keys": (0..n).map(|i| json!({"id": format!("k{i:04}"), "key": format!("otk{i}"), "signature": "sig"})).collect::<Vec<_>>(),
        "fallback": {"id": "fb", "key": "fallback-key", "signature": "sig"},
    })
}

async fn key_count(s: &Server, dev: &Dev) -> u64 {
    let r = call(s, "GET", "/v1/keys", Some(&dev.token), None).await;
    r.body["one_time_keys"].as_u64().expect("count")
}

async fn claim(s: &Server, by: &Dev, devices: &[u64]) -> Resp {
    call(
        s,
        "POST",
        "/v1/keys/claim",
        Some(&by.token),
        Some(json!({ "devices": devices })),
    )
    .await
}

#[tokio::test]
async fn one_requester_cannot_drain_a_devices_prekeys() {
    let s = common::start(|c| {
        c.limits.key_claims_per_target_device_per_hour = 3;
        c.limits.one_time_keys_low = 0;
    })
    .await;
    let alice = register(&s, "alice@example.org").await;
    let mallory = register(&s, "mallory@example.org").await;
    let bob = register(&s, "bob@example.org").await;
    let r = call(
        &s,
        "POST",
        "/v1/keys",
        Some(&alice.token),
        Some(keys_body("a", 50)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Duplicate ids in one claim are refused, and take nothing.
    let r = claim(&s, &mallory, &[alice.device; 30]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"], "bad_request");
    assert_eq!(key_count(&s, &alice).await, 50);
    // Three claims an hour from one requester, then a named refusal.
    for _ in 0..3 {
        let r = claim(&s, &mallory, &[alice.device]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["keys"][0]["fallback"], false);
    }
    let r = claim(&s, &mallory, &[alice.device]).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .expect("message")
        .contains("key_claims_per_target_device_per_hour"));
    assert!(r.body["retry_after_secs"].as_u64().expect("retry") > 0);
    assert_eq!(key_count(&s, &alice).await, 47, "one requester took three");
    // Others are not held back by mallory, and mallory may claim from
    // other devices.
    assert_eq!(claim(&s, &bob, &[alice.device]).await.status, 200);
    let r = call(
        &s,
        "POST",
        "/v1/keys",
        Some(&bob.token),
        Some(keys_body("b", 5)),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(claim(&s, &mallory, &[bob.device]).await.status, 200);
    // The hour passes.
    s.clock.advance(3_600_000);
    assert_eq!(claim(&s, &mallory, &[alice.device]).await.status, 200);
}

#[tokio::test]
async fn a_device_running_low_on_prekeys_is_told_once_to_replenish() {
    let s = common::start(|c| c.limits.one_time_keys_low = 8).await;
    let alice = register(&s, "alice@example.org").await;
    let r = call(
        &s,
        "POST",
        "/v1/keys",
        Some(&alice.token),
        Some(keys_body("a", 10)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut claimers = Vec::new();
    for i in 0..5 {
        claimers.push(register(&s, &format!("c{i}@example.org")).await);
    }
    // 10 → 9 → 8: not low yet.
    for c in &claimers[..2] {
        assert_eq!(claim(&s, c, &[alice.device]).await.status, 200);
    }
    let notices = |envs: &[Value]| {
        envs.iter()
            .filter(|e| e["body"]["kind"] == "account_notice" && e["body"]["notice"] == "keys_low")
            .count()
    };
    assert_eq!(notices(&drain_envelopes(&s, &alice).await), 0);
    // 8 → 7 crosses below 8: one notice; 7 → 6 → 5: no more.
    for c in &claimers[2..] {
        assert_eq!(claim(&s, c, &[alice.device]).await.status, 200);
    }
    let envs = drain_envelopes(&s, &alice).await;
    assert_eq!(notices(&envs), 1, "{envs:?}");
    // After replenishing (5 → 10), running low again is told again.
    let r = call(
        &s,
        "POST",
        "/v1/keys",
        Some(&alice.token),
        Some(keys_body("a", 5)),
    )
    .await;
    assert_eq!(r.body["one_time_keys"], 10, "{}", r.body);
    for _ in 0..3 {
        assert_eq!(claim(&s, &claimers[0], &[alice.device]).await.status, 200);
    }
    let envs = drain_envelopes(&s, &alice).await;
    assert_eq!(notices(&envs), 1, "{envs:?}");
}

#[tokio::test]
async fn empty_inputs_are_input_errors_not_limits() {
    let s = common::start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let r = call(
        &s,
        "POST",
        "/v1/blobs",
        Some(&alice.token),
        Some(json!({"size": 0})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"], "bad_request");
    assert!(
        r.body["message"]
            .as_str()
            .expect("m")
            .contains("attachment"),
        "{}",
        r.body
    );
    let sms = json!({"id": "s", "to": [], "sms": [{"handle": "+12025550197", "text": ""}]});
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(sms)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"], "bad_request");
    assert!(
        r.body["message"].as_str().expect("m").contains("empty"),
        "{}",
        r.body
    );
    let fallback = json!({"id": "m", "handle": "+12025550197", "text": ""});
    let r = call(
        &s,
        "POST",
        "/v1/messages/fallback",
        Some(&alice.token),
        Some(fallback),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"], "bad_request");
    // The limits still name themselves.
    let long = "x".repeat(161 * s.app.config.sms.max_sms_segments);
    let sms = json!({"id": "l", "to": [], "sms": [{"handle": "+12025550197", "text": long}]});
    let r = call(&s, "POST", "/v1/messages", Some(&alice.token), Some(sms)).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["error"], "sms_too_long");
}
