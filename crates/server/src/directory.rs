//! The directory: which devices stand behind a handle.
//!
//! Senders need a recipient's device list to address one payload to each
//! device. Lookups are authenticated and rate-limited per account so that
//! the directory cannot be scraped quickly.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use tidings_proto::api::{DirectoryEntry, DirectoryRequest, DirectoryResponse};
use tidings_proto::AccountId;

use crate::accounts::parse_handle;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::App;

/// Most handles in one lookup request.
pub const MAX_LOOKUP_HANDLES: usize = 100;

/// `POST /v1/directory`: devices of each handle that is on Tidings.
pub async fn lookup(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<DirectoryRequest>,
) -> Result<Json<DirectoryResponse>, ApiError> {
    if req.handles.len() > MAX_LOOKUP_HANDLES {
        return Err(ApiError::limit(
            "too_many_handles",
            format!("at most {MAX_LOOKUP_HANDLES} handles per lookup"),
        ));
    }
    let handles = req
        .handles
        .iter()
        .map(|h| parse_handle(&app, h))
        .collect::<Result<Vec<_>, _>>()?;
    let now = app.now();
    let key = who.account.to_string();
    for _ in &handles {
        app.limits
            .lookups
            .check(&key, now)
            .map_err(|l| ApiError::Limit {
                code: "rate_limited",
                message: format!(
                    "too many lookups (lookups_per_account_per_minute); try again in {} s",
                    l.retry_after_secs
                ),
                retry_after_secs: Some(l.retry_after_secs),
            })?;
    }
    let found = app.store.lookup(&handles).await?;
    let mut out = DirectoryResponse {
        found: Vec::new(),
        not_found: Vec::new(),
    };
    for (handle, entry) in handles.into_iter().zip(found) {
        match entry {
            Some((account, devices)) => {
                let reachable = reachable(&app, account, now).await?;
                out.found.push(DirectoryEntry {
                    handle,
                    account,
                    devices,
                    reachable,
                })
            }
            None => out.not_found.push(handle),
        }
    }
    Ok(Json(out))
}

/// True when a device of the account is connected now or was seen within
/// `stale_after_secs`.
pub async fn reachable(app: &App, account: AccountId, now: u64) -> Result<bool, ApiError> {
    let cutoff = now.saturating_sub(app.config.stale_after_secs * 1000);
    Ok(app
        .store
        .devices(account)
        .await?
        .iter()
        .any(|d| d.last_seen >= cutoff || app.hub.is_connected(d.id)))
}
