//! Regression tests of issue 10, defects 2, 5 and 9: the development
//! carrier cannot be exposed by accident and is bounded; the client address
//! behind proxies is taken from the right and counted alike by every
//! limiter; strangers asking for codes cannot lock a handle's owner out.

use serde_json::{json, Value};
use tidings_server::{App, Config, ManualClock};

mod common;

use common::{
    call, call_from, drain_envelopes, latest_code, register, request_code, start, Resp, Server,
};

/// A configuration with real SMS and mail delivery (nothing is sent in
/// these tests): what production looks like.
fn real_delivery(c: &mut Config) {
    c.sms.sms_gateway = tidings_server::config::SmsGateway::Kannel;
    c.sms.kannel_password = "sendsms-password".into();
    c.sms.kannel_secret = "a-secret-of-enough-length".into();
    c.mail.smtp_relay = "127.0.0.1:9".into();
}

fn public(c: &mut Config) {
    c.listen = "0.0.0.0:7878".parse().expect("address");
}

fn path_of(number: &str) -> String {
    format!("/v1/carrier/{}", number.replace('+', "%2B"))
}

async fn carrier_send(s: &Server, from: &str, to: &str, text: &str) -> Resp {
    call(
        s,
        "POST",
        "/v1/carrier/send",
        None,
        Some(json!({"from": from, "to": to, "text": text})),
    )
    .await
}

/// The success of a code request, or a panic saying what the server said.
fn got(r: Result<String, Resp>, what: &str) -> String {
    r.unwrap_or_else(|r| panic!("{what}: {} {}", r.status, r.body))
}

fn texts(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap_or_else(|| panic!("a list: {body}"))
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_string())
        .collect()
}

// ---- Defect 2: the development carrier ----

#[tokio::test]
async fn a_public_address_with_the_simulated_carrier_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        listen: "0.0.0.0:7878".parse().expect("address"),
        ..Config::default()
    };
    let err = match App::open(config.clone(), std::sync::Arc::new(ManualClock::new())) {
        Ok(_) => panic!("a server that shows every code to the network must not start"),
        Err(e) => e.to_string(),
    };
    for says in [
        "0.0.0.0:7878",
        "not a loopback",
        "kannel",
        "smtp_relay",
        "--dev",
    ] {
        assert!(err.contains(says), "{err} should say {says}");
    }
    // Told to accept the risk, it starts.
    let dev = Config {
        dev: true,
        ..config
    };
    App::open(dev, std::sync::Arc::new(ManualClock::new())).expect("--dev starts");
}

#[tokio::test]
async fn carrier_routes_answer_404_when_development_mode_is_off() {
    let production = start(|c| {
        public(c);
        real_delivery(c);
    })
    .await;
    let turned_off = start(|c| c.sms.simulated_carrier = false).await;
    for s in [&production, &turned_off] {
        assert_eq!(call(s, "GET", "/carrier", None, None).await.status, 404);
        let r = call(s, "GET", &path_of("+12025550101"), None, None).await;
        assert_eq!(r.status, 404, "{}", r.body);
        let r = call(s, "GET", "/v1/carrier/a@example.org", None, None).await;
        assert_eq!(r.status, 404, "{}", r.body);
        let r = carrier_send(s, "+12025550102", "+12025550101", "forged").await;
        assert_eq!(r.status, 404, "{}", r.body);
        let home = call(s, "GET", "/", None, None).await;
        assert!(!home.body.as_str().expect("html").contains("/carrier"));
    }
    // With --dev on the same public address, the pages are there.
    let dev = start(|c| {
        public(c);
        c.dev = true;
    })
    .await;
    assert_eq!(call(&dev, "GET", "/carrier", None, None).await.status, 200);
    let r = call(&dev, "GET", &path_of("+12025550101"), None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A raw request with one extra header; its status and body.
async fn with_header(s: &Server, method: &str, path: &str, header: (&str, &str)) -> (u16, String) {
    let mut req = common::http()
        .request(method.parse().expect("method"), format!("{}{path}", s.url))
        .header(header.0, header.1);
    if method == "POST" {
        req = req
            .header("content-type", "application/json")
            .body(r#"{"from":"+12025550102","to":"+12025550101","text":"forged"}"#);
    }
    let resp = req.send().await.expect("request goes through");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

#[tokio::test]
async fn on_loopback_the_pages_refuse_requests_through_a_proxy() {
    // The usual production mistake: the server on 127.0.0.1 with the
    // simulated carrier, behind a TLS proxy that adds its headers.
    let s = start(|_| {}).await;
    let routes = [
        ("GET", "/carrier".to_string()),
        ("GET", path_of("+12025550101")),
        ("POST", "/v1/carrier/send".to_string()),
    ];
    for header in [
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=203.0.113.9"),
        ("x-real-ip", "203.0.113.9"),
    ] {
        for (method, path) in &routes {
            let (status, body) = with_header(&s, method, path, header).await;
            assert_eq!(status, 404, "{method} {path} with {}: {body}", header.0);
            assert!(body.contains("--dev"), "{body}");
        }
        let (_, home) = with_header(&s, "GET", "/", header).await;
        assert!(!home.contains("/carrier"), "{home}");
    }
    // Straight from this machine they answer.
    assert_eq!(call(&s, "GET", "/carrier", None, None).await.status, 200);
    // With --dev the operator accepted that risk.
    let dev = start(|c| c.dev = true).await;
    let (status, body) =
        with_header(&dev, "GET", "/carrier", ("x-forwarded-for", "203.0.113.9")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_carrier_pages_a_page_at_a_time() {
    let s = start(|_| {}).await;
    for i in 0..7 {
        let r = carrier_send(&s, "+12025550102", "+12025550101", &format!("m{i}")).await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let first = call(
        &s,
        "GET",
        &format!("{}?limit=3", path_of("+12025550101")),
        None,
        None,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        texts(&first.body),
        ["m4", "m5", "m6"],
        "newest, oldest first"
    );
    let before = first.body[0]["seq"].as_u64().expect("seq");
    let second = call(
        &s,
        "GET",
        &format!("{}?limit=3&before={before}", path_of("+12025550101")),
        None,
        None,
    )
    .await;
    assert_eq!(texts(&second.body), ["m1", "m2", "m3"]);
    // Without a limit: the default page, which holds all seven.
    let all = call(&s, "GET", &path_of("+12025550101"), None, None).await;
    assert_eq!(texts(&all.body).len(), 7);
    for bad in ["limit=0", "limit=201", "limit=x", "before=-1"] {
        let r = call(
            &s,
            "GET",
            &format!("{}?{bad}", path_of("+12025550101")),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    // The page, newest first, with a link to the older ones.
    let page = call(&s, "GET", "/carrier?limit=2", None, None).await;
    let html = page.body.as_str().expect("html");
    assert!(
        html.contains("m6") && html.contains("m5") && !html.contains("m4"),
        "{html}"
    );
    let at = html
        .find("/carrier?kind=sms&amp;before=")
        .expect("a link to older messages");
    let link = &html[at..];
    let link = link[..link.find('"').expect("end")].replace("&amp;", "&");
    let older = call(&s, "GET", &link, None, None).await;
    let html = older.body.as_str().expect("html");
    assert!(
        html.contains("m4") && html.contains("m3") && !html.contains("m5"),
        "{html}"
    );
}

#[tokio::test]
async fn the_carrier_inboxes_are_bounded_in_bytes_oldest_first() {
    let bound = 4_000;
    let s = start(|c| c.sms.dev_inbox_max_bytes = bound).await;
    let text = |i: usize| format!("{i:02}{}", "x".repeat(998));
    for i in 0..12 {
        let to = if i % 2 == 0 {
            "+12025550101"
        } else {
            "+12025550103"
        };
        let r = carrier_send(&s, "+12025550102", to, &text(i)).await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let inboxes = s.app.carrier.as_ref().expect("dev pages on").inboxes();
    assert!(inboxes.bytes() <= bound, "{} bytes kept", inboxes.bytes());
    let kept = |number: &str| {
        let s = &s;
        let path = path_of(number);
        async move {
            texts(&call(s, "GET", &path, None, None).await.body)
                .iter()
                .map(|t| t[..2].to_string())
                .collect::<Vec<_>>()
        }
    };
    // Each message takes 1024 bytes with its numbers: the newest three.
    assert_eq!(kept("+12025550101").await, ["10"]);
    assert_eq!(kept("+12025550103").await, ["09", "11"]);
    // The mail outbox has the same bound.
    let s = start(|c| c.sms.dev_inbox_max_bytes = 200).await;
    for _ in 0..5 {
        got(request_code(&s, None, "a@example.org").await, "a code");
    }
    let mail = s.app.dev_mail.as_ref().expect("dev pages on");
    assert!(mail.bytes() <= 200);
    assert_eq!(mail.messages("a@example.org").len(), 1);
}

#[tokio::test]
async fn carrier_send_keeps_the_queue_bound() {
    let s = start(|c| c.limits.max_queue_per_device = 2).await;
    let bob = register(&s, "+12025550101").await;
    for i in 0..2 {
        let r = carrier_send(&s, "+12025550102", &bob.handle, &format!("hi {i}")).await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let r = carrier_send(&s, "+12025550102", &bob.handle, "one too many").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["error"], "queue_full");
    assert!(r.body["message"]
        .as_str()
        .expect("message")
        .contains("max_queue_per_device"));
    assert_eq!(drain_envelopes(&s, &bob).await.len(), 2);
    let r = carrier_send(&s, "+12025550102", &bob.handle, "room again").await;
    assert_eq!(r.status, 202, "{}", r.body);
}

// ---- Defect 5: X-Forwarded-For ----

fn behind_one_proxy(c: &mut Config) {
    c.connections.trust_forwarded_for = true;
    c.connections.trusted_proxies = 1;
}

fn message_of(r: &Resp) -> &str {
    r.body["message"].as_str().unwrap_or_default()
}

/// A login with a wrong code from client address `from`.
async fn wrong_login(s: &Server, from: &str, handle: &str) -> Resp {
    call_from(
        s,
        Some(from),
        "POST",
        "/v1/devices",
        None,
        Some(json!({"handle": handle, "code": "000000", "device_name": "x"})),
    )
    .await
}

/// A handle add with a wrong code from client address `from`.
async fn wrong_add(s: &Server, from: &str, token: &str) -> Resp {
    call_from(
        s,
        Some(from),
        "POST",
        "/v1/handles",
        Some(token),
        Some(json!({"handle": "z@example.org", "code": "000000"})),
    )
    .await
}

/// A wrong code on the `/deregister` page from client address `from`; its
/// status.
async fn wrong_deregister(s: &Server, from: &str) -> u16 {
    let client = common::http();
    let start = client
        .get(format!("{}/deregister", s.url))
        .header("x-forwarded-for", from)
        .send()
        .await
        .expect("page");
    let cookie = start
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a CSRF cookie")
        .to_string();
    let html = start.text().await.expect("html");
    let at = html.find("name=\"csrf\" value=\"").expect("token") + 19;
    let token = &html[at..at + html[at..].find('"').expect("end")];
    client
        .post(format!("{}/deregister/confirm", s.url))
        .header("x-forwarded-for", from)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&number=%2B12025550109&code=000000"))
        .send()
        .await
        .expect("confirm")
        .status()
        .as_u16()
}

#[tokio::test]
async fn clients_behind_one_proxy_do_not_share_a_limit() {
    let s = start(|c| {
        behind_one_proxy(c);
        c.codes.code_checks_per_address_per_hour = 2;
    })
    .await;
    let owner = common::register_from(&s, "192.0.2.50", "a@example.org").await;
    // Client A uses up its code checks, by login, handle add and the
    // deregistration page alike.
    let a = "198.51.100.1";
    assert_eq!(wrong_login(&s, a, "a@example.org").await.status, 403);
    assert_eq!(wrong_add(&s, a, &owner.token).await.status, 403);
    let r = wrong_login(&s, a, "a@example.org").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(message_of(&r).contains("code_checks_per_address_per_hour"));
    assert_eq!(wrong_add(&s, a, &owner.token).await.status, 429);
    assert_eq!(wrong_deregister(&s, a).await, 429);
    // Client B, behind the same proxy (the same socket address), is not
    // held back by A.
    let b = "198.51.100.2";
    assert_eq!(wrong_login(&s, b, "a@example.org").await.status, 403);
    assert_eq!(wrong_add(&s, b, &owner.token).await.status, 403);
    assert_eq!(wrong_deregister(&s, "198.51.100.3").await, 403);
}

#[tokio::test]
async fn a_spoofed_left_most_entry_does_not_escape_the_limit() {
    let s = start(|c| {
        behind_one_proxy(c);
        c.codes.code_sends_per_address_per_hour = 2;
        c.codes.code_checks_per_address_per_hour = 2;
    })
    .await;
    // The client writes its own X-Forwarded-For, a new address each time;
    // the proxy appends the address the request really came from.
    let spoofed = |i: u32| format!("203.0.113.{i}, 10.9.9.{i}, 198.51.100.7");
    for i in 0..2 {
        let handle = format!("h{i}@example.org");
        request_code(&s, Some(&spoofed(i)), &handle)
            .await
            .unwrap_or_else(|r| panic!("{} {}", r.status, r.body));
    }
    let refused = request_code(&s, Some(&spoofed(2)), "h2@example.org")
        .await
        .expect_err("the third code request from one client");
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(message_of(&refused).contains("code_sends_per_address_per_hour"));
    for i in 0..2 {
        assert_eq!(
            wrong_login(&s, &spoofed(i), "h0@example.org").await.status,
            403
        );
    }
    assert_eq!(
        wrong_login(&s, &spoofed(9), "h0@example.org").await.status,
        429
    );
    // Another client of the proxy still gets codes.
    got(
        request_code(&s, Some("203.0.113.1, 198.51.100.8"), "h2@example.org").await,
        "another client",
    );
}

#[tokio::test]
async fn with_two_proxies_the_second_entry_from_the_right_counts() {
    let s = start(|c| {
        c.connections.trust_forwarded_for = true;
        c.connections.trusted_proxies = 2;
        c.codes.code_sends_per_address_per_hour = 1;
    })
    .await;
    // client, outer proxy (written by the inner one).
    got(
        request_code(
            &s,
            Some("203.0.113.1, 198.51.100.1, 192.0.2.1"),
            "a@example.org",
        )
        .await,
        "first",
    );
    let r = request_code(
        &s,
        Some("203.0.113.2, 198.51.100.1, 192.0.2.1"),
        "b@example.org",
    )
    .await
    .expect_err("same client");
    assert_eq!(r.status, 429);
    got(
        request_code(&s, Some("198.51.100.2, 192.0.2.1"), "b@example.org").await,
        "another client",
    );
}

// ---- Defect 9: code lockout ----

/// Asks for a code from `from`, solving the proof of work the server asks
/// for; the code, or the refusal that was not a proof of work.
async fn code_with_work(s: &Server, from: &str, handle: &str) -> Result<String, Resp> {
    let refused = match request_code(s, Some(from), handle).await {
        Ok(code) => return Ok(code),
        Err(r) => r,
    };
    if refused.status != 428 {
        return Err(refused);
    }
    let pow = &refused.body["pow"];
    let challenge = pow["challenge"].as_str().expect("challenge").to_string();
    let bits = pow["bits"].as_u64().expect("bits") as u32;
    let nonce = tidings_proto::pow::solve(&challenge, bits).expect("solvable");
    let r = call_from(
        s,
        Some(from),
        "POST",
        "/v1/codes",
        None,
        Some(json!({"handle": handle, "pow": {"challenge": challenge, "nonce": nonce}})),
    )
    .await;
    if r.status != 202 {
        return Err(r);
    }
    Ok(latest_code(s, r.body["handle"].as_str().expect("handle")).await)
}

#[tokio::test]
async fn strangers_asking_for_codes_do_not_lock_the_owner_out() {
    let s = start(|c| {
        behind_one_proxy(c);
        c.spam.pow_bits = 8;
    })
    .await;
    let owner = "+12025550150";
    // Five strangers, five addresses, five codes to the owner's number.
    for i in 1..=5 {
        request_code(&s, Some(&format!("203.0.113.{i}")), owner)
            .await
            .unwrap_or_else(|r| panic!("stranger {i}: {} {}", r.status, r.body));
    }
    // The owner, from their own address, is asked for a proof of work
    // (not refused), and after solving it gets a code that works.
    let home = "198.51.100.77";
    let asked = request_code(&s, Some(home), owner)
        .await
        .expect_err("past the threshold");
    assert_eq!(asked.status, 428, "{}", asked.body);
    assert_eq!(asked.body["error"], "proof_of_work_required");
    let code = got(
        code_with_work(&s, home, owner).await,
        "a code after the work",
    );
    let r = call_from(
        &s,
        Some(home),
        "POST",
        "/v1/accounts",
        None,
        Some(json!({"handle": owner, "code": code, "device_name": "phone"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A sixth stranger is asked for work too.
    let r = request_code(&s, Some("203.0.113.6"), owner)
        .await
        .expect_err("past the threshold");
    assert_eq!(r.status, 428);
    // Other handles are not affected.
    got(
        request_code(&s, Some("203.0.113.6"), "+12025550151").await,
        "another number",
    );
}

#[tokio::test]
async fn a_solved_challenge_buys_one_code() {
    let s = start(|c| {
        behind_one_proxy(c);
        c.spam.pow_bits = 8;
        c.codes.code_sends_per_handle_per_hour = 0;
    })
    .await;
    let r = request_code(&s, Some("198.51.100.1"), "a@example.org")
        .await
        .expect_err("work first");
    let challenge = r.body["pow"]["challenge"].as_str().expect("challenge");
    let nonce = tidings_proto::pow::solve(challenge, 8).expect("solvable");
    let solved =
        json!({"handle": "a@example.org", "pow": {"challenge": challenge, "nonce": nonce}});
    for (from, status) in [
        ("198.51.100.1", 202),
        ("198.51.100.1", 428),
        ("198.51.100.2", 428),
    ] {
        let r = call_from(
            &s,
            Some(from),
            "POST",
            "/v1/codes",
            None,
            Some(solved.clone()),
        )
        .await;
        assert_eq!(r.status, status, "{}", r.body);
    }
}

#[tokio::test]
async fn codes_to_one_handle_are_capped_per_address_and_in_total() {
    let s = start(|c| {
        behind_one_proxy(c);
        c.spam.pow_bits = 8;
        c.codes.code_sends_per_handle_per_hour = 2;
        c.codes.code_sends_per_handle_max_per_hour = 4;
        c.codes.code_sends_per_handle_per_address_per_hour = 2;
    })
    .await;
    let h = "a@example.org";
    got(code_with_work(&s, "203.0.113.1", h).await, "1");
    got(code_with_work(&s, "203.0.113.1", h).await, "2");
    // One address cannot ask for more for this handle, work or not.
    let r = code_with_work(&s, "203.0.113.1", h)
        .await
        .expect_err("pair");
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(message_of(&r).contains("code_sends_per_handle_per_address_per_hour"));
    // Others can, with work, up to the cap that bounds the handle's cost.
    got(code_with_work(&s, "203.0.113.2", h).await, "3, with work");
    got(code_with_work(&s, "203.0.113.3", h).await, "4, with work");
    let r = code_with_work(&s, "203.0.113.4", h).await.expect_err("cap");
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(message_of(&r).contains("code_sends_per_handle_max_per_hour"));
    assert!(r.body["retry_after_secs"].as_u64().expect("retry") > 0);
    s.clock.advance(3_600_000);
    got(code_with_work(&s, "203.0.113.4", h).await, "a new hour");
}
