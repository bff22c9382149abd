//! Security headers on every answer.
//!
//! Browsers reach a few pages of this server (`/`, `/carrier`,
//! `/deregister`, download links `/l/{token}`) and could be pointed at any
//! other URL. Every answer therefore says: do not guess content types, send
//! no referrer onwards, never show this in a frame; and HTML pages may load
//! nothing but their own inline style. Headers a handler set itself (the
//! deregistration pages' form policy, the download links' sandbox) are
//! kept: this only fills in what is missing.

use axum::http::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::StatusCode;
use axum::response::Response;

/// The policy of an HTML page that sets none: no scripts, images, fonts
/// or connections; its own inline style; no forms; no framing.
pub const HTML_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of every other answer (JSON, files): nothing at all, should a
/// browser ever render one.
pub const OTHER_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers an answer lacks.
pub fn add_missing(status: StatusCode, headers: &mut HeaderMap) {
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return; // A WebSocket handshake, not a document.
    }
    let html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = if html { HTML_POLICY } else { OTHER_POLICY };
    let wanted: [(HeaderName, &'static str); 4] = [
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
        (X_FRAME_OPTIONS, "DENY"),
        (CONTENT_SECURITY_POLICY, policy),
    ];
    for (name, value) in wanted {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// Middleware form of [`add_missing`].
pub async fn secure(mut response: Response) -> Response {
    let status = response.status();
    add_missing(status, response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_only_what_is_missing() {
        let mut html = HeaderMap::new();
        html.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        add_missing(StatusCode::OK, &mut html);
        assert_eq!(html[CONTENT_SECURITY_POLICY], HTML_POLICY);
        assert_eq!(html[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(html[REFERRER_POLICY], "no-referrer");
        assert_eq!(html[X_FRAME_OPTIONS], "DENY");

        let mut own = HeaderMap::new();
        own.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        );
        add_missing(StatusCode::OK, &mut own);
        assert_eq!(own[CONTENT_SECURITY_POLICY], "sandbox; default-src 'none'");
        assert_eq!(own.get_all(CONTENT_SECURITY_POLICY).iter().count(), 1);
        assert_eq!(own[X_FRAME_OPTIONS], "DENY");

        let mut json = HeaderMap::new();
        add_missing(StatusCode::NOT_FOUND, &mut json);
        assert_eq!(json[CONTENT_SECURITY_POLICY], OTHER_POLICY);

        let mut upgrade = HeaderMap::new();
        add_missing(StatusCode::SWITCHING_PROTOCOLS, &mut upgrade);
        assert!(upgrade.is_empty());
    }
}
