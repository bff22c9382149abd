//! Reports and the campaign list: thin handlers over [`crate::service::reports`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::{CampaignList, ReportRequest};

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::service::reports;
use crate::App;

/// `POST /v1/reports`: blocks or reports the sender of a message request.
pub async fn report(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<ReportRequest>,
) -> Result<StatusCode, ApiError> {
    reports::report(&app, who, req)
        .await
        .map(|()| StatusCode::ACCEPTED)
}

/// `GET /v1/campaigns`: fingerprints of texts several people reported.
pub async fn campaigns(
    State(app): State<Arc<App>>,
    _who: Authed,
) -> Result<Json<CampaignList>, ApiError> {
    reports::campaigns(&app, _who).await.map(Json)
}
