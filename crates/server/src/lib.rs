//! The Tidings server.
//!
//! [`run`] serves the HTTP API and the delivery stream on a listener until a
//! shutdown future completes. Everything it keeps lives in a [`Store`]; the
//! only in-memory state is who is connected ([`cluster::hub::Hub`]),
//! rate-limit windows, and the development inboxes of the simulated carrier.
//!
//! Layers, each arrow pointing down (a test reads the `use` lines to keep it
//! so, see `tests/layering.rs`):
//! - `http` (the router and one thin handler module per resource: parse,
//!   call a service, map the answer) and `web` (the server's own pages:
//!   `/deregister`, the development carrier, the web app's files);
//! - `service`: every rule (accounts and codes, messaging, directory, keys,
//!   blobs, links, reports, SMS, rate limits, proofs of work);
//! - `workers`: the background loops (expiry and fallback, the SMS outbox);
//! - `cluster`: who is connected and waking them;
//! - `store`: durable state behind the [`Store`] trait, and blob bytes.
//!
//! Beside them: [`app`] (the state every layer shares), [`config`],
//! [`clock`] and [`error`] (what a request can fail with).

pub mod app;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod error;
pub mod http;
pub mod service;
pub mod store;
pub mod web;
pub mod workers;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use app::{App, Limiters};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use store::{SqlStore, Store};

/// Name of the database file inside the data directory.
pub const DATABASE_FILE: &str = "tidings.sqlite3";
/// Name of the attachment directory inside the data directory.
pub const BLOBS_DIR: &str = "blobs";
/// Name of the server secret (keys code hashes) inside the data directory.
pub const SECRET_FILE: &str = "server-secret";

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory or a file in it could not be used.
    #[error("data directory {path}: {message}")]
    DataDir {
        /// The path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The configuration is inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// Serving failed.
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves on `listener` with the real clock until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let mut config = config;
    // The address actually bound (`listen` may ask for port 0) is what
    // links and delivery reports point at unless `public_url` says otherwise.
    config.listen = listener.local_addr()?;
    let app = App::open(config, Arc::new(SystemClock))?;
    serve(listener, app, shutdown).await
}

/// Serves an already opened [`App`] (tests pass one with a manual clock).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %app.config.data_dir.display(), "tidings server listening");
    let limits =
        http::connections::ConnectionLimits::new(&app.config, http::connections::open_file_limit());
    let sweeper = tokio::spawn(workers::sweep::run(app.clone()));
    let sms_worker = tokio::spawn(workers::sms::run(app.clone()));
    let bus = app
        .hub
        .bus()
        .cloned()
        .map(|bus| tokio::spawn(bus.run(Arc::downgrade(&app.hub))));
    let hub_app = app.clone();
    http::connections::serve(listener, http::router(app), limits, async move {
        shutdown.await;
        hub_app.hub.shut_down();
    })
    .await;
    sweeper.abort();
    sms_worker.abort();
    if let Some(bus) = bus {
        bus.abort();
    }
    tracing::info!("tidings server stopped");
    Ok(())
}
