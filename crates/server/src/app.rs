//! The state every request, page and worker shares: configuration, store,
//! clock, gateways, rate limiters and who is connected, built once from the
//! configuration by [`App::open`].

use std::path::Path;
use std::sync::Arc;

use rand::RngCore;
use tidings_sms::{Inboxes, KannelConfig, KannelGateway, SimulatedCarrier, SmsGateway};

use crate::clock::Clock;
use crate::cluster::bus::Bus;
use crate::cluster::hub::{self, Hub};
use crate::cluster::limits::SharedLimits;
use crate::config::Config;
use crate::service::mail::{DevOutbox, Mailer, SmtpMailer};
use crate::service::ratelimit::{RateLimiter, TokenBucket};
use crate::service::{directory, pow, reports};
use crate::store::blobs;
use crate::store::SqlStore;
use crate::store::Store;
use crate::web::{carrier, webapp};
use crate::{ServerError, BLOBS_DIR, DATABASE_FILE, SECRET_FILE};

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
    fn new(c: &Config, shared: Option<Arc<SharedLimits>>) -> Self {
        let s = || shared.clone();
        Limiters {
            reports_per_account: RateLimiter::new(
                "reports_per_account_per_day",
                c.spam.reports_per_account_per_day,
                24 * HOUR_MS,
            )
            .shared(s()),
            code_per_handle: RateLimiter::new(
                "code_sends_per_handle_max_per_hour",
                c.codes.code_sends_per_handle_max_per_hour,
                HOUR_MS,
            )
            .shared(s()),
            code_per_handle_address: RateLimiter::new(
                "code_sends_per_handle_per_address_per_hour",
                c.codes.code_sends_per_handle_per_address_per_hour,
                HOUR_MS,
            )
            .shared(s()),
            pow_spent: pow::SpentChallenges::shared(s()),
            code_per_address: RateLimiter::new(
                "code_sends_per_address_per_hour",
                c.codes.code_sends_per_address_per_hour,
                HOUR_MS,
            )
            .shared(s()),
            checks_per_address: RateLimiter::new(
                "code_checks_per_address_per_hour",
                c.codes.code_checks_per_address_per_hour,
                HOUR_MS,
            )
            .shared(s()),
            lookups: RateLimiter::new(
                "lookups_per_account_per_minute",
                c.limits.lookups_per_account_per_minute,
                MINUTE_MS,
            )
            .shared(s()),
            sends: TokenBucket::new(
                "sends_per_account_per_minute",
                c.limits.send_burst,
                c.limits.sends_per_account_per_minute,
            )
            .shared(s()),
            claims: RateLimiter::new(
                "key_claims_per_account_per_hour",
                c.limits.key_claims_per_account_per_hour,
                HOUR_MS,
            )
            .shared(s()),
            claims_per_target: RateLimiter::new(
                "key_claims_per_target_device_per_hour",
                c.limits.key_claims_per_target_device_per_hour,
                HOUR_MS,
            )
            .shared(s()),
            recent_lookups: directory::LookupMemory::new(
                c.limits.lookup_memory_secs * 1000,
                c.limits.lookup_memory_per_account,
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
    pub hub: Arc<Hub>,
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
        // The data directory's secret seeds the database's: one node keeps
        // its own, several on one database agree on the first one's.
        let seed = load_secret(&dir.join(SECRET_FILE))?;
        let store = if config.storage.database_url.is_empty() {
            SqlStore::open_limited(
                &dir.join(DATABASE_FILE),
                config.storage.max_batch,
                config.storage.max_database_bytes,
            )?
        } else {
            SqlStore::open_postgres(&config.storage.database_url, config.storage.max_batch)?
        };
        let secret = store.shared_secret(seed)?;
        let blobs: Arc<dyn blobs::BlobStore> = if config.storage.blob_store
            == crate::config::BlobStore::S3
        {
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
        let (mailer, dev_mail): (Arc<dyn Mailer>, _) = if config.mail.smtp_relay.is_empty() {
            let inboxes = Arc::new(Inboxes::with_max_bytes(config.sms.dev_inbox_max_bytes));
            (
                Arc::new(DevOutbox::new(&config.mail.smtp_from, inboxes.clone())),
                Some(inboxes),
            )
        } else {
            let m = SmtpMailer::new(&config.mail.smtp_relay, &config.mail.smtp_from)
                .map_err(|e| ServerError::Config(e.to_string()))?;
            (Arc::new(m), None)
        };
        let limits = hub::HubLimits::from_config(&config);
        let (hub, shared) = if config.cluster.redis_url.is_empty() {
            (Hub::new(limits), None)
        } else {
            let bus = Bus::new(&config.cluster.redis_url, node_id())
                .map_err(|e| ServerError::Config(e.to_string()))?;
            let client = redis::Client::open(config.cluster.redis_url.as_str())
                .map_err(|e| ServerError::Config(format!("redis_url: {e}")))?;
            (
                Hub::with_bus(limits, Arc::new(bus)),
                Some(Arc::new(SharedLimits::new(client))),
            )
        };
        Ok(Arc::new(App {
            limits: Limiters::new(&config, shared),
            hub: Arc::new(hub),
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
        self.config.limits.envelope_ttl_days * 24 * HOUR_MS
    }
}

/// The configured SMS gateway, and the simulated carrier when it is the
/// gateway and its development pages are on.
fn sms_gateway(
    config: &Config,
    dev_pages: bool,
) -> Result<(Arc<dyn SmsGateway>, Option<SimulatedCarrier>), ServerError> {
    if config.sms.sms_gateway != crate::config::SmsGateway::Kannel {
        let carrier = SimulatedCarrier::with_max_bytes(config.sms.dev_inbox_max_bytes);
        return Ok((Arc::new(carrier.clone()), dev_pages.then_some(carrier)));
    }
    let callback = config.public_base();
    let secret = tidings_sms::encoding::url_encode_bytes(config.sms.kannel_secret.as_bytes());
    let gateway = KannelGateway::new(KannelConfig {
        sendsms_url: config.sms.kannel_sendsms_url.clone(),
        username: config.sms.kannel_username.clone(),
        password: config.sms.kannel_password.clone(),
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

/// A name for this node among several: host, process and a random part, so
/// a restarted node is a new one (its old presence keys expire).
fn node_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let mut r = [0u8; 4];
    rand::rng().fill_bytes(&mut r);
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect();
    format!("{host}-{}-{}", std::process::id(), hex::encode(r))
}
