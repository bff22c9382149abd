//! The Kannel callbacks' query parsing in tidings-server
//! (`/v1/kannel/inbound` and `/v1/kannel/dlr`): the raw query is split and
//! percent-decoded to bytes by `kannel::params`, then read the way the two
//! handlers read it, up to the store (which needs a server): sender and
//! receiver as text and handle, the SMS bytes decoded by their coding, the
//! report's numbers and status. Kannel's `%b` need not be UTF-8, and
//! anything that can reach the port can call these before the secret is
//! checked, so no query may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_proto::Handle;
use tidings_server::service::kannel::{params, text, MAX_QUERY_BYTES};
use tidings_sms::encoding::{decode_untyped, ucs2_decode};
use tidings_sms::DlrStatus;

fuzz_target!(|data: &[u8]| {
    // A request target is text; a query that is not UTF-8 never gets here.
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(params) = params(Some(query.to_string())) else {
        return;
    };
    assert!(query.len() <= MAX_QUERY_BYTES);
    for value in params.values() {
        assert!(value.len() <= query.len());
    }

    // inbound
    let _ = text(&params, "secret");
    if let Ok(from) = text(&params, "from") {
        let _ = Handle::parse(&from, "US");
        let _ = from.chars().count();
    }
    if let Ok(to) = text(&params, "to") {
        let _ = Handle::parse(&to, "US");
    }
    if let Some(bytes) = params.get("bin") {
        let coding = params.get("coding").map(Vec::as_slice).unwrap_or(b"0");
        let _ = if coding == b"2" {
            ucs2_decode(bytes)
        } else {
            decode_untyped(bytes)
        };
    }

    // dlr
    let number = |key: &str| text(&params, key).ok().and_then(|t| t.parse::<i64>().ok());
    let _ = (number("id"), number("part"), number("parts"));
    let _ = number("type")
        .and_then(|n| u8::try_from(n).ok())
        .and_then(DlrStatus::from_code);
    let reply = text(&params, "reply").unwrap_or_default();
    let shown: String = reply.trim().chars().take(80).collect();
    assert!(shown.chars().count() <= 80);
});
