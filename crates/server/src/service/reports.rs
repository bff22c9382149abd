//! Reports and blocks of message requests, and the published campaign list.
//!
//! The server never sees message content, except the text a reporter
//! chooses to share: from that text it keeps only a SimHash fingerprint,
//! which joins the campaign list once several people reported texts like
//! it. A report names its envelope by the opaque token the server minted
//! into it, which proves who sent it to whom.

use std::sync::Arc;

use tidings_proto::api::{CampaignList, ReportRequest};
use tidings_spam::fingerprint::Fingerprint;

use crate::error::ApiError;
use crate::service::accounts::limited;
use crate::service::auth::Authed;
use crate::App;

/// Longest shared text accepted with a report, in bytes.
pub const MAX_REPORTED_TEXT_BYTES: usize = 4096;
/// Longest report token accepted.
pub const MAX_TOKEN_BYTES: usize = 64;

/// `POST /v1/reports`: blocks or reports the sender of a message request.
pub async fn report(app: &App, who: Authed, req: ReportRequest) -> Result<(), ApiError> {
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
    crate::service::messaging::refuse_if_banned(app, who.account).await?;
    limited(
        &app.limits.reports_per_account,
        &who.account.to_string(),
        app.now(),
        "reports from this account",
    )
    .await?;
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
    if fingerprint.is_some() {
        app.campaigns.clear();
    }
    if !effect.restricted.is_empty() || !effect.banned.is_empty() {
        tracing::info!(
            restricted = effect.restricted.len(),
            banned = effect.banned.len(),
            "a report acted on a cluster"
        );
    }
    Ok(())
}

/// How long a computed campaign list is served before it is computed again
/// (a new report with a text clears it at once).
pub const CAMPAIGN_CACHE_MS: u64 = 60_000;

/// The last campaign list and when it was computed: computing it looks at
/// up to 5,000 reports and the answers to their senders, and every device
/// asks for it, so repeated requests must not each pay for it.
#[derive(Debug, Default)]
pub struct CampaignCache {
    last: std::sync::Mutex<Option<(u64, Arc<Vec<u64>>)>>,
}

impl CampaignCache {
    /// The cached list, if computed less than [`CAMPAIGN_CACHE_MS`] ago.
    pub fn get(&self, now: u64) -> Option<Arc<Vec<u64>>> {
        let last = self.last.lock().expect("the cache lock is never poisoned");
        last.as_ref()
            .filter(|(at, _)| now.saturating_sub(*at) < CAMPAIGN_CACHE_MS && now >= *at)
            .map(|(_, list)| Arc::clone(list))
    }

    /// Keeps `list`, computed at `now`.
    pub fn put(&self, now: u64, list: Arc<Vec<u64>>) {
        *self.last.lock().expect("the cache lock is never poisoned") = Some((now, list));
    }

    /// Forgets the list (a report may have made a campaign).
    pub fn clear(&self) {
        *self.last.lock().expect("the cache lock is never poisoned") = None;
    }
}

/// `GET /v1/campaigns`: fingerprints of texts several people reported.
pub async fn campaigns(app: &App, _who: Authed) -> Result<CampaignList, ApiError> {
    let now = app.now();
    let list = match app.campaigns.get(now) {
        Some(list) => list,
        None => {
            let list = Arc::new(app.store.campaigns(app.config.spam_policy(), now).await?);
            app.campaigns.put(now, Arc::clone(&list));
            list
        }
    };
    Ok(CampaignList {
        fingerprints: list.iter().map(|f| format!("{f:016x}")).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_campaign_list_is_kept_a_minute_unless_cleared() {
        let cache = CampaignCache::default();
        assert!(cache.get(0).is_none());
        cache.put(1_000, Arc::new(vec![7]));
        assert_eq!(
            cache.get(1_000 + CAMPAIGN_CACHE_MS - 1).as_deref(),
            Some(&vec![7])
        );
        assert!(cache.get(1_000 + CAMPAIGN_CACHE_MS).is_none());
        // A clock that went back does not serve a list from the future.
        assert!(cache.get(999).is_none());
        cache.clear();
        assert!(cache.get(1_000).is_none());
    }
}
