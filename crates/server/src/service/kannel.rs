//! Kannel's calls into the server: inbound SMS (`get-url`) and delivery
//! reports (`dlr-url`).
//!
//! Both carry the shared `kannel_secret` as a query parameter, compared in
//! constant time, so that nobody else can inject SMS or fake reports. The
//! query is parsed by hand because Kannel's `%b` (the message bytes) is not
//! always UTF-8, which a generic query extractor would mangle.

use std::collections::HashMap;

use subtle::ConstantTimeEq;
use tidings_sms::encoding::{decode_untyped, ucs2_decode, url_decode_bytes};
use tidings_sms::DlrStatus;

use crate::error::ApiError;
use crate::service::accounts::parse_handle;
use crate::service::sms::{self, MAX_INBOUND_TEXT_BYTES};
use crate::store::SmsResult;
use crate::App;

/// Longest query string Kannel may send, in bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Longest sender Kannel may report (a number or an alphanumeric name).
pub const MAX_SENDER_CHARS: usize = 32;

/// Query parameters as bytes.
pub type Params = HashMap<String, Vec<u8>>;

/// Splits Kannel's raw query into parameters, each value percent-decoded
/// to bytes (public so that `fuzz/` can feed it untrusted queries).
pub fn params(query: Option<String>) -> Result<Params, ApiError> {
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY_BYTES {
        return Err(ApiError::BadRequest(format!(
            "query longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let mut out = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = url_decode_bytes(value)
            .map_err(|e| ApiError::BadRequest(format!("parameter {key}: {e}")))?;
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

/// The parameter `key` as UTF-8 text; missing or not UTF-8 is a `400`
/// (public so that `fuzz/` can reach it).
pub fn text(params: &Params, key: &str) -> Result<String, ApiError> {
    let bytes = params
        .get(key)
        .ok_or_else(|| ApiError::BadRequest(format!("missing parameter {key}")))?;
    String::from_utf8(bytes.clone())
        .map_err(|_| ApiError::BadRequest(format!("parameter {key} is not UTF-8")))
}

/// Checks the shared secret; a wrong or missing one is `401`.
fn authorise(app: &App, params: &Params) -> Result<(), ApiError> {
    let expected = app.config.sms.kannel_secret.as_bytes();
    let given = params.get("secret").map(Vec::as_slice).unwrap_or_default();
    if app.config.sms.sms_gateway != crate::config::SmsGateway::Kannel
        || expected.is_empty()
        || !bool::from(given.ct_eq(expected))
    {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// `GET /v1/kannel/inbound?secret&from=%p&to=%P&coding=%c&bin=%b`: an SMS
/// from a phone. To a number on Tidings it reaches every device of that
/// account; to any other number it is dropped (and logged without content).
pub async fn inbound(app: &App, query: Option<String>) -> Result<(), ApiError> {
    let params = params(query)?;
    authorise(app, &params)?;
    let from = text(&params, "from")?;
    if from.is_empty() || from.chars().count() > MAX_SENDER_CHARS {
        return Err(ApiError::BadRequest(format!(
            "sender must be 1 to {MAX_SENDER_CHARS} characters"
        )));
    }
    let to = parse_handle(app, &text(&params, "to")?)?;
    if !to.is_phone() {
        return Err(ApiError::BadRequest("SMS go to phone numbers".into()));
    }
    let bytes = params
        .get("bin")
        .ok_or_else(|| ApiError::BadRequest("missing parameter bin".into()))?;
    if bytes.is_empty() || bytes.len() > MAX_INBOUND_TEXT_BYTES {
        return Err(ApiError::BadRequest(format!(
            "an SMS text is 1 to {MAX_INBOUND_TEXT_BYTES} bytes"
        )));
    }
    let coding = params.get("coding").map(Vec::as_slice).unwrap_or(b"0");
    let body = if coding == b"2" {
        ucs2_decode(bytes)
    } else {
        decode_untyped(bytes)
    }
    .map_err(|e| ApiError::BadRequest(format!("undecodable SMS: {e}")))?;
    // A number that is not (or no longer) on Tidings: nobody to tell.
    let from = parse_handle(app, &from)
        .map(|h| h.to_string())
        .unwrap_or(from);
    if !sms::inbound(app, &from, &to, &body).await? {
        tracing::info!("inbound SMS to a number not on Tidings dropped");
    }
    Ok(())
}

/// `GET /v1/kannel/dlr?secret&id&part&parts&type=%d&reply=%A`: a delivery
/// report for segment `part` of outbox SMS `id`. The SMS counts as delivered
/// when its last segment is; any failed segment fails it.
pub async fn dlr(app: &App, query: Option<String>) -> Result<(), ApiError> {
    let params = params(query)?;
    authorise(app, &params)?;
    let number = |key: &str| -> Result<i64, ApiError> {
        text(&params, key)?
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("parameter {key} is not a number")))
    };
    let (id, part, parts) = (number("id")?, number("part")?, number("parts")?);
    let status = u8::try_from(number("type")?)
        .ok()
        .and_then(DlrStatus::from_code)
        .ok_or_else(|| ApiError::BadRequest("unknown delivery report type".into()))?;
    let reply = text(&params, "reply").unwrap_or_default();
    let result = match status {
        DlrStatus::Delivered if part >= parts => SmsResult::Delivered,
        DlrStatus::Failed | DlrStatus::Rejected => SmsResult::Failed(format!(
            "the carrier reported the SMS undelivered{}",
            if reply.trim().is_empty() {
                String::new()
            } else {
                format!(" ({})", reply.trim().chars().take(80).collect::<String>())
            }
        )),
        DlrStatus::Delivered | DlrStatus::Buffered | DlrStatus::Accepted => return Ok(()),
    };
    let woken = app
        .store
        .sms_result(id, result, app.now(), app.ttl_ms())
        .await?;
    app.hub.wake(&woken);
    Ok(())
}
