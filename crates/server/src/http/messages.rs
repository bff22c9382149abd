//! Sending messages and SMS fallback: thin handlers over [`crate::service::messaging`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::{Limits, SendAccepted, SendRequest};

use crate::error::ApiError;
use crate::service::auth::Authed;
use crate::service::messaging::{self, FallbackOutcome};
use crate::App;

/// `GET /v1/limits`: the limits in force.
pub async fn limits(State(app): State<Arc<App>>) -> Json<Limits> {
    Json(app.config.limits())
}

/// `POST /v1/messages`: stores an envelope for every device (or pushes an
/// ephemeral one to connected devices).
pub async fn send(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<SendRequest>,
) -> Result<Json<SendAccepted>, ApiError> {
    messaging::send(&app, who, req).await.map(Json)
}

/// `POST /v1/messages/fallback`: re-sends, as SMS, a message that reached
/// none of a phone number's devices in time. Exactly once per message and
/// number, whichever of the sender's devices asks first; the queued IP
/// copies are withdrawn in the same transaction.
pub async fn fallback(
    State(app): State<Arc<App>>,
    who: Authed,
    Json(req): Json<tidings_proto::api::FallbackRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    Ok(match messaging::fallback(&app, who, req).await? {
        FallbackOutcome::Queued => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    })
}
