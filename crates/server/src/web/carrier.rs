//! The development pages: what the simulated carrier delivered to each
//! phone and what the development outbox "sent" to each e-mail address, and
//! the simulated phones' own SMS.
//!
//! These exist so that one person on one laptop can read their codes, which
//! means anyone who can reach them can read every code and log in as
//! anyone. So they are a development mode that cannot be exposed by
//! accident ([`dev_pages`]): on only while the server listens on a loopback
//! address, or with an explicit `dev = true` (`tidings serve --dev`); a
//! server on any other address whose codes would land here refuses to
//! start. A loopback server may still sit behind a reverse proxy, so
//! without `dev` the pages also refuse requests that carry a proxy's
//! forwarding headers ([`FORWARDING_HEADERS`]). With the pages off, every
//! route here answers 404.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use axum::Json;
use serde::{Deserialize, Serialize};
use tidings_proto::api::CarrierSend;
use tidings_sms::{InboxMessage, Inboxes};

use crate::error::ApiError;
use crate::service::accounts::parse_handle;
use crate::service::sms::{self, MAX_INBOUND_TEXT_BYTES};
use crate::web::html::{escape, page_shell};
use crate::{App, Config};

/// Messages in a page of the development inboxes unless `limit` says
/// otherwise.
pub const DEFAULT_PAGE_MESSAGES: usize = 50;
/// Most messages in one page of the development inboxes (`limit`).
pub const MAX_PAGE_MESSAGES: usize = 200;

/// A server that would show every code to whoever reaches it: listening on
/// a non-loopback address while codes go to the simulated carrier or the
/// development outbox, without `dev`.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to listen on {listen}, which is not a loopback address, while {what}: anyone who \
     can reach this server could read every verification code at /carrier and log in as anyone. \
     Configure real delivery (sms_gateway = \"kannel\" with kannel_password and kannel_secret; \
     smtp_relay = \"host:port\" for e-mail), listen on 127.0.0.1, or pass --dev \
     (dev = true, TIDINGS_DEV=1) to accept that risk on a development server"
)]
pub struct Exposed {
    /// The address asked for.
    pub listen: SocketAddr,
    /// Where codes would go, in words.
    pub what: String,
}

/// Whether the development pages are served: decided once, when the server
/// starts, from where it listens and what it is told.
///
/// On loopback (`127.0.0.0/8`, `::1`) they are, unless `simulated_carrier`
/// is off: only this machine can reach them. Elsewhere they are only with
/// `dev`; without it a server whose SMS codes go to the simulated carrier,
/// or whose e-mail codes go to the development outbox (no `smtp_relay`), is
/// refused with [`Exposed`], which says what to configure.
pub fn dev_pages(config: &Config) -> Result<bool, Exposed> {
    let local = is_loopback(config.listen.ip());
    if !local && !config.dev {
        let mut exposed = Vec::new();
        if config.sms.sms_gateway == crate::config::SmsGateway::Simulated {
            exposed.push("SMS codes go to the simulated carrier (sms_gateway = \"simulated\")");
        }
        if config.mail.smtp_relay.is_empty() {
            exposed.push("e-mail codes go to the development outbox (smtp_relay is empty)");
        }
        if !exposed.is_empty() {
            return Err(Exposed {
                listen: config.listen,
                what: exposed.join(" and "),
            });
        }
    }
    Ok(config.sms.simulated_carrier && (local || config.dev))
}

/// Headers a reverse proxy adds: a request carrying one did not come from
/// this machine, even though the server listens on loopback.
pub const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// Whether the development pages answer this request: they are on, and it
/// came straight from this machine or the operator said `dev`.
fn shown_to(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    if app.config.dev || !FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h)) {
        return Ok(());
    }
    tracing::info!("development page asked for through a proxy; refused");
    Err(ApiError::NotFound(
        "the development pages answer only requests made on this machine, and this one came \
         through a proxy (start the server with --dev to accept that risk)"
            .into(),
    ))
}

/// Loopback, IPv4-mapped IPv6 included.
fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// `GET /`: what this server is.
pub async fn home(State(app): State<Arc<App>>, headers: HeaderMap) -> Html<String> {
    let dev = app.carrier.is_some() || app.dev_mail.is_some();
    let carrier = if dev && shown_to(&app, &headers).is_ok() {
        "<p><strong>Development mode:</strong> see <a href=\"/carrier\">/carrier</a> for the SMS and e-mail codes this server delivered. Anyone who can reach this page can read them.</p>"
    } else {
        ""
    };
    page_shell(
        "Tidings",
        &format!(
            "<h1>Tidings</h1><p>This is a Tidings server. Use the <code>tidings</code> command to register and send messages.</p>{carrier}"
        ),
    )
}

/// Which development inboxes a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The simulated phones.
    Sms,
    /// The development mail outbox.
    Email,
}

/// Paging of the development inboxes: the newest `limit` messages (at most
/// [`MAX_PAGE_MESSAGES`]) older than message `before`, of one `kind`.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// Messages in the page.
    pub limit: Option<usize>,
    /// Only messages with a smaller `seq` than this.
    pub before: Option<u64>,
    /// Only this kind of inbox (the `/carrier` page).
    pub kind: Option<Kind>,
}

impl PageQuery {
    fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_MESSAGES),
            Some(n @ 1..=MAX_PAGE_MESSAGES) => Ok(n),
            Some(_) => Err(ApiError::BadRequest(format!(
                "limit is 1 to {MAX_PAGE_MESSAGES} messages a page (MAX_PAGE_MESSAGES); page back with before"
            ))),
        }
    }
}

/// One message of a development inbox, with the number `before` pages by.
#[derive(Debug, Clone, Serialize)]
pub struct CarrierMessage {
    /// Position in its set of inboxes (rising; pass as `before` for older
    /// messages).
    pub seq: u64,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// The text.
    pub text: String,
    /// Arrival, milliseconds since the Unix epoch.
    pub at: u64,
}

impl From<(u64, InboxMessage)> for CarrierMessage {
    fn from((seq, m): (u64, InboxMessage)) -> Self {
        CarrierMessage {
            seq,
            from: m.from,
            to: m.to,
            text: m.text,
            at: m.at,
        }
    }
}

fn off() -> ApiError {
    ApiError::NotFound("the simulated carrier is off on this server".into())
}

/// The development inboxes of this server, by kind; 404 when there are
/// none (development mode off) or the request came through a proxy.
fn inboxes<'a>(
    app: &'a App,
    headers: &HeaderMap,
) -> Result<Vec<(Kind, &'static str, &'a Inboxes)>, ApiError> {
    shown_to(app, headers)?;
    let mut all = Vec::new();
    if let Some(c) = &app.carrier {
        all.push((Kind::Sms, "Phones (SMS)", c.inboxes()));
    }
    if let Some(m) = &app.dev_mail {
        all.push((Kind::Email, "E-mail", m.as_ref()));
    }
    if all.is_empty() {
        return Err(off());
    }
    Ok(all)
}

/// `GET /carrier?limit&before&kind`: the newest messages of every simulated
/// inbox, newest first, a page at a time.
pub async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Result<Html<String>, ApiError> {
    let limit = query.limit()?;
    let mut body = String::from(
        "<h1>Simulated carrier</h1><p>Development mode: anyone who can reach this page can read these codes.</p>",
    );
    for (kind, title, boxes) in inboxes(&app, &headers)? {
        if query.kind.is_some_and(|k| k != kind) {
            continue;
        }
        body.push_str(&format!("<h2>{}</h2>", escape(title)));
        let mut messages = boxes.recent(query.before, limit + 1);
        let more = messages.len() > limit;
        messages.truncate(limit);
        if messages.is_empty() {
            body.push_str("<p>Nothing delivered yet.</p>");
            continue;
        }
        body.push_str("<ul>");
        for (_, m) in &messages {
            body.push_str(&format!(
                "<li><span class=\"at\">to {} from {}</span> {}</li>",
                escape(&m.to),
                escape(&m.from),
                escape(&m.text)
            ));
        }
        body.push_str("</ul>");
        if let (true, Some((oldest, _))) = (more, messages.last()) {
            let kind = match kind {
                Kind::Sms => "sms",
                Kind::Email => "email",
            };
            body.push_str(&format!(
                "<p><a href=\"/carrier?kind={kind}&amp;before={oldest}&amp;limit={limit}\">Older messages</a></p>"
            ));
        }
    }
    Ok(page_shell("Simulated carrier", &body))
}

/// `GET /v1/carrier/{address}?limit&before`: one simulated inbox, the newest
/// `limit` messages (older than `before`), oldest first.
pub async fn inbox(
    State(app): State<Arc<App>>,
    Path(address): Path<String>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Result<Json<Vec<CarrierMessage>>, ApiError> {
    let all = inboxes(&app, &headers)?;
    let limit = query.limit()?;
    let key = parse_handle(&app, &address)?;
    let kind = if key.is_phone() {
        Kind::Sms
    } else {
        Kind::Email
    };
    let messages = all
        .into_iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, _, boxes)| boxes.page(key.as_str(), query.before, limit))
        .unwrap_or_default();
    Ok(Json(
        messages.into_iter().map(CarrierMessage::from).collect(),
    ))
}

/// `POST /v1/carrier/send`: a simulated phone sends an SMS. To a number on
/// Tidings it arrives on every device of that account, within
/// `max_queue_per_device` like any send; to any other number it lands in
/// that phone's simulated inbox.
pub async fn send(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Json(req): Json<CarrierSend>,
) -> Result<StatusCode, ApiError> {
    let Some(carrier) = &app.carrier else {
        return Err(off());
    };
    shown_to(&app, &headers)?;
    let from = parse_handle(&app, &req.from)?;
    let to = parse_handle(&app, &req.to)?;
    if !from.is_phone() || !to.is_phone() {
        return Err(ApiError::BadRequest(
            "SMS go from a phone number to a phone number".into(),
        ));
    }
    if req.text.is_empty() || req.text.len() > MAX_INBOUND_TEXT_BYTES {
        return Err(ApiError::BadRequest(format!(
            "an SMS text is 1 to {MAX_INBOUND_TEXT_BYTES} bytes"
        )));
    }
    if !sms::inbound(&app, from.as_str(), &to, &req.text).await? {
        carrier.inboxes().deliver(InboxMessage {
            from: from.to_string(),
            to: to.to_string(),
            text: req.text,
            at: app.now(),
        });
    }
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_example_in_deploy_loads_and_would_start_on_a_public_address() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/cluster/tidings.toml");
        let c = crate::Config::load(Some(&path), Vec::<(String, String)>::new())
            .expect("deploy/cluster/tidings.toml is a valid configuration");
        assert!(c.storage.database_url.starts_with("postgres://"));
        assert!(c.cluster.redis_url.starts_with("redis://"));
        assert_eq!(c.storage.blob_store, crate::config::BlobStore::S3);
        assert!(!c.listen.ip().is_loopback());
        // Real delivery is configured, so the node starts, without the
        // development pages.
        assert!(!dev_pages(&c).expect("starts"));
    }

    fn config(listen: &str, tune: impl FnOnce(&mut Config)) -> Config {
        let mut c = Config {
            listen: listen.parse().expect("address"),
            ..Config::default()
        };
        tune(&mut c);
        c
    }

    fn real_delivery(c: &mut Config) {
        c.sms.sms_gateway = crate::config::SmsGateway::Kannel;
        c.mail.smtp_relay = "127.0.0.1:25".into();
    }

    #[test]
    fn loopback_serves_the_pages_and_nothing_else_does_by_accident() {
        for local in [
            "127.0.0.1:7878",
            "127.8.9.10:0",
            "[::1]:7878",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(
                dev_pages(&config(local, |_| {})).expect("starts"),
                "{local}"
            );
            assert!(
                !dev_pages(&config(local, |c| c.sms.simulated_carrier = false)).expect("starts"),
                "{local}: turned off"
            );
        }
        for public in [
            "0.0.0.0:7878",
            "[::]:7878",
            "192.0.2.5:443",
            "[2001:db8::1]:7878",
        ] {
            let refused = dev_pages(&config(public, |_| {})).expect_err(public);
            let text = refused.to_string();
            for needed in ["--dev", "kannel", "smtp_relay", "127.0.0.1", public] {
                assert!(
                    text.contains(needed),
                    "{public}: {text} should say {needed}"
                );
            }
            assert!(refused.what.contains("simulated carrier") && refused.what.contains("e-mail"));
            // Only one of the two would still expose codes.
            let sms_only = dev_pages(&config(public, |c| {
                c.mail.smtp_relay = "127.0.0.1:25".into()
            }))
            .expect_err("SMS codes would be exposed")
            .what;
            assert!(sms_only.contains("simulated carrier") && !sms_only.contains("e-mail"));
            let mail_only = dev_pages(&config(public, |c| {
                c.sms.sms_gateway = crate::config::SmsGateway::Kannel
            }))
            .expect_err("e-mail codes would be exposed")
            .what;
            assert!(mail_only.contains("e-mail") && !mail_only.contains("simulated carrier"));
            // Real delivery: starts, pages off.
            assert!(!dev_pages(&config(public, real_delivery)).expect("starts"));
            // Told to: starts, pages on.
            assert!(dev_pages(&config(public, |c| c.dev = true)).expect("starts"));
            assert!(!dev_pages(&config(public, |c| {
                c.dev = true;
                c.sms.simulated_carrier = false;
            }))
            .expect("starts"));
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        let q = |limit| PageQuery {
            limit,
            ..PageQuery::default()
        };
        assert_eq!(q(None).limit().expect("default"), DEFAULT_PAGE_MESSAGES);
        assert_eq!(q(Some(1)).limit().expect("one"), 1);
        assert_eq!(
            q(Some(MAX_PAGE_MESSAGES)).limit().expect("max"),
            MAX_PAGE_MESSAGES
        );
        assert!(q(Some(0)).limit().is_err());
        let over = q(Some(MAX_PAGE_MESSAGES + 1)).limit().expect_err("over");
        assert!(over.to_string().contains("MAX_PAGE_MESSAGES"));
    }
}
