//! Kannel's calls: inbound SMS and delivery reports: thin handlers over [`crate::service::kannel`].

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::service::kannel;
use crate::App;

/// `GET /v1/kannel/inbound?secret&from=%p&to=%P&coding=%c&bin=%b`: an SMS
/// from a phone. To a number on Tidings it reaches every device of that
/// account; to any other number it is dropped (and logged without content).
pub async fn inbound(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    kannel::inbound(&app, query).await.map(|()| StatusCode::OK)
}

/// `GET /v1/kannel/dlr?secret&id&part&parts&type=%d&reply=%A`: a delivery
/// report for segment `part` of outbox SMS `id`. The SMS counts as delivered
/// when its last segment is; any failed segment fails it.
pub async fn dlr(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    kannel::dlr(&app, query).await.map(|()| StatusCode::OK)
}
