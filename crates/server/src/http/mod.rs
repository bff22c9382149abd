//! The HTTP edge: the router, and one thin handler module per resource.
//! A handler parses its input, calls one service and maps the answer; no
//! handler calls another (`tests/layering.rs` checks the `use` lines).

pub mod accounts;
pub mod address;
pub mod auth;
pub mod blobs;
pub mod connections;
pub mod devices;
pub mod directory;
pub mod error;
pub mod headers;
pub mod health;
pub mod kannel;
pub mod keys;
pub mod links;
pub mod messages;
pub mod reports;
pub mod stream;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use tidings_proto::paths;

use crate::web::{carrier, deregister, webapp};
use crate::App;

/// The HTTP routes of the server.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(webapp::index))
        .route("/{file}", get(webapp::top_file))
        .route("/assets/{file}", get(webapp::asset))
        .route(paths::LIMITS, get(messages::limits))
        .route(paths::HEALTH, get(health::health))
        .route(paths::CODES, post(accounts::send_code))
        .route(paths::ACCOUNTS, post(accounts::register))
        .route(
            paths::ACCOUNT,
            get(accounts::me)
                .put(accounts::set_settings)
                .delete(accounts::delete_account),
        )
        .route(paths::HANDLE, delete(accounts::remove_handle))
        .route(
            paths::HANDLES,
            get(accounts::handles).post(accounts::add_handle),
        )
        .route(paths::DEVICES, get(devices::list).post(accounts::login))
        .route(paths::DEVICE, delete(devices::remove))
        .route(paths::DIRECTORY, post(directory::lookup))
        .route(paths::KEYS, get(keys::count).post(keys::upload))
        .route(paths::KEYS_CLAIM, post(keys::claim))
        .route(paths::KEYS_IDENTITIES, post(keys::identities))
        .route(paths::MESSAGES, post(messages::send))
        .route(paths::MESSAGES_FALLBACK, post(messages::fallback))
        .route(paths::STREAM, get(stream::connect))
        .route(paths::BLOBS, post(blobs::create))
        .route(paths::BLOB, get(blobs::status))
        .route(paths::BLOB_COMPLETE, post(blobs::complete))
        .route(
            paths::BLOB_CHUNK,
            get(blobs::get_chunk).put(blobs::put_chunk),
        )
        .route("/carrier", get(carrier::page))
        .route(paths::CARRIER_INBOX, get(carrier::inbox))
        .route(paths::CARRIER_SEND, post(carrier::send))
        .route(paths::LINKS, post(links::create))
        .route(paths::REPORTS, post(reports::report))
        .route(paths::CAMPAIGNS, get(reports::campaigns))
        .route(paths::LINK, get(links::download))
        .route(paths::KANNEL_INBOUND, get(kannel::inbound))
        .route(paths::KANNEL_DLR, get(kannel::dlr))
        .merge(deregister::routes())
        .layer(DefaultBodyLimit::max(app.config.connections.max_body_bytes))
        .layer(axum::middleware::map_response(error::explain_plain_errors))
        .layer(axum::middleware::from_fn_with_state(
            app.config.request_timeout(),
            connections::deadline,
        ))
        .layer(axum::middleware::map_response(headers::secure))
        .with_state(app)
}
