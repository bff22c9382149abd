//! Reports and blocks of message requests, and the published campaign list.
//!
//! The server never sees message content, except the text a reporter
//! chooses to share: from that text it keeps only a SimHash fingerprint,
//! which joins the campaign list once several people reported texts like
//! it. A report names its envelope by the opaque token the server minted
//! into it, which proves who sent it to whom.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::{CampaignList, ReportRequest};
use tidings_spam::fingerprint::Fingerprint;

use crate::accounts::limited;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::App;

/// Longest shared text accepted with a report, in bytes.
pub const MAX_REPORTED_TEXT_BYTES: usize = 4096;
/// Longest report token accepted.
pub const MAX_TOKEN_BYTES: usize = 64;

/// `POST /v1/reports`: blocks or reports the sender of a message request.
pub async fn report(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<ReportRequest>,
) -> Result<StatusCode, ApiError> {
    if req.token.is_empty() || req.token.len() > MAX_TOKEN_BYTES {
        return Err(ApiError::BadRequest("malformed report token".into()));
    }
    if req
        .text
        .as_ref()
        .is_some_and(|t| t.len() > MAX_REPORTED_TEXT_BYTES)
    {
        return Err(ApiError::BadRequest(format!(
            "a shared text is at most {MAX_REPORTED_TEXT_BYTES} bytes"
        )));
    }
    // A banned account's reports and blocks would count against others
    // (a banned ring could get innocent people restricted): refused.
    crate::messages::refuse_if_banned(&app, who.account).await?;
    limited(
        &app.limits.reports_per_account,
        &who.account.to_string(),
        app.now(),
        "reports from this account",
    )?;
    let fingerprint = req
        .text
        .as_deref()
        .filter(|t| req.junk && !t.trim().is_empty())
        .map(|t| Fingerprint::of(t).0);
    let outcome = app
        .store
        .report(
            &req.token,
            who.account,
            req.junk,
            fingerprint,
            app.config.spam_policy(),
            app.now(),
            app.ttl_ms(),
        )
        .await?;
    let Some((effect, woken)) = outcome else {
        return Err(ApiError::NotFound(
            "no such message to report (the token is unknown, expired or not yours)".into(),
        ));
    };
    app.hub.wake(&woken);
    if !effect.restricted.is_empty() || !effect.banned.is_empty() {
        tracing::info!(
            restricted = effect.restricted.len(),
            banned = effect.banned.len(),
            "a report acted on a cluster"
        );
    }
    Ok(StatusCode::ACCEPTED)
}

/// `GET /v1/campaigns`: fingerprints of texts several people reported.
pub async fn campaigns(
    State(app): State<Arc<App>>,
    _who: Authed,
) -> Result<Json<CampaignList>, ApiError> {
    let list = app
        .store
        .campaigns(app.config.spam_policy(), app.now())
        .await?;
    Ok(Json(CampaignList {
        fingerprints: list.into_iter().map(|f| format!("{f:016x}")).collect(),
    }))
}
