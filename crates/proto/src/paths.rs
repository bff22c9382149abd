//! Every endpoint's path, written once: the server's router mounts these
//! templates, and clients fill them with [`path`]. A parameter is a
//! `{name}` segment (the router's syntax).

/// `GET`: the server's limits.
pub const LIMITS: &str = "/v1/limits";
/// `GET`: liveness and storage health.
pub const HEALTH: &str = "/v1/health";
/// `POST`: send a verification code.
pub const CODES: &str = "/v1/codes";
/// `POST`: register an account.
pub const ACCOUNTS: &str = "/v1/accounts";
/// `GET`, `PUT`, `DELETE`: this account.
pub const ACCOUNT: &str = "/v1/account";
/// `GET`, `POST`: this account's handles.
pub const HANDLES: &str = "/v1/handles";
/// `DELETE`: one handle.
pub const HANDLE: &str = "/v1/handles/{handle}";
/// `GET`: this account's devices; `POST`: sign a device in.
pub const DEVICES: &str = "/v1/devices";
/// `DELETE`: one device.
pub const DEVICE: &str = "/v1/devices/{id}";
/// `POST`: look handles up.
pub const DIRECTORY: &str = "/v1/directory";
/// `GET`: prekeys left; `POST`: upload keys.
pub const KEYS: &str = "/v1/keys";
/// `POST`: claim one-time keys.
pub const KEYS_CLAIM: &str = "/v1/keys/claim";
/// `POST`: devices' identity keys.
pub const KEYS_IDENTITIES: &str = "/v1/keys/identities";
/// `POST`: send a message.
pub const MESSAGES: &str = "/v1/messages";
/// `POST`: ask for a message's SMS fallback.
pub const MESSAGES_FALLBACK: &str = "/v1/messages/fallback";
/// `GET`: the delivery stream (WebSocket).
pub const STREAM: &str = "/v1/stream";
/// `POST`: start an upload.
pub const BLOBS: &str = "/v1/blobs";
/// `GET`: an upload's status.
pub const BLOB: &str = "/v1/blobs/{id}";
/// `POST`: finish an upload.
pub const BLOB_COMPLETE: &str = "/v1/blobs/{id}/complete";
/// `GET`, `PUT`: one chunk of a blob.
pub const BLOB_CHUNK: &str = "/v1/blobs/{id}/{index}";
/// `GET`: a simulated phone's or mailbox's inbox (development servers).
pub const CARRIER_INBOX: &str = "/v1/carrier/{address}";
/// `POST`: a simulated phone sends an SMS (development servers).
pub const CARRIER_SEND: &str = "/v1/carrier/send";
/// `POST`: a download link for an attachment sent by SMS.
pub const LINKS: &str = "/v1/links";
/// `POST`: block or report a sender.
pub const REPORTS: &str = "/v1/reports";
/// `GET`: fingerprints of spam campaigns.
pub const CAMPAIGNS: &str = "/v1/campaigns";
/// `GET`: Kannel's inbound SMS.
pub const KANNEL_INBOUND: &str = "/v1/kannel/inbound";
/// `GET`: Kannel's delivery reports.
pub const KANNEL_DLR: &str = "/v1/kannel/dlr";
/// `GET`: the file behind a download link.
pub const LINK: &str = "/l/{token}";

/// `template` with its `{…}` segments replaced, in order, by `args`,
/// each percent-encoded as a path segment.
///
/// # Panics
/// When the number of arguments is not the number of parameters: a bug
/// in the caller, found by its first test.
pub fn path(template: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut args = args.iter();
    for (i, segment) in template.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if segment.starts_with('{') && segment.ends_with('}') {
            let arg = args.next().expect("an argument for every parameter");
            out.push_str(&encode_segment(arg));
        } else {
            out.push_str(segment);
        }
    }
    assert!(args.next().is_none(), "more arguments than parameters");
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_filled_in_order_and_encoded() {
        assert_eq!(path(LIMITS, &[]), "/v1/limits");
        assert_eq!(path(HANDLE, &["+1 202/x"]), "/v1/handles/%2B1%20202%2Fx");
        assert_eq!(path(BLOB_CHUNK, &["ab", "7"]), "/v1/blobs/ab/7");
        assert_eq!(path(CARRIER_INBOX, &["a@b.org"]), "/v1/carrier/a%40b.org");
    }

    #[test]
    #[should_panic(expected = "an argument for every parameter")]
    fn a_missing_argument_is_a_bug() {
        path(BLOB, &[]);
    }

    #[test]
    #[should_panic(expected = "more arguments than parameters")]
    fn an_extra_argument_is_a_bug() {
        path(LIMITS, &["x"]);
    }
}
