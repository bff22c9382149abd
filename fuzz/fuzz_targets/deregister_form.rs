//! The `/deregister` pages' untrusted input in tidings-server: the two
//! posted forms, decoded by axum's `Form` extractor exactly as the handlers
//! receive them, and the CSRF cookie header, split by `cookies` and read by
//! `cookie_issued_at`. Input: the first byte picks the form; up to the
//! first NUL is the Cookie header, the rest the body.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header::{HeaderMap, HeaderValue, CONTENT_TYPE, COOKIE};
use axum::Form;
use libfuzzer_sys::fuzz_target;
use tidings_server::web::deregister::{cookie_issued_at, cookies, CodeForm, NumberForm};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (cookie, body) = match rest.iter().position(|&b| b == 0) {
        Some(nul) => (&rest[..nul], &rest[nul + 1..]),
        None => (&[][..], rest),
    };

    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(cookie) {
        headers.append(COOKIE, value);
    }
    for value in cookies(&headers) {
        if let Some(at) = cookie_issued_at(value) {
            let (digits, nonce) = value.split_once('.').expect("a dot");
            assert_eq!(digits.parse::<u64>().ok(), Some(at));
            assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    let request = || {
        Request::builder()
            .method("POST")
            .uri("/deregister/confirm")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_vec()))
            .expect("a request")
    };
    runtime().block_on(async {
        if pick % 2 == 0 {
            let _ = Form::<NumberForm>::from_request(request(), &()).await;
        } else {
            let _ = Form::<CodeForm>::from_request(request(), &()).await;
        }
    });
});
