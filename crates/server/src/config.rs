//! The one typed configuration of the server.
//!
//! Values come from, in rising order of precedence: the defaults below, a
//! TOML file (`--config FILE`) with top-level settings and one section per
//! area (`[limits]`, `[sms]`, ...), `TIDINGS_*` environment variables (the
//! setting's name in upper case, wherever it lives, e.g.
//! `TIDINGS_MAX_DEVICES=4`), and command-line flags (applied by the binary).
//! Every limit the server enforces lives here. Choices between components
//! are enums, so a misspelt gateway is refused as the file is read.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Shortest accepted `kannel_secret`.
pub const MIN_KANNEL_SECRET_CHARS: usize = 16;

/// Smallest `max_header_bytes` (the HTTP parser's own minimum buffer).
pub const MIN_HEADER_BYTES: usize = 8192;

/// Longest accepted connection timeout (`*_timeout_secs`): a day. Longer
/// ones protect nothing and would overflow deadlines.
pub const MAX_CONNECTION_TIMEOUT_SECS: u64 = 86_400;

/// Most reverse proxies `trusted_proxies` may count.
pub const MAX_TRUSTED_PROXIES: u32 = 16;

/// Prefix of the environment variables that override the configuration.
pub const ENV_PREFIX: &str = "TIDINGS_";

/// Server configuration: top-level settings and one section per area
/// (`[connections]`, `[limits]`, ...). Every leaf name is unique across
/// sections, so `TIDINGS_` + a leaf name sets it wherever it lives. The
/// defaults are what `tidings serve` runs with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory holding the database and attachment blobs.
    pub data_dir: PathBuf,
    /// Region (ISO 3166 alpha-2) for phone numbers typed without `+`.
    pub default_region: String,
    /// Base URL of this server as phones and Kannel reach it (download
    /// links in SMS, delivery reports); empty means `http://` + `listen`.
    pub public_url: String,
    /// The built web app served at `/` (`scripts/build-web` makes
    /// `web/dist`); relative paths are from the working directory. Without
    /// an `index.html` there, `/` is a plain page.
    pub web_dir: PathBuf,
    /// Development mode: serve the simulated carrier and the development
    /// mail outbox (`/carrier`, where anyone can read every code) even on a
    /// non-loopback `listen`. Without it such a server refuses to start
    /// while codes would go to them (`tidings serve --dev`, `TIDINGS_DEV`).
    pub dev: bool,
    /// The `[connections]` section: see [`Connections`].
    pub connections: Connections,
    /// The `[limits]` section: see [`Limits`].
    pub limits: Limits,
    /// The `[codes]` section: see [`Codes`].
    pub codes: Codes,
    /// The `[mail]` section: see [`Mail`].
    pub mail: Mail,
    /// The `[sms]` section: see [`Sms`].
    pub sms: Sms,
    /// The `[spam]` section: see [`Spam`].
    pub spam: Spam,
    /// The `[storage]` section: see [`Storage`].
    pub storage: Storage,
    /// The `[cluster]` section: see [`Cluster`].
    pub cluster: Cluster,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            data_dir: PathBuf::from("tidings-data"),
            default_region: "US".into(),
            public_url: String::new(),
            web_dir: PathBuf::from("web/dist"),
            dev: false,
            connections: Connections::default(),
            limits: Limits::default(),
            codes: Codes::default(),
            mail: Mail::default(),
            sms: Sms::default(),
            spam: Spam::default(),
            storage: Storage::default(),
            cluster: Cluster::default(),
        }
    }
}

/// `[connections]`: How many connections one client may hold open, for how long, and how big its requests may be; each bounds the memory and file descriptors a slow or idle client costs, and which address counts as the client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Connections {
    /// Connections open at once, HTTP and delivery streams together; more
    /// are closed as soon as they are accepted. Lowered at start to fit the
    /// process's open-file limit.
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv4 address,
    /// an IPv6 /64). Not applied with `trust_forwarded_for`: every
    /// connection then comes from the proxy, which must limit clients.
    pub max_connections_per_address: usize,
    /// Simultaneous stream connections per account.
    pub max_connections_per_account: usize,
    /// Seconds a client has to send a request's head, counted from the
    /// connection (or, on a kept-alive connection, from the end of the
    /// previous answer); a client that sends less is disconnected.
    pub header_read_timeout_secs: u64,
    /// Bytes of a request's head (request line and headers); more is
    /// answered `431` and the connection closed. At least 8192.
    pub max_header_bytes: usize,
    /// Seconds from a request's head to its answer: the body must arrive and
    /// the server answer within this, else `408 request_timeout`.
    pub request_timeout_secs: u64,
    /// Seconds a connection may move no byte either way before it is
    /// closed (a client that stops reading an answer or a delivery stream).
    pub idle_timeout_secs: u64,
    /// Bytes of an HTTP request body.
    pub max_body_bytes: usize,
    /// Bytes of a WebSocket frame.
    pub max_frame_bytes: usize,
    /// Seconds a new delivery stream has to authenticate.
    pub stream_auth_timeout_secs: u64,
    /// Delivery streams that have not authenticated yet, server-wide.
    pub max_unauthenticated_streams: usize,
    /// Bytes of envelopes pushed on one delivery stream and not yet
    /// acknowledged (one envelope always goes, however large).
    pub max_inflight_bytes_per_stream: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a
    /// reverse proxy that sets it; otherwise anyone could pick an address).
    pub trust_forwarded_for: bool,
    /// Reverse proxies in front of the server that each append the address
    /// they saw to `X-Forwarded-For` (with `trust_forwarded_for`): the
    /// client address is this many entries from the right; entries further
    /// left were written by the client and are ignored.
    pub trusted_proxies: u32,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            max_connections: 10_000,
            max_connections_per_address: 256,
            max_connections_per_account: 16,
            header_read_timeout_secs: 10,
            max_header_bytes: 64 * 1024,
            request_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_body_bytes: 4 * 1024 * 1024,
            max_frame_bytes: 512 * 1024,
            stream_auth_timeout_secs: 10,
            max_unauthenticated_streams: 1024,
            max_inflight_bytes_per_stream: 1024 * 1024,
            trust_forwarded_for: false,
            trusted_proxies: 1,
        }
    }
}

/// `[limits]`: What one account or device may hold and send: devices, recipients, queues, keys, lookups and attachments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Devices per account.
    pub max_devices: usize,
    /// Bytes of one device's payload (decoded).
    pub max_payload_bytes: usize,
    /// Recipient handles per send.
    pub max_recipients: usize,
    /// Members of a group conversation, sender included.
    pub max_group_members: usize,
    /// Envelopes waiting for one device.
    pub max_queue_per_device: u64,
    /// Days an undelivered envelope is kept before the sender is told it
    /// failed.
    pub envelope_ttl_days: u64,
    /// Sends per account per minute.
    pub sends_per_account_per_minute: u32,
    /// Sends one account may make at once before `sends_per_account_per_minute`
    /// applies (the token bucket's size).
    pub send_burst: u32,
    /// Directory lookups per account per minute (handles looked up).
    pub lookups_per_account_per_minute: u32,
    /// Seconds a handle an account looked up (or paid a lookup for when
    /// sending) may be addressed in sends without costing another lookup
    /// from `lookups_per_account_per_minute`.
    pub lookup_memory_secs: u64,
    /// Handles remembered per account for `lookup_memory_secs`; sends to
    /// others cost a lookup each.
    pub lookup_memory_per_account: usize,
    /// One-time keys the server holds per device.
    pub max_one_time_keys_per_device: usize,
    /// One-time keys claimed per account per hour (each claim uses up a
    /// recipient's key).
    pub key_claims_per_account_per_hour: u32,
    /// One-time keys one account may claim from one other device per hour,
    /// so that no single requester can drain a device's prekeys (each
    /// claim uses up one; opening a session needs one).
    pub key_claims_per_target_device_per_hour: u32,
    /// When a claim leaves a device with fewer one-time keys than this, the
    /// device gets a `keys_low` notice telling it to upload more.
    pub one_time_keys_low: usize,
    /// Bytes of one attachment (plaintext).
    pub max_attachment_bytes: u64,
    /// Unfinished uploads per device.
    pub max_uploads_in_progress: usize,
    /// Attachment bytes stored per account (until they expire).
    pub max_storage_per_account: u64,
    /// Hours an unfinished upload is kept.
    pub incomplete_upload_hours: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_devices: 10,
            max_payload_bytes: 96 * 1024,
            max_recipients: 31,
            max_group_members: 32,
            max_queue_per_device: 10_000,
            envelope_ttl_days: 30,
            sends_per_account_per_minute: 6_000,
            send_burst: 6_000,
            lookups_per_account_per_minute: 600,
            lookup_memory_secs: 3600,
            lookup_memory_per_account: 1000,
            max_one_time_keys_per_device: 100,
            key_claims_per_account_per_hour: 1_000,
            key_claims_per_target_device_per_hour: 10,
            one_time_keys_low: 10,
            max_attachment_bytes: 100 * 1024 * 1024,
            max_uploads_in_progress: 4,
            max_storage_per_account: 2 * 1024 * 1024 * 1024,
            incomplete_upload_hours: 24,
        }
    }
}

/// `[codes]`: Verification codes: how long they live, and how many may be asked for and tried, so that nobody can read, guess or spam another's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Codes {
    /// Minutes a verification code stays valid.
    pub code_ttl_minutes: u64,
    /// Wrong tries before a code is void.
    pub code_max_tries: u32,
    /// Codes sent to one handle per hour (from every address) past which
    /// each further code request for it needs a proof of work; see
    /// `code_sends_per_handle_max_per_hour` for the hard cap.
    pub code_sends_per_handle_per_hour: u32,
    /// Codes sent to one handle per hour from every address together, proof
    /// of work or not: bounds what one number can cost in SMS.
    pub code_sends_per_handle_max_per_hour: u32,
    /// Codes one client address may have sent to one handle per hour.
    pub code_sends_per_handle_per_address_per_hour: u32,
    /// Codes requested from one client address per hour.
    pub code_sends_per_address_per_hour: u32,
    /// Code checks (registrations, logins) from one client address per hour.
    pub code_checks_per_address_per_hour: u32,
}

impl Default for Codes {
    fn default() -> Self {
        Codes {
            code_ttl_minutes: 10,
            code_max_tries: 5,
            code_sends_per_handle_per_hour: 5,
            code_sends_per_handle_max_per_hour: 30,
            code_sends_per_handle_per_address_per_hour: 5,
            code_sends_per_address_per_hour: 20,
            code_checks_per_address_per_hour: 60,
        }
    }
}

/// `[mail]`: Where e-mail codes go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Mail {
    /// SMTP relay for e-mail codes, `host:port`; empty keeps e-mail in the
    /// development outbox shown at `/carrier`.
    pub smtp_relay: String,
    /// From address of e-mail codes.
    pub smtp_from: String,
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            smtp_relay: String::new(),
            smtp_from: "Tidings <noreply@localhost>".into(),
        }
    }
}

/// `[sms]`: SMS: the gateway, what an account may send, fallback, and the simulated carrier of development servers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Sms {
    /// Where SMS go: `simulated` (the built-in carrier) or `kannel`.
    pub sms_gateway: SmsGateway,
    /// Kannel smsbox's `sendsms` URL.
    pub kannel_sendsms_url: String,
    /// Kannel `sendsms-user` name.
    pub kannel_username: String,
    /// Kannel `sendsms-user` password.
    pub kannel_password: String,
    /// Shared secret Kannel passes back in its `get-url` and `dlr-url`
    /// calls (at least 16 characters); the same value goes into kannel.conf.
    pub kannel_secret: String,
    /// Sender shown on SMS the server sends (codes, notices).
    pub sms_sender: String,
    /// SMS segments an account may send per hour.
    pub sms_per_account_per_hour: u64,
    /// SMS segments an account may send per day.
    pub sms_per_account_per_day: u64,
    /// Segments one SMS message may take (longer texts are refused).
    pub max_sms_segments: usize,
    /// Seconds after which a message to a phone number that reached none of
    /// its devices is re-sent as SMS (unless the sender turned this off).
    pub sms_fallback_secs: u64,
    /// Seconds after which a handle whose devices have all been silent
    /// counts as not reachable over IP (messages to it go as SMS).
    pub stale_after_secs: u64,
    /// Seconds a download link for an attachment sent by SMS stays valid;
    /// the server can read that attachment until then.
    pub sms_link_secs: u64,
    /// Download links an account may make per day.
    pub sms_links_per_account_per_day: u64,
    /// Seconds a node has to hand a claimed SMS to the gateway and record
    /// the answer; a claim older than this means the node died mid-send, and
    /// the SMS is reported failed rather than sent twice. Keep it well above
    /// the gateway's timeout (10 s).
    pub sms_lease_secs: u64,
    /// Serve the simulated carrier's inboxes and the development mail
    /// outbox at `/carrier` while development mode is on (listening on
    /// loopback, or `dev`); false hides them even then.
    pub simulated_carrier: bool,
    /// Bytes the development inboxes keep (each of SMS and e-mail), oldest
    /// message forgotten first.
    pub dev_inbox_max_bytes: usize,
}

impl Default for Sms {
    fn default() -> Self {
        Sms {
            sms_gateway: SmsGateway::Simulated,
            kannel_sendsms_url: "http://127.0.0.1:13013/cgi-bin/sendsms".into(),
            kannel_username: "tidings".into(),
            kannel_password: String::new(),
            kannel_secret: String::new(),
            sms_sender: "Tidings".into(),
            sms_per_account_per_hour: 100,
            sms_per_account_per_day: 500,
            max_sms_segments: 10,
            sms_fallback_secs: 300,
            stale_after_secs: 14 * 24 * 3600,
            sms_link_secs: 72 * 3600,
            sms_links_per_account_per_day: 100,
            sms_lease_secs: 300,
            simulated_carrier: true,
            dev_inbox_max_bytes: tidings_sms::inbox::DEFAULT_MAX_INBOX_BYTES,
        }
    }
}

/// `[spam]`: The spam defence: registration limits, first-contact quotas, reports and cluster bans.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Spam {
    /// Accounts one address range (IPv4 /24, IPv6 /48) may register per day.
    pub registrations_per_range_per_day: u64,
    /// Registrations per hour (all ranges) above which every code request
    /// needs a proof of work first.
    pub registration_spike_per_hour: u64,
    /// Leading zero bits the proof of work needs (each bit doubles the cost).
    pub pow_bits: u32,
    /// Distinct new recipients (people who never wrote to the account) per
    /// day for a new account.
    pub new_recipients_per_day: u64,
    /// Extra new recipients per day for each day of account age.
    pub new_recipients_per_day_of_age: u64,
    /// Extra new recipients per day for each person who replied.
    pub new_recipients_per_reply: u64,
    /// The new-recipient cap never grows past this.
    pub new_recipients_max: u64,
    /// The daily new-recipient cap of an account whose handles are all
    /// e-mail addresses, until someone replies to it (e-mail accounts are
    /// free to make by the batch; phone numbers are not).
    pub new_recipients_email_only: u64,
    /// Distinct junk reports on a cluster of accounts that restrict all of it.
    pub restrict_at_reports: u64,
    /// Distinct junk reports on a cluster that ban its reported members.
    pub ban_at_reports: u64,
    /// Accounts registered from one address range within this many hours of
    /// each other form a cluster.
    pub cluster_window_hours: u64,
    /// Distinct reporters of near-identical texts that put the text's
    /// fingerprint on the published campaign list.
    pub campaign_min_reporters: u64,
    /// People who answered a cluster's first contacts that cancel one junk
    /// report against it (0: none), so that a courier writing to hundreds is
    /// not restricted by the few who report it by mistake.
    pub replies_per_forgiven_report: u64,
    /// Reports and blocks one account may send per day.
    pub reports_per_account_per_day: u32,
    /// Who restricted users should contact to appeal (shown to them).
    pub appeal_contact: String,
}

impl Default for Spam {
    fn default() -> Self {
        Spam {
            registrations_per_range_per_day: 20,
            registration_spike_per_hour: 100,
            pow_bits: 18,
            new_recipients_per_day: 15,
            new_recipients_per_day_of_age: 5,
            new_recipients_per_reply: 2,
            new_recipients_max: 200,
            new_recipients_email_only: 10,
            restrict_at_reports: 3,
            ban_at_reports: 6,
            cluster_window_hours: 48,
            campaign_min_reporters: 2,
            replies_per_forgiven_report: 10,
            reports_per_account_per_day: 200,
            appeal_contact: "the operator of this server".into(),
        }
    }
}

/// `[storage]`: Where state and attachment bytes live, and how the store is kept bounded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// Where durable state lives: empty for the embedded SQLite file in the
    /// data directory, or `postgres://user:password@host:port/database` for
    /// PostgreSQL, which several nodes can share (`tidings serve
    /// --database URL`, `TIDINGS_DATABASE_URL`).
    pub database_url: String,
    /// Largest the database file may grow, in bytes; 0 leaves only the
    /// disk as the limit (SQLite only). Writes past it fail with 507 `storage_full`, as on
    /// a full disk, and succeed again once space is freed.
    pub max_database_bytes: u64,
    /// Most writes committed in one database transaction (group commit).
    pub max_batch: usize,
    /// Seconds between sweeps for expired envelopes and codes.
    pub sweep_interval_secs: u64,
    /// Where attachment bytes go: `local` (under the data directory) or
    /// `s3` (an S3-compatible object store, configured below).
    pub blob_store: BlobStore,
    /// S3 endpoint URL; empty for AWS itself.
    pub s3_endpoint: String,
    /// S3 bucket.
    pub s3_bucket: String,
    /// S3 region.
    pub s3_region: String,
    /// S3 access key id.
    pub s3_access_key_id: String,
    /// S3 secret access key.
    pub s3_secret_access_key: String,
    /// Allow a plain-HTTP S3 endpoint (only for a store on the same host).
    pub s3_allow_http: bool,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            database_url: String::new(),
            max_database_bytes: 0,
            max_batch: 512,
            sweep_interval_secs: 60,
            blob_store: BlobStore::Local,
            s3_endpoint: String::new(),
            s3_bucket: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            s3_allow_http: false,
        }
    }
}

/// `[cluster]`: Several nodes: the Redis that carries wake-ups between them, and how often streams poll without it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Cluster {
    /// Redis that links several nodes sharing one PostgreSQL database
    /// (`redis://host:port/`): wake-ups and presence go through it. Empty
    /// for a single node.
    pub redis_url: String,
    /// Seconds between queue polls of each delivery stream while Redis is
    /// unreachable (wake-ups from other nodes may be lost meanwhile).
    pub cluster_poll_secs: u64,
    /// With several nodes, seconds between queue polls of each delivery
    /// stream even while Redis works: the longest a silently lost wake-up
    /// can delay a message.
    pub cluster_safety_poll_secs: u64,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            redis_url: String::new(),
            cluster_poll_secs: 2,
            cluster_safety_poll_secs: 30,
        }
    }
}

/// Where SMS go.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsGateway {
    /// The built-in simulated carrier (development; codes are readable at
    /// `/carrier`).
    Simulated,
    /// Kannel's smsbox, configured by the `kannel_*` settings.
    Kannel,
}

/// Where attachment bytes go.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BlobStore {
    /// Files under the data directory.
    Local,
    /// An S3-compatible object store, configured by the `s3_*` settings.
    S3,
}

/// Why the configuration could not be loaded; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file or an override is not valid for the typed configuration.
    #[error("invalid configuration ({origin}): {message}")]
    Invalid {
        /// Where the bad value came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// The spam defence's thresholds, as the store applies them.
    pub fn spam_policy(&self) -> crate::store::abuse::SpamPolicy {
        crate::store::abuse::SpamPolicy {
            new_recipients_per_day: self.spam.new_recipients_per_day,
            new_recipients_per_day_of_age: self.spam.new_recipients_per_day_of_age,
            new_recipients_per_reply: self.spam.new_recipients_per_reply,
            new_recipients_max: self.spam.new_recipients_max,
            new_recipients_email_only: self.spam.new_recipients_email_only,
            restrict_at_reports: self.spam.restrict_at_reports,
            ban_at_reports: self.spam.ban_at_reports,
            cluster_window_ms: self.spam.cluster_window_hours * 3_600_000,
            campaign_min_reporters: self.spam.campaign_min_reporters,
            replies_per_forgiven_report: self.spam.replies_per_forgiven_report,
        }
    }

    /// The base URL of this server as others reach it: `public_url`, or
    /// `http://` + `listen` when that is empty.
    pub fn public_base(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// Loads defaults, then `file` if given, then `TIDINGS_*` variables from
    /// `env` (pass `std::env::vars()`), and validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table =
            toml::Table::try_from(Config::default()).map_err(|e| invalid("defaults", e))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let file_table: toml::Table = text
                .parse()
                .map_err(|e| invalid(&path.display().to_string(), e))?;
            merge_file(&mut table, file_table)
                .map_err(|m| invalid(&path.display().to_string(), m))?;
        }
        let overrides: BTreeMap<String, String> = env
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase(), v)))
            .collect();
        for (key, raw) in overrides {
            let Some(current) = leaf_mut(&mut table, &key) else {
                continue; // Client-side variables such as TIDINGS_SERVER share the prefix.
            };
            *current = parse_like(current, &raw)
                .map_err(|m| invalid(&format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()), m))?;
        }
        let config: Config = table.try_into().map_err(|e| invalid("merged", e))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("code_ttl_minutes", self.codes.code_ttl_minutes as u128),
            ("cluster_poll_secs", self.cluster.cluster_poll_secs as u128),
            (
                "cluster_safety_poll_secs",
                self.cluster.cluster_safety_poll_secs as u128,
            ),
            ("sms_lease_secs", self.sms.sms_lease_secs as u128),
            ("code_max_tries", self.codes.code_max_tries as u128),
            ("max_devices", self.limits.max_devices as u128),
            ("max_payload_bytes", self.limits.max_payload_bytes as u128),
            ("max_recipients", self.limits.max_recipients as u128),
            ("max_group_members", self.limits.max_group_members as u128),
            (
                "max_queue_per_device",
                self.limits.max_queue_per_device as u128,
            ),
            (
                "max_connections_per_account",
                self.connections.max_connections_per_account as u128,
            ),
            ("max_body_bytes", self.connections.max_body_bytes as u128),
            ("max_frame_bytes", self.connections.max_frame_bytes as u128),
            ("envelope_ttl_days", self.limits.envelope_ttl_days as u128),
            (
                "sweep_interval_secs",
                self.storage.sweep_interval_secs as u128,
            ),
            ("max_batch", self.storage.max_batch as u128),
            ("sms_link_secs", self.sms.sms_link_secs as u128),
            ("restrict_at_reports", self.spam.restrict_at_reports as u128),
            ("ban_at_reports", self.spam.ban_at_reports as u128),
            (
                "campaign_min_reporters",
                self.spam.campaign_min_reporters as u128,
            ),
            (
                "max_one_time_keys_per_device",
                self.limits.max_one_time_keys_per_device as u128,
            ),
            (
                "key_claims_per_target_device_per_hour",
                self.limits.key_claims_per_target_device_per_hour as u128,
            ),
            ("lookup_memory_secs", self.limits.lookup_memory_secs as u128),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(invalid(name, "must be greater than zero"));
            }
        }
        self.validate_connections()?;
        if self.limits.max_recipients >= self.limits.max_group_members {
            // One send reaches the other members of a group; the sender is a
            // member too, so recipients must stay below the group limit.
            return Err(invalid(
                "max_recipients",
                "must be smaller than max_group_members (the sender is a member too)",
            ));
        }
        if self.sms.sms_gateway == SmsGateway::Kannel {
            if self.sms.kannel_password.is_empty() {
                return Err(invalid(
                    "kannel_password",
                    "sms_gateway = \"kannel\" needs the sendsms-user password of kannel.conf",
                ));
            }
            if self.sms.kannel_secret.chars().count() < MIN_KANNEL_SECRET_CHARS {
                return Err(invalid(
                    "kannel_secret",
                    format!("sms_gateway = \"kannel\" needs a shared secret of at least {MIN_KANNEL_SECRET_CHARS} characters (the one in kannel.conf's get-url)"),
                ));
            }
        }
        if self.storage.blob_store == BlobStore::S3 && self.storage.s3_bucket.is_empty() {
            return Err(invalid("s3_bucket", "blob_store = \"s3\" needs a bucket"));
        }
        if !(1..=MAX_TRUSTED_PROXIES).contains(&self.connections.trusted_proxies) {
            return Err(invalid(
                "trusted_proxies",
                format!(
                    "count the reverse proxies in front of the server: 1 to {MAX_TRUSTED_PROXIES}"
                ),
            ));
        }
        if self.codes.code_sends_per_handle_per_hour > self.codes.code_sends_per_handle_max_per_hour
        {
            return Err(invalid(
                "code_sends_per_handle_per_hour",
                "must not exceed code_sends_per_handle_max_per_hour (past it codes need a proof of work; past the max, none are sent)",
            ));
        }
        if self.sms.dev_inbox_max_bytes == 0 {
            return Err(invalid("dev_inbox_max_bytes", "must be greater than zero"));
        }
        if self.default_region.len() != 2 {
            return Err(invalid(
                "default_region",
                "use a two-letter country code such as US",
            ));
        }
        Ok(())
    }

    /// Checks the connection limits.
    fn validate_connections(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "header_read_timeout_secs",
                self.connections.header_read_timeout_secs as u128,
            ),
            (
                "request_timeout_secs",
                self.connections.request_timeout_secs as u128,
            ),
            (
                "idle_timeout_secs",
                self.connections.idle_timeout_secs as u128,
            ),
            ("max_connections", self.connections.max_connections as u128),
            (
                "max_connections_per_address",
                self.connections.max_connections_per_address as u128,
            ),
            (
                "stream_auth_timeout_secs",
                self.connections.stream_auth_timeout_secs as u128,
            ),
            (
                "max_unauthenticated_streams",
                self.connections.max_unauthenticated_streams as u128,
            ),
            (
                "max_inflight_bytes_per_stream",
                self.connections.max_inflight_bytes_per_stream as u128,
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(invalid(name, "must be greater than zero"));
            }
        }
        let timeouts = [
            (
                "header_read_timeout_secs",
                self.connections.header_read_timeout_secs,
            ),
            (
                "request_timeout_secs",
                self.connections.request_timeout_secs,
            ),
            ("idle_timeout_secs", self.connections.idle_timeout_secs),
            (
                "stream_auth_timeout_secs",
                self.connections.stream_auth_timeout_secs,
            ),
        ];
        for (name, secs) in timeouts {
            if secs > MAX_CONNECTION_TIMEOUT_SECS {
                return Err(invalid(
                    name,
                    format!("must be at most {MAX_CONNECTION_TIMEOUT_SECS} (a day)"),
                ));
            }
        }
        if self.connections.idle_timeout_secs < self.connections.request_timeout_secs {
            // A handler may work this long without a byte on the wire.
            return Err(invalid(
                "idle_timeout_secs",
                "must be at least request_timeout_secs, or a slow answer is cut off as idle",
            ));
        }
        if self.connections.max_header_bytes < MIN_HEADER_BYTES {
            return Err(invalid(
                "max_header_bytes",
                format!("must be at least {MIN_HEADER_BYTES}"),
            ));
        }
        if self.connections.max_connections_per_address > self.connections.max_connections {
            return Err(invalid(
                "max_connections_per_address",
                "must not exceed max_connections",
            ));
        }
        Ok(())
    }

    /// `header_read_timeout_secs` as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.connections.header_read_timeout_secs)
    }

    /// `request_timeout_secs` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.connections.request_timeout_secs)
    }

    /// `idle_timeout_secs` as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.connections.idle_timeout_secs)
    }

    /// `stream_auth_timeout_secs` as a duration.
    pub fn stream_auth_timeout(&self) -> Duration {
        Duration::from_secs(self.connections.stream_auth_timeout_secs)
    }

    /// The limits as published to clients.
    pub fn limits(&self) -> tidings_proto::api::Limits {
        tidings_proto::api::Limits {
            max_payload_bytes: self.limits.max_payload_bytes,
            max_recipients: self.limits.max_recipients,
            max_group_members: self.limits.max_group_members,
            max_devices: self.limits.max_devices,
            max_queue_per_device: self.limits.max_queue_per_device,
            max_body_bytes: self.connections.max_body_bytes,
            max_frame_bytes: self.connections.max_frame_bytes,
            envelope_ttl_days: self.limits.envelope_ttl_days,
            max_attachment_bytes: self.limits.max_attachment_bytes,
            max_sms_segments: self.sms.max_sms_segments,
            sms_link_secs: self.sms.sms_link_secs,
        }
    }
}

/// Copies a file's settings over the defaults: top-level settings at the
/// top, each section's under its header. A setting in the wrong place (a
/// file written before sections, say) is refused with where it belongs.
fn merge_file(defaults: &mut toml::Table, file: toml::Table) -> Result<(), String> {
    for (key, value) in file {
        let is_section = matches!(defaults.get(&key), Some(toml::Value::Table(_)));
        match value {
            toml::Value::Table(given) if is_section => {
                for (leaf, value) in given {
                    let Some(toml::Value::Table(section)) = defaults.get_mut(&key) else {
                        unreachable!("checked to be a section above");
                    };
                    if let Some(slot) = section.get_mut(&leaf) {
                        *slot = value;
                    } else {
                        return Err(misplaced(defaults, &leaf, &format!("[{key}]")));
                    }
                }
            }
            _ if is_section => {
                return Err(format!(
                    "`{key}` is a section: write `[{key}]` on a line and its settings below it"
                ))
            }
            value if defaults.contains_key(&key) => {
                defaults.insert(key, value);
            }
            _ => return Err(misplaced(defaults, &key, "the top level")),
        }
    }
    Ok(())
}

/// Why `key` cannot go in `place`: it lives elsewhere, or nowhere.
fn misplaced(defaults: &toml::Table, key: &str, place: &str) -> String {
    let home = defaults.iter().find_map(|(name, value)| match value {
        toml::Value::Table(section) if section.contains_key(key) => Some(format!("[{name}]")),
        toml::Value::Table(_) => None,
        _ if name == key => Some("the top level (before any [section])".to_string()),
        _ => None,
    });
    match home {
        Some(home) => format!("`{key}` belongs in {home}, not in {place}"),
        None => format!("unknown setting `{key}` in {place}"),
    }
}

/// The setting named `leaf`, at the top level or in whichever section holds
/// it (leaf names are unique; a unit test keeps them so).
fn leaf_mut<'t>(table: &'t mut toml::Table, leaf: &str) -> Option<&'t mut toml::Value> {
    let top_level = table
        .get(leaf)
        .is_some_and(|v| !matches!(v, toml::Value::Table(_)));
    if top_level {
        return table.get_mut(leaf);
    }
    table.iter_mut().find_map(|(_, value)| match value {
        toml::Value::Table(section) => section.get_mut(leaf),
        _ => None,
    })
}

fn invalid(origin: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        message: e.to_string(),
    }
}

/// Parses an environment string as a value of the same TOML type as `like`.
fn parse_like(like: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    Ok(match like {
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("expected a whole number, got {raw:?}"))?,
        ),
        toml::Value::Boolean(_) => match raw.trim() {
            "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(format!("expected true or false, got {raw:?}")),
        },
        _ => toml::Value::String(raw.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    fn refused(text: &str) -> String {
        let (_dir, path) = write(text);
        Config::load(Some(&path), Vec::new())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults validate");
    }

    #[test]
    fn leaf_names_are_unique_across_sections() {
        // `TIDINGS_<LEAF>` finds a setting wherever it lives only while no
        // two sections share a name.
        let table = toml::Table::try_from(Config::default()).expect("defaults serialise");
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in &table {
            match value {
                toml::Value::Table(section) => {
                    for leaf in section.keys() {
                        assert!(seen.insert(leaf.clone()), "{leaf} is in two places");
                        assert!(!table.contains_key(leaf), "{leaf} is also a top-level name");
                    }
                }
                _ => assert!(seen.insert(name.clone()), "{name} is in two places"),
            }
        }
        assert!(seen.len() > 80, "{} settings", seen.len());
    }

    #[test]
    fn file_then_env_override() {
        let (_dir, path) = write(
            "listen = \"127.0.0.1:9000\"\n[limits]\nmax_devices = 3\nmax_queue_per_device = 7\n[sms]\nsms_gateway = \"kannel\"\nkannel_password = \"pw\"\nkannel_secret = \"0123456789abcdef\"\n",
        );
        let env = vec![
            ("TIDINGS_MAX_DEVICES".to_string(), "4".to_string()),
            ("TIDINGS_REDIS_URL".to_string(), "redis://r/".to_string()),
            ("TIDINGS_SERVER".to_string(), "http://x".to_string()),
            ("TIDINGS_LIMITS".to_string(), "x".to_string()),
            ("OTHER".to_string(), "1".to_string()),
        ];
        let c = Config::load(Some(&path), env).expect("loads");
        assert_eq!(c.limits.max_devices, 4);
        assert_eq!(c.limits.max_queue_per_device, 7);
        assert_eq!(c.sms.sms_gateway, SmsGateway::Kannel);
        assert_eq!(c.cluster.redis_url, "redis://r/");
        assert_eq!(c.listen.port(), 9000);
        // Untouched settings of a section keep their defaults.
        assert_eq!(c.limits.max_recipients, Limits::default().max_recipients);
        let env = vec![("TIDINGS_SMS_GATEWAY".to_string(), "simulated".to_string())];
        let c = Config::load(Some(&path), env).expect("loads");
        assert_eq!(c.sms.sms_gateway, SmsGateway::Simulated);
    }

    #[test]
    fn misplaced_and_unknown_settings_say_where_they_belong() {
        let err = refused("max_devices = 3\n");
        assert!(err.contains("`max_devices` belongs in [limits]"), "{err}");
        let err = refused("[sms]\nmax_devices = 3\n");
        assert!(err.contains("belongs in [limits], not in [sms]"), "{err}");
        let err = refused("[limits]\nlisten = \"127.0.0.1:1\"\n");
        assert!(err.contains("belongs in the top level"), "{err}");
        let err = refused("[limits]\nmax_devicez = 3\n");
        assert!(
            err.contains("unknown setting `max_devicez` in [limits]"),
            "{err}"
        );
        let err = refused("limits = 3\n");
        assert!(err.contains("`limits` is a section"), "{err}");
        let err = refused("[nonsense]\nx = 1\n");
        assert!(err.contains("unknown setting `nonsense`"), "{err}");
    }

    #[test]
    fn components_are_enums() {
        let err = refused("[sms]\nsms_gateway = \"kanel\"\n");
        assert!(err.contains("kanel") && err.contains("kannel"), "{err}");
        let env = vec![("TIDINGS_BLOB_STORE".to_string(), "nfs".to_string())];
        let err = Config::load(None, env).expect_err("refused").to_string();
        assert!(err.contains("nfs") && err.contains("s3"), "{err}");
        let err = refused("[storage]\nblob_store = \"s3\"\n");
        assert!(err.contains("s3_bucket"), "{err}");
        let err = refused("[sms]\nsms_gateway = \"kannel\"\n");
        assert!(err.contains("kannel_password"), "{err}");
    }

    #[test]
    fn connection_limits_are_checked() {
        let ok = Config::default();
        let mut idle_short = ok.clone();
        idle_short.connections.idle_timeout_secs = ok.connections.request_timeout_secs - 1;
        let err = idle_short.validate().expect_err("refused").to_string();
        assert!(err.contains("idle_timeout_secs"), "{err}");
        let mut per_address_over = ok.clone();
        per_address_over.connections.max_connections_per_address =
            ok.connections.max_connections + 1;
        let err = per_address_over
            .validate()
            .expect_err("refused")
            .to_string();
        assert!(err.contains("max_connections_per_address"), "{err}");
        let mut forever = ok.clone();
        forever.connections.idle_timeout_secs = u64::MAX;
        let err = forever.validate().expect_err("refused").to_string();
        assert!(err.contains("idle_timeout_secs"), "{err}");
        let env = vec![(
            "TIDINGS_HEADER_READ_TIMEOUT_SECS".to_string(),
            "0".to_string(),
        )];
        let err = Config::load(None, env).expect_err("refused").to_string();
        assert!(err.contains("header_read_timeout_secs"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let env = vec![("TIDINGS_MAX_DEVICES".to_string(), "many".to_string())];
        let err = Config::load(None, env).expect_err("refused").to_string();
        assert!(err.contains("TIDINGS_MAX_DEVICES"), "{err}");
        let env = vec![("TIDINGS_MAX_DEVICES".to_string(), "0".to_string())];
        let err = Config::load(None, env).expect_err("refused").to_string();
        assert!(err.contains("max_devices"), "{err}");
    }
}
