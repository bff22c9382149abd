//! Integration tests of the server's spam defence, on metadata only:
//! report tokens, reports acting on clusters, the new-recipient cap,
//! registration limits and proof of work, campaigns, and the operator's
//! commands. A real server on an ephemeral port with a manual clock.

mod common;

use common::*;
use serde_json::{json, Value};
use tidings_server::store::abuse::AdminCommand;

const DAY: u64 = 24 * 3_600_000;

fn forwarded(c: &mut tidings_server::Config) {
    c.connections.trust_forwarded_for = true;
}

fn token_of(envelope: &Value) -> Option<String> {
    envelope["body"]["report_token"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn reports_restrict_a_whole_cluster_but_never_hold_back_replies() {
    let s = start(forwarded).await;
    // Three throwaway accounts from one address range, within minutes.
    let mut spammers = Vec::new();
    for i in 0..3 {
        spammers.push(
            register_from(
                &s,
                &format!("10.66.6.{}", i + 1),
                &format!("spam{i}@example.org"),
            )
            .await,
        );
    }
    let mut people = Vec::new();
    for i in 0..5 {
        people.push(
            register_from(
                &s,
                &format!("10.{}.0.1", 100 + i),
                &format!("person{i}@example.org"),
            )
            .await,
        );
    }
    // Person 4 writes to spammer 2 first (they know each other).
    assert_eq!(
        send(&s, &people[4], "p4", &[&spammers[2]], "hi")
            .await
            .status,
        200
    );

    // Spammer 0 writes to three strangers: each envelope carries a token.
    let targets: Vec<&Dev> = people[..3].iter().collect();
    assert_eq!(
        send(&s, &spammers[0], "ad1", &targets, "WIN a prize")
            .await
            .status,
        200
    );
    let mut tokens = Vec::new();
    for p in &people[..3] {
        let got = drain_envelopes(&s, p).await;
        let message = got
            .iter()
            .find(|e| e["body"]["kind"] == "message")
            .expect("the message");
        tokens.push(token_of(message).expect("a report token for a stranger"));
    }
    // A message between people who wrote to each other carries none.
    let got = drain_envelopes(&s, &spammers[2]).await;
    assert!(
        token_of(&got[0]).is_some(),
        "person 4 never heard from spammer 2"
    );
    assert_eq!(
        send(&s, &spammers[2], "back", &[&people[4]], "hello")
            .await
            .status,
        200
    );
    let got = drain_envelopes(&s, &people[4]).await;
    assert_eq!(token_of(&got[0]), None, "person 4 wrote first: no token");

    // Someone else's token is refused.
    let r = call(
        &s,
        "POST",
        "/v1/reports",
        Some(&people[1].token),
        Some(json!({"token": tokens[0], "junk": true})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // Two reports: not enough yet.
    for (p, t) in people[..2].iter().zip(&tokens) {
        let r = call(
            &s,
            "POST",
            "/v1/reports",
            Some(&p.token),
            Some(json!({"token": t, "junk": true, "text": "WIN a prize now, call 0900"})),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    assert_eq!(
        send(&s, &spammers[1], "ad2", &[&people[3]], "WIN")
            .await
            .status,
        200
    );
    // The third report restricts the whole cluster, including spammer 1
    // and 2, whom nobody reported.
    let r = call(
        &s,
        "POST",
        "/v1/reports",
        Some(&people[2].token),
        Some(json!({"token": tokens[2], "junk": true})),
    )
    .await;
    assert_eq!(r.status, 202);
    let r = send(&s, &spammers[1], "ad3", &[&people[4]], "WIN").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["error"], "restricted");
    assert!(r.body["message"]
        .as_str()
        .expect("message")
        .contains("appeal"));
    // ... but a restricted account still answers people who wrote to it.
    let r = send(&s, &spammers[2], "reply", &[&people[4]], "sure").await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A throwaway account registered later from the same network is part
    // of the cluster from the start.
    let late = register_from(&s, "10.66.6.99", "spam9@example.org").await;
    let r = send(&s, &late, "ad9", &[&people[3]], "WIN").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["error"], "restricted");
    // The restricted accounts are told why.
    let told = drain_envelopes(&s, &spammers[1]).await;
    assert!(
        told.iter().any(|e| e["body"]["notice"] == "restricted"),
        "{told:?}"
    );
    // Reports are logged with reasons for the operator.
    let shown = s
        .app
        .store
        .admin(
            AdminCommand::Show {
                account: spammers[1].account as i64,
            },
            s.app.config.spam_policy(),
            s.app.now(),
        )
        .await
        .expect("admin");
    assert_eq!(shown["standing"], "restricted");
    assert!(shown["reason"]
        .as_str()
        .expect("reason")
        .contains("3 people reported"));
}

#[tokio::test]
async fn new_accounts_may_start_few_conversations_a_day() {
    let s = start(|c| {
        forwarded(c);
        c.spam.new_recipients_per_day = 3;
        c.spam.new_recipients_email_only = 3;
        c.spam.new_recipients_per_reply = 1;
    })
    .await;
    let sender = register_from(&s, "10.1.1.1", "new@example.org").await;
    let mut others = Vec::new();
    for i in 0..6 {
        others.push(register_from(&s, &format!("10.2.{i}.1"), &format!("o{i}@example.org")).await);
    }
    for (i, o) in others[..3].iter().enumerate() {
        assert_eq!(
            send(&s, &sender, &format!("m{i}"), &[o], "hello")
                .await
                .status,
            200
        );
    }
    let r = send(&s, &sender, "m3", &[&others[3]], "hello").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["error"], "new_recipient_cap");
    // Writing again to people already written to is not new.
    assert_eq!(
        send(&s, &sender, "again", &[&others[0]], "hi").await.status,
        200
    );
    // Someone who wrote first is never limited.
    assert_eq!(
        send(&s, &others[5], "first", &[&sender], "hey")
            .await
            .status,
        200
    );
    assert_eq!(
        send(&s, &sender, "answer", &[&others[5]], "hey!")
            .await
            .status,
        200
    );
    // A reply frees room and raises the cap.
    assert_eq!(
        send(&s, &others[0], "reply", &[&sender], "who?")
            .await
            .status,
        200
    );
    assert_eq!(
        send(&s, &sender, "m4", &[&others[3]], "hello").await.status,
        200
    );
    // A day later the budget is back.
    s.clock.advance(DAY + 1);
    assert_eq!(
        send(&s, &sender, "m5", &[&others[4]], "hello").await.status,
        200
    );
}

#[tokio::test]
async fn e_mail_only_accounts_get_fewer_first_contacts_until_someone_replies() {
    let s = start(|c| {
        forwarded(c);
        c.spam.new_recipients_per_day = 4;
        c.spam.new_recipients_per_day_of_age = 0;
        c.spam.new_recipients_email_only = 2;
        c.spam.new_recipients_per_reply = 0;
    })
    .await;
    let mail = register_from(&s, "10.1.1.1", "batch17@example.org").await;
    let phone = register_from(&s, "10.1.2.1", "+12025550177").await;
    let mut others = Vec::new();
    for i in 0..8 {
        others.push(register_from(&s, &format!("10.3.{i}.1"), &format!("p{i}@example.org")).await);
    }
    // A week on, everyone above is established; `mate` is new, like the
    // other accounts of a spammer's batch.
    s.clock.advance(8 * DAY);
    let mate = register_from(&s, "10.1.1.2", "batch18@example.org").await;
    let ok = |r: Resp| {
        assert_eq!(r.status, 200, "{}", r.body);
    };
    let capped = |r: Resp| {
        assert_eq!(r.status, 429, "{}", r.body);
        assert_eq!(r.body["error"], "new_recipient_cap");
    };
    // The phone account may write to four strangers, the e-mail one to two.
    for (i, o) in others[..4].iter().enumerate() {
        ok(send(&s, &phone, &format!("p{i}"), &[o], "hello").await);
    }
    capped(send(&s, &phone, "p4", &[&others[4]], "hello").await);
    ok(send(&s, &mail, "m0", &[&mate], "hello").await);
    ok(send(&s, &mail, "m1", &[&others[4]], "hello").await);
    capped(send(&s, &mail, "m2", &[&others[5]], "hello").await);
    // Its batch-mate answers: that frees the one place it took, but lifts
    // nothing.
    ok(send(&s, &mate, "re0", &[&mail], "got it").await);
    ok(send(&s, &mail, "m2", &[&others[5]], "hello").await);
    capped(send(&s, &mail, "m3", &[&others[6]], "hello").await);
    // An established account answers: from then on it counts like any
    // account (4 a day; the answered contact no longer uses the allowance).
    ok(send(&s, &others[4], "re1", &[&mail], "who is this?").await);
    ok(send(&s, &mail, "m3", &[&others[6]], "hello").await);
    ok(send(&s, &mail, "m4", &[&others[7]], "hello").await);
    ok(send(&s, &mail, "m5", &[&others[0]], "hello").await);
    capped(send(&s, &mail, "m6", &[&others[1]], "hello").await);
}

#[tokio::test]
async fn registrations_are_limited_per_range_and_need_work_when_they_spike() {
    let s = start(|c| {
        forwarded(c);
        c.spam.registrations_per_range_per_day = 2;
        c.spam.registration_spike_per_hour = 3;
        c.spam.pow_bits = 8;
    })
    .await;
    register_from(&s, "10.5.5.1", "a@example.org").await;
    register_from(&s, "10.5.5.2", "b@example.org").await;
    let r = try_register_from(&s, "10.5.5.3", "c@example.org").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["error"], "registrations_per_range");
    register_from(&s, "10.6.6.1", "d@example.org").await;
    // Three registrations this hour: code requests now need work, for
    // registered and unregistered handles alike.
    for handle in ["d@example.org", "e@example.org"] {
        let r = call_from(
            &s,
            Some("10.7.7.1"),
            "POST",
            "/v1/codes",
            None,
            Some(json!({"handle": handle})),
        )
        .await;
        assert_eq!(r.status, 428, "{}", r.body);
        assert_eq!(r.body["error"], "proof_of_work_required");
    }
    let r = call_from(
        &s,
        Some("10.7.7.1"),
        "POST",
        "/v1/codes",
        None,
        Some(json!({"handle": "e@example.org"})),
    )
    .await;
    let challenge = r.body["pow"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_string();
    let bits = r.body["pow"]["bits"].as_u64().expect("bits") as u32;
    let wrong = json!({"handle": "e@example.org", "pow": {"challenge": challenge, "nonce": 0}});
    if tidings_proto::pow::work(&challenge, 0) < bits {
        let r = call_from(&s, Some("10.7.7.1"), "POST", "/v1/codes", None, Some(wrong)).await;
        assert_eq!(r.status, 428);
    }
    let nonce = tidings_proto::pow::solve(&challenge, bits).expect("solvable");
    // A solution is bound to its handle.
    let other = json!({"handle": "f@example.org", "pow": {"challenge": challenge, "nonce": nonce}});
    let r = call_from(&s, Some("10.7.7.1"), "POST", "/v1/codes", None, Some(other)).await;
    assert_eq!(r.status, 428);
    let good = json!({"handle": "e@example.org", "pow": {"challenge": challenge, "nonce": nonce}});
    let r = call_from(&s, Some("10.7.7.1"), "POST", "/v1/codes", None, Some(good)).await;
    assert_eq!(r.status, 202, "{}", r.body);
    // An hour later the spike is over.
    s.clock.advance(3_600_000 + 1);
    let r = call_from(
        &s,
        Some("10.7.7.1"),
        "POST",
        "/v1/codes",
        None,
        Some(json!({"handle": "g@example.org"})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
}

#[tokio::test]
async fn reported_texts_become_campaigns_and_bans_withdraw_waiting_messages() {
    let s = start(|c| {
        forwarded(c);
        c.spam.restrict_at_reports = 2;
        c.spam.ban_at_reports = 2;
    })
    .await;
    let spammer = register_from(&s, "10.9.9.9", "spam@example.org").await;
    let a = register_from(&s, "10.1.0.1", "a@example.org").await;
    let b = register_from(&s, "10.2.0.1", "b@example.org").await;
    let c = register_from(&s, "10.3.0.1", "c@example.org").await;
    let text = "Your parcel is held: pay the 1.99 fee at parcel-fees.example now";
    assert_eq!(send(&s, &spammer, "x1", &[&a, &b], text).await.status, 200);
    assert_eq!(send(&s, &spammer, "x2", &[&c], text).await.status, 200);
    let campaigns = call(&s, "GET", "/v1/campaigns", Some(&a.token), None).await;
    assert_eq!(campaigns.body["fingerprints"], json!([]));
    for (who, variant) in [
        (&a, text),
        (
            &b,
            "Your parcel is held: pay the 2.49 fee at parcel-fees.example now",
        ),
    ] {
        let got = drain_envelopes(&s, who).await;
        let token = token_of(&got[0]).expect("token");
        let r = call(
            &s,
            "POST",
            "/v1/reports",
            Some(&who.token),
            Some(json!({"token": token, "junk": true, "text": variant})),
        )
        .await;
        assert_eq!(r.status, 202);
    }
    let campaigns = call(&s, "GET", "/v1/campaigns", Some(&a.token), None).await;
    let list = campaigns.body["fingerprints"]
        .as_array()
        .expect("list")
        .clone();
    assert_eq!(
        list.len(),
        1,
        "near-identical texts make one campaign: {list:?}"
    );
    assert_eq!(list[0].as_str().expect("hex").len(), 16);
    // Two distinct reporters ban the reported sender; what it still had
    // waiting for C is withdrawn, and it can no longer send.
    assert!(drain_envelopes(&s, &c)
        .await
        .iter()
        .all(|e| e["body"]["kind"] != "message"));
    let r = send(&s, &spammer, "x3", &[&a], "hi").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"], "banned");
    // The operator can lift it, with a logged reason.
    s.app
        .store
        .admin(
            AdminCommand::SetStanding {
                account: spammer.account as i64,
                state: None,
                reason: "appeal accepted".into(),
                cluster: false,
            },
            s.app.config.spam_policy(),
            s.app.now(),
        )
        .await
        .expect("unban");
    assert_eq!(send(&s, &spammer, "x4", &[&a], "sorry").await.status, 200);
    let shown = s
        .app
        .store
        .admin(
            AdminCommand::Show {
                account: spammer.account as i64,
            },
            s.app.config.spam_policy(),
            s.app.now(),
        )
        .await
        .expect("admin");
    let actions: Vec<&str> = shown["actions"]
        .as_array()
        .expect("log")
        .iter()
        .map(|a| a["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        ["reported", "reported", "banned", "cleared"],
        "{shown}"
    );
}

#[tokio::test]
async fn writing_to_many_who_never_answer_adds_to_reports() {
    let s = start(|c| {
        forwarded(c);
        c.spam.new_recipients_per_day = 20;
    })
    .await;
    let sender = register_from(&s, "10.8.8.8", "bulk@example.org").await;
    let mut people = Vec::new();
    for i in 0..10 {
        people.push(
            register_from(
                &s,
                &format!("10.{}.1.1", 20 + i),
                &format!("r{i}@example.org"),
            )
            .await,
        );
    }
    let all: Vec<&Dev> = people.iter().collect();
    for (i, p) in all.iter().enumerate() {
        assert_eq!(
            send(&s, &sender, &format!("b{i}"), &[p], "Cheap loans today")
                .await
                .status,
            200
        );
    }
    // Nobody answered any of ten: two reports are enough where three would
    // be needed otherwise.
    for p in &people[..2] {
        let got = drain_envelopes(&s, p).await;
        let token = token_of(&got[0]).expect("token");
        let r = call(
            &s,
            "POST",
            "/v1/reports",
            Some(&p.token),
            Some(json!({"token": token, "junk": true})),
        )
        .await;
        assert_eq!(r.status, 202);
    }
    let r = send(&s, &sender, "b10", &[&people[0]], "last chance").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .expect("why")
        .contains("never answered"));
}
