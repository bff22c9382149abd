//! The authorization matrix: every route of the server × every kind of
//! caller, in one table.
//!
//! The routes are read from the server's source (every `.route(...)` call
//! under `src/`), and the test fails when a route has no row here, so a new
//! endpoint cannot be added without saying who may call it.

mod common;

use std::collections::BTreeSet;

use common::{call, code_for, register, start, Dev, Server};
use serde_json::{json, Value};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// No `Authorization` header.
    Nobody,
    /// `Bearer` and garbage.
    Garbage,
    /// A real device id of the owner with a made-up secret.
    Forged,
    /// A valid device of another account.
    Other,
    /// A device its account removed.
    Removed,
    /// A device that logged out (removed itself).
    LoggedOut,
    /// A valid device of the account that owns what the path names.
    Owner,
}

const CALLERS: [Caller; 7] = [
    Caller::Nobody,
    Caller::Garbage,
    Caller::Forged,
    Caller::Other,
    Caller::Removed,
    Caller::LoggedOut,
    Caller::Owner,
];

/// What a row expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// No credential is needed: every caller gets the same answer, which is
    /// neither 401 nor a server error.
    Public,
    /// A device credential is needed: every caller without a valid one gets
    /// 401; `other` and `owner` get these statuses.
    Device { other: u16, owner: u16 },
    /// The caller proves a shared secret instead (Kannel's callbacks): with
    /// a wrong one, every caller gets 401 whatever device token it shows.
    Secret,
    /// The delivery stream authenticates inside the WebSocket; checked by
    /// its own test below.
    Stream,
}

struct Row {
    method: &'static str,
    pattern: &'static str,
    path: String,
    body: Option<Value>,
    expect: Expect,
}

fn row(
    method: &'static str,
    pattern: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    expect: Expect,
) -> Row {
    Row {
        method,
        pattern,
        path: path.into(),
        body,
        expect,
    }
}

fn dev_auth(other: u16, owner: u16) -> Expect {
    Expect::Device { other, owner }
}

/// The people of the matrix.
struct Cast {
    alice: Dev,
    alice_second: Dev,
    carol: Dev,
    removed: Dev,
    logged_out: Dev,
    blob: String,
}

impl Cast {
    fn token(&self, caller: Caller) -> Option<String> {
        match caller {
            Caller::Nobody => None,
            Caller::Garbage => Some("garbage".into()),
            Caller::Forged => Some(format!("{}.{}", self.alice.device, "0".repeat(64))),
            Caller::Other => Some(self.carol.token.clone()),
            Caller::Removed => Some(self.removed.token.clone()),
            Caller::LoggedOut => Some(self.logged_out.token.clone()),
            Caller::Owner => Some(self.alice.token.clone()),
        }
    }
}

async fn login(server: &Server, handle: &str) -> Dev {
    let code = code_for(server, handle).await;
    let r = call(
        server,
        "POST",
        "/v1/devices",
        None,
        Some(json!({"handle": handle, "code": code, "device_name": "second"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    common::dev(&r.body)
}

async fn cast(server: &Server) -> Cast {
    let alice = register(server, "alice@example.org").await;
    let alice_second = login(server, "alice@example.org").await;
    let carol = register(server, "carol@example.org").await;
    let dave = register(server, "dave@example.org").await;
    let removed = login(server, "dave@example.org").await;
    let r = call(
        server,
        "DELETE",
        &format!("/v1/devices/{}", removed.device),
        Some(&dave.token),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let logged_out = register(server, "erin@example.org").await;
    let r = call(
        server,
        "DELETE",
        &format!("/v1/devices/{}", logged_out.device),
        Some(&logged_out.token),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = call(
        server,
        "POST",
        "/v1/blobs",
        Some(&alice.token),
        Some(json!({"size": 100})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let blob = r.body["id"].as_str().expect("blob id").to_string();
    Cast {
        alice,
        alice_second,
        carol,
        removed,
        logged_out,
        blob,
    }
}

/// Every (method, path pattern) that a `.route(...)` call under `src/`
/// declares, with `const` path names (the server's, and
/// `tidings_proto::paths`) resolved.
fn declared_routes() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("src readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push(std::fs::read_to_string(&path).expect("source readable"));
            }
        }
    }
    // The API's paths are constants of `tidings_proto::paths`.
    let proto = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/src/paths.rs");
    sources.push(std::fs::read_to_string(proto).expect("proto paths readable"));
    let all = sources.join("\n");
    let mut out = BTreeSet::new();
    let mut rest = all.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        // The call's text, up to its matching parenthesis.
        let mut depth = 1;
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &rest[..end];
        let (first, handlers) = args.split_once(',').expect("route(path, handlers)");
        let first = first.trim();
        let pattern = if let Some(lit) = first.strip_prefix('"') {
            lit.trim_end_matches('"').to_string()
        } else {
            resolve_const(&all, first.trim_start_matches("paths::"))
        };
        for method in ["get", "post", "put", "delete", "patch"] {
            let mut h = handlers;
            while let Some(i) = h.find(&format!("{method}(")) {
                let before = h[..i].chars().last();
                if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                    out.insert((method.to_uppercase(), pattern.clone()));
                }
                h = &h[i + method.len()..];
            }
        }
        rest = &rest[end..];
    }
    out
}

fn resolve_const(source: &str, name: &str) -> String {
    let needle = format!("const {name}: &str = \"");
    let at = source
        .find(&needle)
        .unwrap_or_else(|| panic!("route path constant {name} not found"));
    let rest = &source[at + needle.len()..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

fn rows(c: &Cast) -> Vec<Row> {
    let alice = &c.alice.handle;
    let blob = &c.blob;
    let public = Expect::Public;
    vec![
        row("GET", "/", "/", None, public),
        // The web app's files: the same for everyone (404 when not built).
        row("GET", "/{file}", "/manifest.webmanifest", None, public),
        row("GET", "/assets/{file}", "/assets/index.js", None, public),
        row("GET", "/v1/limits", "/v1/limits", None, public),
        row("GET", "/v1/health", "/v1/health", None, public),
        row(
            "POST",
            "/v1/codes",
            "/v1/codes",
            Some(json!({"handle": "not a handle"})),
            public,
        ),
        row(
            "POST",
            "/v1/accounts",
            "/v1/accounts",
            Some(json!({"handle": "zed@example.org", "code": "000000", "device_name": "x"})),
            public,
        ),
        row(
            "POST",
            "/v1/devices",
            "/v1/devices",
            Some(json!({"handle": "zed@example.org", "code": "000000", "device_name": "x"})),
            public,
        ),
        row("GET", "/carrier", "/carrier", None, public),
        row(
            "GET",
            "/v1/carrier/{address}",
            "/v1/carrier/nobody%40example.org",
            None,
            public,
        ),
        row(
            "POST",
            "/v1/carrier/send",
            "/v1/carrier/send",
            Some(json!({})),
            public,
        ),
        row("GET", "/l/{token}", "/l/no-such-link", None, public),
        row(
            "GET",
            "/v1/kannel/inbound",
            "/v1/kannel/inbound?secret=wrong",
            None,
            Expect::Secret,
        ),
        row(
            "GET",
            "/v1/kannel/dlr",
            "/v1/kannel/dlr?secret=wrong",
            None,
            Expect::Secret,
        ),
        row("GET", "/deregister", "/deregister", None, public),
        row("GET", "/deregister/code", "/deregister/code", None, public),
        row("POST", "/deregister/code", "/deregister/code", None, public),
        row(
            "GET",
            "/deregister/confirm",
            "/deregister/confirm",
            None,
            public,
        ),
        row(
            "POST",
            "/deregister/confirm",
            "/deregister/confirm",
            None,
            public,
        ),
        row("GET", "/v1/stream", "/v1/stream", None, Expect::Stream),
        // Reading one's own things: another account sees its own.
        row(
            "GET",
            "/v1/account",
            "/v1/account",
            None,
            dev_auth(200, 200),
        ),
        row(
            "GET",
            "/v1/handles",
            "/v1/handles",
            None,
            dev_auth(200, 200),
        ),
        row(
            "GET",
            "/v1/devices",
            "/v1/devices",
            None,
            dev_auth(200, 200),
        ),
        row("GET", "/v1/keys", "/v1/keys", None, dev_auth(200, 200)),
        row(
            "GET",
            "/v1/campaigns",
            "/v1/campaigns",
            None,
            dev_auth(200, 200),
        ),
        // Looking up and claiming others' keys is how sessions start.
        row(
            "POST",
            "/v1/directory",
            "/v1/directory",
            Some(json!({"handles": [alice]})),
            dev_auth(200, 200),
        ),
        row(
            "POST",
            "/v1/keys/claim",
            "/v1/keys/claim",
            Some(json!({"devices": [c.alice_second.device]})),
            dev_auth(200, 200),
        ),
        row(
            "POST",
            "/v1/keys/identities",
            "/v1/keys/identities",
            Some(json!({"devices": [c.alice.device]})),
            dev_auth(200, 200),
        ),
        // Malformed bodies: the credential is checked first.
        row(
            "POST",
            "/v1/keys",
            "/v1/keys",
            Some(json!({})),
            dev_auth(400, 400),
        ),
        row(
            "POST",
            "/v1/handles",
            "/v1/handles",
            Some(json!({"handle": "zed@example.org", "code": "000000"})),
            dev_auth(403, 403),
        ),
        row(
            "POST",
            "/v1/messages",
            "/v1/messages",
            Some(json!({})),
            dev_auth(400, 400),
        ),
        row(
            "POST",
            "/v1/messages/fallback",
            "/v1/messages/fallback",
            Some(json!({})),
            dev_auth(400, 400),
        ),
        row(
            "POST",
            "/v1/blobs",
            "/v1/blobs",
            Some(json!({})),
            dev_auth(400, 400),
        ),
        row(
            "POST",
            "/v1/reports",
            "/v1/reports",
            Some(json!({})),
            dev_auth(400, 400),
        ),
        // Alice's upload: only her uploading device may see or touch it.
        row(
            "GET",
            "/v1/blobs/{id}",
            format!("/v1/blobs/{blob}"),
            None,
            dev_auth(404, 200),
        ),
        row(
            "PUT",
            "/v1/blobs/{id}/{index}",
            format!("/v1/blobs/{blob}/0"),
            None,
            dev_auth(404, 400),
        ),
        row(
            "GET",
            "/v1/blobs/{id}/{index}",
            format!("/v1/blobs/{blob}/0"),
            None,
            dev_auth(404, 404),
        ),
        row(
            "POST",
            "/v1/blobs/{id}/complete",
            format!("/v1/blobs/{blob}/complete"),
            None,
            dev_auth(404, 400),
        ),
        row(
            "POST",
            "/v1/links",
            "/v1/links",
            Some(
                json!({"blob": blob, "key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "name": "f", "content_type": "text/plain", "size": 1}),
            ),
            dev_auth(404, 404),
        ),
        // Destructive, last: another account cannot, the owner can.
        row(
            "DELETE",
            "/v1/devices/{id}",
            format!("/v1/devices/{}", c.alice_second.device),
            None,
            dev_auth(404, 204),
        ),
        row(
            "DELETE",
            "/v1/handles/{handle}",
            format!("/v1/handles/{alice}"),
            None,
            dev_auth(404, 200),
        ),
        // Deletes the caller's own account: carol's, then alice's.
        row(
            "PUT",
            "/v1/account",
            "/v1/account",
            Some(json!({"link_handles": "contacts"})),
            dev_auth(200, 200),
        ),
        row(
            "DELETE",
            "/v1/account",
            "/v1/account",
            None,
            dev_auth(204, 204),
        ),
    ]
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_as_the_table_says() {
    let server = start(|c| {
        c.codes.code_sends_per_address_per_hour = 1_000;
        c.codes.code_checks_per_address_per_hour = 1_000;
    })
    .await;
    let cast = cast(&server).await;
    let table = rows(&cast);

    let declared = declared_routes();
    let covered: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.method.to_string(), r.pattern.to_string()))
        .collect();
    let missing: Vec<_> = declared.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&declared).collect();
    assert!(
        stale.is_empty(),
        "rows for routes that no longer exist: {stale:?}"
    );

    let mut wrong = Vec::new();
    for r in &table {
        let mut got = Vec::new();
        for caller in CALLERS {
            if matches!(r.expect, Expect::Stream) {
                continue;
            }
            let token = cast.token(caller);
            let resp = call(&server, r.method, &r.path, token.as_deref(), r.body.clone()).await;
            got.push((caller, resp.status));
            let expected = match r.expect {
                Expect::Public | Expect::Stream => None,
                Expect::Secret => Some(401),
                Expect::Device { other, owner } => Some(match caller {
                    Caller::Other => other,
                    Caller::Owner => owner,
                    _ => 401,
                }),
            };
            if let Some(want) = expected {
                if resp.status != want {
                    wrong.push(format!(
                        "{} {} as {caller:?}: {} (want {want}) {}",
                        r.method, r.path, resp.status, resp.body
                    ));
                }
            }
        }
        if matches!(r.expect, Expect::Public) {
            let first = got[0].1;
            if got.iter().any(|(_, s)| *s != first) || first == 401 || first >= 500 {
                wrong.push(format!("{} {} (public): {got:?}", r.method, r.path));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "authorization matrix:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn the_stream_admits_only_valid_devices() {
    let server = start(|_| {}).await;
    let cast = cast(&server).await;
    for caller in CALLERS {
        let token = cast.token(caller).unwrap_or_default();
        let (_ws, first) = common::open_stream(&server, &token).await;
        let want = match caller {
            Caller::Other | Caller::Owner => "ready",
            _ => "error",
        };
        assert_eq!(first["type"], want, "{caller:?}: {first}");
        if want == "error" {
            assert_eq!(first["error"], "unauthorized", "{caller:?}: {first}");
        }
    }
}
