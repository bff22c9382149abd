//! The client-address extractor: [`ClientAddr`] from the socket peer and,
//! behind trusted proxies, `X-Forwarded-For` (see
//! [`crate::service::address::client_ip`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::service::address::{client_ip, ClientAddr};
use crate::App;

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| {
                tracing::error!("the router is served without connection info");
                ApiError::Internal
            })?;
        Ok(ClientAddr(client_ip(app, peer, &parts.headers)))
    }
}
