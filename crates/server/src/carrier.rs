//! The development pages: what the simulated carrier delivered to each
//! phone and what the development outbox "sent" to each e-mail address.
//!
//! These exist so that one person on one laptop can read their codes. They
//! are served only while `simulated_carrier` is on, which a production
//! set-up with a real gateway turns off.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Html;
use axum::Json;
use tidings_sms::InboxMessage;

use crate::error::ApiError;
use crate::App;

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page_shell(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}}\
         li{{margin:.3rem 0}} .at{{color:#666;font-size:.85em}}</style></head><body>{body}</body></html>",
        title = escape(title)
    ))
}

/// `GET /`: what this server is.
pub async fn home(State(app): State<Arc<App>>) -> Html<String> {
    let carrier = if app.carrier.is_some() {
        "<p>The simulated carrier is on: see <a href=\"/carrier\">/carrier</a> for the SMS and e-mail it delivered.</p>"
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

fn inboxes(app: &App) -> Result<Vec<(&'static str, &tidings_sms::Inboxes)>, ApiError> {
    let mut all = Vec::new();
    if let Some(c) = &app.carrier {
        all.push(("Phones (SMS)", c.inboxes()));
    }
    if let Some(m) = &app.dev_mail {
        all.push(("E-mail", m.as_ref()));
    }
    if all.is_empty() {
        return Err(ApiError::NotFound(
            "the simulated carrier is off on this server".into(),
        ));
    }
    Ok(all)
}

/// `GET /carrier`: every simulated inbox, newest first.
pub async fn page(State(app): State<Arc<App>>) -> Result<Html<String>, ApiError> {
    let mut body = String::from("<h1>Simulated carrier</h1>");
    for (title, boxes) in inboxes(&app)? {
        body.push_str(&format!("<h2>{}</h2>", escape(title)));
        let addresses = boxes.addresses();
        if addresses.is_empty() {
            body.push_str("<p>Nothing delivered yet.</p>");
        }
        for address in addresses {
            body.push_str(&format!("<h3>{}</h3><ul>", escape(&address)));
            for m in boxes.messages(&address).iter().rev() {
                body.push_str(&format!(
                    "<li><span class=\"at\">from {}</span> {}</li>",
                    escape(&m.from),
                    escape(&m.text)
                ));
            }
            body.push_str("</ul>");
        }
    }
    Ok(page_shell("Simulated carrier", &body))
}

/// `GET /v1/carrier/{address}`: one simulated inbox, oldest first.
pub async fn inbox(
    State(app): State<Arc<App>>,
    Path(address): Path<String>,
) -> Result<Json<Vec<InboxMessage>>, ApiError> {
    let key = crate::accounts::parse_handle(&app, &address)?;
    let mut messages = Vec::new();
    for (_, boxes) in inboxes(&app)? {
        messages.extend(boxes.messages(key.as_str()));
    }
    messages.sort_by_key(|m| m.at);
    Ok(Json(messages))
}
