//! `GET /v1/health`: a thin handler over [`crate::service::health`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tidings_proto::api::Health;

use crate::service::health;
use crate::App;

/// `GET /v1/health`: 200 when storage can read and commit, else 503.
pub async fn health(State(app): State<Arc<App>>) -> (StatusCode, Json<Health>) {
    let storage = health::storage(&app).await;
    let ok = storage == "ok";
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(Health {
            status: if ok { "ok" } else { "unavailable" }.to_string(),
            storage: storage.to_string(),
        }),
    )
}
