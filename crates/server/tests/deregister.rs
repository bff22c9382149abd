//! Integration tests of the `/deregister` page: a real server on an
//! ephemeral port with a manual clock, driven like a browser without
//! JavaScript (form posts, the CSRF cookie kept by hand).

use serde_json::{json, Value};

mod common;

use common::{latest_code, start, Server};

/// A JSON API call; a null `body` sends none.
async fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let r = common::call(
        server,
        method,
        path,
        token,
        (!body.is_null()).then_some(body),
    )
    .await;
    (r.status, r.body)
}

/// The texts the simulated carrier delivered to a number, oldest first.
async fn inbox(server: &Server, number: &str) -> Vec<String> {
    let (status, body) = call(
        server,
        "GET",
        &format!("/v1/carrier/{}", number.replace('+', "%2B")),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .expect("a list")
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_string())
        .collect()
}

/// Registers a handle through the API; returns the device token.
async fn register(server: &Server, handle: &str) -> String {
    common::register(server, handle).await.token
}

/// Whether the directory knows a number, as seen by a signed-in device.
async fn on_tidings(server: &Server, token: &str, number: &str) -> bool {
    let (status, body) = call(
        server,
        "POST",
        "/v1/directory",
        Some(token),
        json!({ "handles": [number] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    !body["found"].as_array().expect("found").is_empty()
}

/// One HTML answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Page {
    status: u16,
    body: String,
    set_cookie: Option<String>,
    location: Option<String>,
}

impl Page {
    /// The CSRF token of the page's forms.
    fn token(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("a CSRF field in {}", self.body))
            + "name=\"csrf\" value=\"".len();
        let len = self.body[at..].find('"').expect("end of the token");
        self.body[at..at + len].to_string()
    }

    fn says(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

/// A browser without JavaScript: it keeps the CSRF cookie and posts forms.
struct Browser {
    client: reqwest::Client,
    url: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(server: &Server) -> Browser {
        Browser {
            client: {
                common::tls();
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .expect("client")
            },
            url: server.url.clone(),
            cookie: None,
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", format!("tidings_csrf={c}")),
            None => req,
        };
        let resp = req.send().await.expect("request goes through");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().expect("ASCII header").to_string())
        };
        let set_cookie = header("set-cookie");
        let location = header("location");
        if let Some(c) = &set_cookie {
            let value = c
                .strip_prefix("tidings_csrf=")
                .and_then(|rest| rest.split(';').next())
                .expect("the CSRF cookie");
            self.cookie = Some(value.to_string());
        }
        let status = resp.status().as_u16();
        Page {
            status,
            body: resp.text().await.expect("body"),
            set_cookie,
            location,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.url));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// Opens the page and asks for a code for `number`.
    async fn ask_code(&mut self, number: &str) -> Page {
        let page = self.get("/deregister").await;
        assert_eq!(page.status, 200);
        self.post(
            "/deregister/code",
            &[("csrf", &page.token()), ("number", number)],
        )
        .await
    }

    /// Enters a code on the code page.
    async fn enter_code(&mut self, code_page: &Page, number: &str, code: &str) -> Page {
        self.post(
            "/deregister/confirm",
            &[
                ("csrf", &code_page.token()),
                ("number", number),
                ("code", code),
            ],
        )
        .await
    }
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

const BOB: &str = "+12025550102";

#[tokio::test]
async fn the_page_works_without_javascript_and_is_accessible() {
    let s = start(|_| {}).await;
    let mut b = Browser::new(&s);
    let page = b.get("/deregister").await;
    assert_eq!(page.status, 200);
    let cookie = page.set_cookie.clone().expect("a CSRF cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/deregister",
        "Max-Age=3600",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP cannot keep it: {cookie}"
    );
    for needed in [
        "<html lang=\"en\">",
        "<form method=\"post\" action=\"/deregister/code\"",
        "<label for=\"number\">Phone number</label>",
        "<input id=\"number\" name=\"number\" type=\"tel\" autocomplete=\"tel\"",
        "aria-describedby=\"number-hint\"",
        "<button type=\"submit\">Send me a code</button>",
    ] {
        assert!(page.says(needed), "{needed} missing in {}", page.body);
    }
    assert_eq!(page.body.matches("<h1>").count(), 1);
    assert!(!page.says("<script"), "no JavaScript");
    assert!(!page.says("role=\"alert\""), "no error yet");
    // A second visit keeps the cookie, so other open tabs stay valid.
    let again = b.get("/deregister").await;
    assert_eq!(again.set_cookie, None);
    assert_eq!(again.token(), page.token());

    // Errors: a summary announced as an alert, linked to the field, and the
    // message tied to the input.
    let empty = b
        .post(
            "/deregister/code",
            &[("csrf", &page.token()), ("number", "")],
        )
        .await;
    assert_eq!(empty.status, 400);
    for needed in [
        "<title>Error: ",
        "role=\"alert\"",
        "<a href=\"#number\">Enter your phone number.</a>",
        "id=\"number-error\"",
        "aria-describedby=\"number-hint number-error\" aria-invalid=\"true\"",
    ] {
        assert!(empty.says(needed), "{needed} missing in {}", empty.body);
    }
    let mail = b
        .post(
            "/deregister/code",
            &[("csrf", &page.token()), ("number", "bob@example.org")],
        )
        .await;
    assert_eq!(mail.status, 400);
    assert!(mail.says("removes phone numbers only"), "{}", mail.body);
    // What was typed comes back escaped.
    let nasty = b
        .post(
            "/deregister/code",
            &[
                ("csrf", &page.token()),
                ("number", "\"><script>alert(1)</script>"),
            ],
        )
        .await;
    assert_eq!(nasty.status, 400);
    assert!(!nasty.says("<script>"), "{}", nasty.body);
    assert!(nasty.says("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));

    // The code step: labelled, hinted, with a way to ask again.
    let code_page = b
        .post(
            "/deregister/code",
            &[("csrf", &page.token()), ("number", "+1 (202) 555-0102")],
        )
        .await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    for needed in [
        "<label for=\"code\">Code</label>",
        "inputmode=\"numeric\" autocomplete=\"one-time-code\"",
        "aria-describedby=\"code-hint\"",
        "If +12025550102 can receive text messages, we have sent a code to it.",
        "<button type=\"submit\" class=\"secondary\">Send a new code</button>",
    ] {
        assert!(
            code_page.says(needed),
            "{needed} missing in {}",
            code_page.body
        );
    }
    assert_eq!(code_page.body.matches("<h1>").count(), 1);
    let text = inbox(&s, BOB).await;
    assert!(
        text.last().expect("a text").contains("remove this number"),
        "{text:?}"
    );
    let bad_shape = b.enter_code(&code_page, BOB, "12 34").await;
    assert_eq!(bad_shape.status, 403);
    assert!(bad_shape.says("<a href=\"#code\">Enter the 6 digits from the text message.</a>"));
    assert!(bad_shape.says("aria-describedby=\"code-hint code-error\" aria-invalid=\"true\""));

    // Following a form's address, or a reload after the fact, starts again.
    let back = b.get("/deregister/confirm").await;
    assert_eq!(back.status, 303);
    assert_eq!(back.location.as_deref(), Some("/deregister"));
}

#[tokio::test]
async fn the_right_code_unbinds_the_number_from_the_account_and_every_device() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    let bob = register(&s, BOB).await;
    // Bob's second device.
    call(&s, "POST", "/v1/codes", None, json!({ "handle": BOB })).await;
    let code = latest_code(&s, BOB).await;
    let (status, second) = call(
        &s,
        "POST",
        "/v1/devices",
        None,
        json!({ "handle": BOB, "code": code, "device_name": "second" }),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let bob2 = second["token"].as_str().expect("token").to_string();
    assert!(on_tidings(&s, &alice, BOB).await);

    let mut b = Browser::new(&s);
    let code_page = b.ask_code("(202) 555-0102").await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    let code = latest_code(&s, BOB).await;
    let done = b.enter_code(&code_page, BOB, &code).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.says("<h1>Your number is not on Tidings any more</h1>"));
    assert!(done.says("+12025550102 is no longer linked to a Tidings account"));

    assert!(
        !on_tidings(&s, &alice, BOB).await,
        "the directory forgot it"
    );
    for token in [&bob, &bob2] {
        let (status, handles) = call(&s, "GET", "/v1/handles", Some(token), Value::Null).await;
        assert_eq!(status, 200);
        assert_eq!(handles, json!([]), "no device has the number any more");
    }
    // The code is used up.
    let again = b.enter_code(&code_page, BOB, &code).await;
    assert_eq!(again.status, 403);
    assert!(again.says("This code no longer works"));
}

#[tokio::test]
async fn codes_are_for_one_purpose_only() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    register(&s, BOB).await;
    // A deregistration code does not log in...
    let mut b = Browser::new(&s);
    let code_page = b.ask_code(BOB).await;
    let code = latest_code(&s, BOB).await;
    let (status, body) = call(
        &s,
        "POST",
        "/v1/devices",
        None,
        json!({ "handle": BOB, "code": code, "device_name": "thief" }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // ...and a login code does not deregister.
    call(&s, "POST", "/v1/codes", None, json!({ "handle": BOB })).await;
    let login_code = latest_code(&s, BOB).await;
    let refused = b.enter_code(&code_page, BOB, &login_code).await;
    assert_eq!(refused.status, 403);
    assert!(refused.says("That code is not right"), "{}", refused.body);
    assert!(on_tidings(&s, &alice, BOB).await);
}

#[tokio::test]
async fn five_wrong_codes_void_the_code() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    register(&s, BOB).await;
    let mut b = Browser::new(&s);
    let code_page = b.ask_code(BOB).await;
    let code = latest_code(&s, BOB).await;
    for left in (0..5).rev() {
        let page = b.enter_code(&code_page, BOB, wrong(&code)).await;
        assert_eq!(page.status, 403);
        assert!(page.says("role=\"alert\""));
        if left == 0 {
            assert!(page.says("that was the last try"), "{}", page.body);
        } else {
            let times = if left == 1 { "time" } else { "times" };
            assert!(
                page.says(&format!("({left} more {times})")),
                "{}",
                page.body
            );
        }
    }
    let late = b.enter_code(&code_page, BOB, &code).await;
    assert_eq!(late.status, 403);
    assert!(late.says("This code no longer works"), "{}", late.body);
    assert!(on_tidings(&s, &alice, BOB).await, "still registered");
}

#[tokio::test]
async fn a_code_older_than_ten_minutes_is_refused() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    register(&s, BOB).await;
    let mut b = Browser::new(&s);
    let code_page = b.ask_code(BOB).await;
    assert!(code_page.says("works for 10 minutes"));
    let code = latest_code(&s, BOB).await;
    s.clock.advance(11 * 60 * 1000);
    let late = b.enter_code(&code_page, BOB, &code).await;
    assert_eq!(late.status, 403);
    assert!(late.says("This code no longer works"), "{}", late.body);
    assert!(on_tidings(&s, &alice, BOB).await, "still registered");
}

#[tokio::test]
async fn code_sends_are_limited_per_number_and_per_address_with_the_same_page() {
    // A form cannot solve a proof of work, so past the per-number threshold
    // it waits; refused requests count nothing.
    let s = start(|c| {
        c.codes.code_sends_per_handle_per_hour = 2;
        c.codes.code_sends_per_address_per_hour = 3;
    })
    .await;
    let mut b = Browser::new(&s);
    for _ in 0..2 {
        assert_eq!(b.ask_code(BOB).await.status, 200);
    }
    let per_number = b.ask_code(BOB).await;
    assert_eq!(per_number.status, 429, "{}", per_number.body);
    assert!(per_number.says("<h1>Please wait before trying again</h1>"));
    assert_eq!(inbox(&s, BOB).await.len(), 2, "no third code");
    assert_eq!(b.ask_code("+12025550103").await.status, 200);
    let per_address = b.ask_code("+12025550104").await;
    assert_eq!(per_address.status, 429);
    assert_eq!(
        per_number.body, per_address.body,
        "the same page either way"
    );
    // The hour passes.
    s.clock.advance(3_600_000);
    assert_eq!(b.ask_code("+12025550104").await.status, 200);
}

/// A page with the CSRF token and the number replaced by placeholders.
fn neutral(page: &Page, number: &str) -> (u16, String, bool) {
    let mut body = page.body.clone();
    if body.contains("name=\"csrf\"") {
        body = body.replace(&page.token(), "TOKEN");
    }
    (
        page.status,
        body.replace(number, "NUMBER"),
        page.set_cookie.is_some(),
    )
}

#[tokio::test]
async fn registered_and_unregistered_numbers_get_the_same_answers() {
    let s = start(|_| {}).await;
    register(&s, BOB).await;
    let nobody = "+12025550103";
    let mut steps = Vec::new();
    for number in [BOB, nobody] {
        let mut b = Browser::new(&s);
        let start = b.get("/deregister").await;
        let code_page = b
            .post(
                "/deregister/code",
                &[("csrf", &start.token()), ("number", number)],
            )
            .await;
        let code = latest_code(&s, number).await;
        let wrong_page = b.enter_code(&code_page, number, wrong(&code)).await;
        let done = b.enter_code(&code_page, number, &code).await;
        let used = b.enter_code(&code_page, number, &code).await;
        steps.push(
            [start, code_page, wrong_page, done, used]
                .iter()
                .map(|p| neutral(p, number))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(steps[0], steps[1]);
    assert_eq!(steps[0][3].0, 200);
    assert!(steps[0][3]
        .1
        .contains("NUMBER is no longer linked to a Tidings account"));
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let s = start(|_| {}).await;
    let alice = register(&s, "alice@example.org").await;
    register(&s, BOB).await;
    let sent_before = inbox(&s, BOB).await.len();
    let refused = |page: &Page| {
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.says("<h1>This form has expired</h1>"), "{}", page.body);
        assert!(page.says("<a href=\"/deregister\">Start again</a>"));
    };
    // No cookie, no token.
    let mut stranger = Browser::new(&s);
    refused(&stranger.post("/deregister/code", &[("number", BOB)]).await);
    // A cookie but no token, or a wrong one.
    let mut b = Browser::new(&s);
    let page = b.get("/deregister").await;
    refused(&b.post("/deregister/code", &[("number", BOB)]).await);
    refused(
        &b.post("/deregister/code", &[("csrf", "00ff"), ("number", BOB)])
            .await,
    );
    // A token without its cookie, or with another cookie.
    refused(
        &stranger
            .post(
                "/deregister/code",
                &[("csrf", &page.token()), ("number", BOB)],
            )
            .await,
    );
    let mut other = Browser::new(&s);
    other.get("/deregister").await;
    refused(
        &other
            .post(
                "/deregister/code",
                &[("csrf", &page.token()), ("number", BOB)],
            )
            .await,
    );
    // A forged cookie.
    let mut forger = Browser::new(&s);
    forger.cookie = Some(format!("{}.{}", u64::MAX / 2, "ab".repeat(16)));
    refused(
        &forger
            .post(
                "/deregister/code",
                &[("csrf", &page.token()), ("number", BOB)],
            )
            .await,
    );
    assert_eq!(inbox(&s, BOB).await.len(), sent_before, "no code was sent");
    // The confirmation form too, even with the right code.
    let code_page = b.ask_code(BOB).await;
    let code = latest_code(&s, BOB).await;
    refused(
        &b.post("/deregister/confirm", &[("number", BOB), ("code", &code)])
            .await,
    );
    // A form left open for more than an hour.
    s.clock.advance(61 * 60 * 1000);
    refused(&b.enter_code(&code_page, BOB, &code).await);
    assert!(on_tidings(&s, &alice, BOB).await, "still registered");
    // Not a form at all, or too large a one.
    let page = b.get("/deregister").await;
    assert!(page.set_cookie.is_some(), "a fresh cookie after an hour");
    let json = b
        .client
        .post(format!("{}/deregister/code", s.url))
        .json(&json!({ "number": BOB }))
        .send()
        .await
        .expect("sent");
    assert_eq!(json.status().as_u16(), 415);
    let huge = "1".repeat(8 * 1024);
    let too_large = b
        .post(
            "/deregister/code",
            &[("csrf", &page.token()), ("number", &huge)],
        )
        .await;
    assert_eq!(too_large.status, 413);
    assert!(too_large.says("We could not read this form"));
}

#[tokio::test]
async fn behind_https_the_csrf_cookie_is_secure() {
    let s = start(|c| c.public_url = "https://tidings.example".into()).await;
    let page = Browser::new(&s).get("/deregister").await;
    let cookie = page.set_cookie.expect("a CSRF cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}
