//! The `/deregister` page: removing a phone number from Tidings in a web
//! browser.
//!
//! Someone who moved to a phone without Tidings, or lost the device that was
//! registered, has no working `tidings` profile to run `tidings handles
//! remove` from; without this page, messages to their number would keep
//! waiting for a device that never comes back. The page proves control of
//! the number with a code sent to it by SMS, then unbinds the number exactly
//! as `tidings handles remove` does: at once, from its account and so from
//! every device, with every waiting message handed back to its sender to be
//! re-sent as SMS.
//!
//! The pages are server-rendered HTML forms that work without JavaScript.
//! They never reveal whether a number was registered: a code is sent either
//! way (within the same per-number and per-address limits as `POST
//! /v1/codes`; a form cannot solve a proof of work, so past
//! `code_sends_per_handle_per_hour` it waits instead), every answer is the
//! same, and a right code for a number that
//! is not on Tidings leads to the same final page. Codes are sent for the
//! [`CodePurpose::Deregister`] purpose, so they cannot be used to log in.
//! Every form carries a CSRF token, an HMAC of a short-lived cookie under the
//! server secret.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use tidings_proto::{Handle, CODE_DIGITS};

use crate::clock::Millis;
use crate::error::ApiError;
use crate::service::accounts::{self, CodePurpose, Work};
use crate::service::address::ClientAddr;
use crate::store::Redeemed;
use crate::web::html::escape;
use crate::App;

/// Most bytes of a form body. The forms hold a phone number, a code and a
/// token, so anything bigger is not from these pages.
pub const MAX_FORM_BYTES: usize = 4 * 1024;

/// How long a CSRF cookie, and the token bound to it, is accepted: a form
/// left open longer is refused with an explanation and must be reloaded.
pub const CSRF_TTL_SECS: u64 = 60 * 60;

/// A page rendered with a CSRF cookie older than this comes with a fresh
/// cookie, so that every form shown stays valid for at least
/// `CSRF_TTL_SECS - CSRF_RENEW_AFTER_SECS`.
pub const CSRF_RENEW_AFTER_SECS: u64 = 30 * 60;

/// Name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "tidings_csrf";

/// Random bytes in a CSRF cookie.
const CSRF_NONCE_BYTES: usize = 16;

/// Domain separation of CSRF tokens from every other use of the secret.
const CSRF_LABEL: &[u8] = b"tidings-deregister-csrf-v1:";

/// Where the pages are served.
const START: &str = "/deregister";
const SEND: &str = "/deregister/code";
const CONFIRM: &str = "/deregister/confirm";

/// What the pages may load: nothing but their own inline style, and forms
/// may only post back here. They cannot be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;font-size:1.1rem;line-height:1.5;\
     color:#0b0c0c;max-width:40rem;margin:2rem auto;padding:0 1rem}\
     label{display:block;font-weight:bold;margin-top:1rem}\
     .hint{color:#505a5f;margin:.2rem 0}\
     .error-message{color:#b00020;font-weight:bold;margin:.2rem 0}\
     input[type=tel],input[type=text]{font-size:1.2rem;padding:.4rem;border:2px solid #0b0c0c;\
     width:100%;max-width:16rem;box-sizing:border-box}\
     input[aria-invalid=true]{border:3px solid #b00020}\
     button{font-size:1.1rem;padding:.5rem 1rem;margin-top:1rem;cursor:pointer}\
     .secondary{background:#f3f2f1;border:2px solid #505a5f}\
     a:focus,input:focus,button:focus{outline:3px solid #fd0;outline-offset:0;\
     box-shadow:0 0 0 5px #0b0c0c}\
     .summary{border:4px solid #b00020;padding:0 1rem;margin:1rem 0}\
     .summary a{color:#b00020;font-weight:bold}\
     .visually-hidden{position:absolute;width:1px;height:1px;margin:0;padding:0;\
     overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}";

/// The routes of the page; [`crate::http::router`] merges them in.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(START, get(start))
        .route(SEND, get(back_to_start).post(send_code))
        .route(CONFIRM, get(back_to_start).post(confirm))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
}

/// The form of the first page (public so that `fuzz/` can decode
/// untrusted bodies into it).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NumberForm {
    csrf: String,
    number: String,
}

/// The form of the code page (public so that `fuzz/` can decode
/// untrusted bodies into it).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    csrf: String,
    number: String,
    code: String,
}

/// What every form of these pages carries.
trait PostedForm {
    /// The CSRF token and the phone number as typed.
    fn csrf_and_number(&self) -> (&str, &str);
}

impl PostedForm for NumberForm {
    fn csrf_and_number(&self) -> (&str, &str) {
        (&self.csrf, &self.number)
    }
}

impl PostedForm for CodeForm {
    fn csrf_and_number(&self) -> (&str, &str) {
        (&self.csrf, &self.number)
    }
}

/// `GET /deregister`: the form asking for the phone number.
async fn start(State(app): State<Arc<App>>, headers: HeaderMap) -> Page {
    let csrf = Csrf::for_page(&app, &headers, app.now());
    number_page(csrf, "", None)
}

/// `GET` of a form's target (a bookmark, a reload): back to the start.
async fn back_to_start() -> Redirect {
    Redirect::to(START)
}

/// `POST /deregister/code`: sends a code to the number, registered or not.
async fn send_code(
    State(app): State<Arc<App>>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<NumberForm>, FormRejection>,
) -> Page {
    let now = app.now();
    let (_, csrf, handle) = match accept_post(&app, &headers, form, now) {
        Ok(accepted) => accepted,
        Err(page) => return page,
    };
    match accounts::deliver_code(&app, ip, &handle, CodePurpose::Deregister, Work::Form).await {
        Ok(_) => code_page(&app, csrf, &handle, None),
        Err(e) => trouble(e),
    }
}

/// `POST /deregister/confirm`: checks the code and unbinds the number.
async fn confirm(
    State(app): State<Arc<App>>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<CodeForm>, FormRejection>,
) -> Page {
    let now = app.now();
    let (form, csrf, handle) = match accept_post(&app, &headers, form, now) {
        Ok(accepted) => accepted,
        Err(page) => return page,
    };
    let code: String = form
        .code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        let message = format!("Enter the {CODE_DIGITS} digits from the text message.");
        return code_page(&app, csrf, &handle, Some(message));
    }
    let outcome = accounts::deregister(&app, ip, &handle, &code).await;
    match outcome {
        Ok(Redeemed::Unbound { .. }) => done_page(&handle),
        Ok(Redeemed::NotRegistered) => done_page(&handle),
        Ok(Redeemed::NoCode) => code_page(
            &app,
            csrf,
            &handle,
            Some(
                "This code no longer works: it has run out of time, was already used, or had too \
                 many wrong tries. Send a new code."
                    .into(),
            ),
        ),
        Ok(Redeemed::WrongCode { tries_left: 0 }) => code_page(
            &app,
            csrf,
            &handle,
            Some("That code is not right, and that was the last try. Send a new code.".into()),
        ),
        Ok(Redeemed::WrongCode { tries_left }) => {
            let times = if tries_left == 1 { "time" } else { "times" };
            let message = format!(
                "That code is not right. Check it and try again ({tries_left} more {times})."
            );
            code_page(&app, csrf, &handle, Some(message))
        }
        Ok(other) => {
            tracing::error!(?other, "unexpected outcome of a deregistration code");
            trouble(ApiError::Internal)
        }
        Err(e) => trouble(e),
    }
}

/// Reads the number as typed, or says in plain words what is wrong with it.
/// The steps both forms start with: a form that parses, a CSRF token that
/// belongs to the request's cookie, and a phone number. Returns the form,
/// the CSRF token for the next page and the number, or the page to answer
/// with instead.
fn accept_post<F: PostedForm>(
    app: &App,
    headers: &HeaderMap,
    form: Result<Form<F>, FormRejection>,
    now: Millis,
) -> Result<(F, Csrf, Handle), Page> {
    let Form(form) = form.map_err(|rejection| form_rejected(&rejection))?;
    let (token, number) = form.csrf_and_number();
    if !Csrf::accepts(app, headers, token, now) {
        return Err(csrf_refused());
    }
    let csrf = Csrf::for_page(app, headers, now);
    match read_number(app, number) {
        Ok(handle) => Ok((form, csrf, handle)),
        Err(message) => Err(number_page(csrf, number, Some(message))),
    }
}

fn read_number(app: &App, typed: &str) -> Result<Handle, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err("Enter your phone number.".into());
    }
    match accounts::parse_handle(app, typed) {
        Ok(handle) if handle.is_phone() => Ok(handle),
        Ok(_) => Err(
            "Enter a phone number. This page removes phone numbers only; to remove an \
                      e-mail address, use the Tidings app on one of your devices."
                .into(),
        ),
        Err(_) => Err(
            "Enter a phone number we can read, with its country code, for example +1 202 555 0102."
                .into(),
        ),
    }
}

/// A CSRF token for the forms of a page, and the cookie it is bound to when
/// that cookie is new.
struct Csrf {
    token: String,
    set_cookie: Option<String>,
}

impl Csrf {
    /// The request's own cookie when it is valid and fresh enough, else a
    /// new one.
    fn for_page(app: &App, headers: &HeaderMap, now: Millis) -> Csrf {
        let renew_ms = CSRF_RENEW_AFTER_SECS * 1000;
        if let Some(cookie) = cookies(headers)
            .find(|c| cookie_issued_at(c).is_some_and(|at| at <= now && now - at < renew_ms))
        {
            return Csrf {
                token: csrf_token(app, cookie),
                set_cookie: None,
            };
        }
        let mut nonce = [0u8; CSRF_NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let cookie = format!("{now}.{}", hex::encode(nonce));
        // Behind HTTPS the cookie must never travel over plain HTTP; a
        // server reached over plain HTTP (the embedded default on a laptop)
        // could not set a `Secure` cookie at all.
        let secure = if app.config.public_base().starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        Csrf {
            token: csrf_token(app, &cookie),
            set_cookie: Some(format!(
                "{CSRF_COOKIE}={cookie}; Path={START}; Max-Age={CSRF_TTL_SECS}; HttpOnly; SameSite=Strict{secure}"
            )),
        }
    }

    /// True when `token` belongs to a CSRF cookie of the request that has
    /// not expired.
    fn accepts(app: &App, headers: &HeaderMap, token: &str, now: Millis) -> bool {
        let ttl_ms = CSRF_TTL_SECS * 1000;
        cookies(headers).any(|cookie| {
            cookie_issued_at(cookie).is_some_and(|at| at <= now && now - at < ttl_ms)
                && bool::from(csrf_token(app, cookie).as_bytes().ct_eq(token.as_bytes()))
        })
    }

    fn hidden_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            escape(&self.token)
        )
    }
}

/// The values of the request's CSRF cookies (a browser may send several);
/// public so that `fuzz/` can feed it untrusted headers.
pub fn cookies(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == CSRF_COOKIE)
        .map(|(_, value)| value)
}

/// When a well-formed cookie value (`ISSUED_MS.NONCE_HEX`) was issued;
/// public so that `fuzz/` can feed it untrusted values.
pub fn cookie_issued_at(value: &str) -> Option<Millis> {
    let (at, nonce) = value.split_once('.')?;
    let well_formed = nonce.len() == 2 * CSRF_NONCE_BYTES
        && nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed || at.is_empty() || !at.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    at.parse().ok()
}

/// The token bound to a cookie: HMAC-SHA-256 of it under the server secret.
fn csrf_token(app: &App, cookie: &str) -> String {
    let mut message = CSRF_LABEL.to_vec();
    message.extend_from_slice(cookie.as_bytes());
    hex::encode(hmac_sha256(&app.secret, &message))
}

/// HMAC-SHA-256 (RFC 2104) for keys of at most one block.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    assert!(key.len() <= BLOCK, "HMAC keys here are at most one block");
    let mut inner_pad = [0x36u8; BLOCK];
    let mut outer_pad = [0x5cu8; BLOCK];
    for (i, k) in key.iter().enumerate() {
        inner_pad[i] ^= k;
        outer_pad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// One HTML answer.
struct Page {
    status: StatusCode,
    title: String,
    main: String,
    error: bool,
    set_cookie: Option<String>,
    retry_after_secs: Option<u64>,
}

impl Page {
    fn new(status: StatusCode, title: &str, main: String) -> Page {
        Page {
            status,
            title: title.to_string(),
            main,
            error: false,
            set_cookie: None,
            retry_after_secs: None,
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let title = if self.error {
            format!("Error: {}", self.title)
        } else {
            self.title
        };
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{} – Tidings</title><style>{STYLE}</style></head>\
             <body><main>{}</main></body></html>",
            escape(&title),
            self.main
        );
        let mut response = (self.status, Html(html)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(cookie) = self.set_cookie {
            headers.insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).expect("the cookie is made of ASCII digits and hex"),
            );
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The list of problems at the top of a page, each linking to its field.
fn error_summary(field: &str, message: &str) -> String {
    format!(
        "<div class=\"summary\" role=\"alert\" aria-labelledby=\"summary-title\">\
         <h2 id=\"summary-title\">There is a problem</h2>\
         <ul><li><a href=\"#{field}\">{}</a></li></ul></div>",
        escape(message)
    )
}

/// A labelled text field with its hint and, when there is one, its error,
/// both tied to the input with `aria-describedby`.
fn text_field(
    id: &str,
    label: &str,
    hint: &str,
    attributes: &str,
    value: &str,
    error: Option<&str>,
) -> String {
    let (described_by, error_html, invalid) = match error {
        Some(message) => (
            format!("{id}-hint {id}-error"),
            format!(
                "<p class=\"error-message\" id=\"{id}-error\">\
                 <span class=\"visually-hidden\">Error: </span>{}</p>",
                escape(message)
            ),
            " aria-invalid=\"true\"",
        ),
        None => (format!("{id}-hint"), String::new(), ""),
    };
    format!(
        "<label for=\"{id}\">{label}</label><p class=\"hint\" id=\"{id}-hint\">{hint}</p>\
         {error_html}<input id=\"{id}\" name=\"{id}\" {attributes} value=\"{}\" \
         aria-describedby=\"{described_by}\"{invalid}>",
        escape(value)
    )
}

/// Step 1: the number.
fn number_page(csrf: Csrf, typed: &str, error: Option<String>) -> Page {
    let summary = error
        .as_deref()
        .map(|m| error_summary("number", m))
        .unwrap_or_default();
    let field = text_field(
        "number",
        "Phone number",
        "Include the country code, for example +1 202 555 0102.",
        "type=\"tel\" autocomplete=\"tel\" spellcheck=\"false\"",
        typed,
        error.as_deref(),
    );
    let main = format!(
        "<h1>Remove your phone number from Tidings</h1>{summary}\
         <p>Use this page if you moved to a phone without Tidings, or no longer have the device \
         you used Tidings on. Once your number is removed, messages to it arrive as ordinary \
         text messages again, and messages still waiting for you are sent to it as text \
         messages.</p>\
         <p>We will send a code to the number by text message, to check that it is yours.</p>\
         <form method=\"post\" action=\"{SEND}\" novalidate>{}{field}\
         <div><button type=\"submit\">Send me a code</button></div></form>",
        csrf.hidden_field()
    );
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut page = Page::new(status, "Remove your phone number", main);
    page.error = error.is_some();
    page.set_cookie = csrf.set_cookie;
    page
}

/// Step 2: the code, with a way to ask for a new one.
fn code_page(app: &App, csrf: Csrf, handle: &Handle, error: Option<String>) -> Page {
    let number = escape(handle.as_str());
    let minutes = app.config.codes.code_ttl_minutes;
    let summary = error
        .as_deref()
        .map(|m| error_summary("code", m))
        .unwrap_or_default();
    let field = text_field(
        "code",
        "Code",
        &format!("The {CODE_DIGITS} digits from the text message."),
        "type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" spellcheck=\"false\"",
        "",
        error.as_deref(),
    );
    let hidden = format!(
        "{}<input type=\"hidden\" name=\"number\" value=\"{number}\">",
        csrf.hidden_field()
    );
    let main = format!(
        "<h1>Enter the code we sent</h1>{summary}\
         <p>If {number} can receive text messages, we have sent a code to it. The code has \
         {CODE_DIGITS} digits and works for {minutes} minutes.</p>\
         <p>When you enter it, {number} is removed from Tidings at once, on every device.</p>\
         <form method=\"post\" action=\"{CONFIRM}\" novalidate>{hidden}{field}\
         <div><button type=\"submit\">Remove my number</button></div></form>\
         <h2>No text message?</h2>\
         <p>Text messages can take a few minutes. A new code replaces the old one.</p>\
         <form method=\"post\" action=\"{SEND}\">{hidden}\
         <button type=\"submit\" class=\"secondary\">Send a new code</button></form>\
         <p><a href=\"{START}\">Use a different number</a></p>"
    );
    let status = if error.is_some() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    let mut page = Page::new(status, "Enter the code we sent", main);
    page.error = error.is_some();
    page.set_cookie = csrf.set_cookie;
    page
}

/// Step 3: the same for a number that was registered and one that was not.
fn done_page(handle: &Handle) -> Page {
    let number = escape(handle.as_str());
    let main = format!(
        "<h1>Your number is not on Tidings any more</h1>\
         <p>{number} is no longer linked to a Tidings account, on any device.</p>\
         <p>Messages that were waiting for it will be sent to it as text messages, and new \
         messages to it will arrive as text messages too.</p>\
         <p>To use Tidings with this number again, register it again in the Tidings app.</p>"
    );
    Page::new(
        StatusCode::OK,
        "Your number is not on Tidings any more",
        main,
    )
}

/// A form without a valid CSRF token.
fn csrf_refused() -> Page {
    let main = format!(
        "<h1>This form has expired</h1>\
         <p>To keep your number safe, we could not accept this form. This happens when the page \
         was open for more than {} minutes, when your browser blocks cookies, or when the form \
         was sent from another website.</p>\
         <p><a href=\"{START}\">Start again</a></p>",
        CSRF_TTL_SECS / 60
    );
    let mut page = Page::new(StatusCode::FORBIDDEN, "This form has expired", main);
    page.error = true;
    page
}

/// A body that is not one of the forms (too large, wrong type, malformed).
fn form_rejected(rejection: &FormRejection) -> Page {
    let main = format!(
        "<h1>We could not read this form</h1>\
         <p>The form was too large or not sent the way this page sends it.</p>\
         <p><a href=\"{START}\">Start again</a></p>"
    );
    let mut page = Page::new(rejection.status(), "We could not read this form", main);
    page.error = true;
    page
}

/// Rate limits, an unreachable SMS gateway, and failures on our side.
fn trouble(e: ApiError) -> Page {
    let mut page = match e {
        ApiError::Limit {
            retry_after_secs, ..
        } => {
            let secs = retry_after_secs.unwrap_or(60 * 60);
            let minutes = secs.div_ceil(60).max(1);
            let unit = if minutes == 1 { "minute" } else { "minutes" };
            let main = format!(
                "<h1>Please wait before trying again</h1>\
                 <p>There have been too many tries for this number or from your network.</p>\
                 <p>Try again in {minutes} {unit}.</p>\
                 <p><a href=\"{START}\">Start again</a></p>"
            );
            let mut page = Page::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Please wait before trying again",
                main,
            );
            page.retry_after_secs = Some(secs);
            page
        }
        ApiError::Unavailable(_) => Page::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "We could not send a text message",
            format!(
                "<h1>We could not send a text message</h1>\
                 <p>Sending text messages is not working right now. Try again in a few \
                 minutes.</p><p><a href=\"{START}\">Start again</a></p>"
            ),
        ),
        _ => Page::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            format!(
                "<h1>Something went wrong</h1>\
                 <p>Something went wrong on our side. Nothing was changed. Try again in a few \
                 minutes.</p><p><a href=\"{START}\">Start again</a></p>"
            ),
        ),
    };
    page.error = true;
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(&[0x0b; 20], b"Hi There");
        assert_eq!(
            hex::encode(mac),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn only_well_formed_cookies_have_an_issue_time() {
        let nonce = "0123456789abcdef0123456789abcdef";
        assert_eq!(cookie_issued_at(&format!("42.{nonce}")), Some(42));
        assert_eq!(cookie_issued_at(nonce), None);
        assert_eq!(cookie_issued_at(&format!(".{nonce}")), None);
        assert_eq!(cookie_issued_at(&format!("+4.{nonce}")), None);
        assert_eq!(
            cookie_issued_at("42.0123456789ABCDEF0123456789ABCDEF"),
            None
        );
        assert_eq!(cookie_issued_at("42.0123"), None);
    }

    #[test]
    fn fields_escape_what_was_typed_and_tie_errors_to_the_input() {
        let html = text_field(
            "number",
            "Phone number",
            "hint",
            "type=\"tel\"",
            "\"><script>",
            Some("<bad>"),
        );
        assert!(
            html.contains("value=\"&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );
        assert!(html.contains("&lt;bad&gt;"), "{html}");
        assert!(
            html.contains("aria-describedby=\"number-hint number-error\" aria-invalid=\"true\""),
            "{html}"
        );
        assert!(!html.contains("<script>"));
    }
}
