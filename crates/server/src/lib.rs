//! The Tidings server.
//!
//! [`run`] serves the HTTP API and the delivery stream on a listener until a
//! shutdown future completes. Everything it keeps lives in a [`Store`]; the
//! only in-memory state is who is connected ([`hub::Hub`]), rate-limit
//! windows, and the development inboxes of the simulated carrier.
//!
//! Module map: `accounts` (codes, registration, login, handles), `address`
//! (client address and range), `pow` (proof of work for codes), `devices`,
//! `directory` (handle → devices), `messages` (send), `stream` (WebSocket
//! delivery), `hub` (connected devices), `sweep` (expiry, fallback), `sms`
//! (the durable SMS outbox), `kannel` (Kannel's inbound and delivery-report
//! calls), `links` (download links for attachments sent by SMS),
//! `deregister` (the web page that unbinds a number), `reports` (reports and
//! the campaign list), `carrier` (the development inbox page), `store`
//! (durable state; `store::abuse` for the spam defence), `config`,
//! `connections` (the accept loop: connection caps and timeouts),
//! `headers` (security headers on every answer).

pub mod accounts;
pub mod address;
pub mod auth;
pub mod blobs;
pub mod carrier;
pub mod clock;
pub mod config;
pub mod connections;
pub mod deregister;
pub mod devices;
pub mod directory;
pub mod error;
pub mod headers;
pub mod health;
pub mod hub;
pub mod kannel;
pub mod keys;
pub mod links;
pub mod mail;
pub mod messages;
pub mod pow;
pub mod ratelimit;
pub mod reports;
pub mod sms;
pub mod store;
pub mod stream;
pub mod sweep;
pub mod webapp;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tidings_proto::paths;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use rand::RngCore;
use tidings_sms::{Inboxes, KannelConfig, KannelGateway, SimulatedCarrier, SmsGateway};
use tokio::net::TcpListener;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use store::{SqliteStore, Store};

use crate::hub::Hub;
use crate::mail::{DevOutbox, Mailer, SmtpMailer};
use crate::ratelimit::{RateLimiter, TokenBucket};

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

/// The rate limiters, one per named limit of the configuration.
pub struct Limiters {
    /// `code_sends_per_handle_max_per_hour` (past
    /// `code_sends_per_handle_per_hour` of it, codes need a proof of work).
    pub code_per_handle: RateLimiter,
    /// `code_sends_per_handle_per_address_per_hour`.
    pub code_per_handle_address: RateLimiter,
    /// Proofs of work already used, each good for one code.
    pub pow_spent: pow::SpentChallenges,
    /// `code_sends_per_address_per_hour`.
    pub code_per_address: RateLimiter,
    /// `code_checks_per_address_per_hour`.
    pub checks_per_address: RateLimiter,
    /// `lookups_per_account_per_minute`.
    pub lookups: RateLimiter,
    /// `sends_per_account_per_minute`.
    pub sends: TokenBucket,
    /// `key_claims_per_account_per_hour`.
    pub claims: RateLimiter,
    /// `key_claims_per_target_device_per_hour`, keyed by requester and
    /// target device.
    pub claims_per_target: RateLimiter,
    /// Handles each account looked up lately (`lookup_memory_secs`), which
    /// sends may address without drawing on `lookups`.
    pub recent_lookups: directory::LookupMemory,
    /// `reports_per_account_per_day`.
    pub reports_per_account: RateLimiter,
}

const HOUR_MS: u64 = 3_600_000;
const MINUTE_MS: u64 = 60_000;

impl Limiters {
    fn new(c: &Config) -> Self {
        Limiters {
            reports_per_account: RateLimiter::new(
                "reports_per_account_per_day",
                c.reports_per_account_per_day,
                24 * HOUR_MS,
            ),
            code_per_handle: RateLimiter::new(
                "code_sends_per_handle_max_per_hour",
                c.code_sends_per_handle_max_per_hour,
                HOUR_MS,
            ),
            code_per_handle_address: RateLimiter::new(
                "code_sends_per_handle_per_address_per_hour",
                c.code_sends_per_handle_per_address_per_hour,
                HOUR_MS,
            ),
            pow_spent: pow::SpentChallenges::new(),
            code_per_address: RateLimiter::new(
                "code_sends_per_address_per_hour",
                c.code_sends_per_address_per_hour,
                HOUR_MS,
            ),
            checks_per_address: RateLimiter::new(
                "code_checks_per_address_per_hour",
                c.code_checks_per_address_per_hour,
                HOUR_MS,
            ),
            lookups: RateLimiter::new(
                "lookups_per_account_per_minute",
                c.lookups_per_account_per_minute,
                MINUTE_MS,
            ),
            sends: TokenBucket::new(
                "sends_per_account_per_minute",
                c.send_burst,
                c.sends_per_account_per_minute,
            ),
            claims: RateLimiter::new(
                "key_claims_per_account_per_hour",
                c.key_claims_per_account_per_hour,
                HOUR_MS,
            ),
            claims_per_target: RateLimiter::new(
                "key_claims_per_target_device_per_hour",
                c.key_claims_per_target_device_per_hour,
                HOUR_MS,
            ),
            recent_lookups: directory::LookupMemory::new(
                c.lookup_memory_secs * 1000,
                c.lookup_memory_per_account,
                directory::MAX_REMEMBERED_LOOKUPS,
            ),
        }
    }
}

/// Shared state of every request handler.
pub struct App {
    /// The configuration in force.
    pub config: Config,
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Connected devices.
    pub hub: Hub,
    /// Where SMS go.
    pub sms: Arc<dyn SmsGateway>,
    /// The simulated carrier, when it is the SMS gateway and the development
    /// pages are on ([`carrier::dev_pages`]).
    pub carrier: Option<SimulatedCarrier>,
    /// The development mail outbox, when no SMTP relay is configured and
    /// the development pages are on.
    pub dev_mail: Option<Arc<Inboxes>>,
    /// Where e-mail goes.
    pub mailer: Arc<dyn Mailer>,
    /// Where attachment bytes go.
    pub blobs: Arc<dyn blobs::BlobStore>,
    /// Wakes the SMS worker when new SMS are queued.
    pub sms_wake: tokio::sync::Notify,
    /// Random key for hashing codes, kept in the data directory.
    pub secret: [u8; 32],
    /// Rate limits.
    pub limits: Limiters,
    /// The last published campaign list.
    pub campaigns: reports::CampaignCache,
    /// The web app's files, when `web_dir` holds a build.
    pub web: Option<webapp::WebApp>,
}

impl App {
    /// Opens the data directory and builds the state, with the given clock.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Arc<App>, ServerError> {
        config
            .validate()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| data_dir(dir, e))?;
        let secret = load_secret(&dir.join(SECRET_FILE))?;
        let store = SqliteStore::open_limited(
            &dir.join(DATABASE_FILE),
            config.max_batch,
            config.max_database_bytes,
        )?;
        let blobs: Arc<dyn blobs::BlobStore> = if config.blob_store == "s3" {
            Arc::new(
                blobs::S3BlobStore::new(&config).map_err(|e| ServerError::Config(e.to_string()))?,
            )
        } else {
            Arc::new(blobs::LocalBlobStore::new(dir.join(BLOBS_DIR)))
        };
        let web = webapp::WebApp::load(&config.web_dir)
            .map_err(|e| ServerError::Config(e.to_string()))?;
        if web.is_none() {
            tracing::info!(web_dir = %config.web_dir.display(), "no web app built there (scripts/build-web); `/` is a plain page");
        }
        let dev_pages =
            carrier::dev_pages(&config).map_err(|e| ServerError::Config(e.to_string()))?;
        let (sms, carrier) = sms_gateway(&config, dev_pages)?;
        let (mailer, dev_mail): (Arc<dyn Mailer>, _) = if config.smtp_relay.is_empty() {
            let inboxes = Arc::new(Inboxes::with_max_bytes(config.dev_inbox_max_bytes));
            (
                Arc::new(DevOutbox::new(&config.smtp_from, inboxes.clone())),
                Some(inboxes),
            )
        } else {
            let m = SmtpMailer::new(&config.smtp_relay, &config.smtp_from)
                .map_err(|e| ServerError::Config(e.to_string()))?;
            (Arc::new(m), None)
        };
        Ok(Arc::new(App {
            limits: Limiters::new(&config),
            hub: Hub::new(hub::HubLimits::from_config(&config)),
            store: Arc::new(store),
            clock,
            sms,
            carrier,
            dev_mail: if dev_pages { dev_mail } else { None },
            mailer,
            blobs,
            sms_wake: tokio::sync::Notify::new(),
            campaigns: reports::CampaignCache::default(),
            web,
            secret,
            config,
        }))
    }

    /// Now, from the configured clock.
    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Milliseconds an undelivered envelope (or a notice) is kept.
    pub fn ttl_ms(&self) -> u64 {
        self.config.envelope_ttl_days * 24 * HOUR_MS
    }
}

/// The configured SMS gateway, and the simulated carrier when it is the
/// gateway and its development pages are on.
fn sms_gateway(
    config: &Config,
    dev_pages: bool,
) -> Result<(Arc<dyn SmsGateway>, Option<SimulatedCarrier>), ServerError> {
    if config.sms_gateway != "kannel" {
        let carrier = SimulatedCarrier::with_max_bytes(config.dev_inbox_max_bytes);
        return Ok((Arc::new(carrier.clone()), dev_pages.then_some(carrier)));
    }
    let callback = config.public_base();
    let secret = tidings_sms::encoding::url_encode_bytes(config.kannel_secret.as_bytes());
    let gateway = KannelGateway::new(KannelConfig {
        sendsms_url: config.kannel_sendsms_url.clone(),
        username: config.kannel_username.clone(),
        password: config.kannel_password.clone(),
        dlr_url: Some(format!("{callback}/v1/kannel/dlr?secret={secret}")),
    })
    .map_err(|e| ServerError::Config(e.to_string()))?;
    Ok((Arc::new(gateway), None))
}

fn data_dir(path: &Path, e: impl std::fmt::Display) -> ServerError {
    ServerError::DataDir {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn load_secret(path: &Path) -> Result<[u8; 32], ServerError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let bytes = hex::decode(text.trim()).map_err(|e| data_dir(path, e))?;
        return bytes
            .try_into()
            .map_err(|_| data_dir(path, "server secret must be 32 bytes of hex; delete it to make a new one (pending codes become invalid)"));
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    write_private(path, hex::encode(secret).as_bytes()).map_err(|e| data_dir(path, e))?;
    Ok(secret)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

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
        .layer(DefaultBodyLimit::max(app.config.max_body_bytes))
        .layer(axum::middleware::map_response(error::explain_plain_errors))
        .layer(axum::middleware::from_fn_with_state(
            app.config.request_timeout(),
            connections::deadline,
        ))
        .layer(axum::middleware::map_response(headers::secure))
        .with_state(app)
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
    let limits = connections::ConnectionLimits::new(&app.config, connections::open_file_limit());
    let sweeper = tokio::spawn(sweep::run(app.clone()));
    let sms_worker = tokio::spawn(sms::run(app.clone()));
    let hub_app = app.clone();
    connections::serve(listener, router(app), limits, async move {
        shutdown.await;
        hub_app.hub.shut_down();
    })
    .await;
    sweeper.abort();
    sms_worker.abort();
    tracing::info!("tidings server stopped");
    Ok(())
}
