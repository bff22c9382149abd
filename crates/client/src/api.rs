//! A thin typed wrapper over the server's HTTP API and delivery stream.

use std::time::Duration;
use tidings_proto::paths;
use tidings_proto::ErrorCode;
use tidings_proto::{DeviceId, Seq};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tidings_proto::api::{
    AccountInfo, AddHandleRequest, ClaimResponse, CodeRequest, CodeSent, DeviceCredentials,
    DeviceInfo, DevicesRequest, DirectoryRequest, DirectoryResponse, ErrorBody, IdentitiesResponse,
    KeyCount, Limits, LoginRequest, RegisterRequest, SendAccepted, SendRequest, UploadKeys,
};
use tidings_proto::stream::{ClientFrame, ServerFrame};
use tidings_proto::Handle;

mod websocket;
use websocket::Socket;

/// How long one HTTP request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a server call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error body.
    #[error("{}", .body.message)]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's explanation (boxed: errors travel in every
        /// `Result`, so they are kept small).
        body: Box<ErrorBody>,
    },
    /// The server could not be reached or the connection broke.
    #[error("cannot reach the server at {url}: {message}")]
    Network {
        /// The server URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The server address is not a URL this client can use.
    #[error(
        "{0} is not a server address; give one like http://127.0.0.1:7878 or \
         https://chat.example.org (--server or TIDINGS_SERVER)"
    )]
    BadUrl(String),
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// An `https://` server cannot be checked: this system trusts no
    /// certificate authority (no CA bundle, or `SSL_CERT_FILE` points at
    /// nothing).
    #[error(
        "cannot check the certificate of {url}: {message}; install the system's CA \
         certificates (Debian: the ca-certificates package) or point SSL_CERT_FILE at the \
         certificate of the authority that signed the server's"
    )]
    Trust {
        /// The server URL.
        url: String,
        /// What failed.
        message: String,
    },
}

/// Refuses a server address that is not an `http://` or `https://` URL
/// with a host, before anything is sent.
fn check_server_url(base: &str) -> Result<(), ApiError> {
    let ok = reqwest::Url::parse(base).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadUrl(base.to_string()))
    }
}

impl ApiError {
    /// The stable error code of a server error (`stale_devices`, ...).
    pub fn code(&self) -> Option<tidings_proto::ErrorCode> {
        match self {
            ApiError::Server { body, .. } => Some(body.error),
            _ => None,
        }
    }
}

/// Installs the process-wide TLS crypto provider (ring) once, so that
/// `https://` servers work; harmless when one is installed already.
#[cfg(not(target_arch = "wasm32"))]
pub fn ensure_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Applied to every HTTP request just before it is sent. Real clients set
/// none; a harness adds what only it needs (the spam simulation, for
/// instance, says which simulated client address a request comes from).
pub type RequestHook =
    std::sync::Arc<dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync>;

/// A connection to one server, optionally as one device.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    hook: Option<RequestHook>,
}

impl Api {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:7878`).
    ///
    /// Only an `https://` server loads the system's trusted certificates,
    /// so a plain-HTTP server (the embedded default) works on a machine
    /// without any.
    pub fn new(base: &str, token: Option<String>) -> Result<Api, ApiError> {
        let base = base.trim_end_matches('/').to_string();
        check_server_url(&base)?;
        #[cfg(not(target_arch = "wasm32"))]
        let builder = {
            ensure_tls_provider();
            let builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
            if base.starts_with("https://") {
                builder
            } else {
                builder.tls_certs_only(std::iter::empty())
            }
        };
        // In a browser `fetch` owns TLS and has no client-wide timeout;
        // each request sets its own (see `call`).
        #[cfg(target_arch = "wasm32")]
        let builder = reqwest::Client::builder();
        let http = builder.build().map_err(|e| ApiError::Trust {
            url: base.clone(),
            message: error_chain(&e),
        })?;
        Ok(Api {
            base,
            http,
            token,
            hook: None,
        })
    }

    /// The same server and connection pool as another device (or none).
    pub fn with_token(&self, token: Option<String>) -> Api {
        Api {
            token,
            ..self.clone()
        }
    }

    /// The same, with `hook` applied to every HTTP request.
    pub fn with_request_hook(&self, hook: RequestHook) -> Api {
        Api {
            hook: Some(hook),
            ..self.clone()
        }
    }

    /// The server URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn network(&self, e: impl std::error::Error) -> ApiError {
        network_error(&self.base, e)
    }

    /// Sends a request (authenticated when signed in) and returns the body
    /// of a success, or the server's error.
    async fn exchange(&self, mut req: reqwest::RequestBuilder) -> Result<Vec<u8>, ApiError> {
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(hook) = &self.hook {
            req = hook(req);
        }
        #[cfg(target_arch = "wasm32")]
        {
            req = req.timeout(REQUEST_TIMEOUT);
        }
        let resp = req.send().await.map_err(|e| self.network(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.network(e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let body = serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or_else(|_| ErrorBody {
            error: ErrorCode::Http,
            message: format!("server answered {status}"),
            mismatches: Vec::new(),
            not_registered: Vec::new(),
            retry_after_secs: None,
            pow: None,
        });
        Err(ApiError::Server {
            status: status.as_u16(),
            body: Box::new(body),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ApiError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(body);
        }
        let bytes = self.exchange(req).await?;
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| ApiError::Protocol(e.to_string()))
    }

    /// `GET /v1/limits`.
    pub async fn limits(&self) -> Result<Limits, ApiError> {
        self.call(reqwest::Method::GET, paths::LIMITS, None::<&()>)
            .await
    }

    /// `POST /v1/codes`; solves a proof of work first when the server asks.
    pub async fn request_code(&self, handle: &str) -> Result<CodeSent, ApiError> {
        self.request_code_reporting(handle, |_, _| {}).await
    }

    /// [`Api::request_code`], calling `progress(tried, expected)` while it
    /// solves a proof of work (the web app's worker shows a bar).
    pub async fn request_code_reporting(
        &self,
        handle: &str,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<CodeSent, ApiError> {
        let mut body = CodeRequest {
            handle: handle.to_string(),
            pow: None,
        };
        match self.post_code(&body).await {
            Err(ApiError::Server { body: error, .. }) if error.pow.is_some() => {
                let challenge = error.pow.expect("checked by the guard");
                let expected = 1u64 << challenge.bits.min(tidings_proto::pow::MAX_BITS);
                let nonce = tidings_proto::pow::solve_reporting(
                    &challenge.challenge,
                    challenge.bits,
                    |tried| progress(tried, expected),
                )
                    .ok_or_else(|| ApiError::Protocol(format!(
                        "the server asked for a proof of work of {} bits, more than the {} a client does",
                        challenge.bits,
                        tidings_proto::pow::MAX_BITS
                    )))?;
                body.pow = Some(tidings_proto::api::PowSolution {
                    challenge: challenge.challenge,
                    nonce,
                });
                self.post_code(&body).await
            }
            other => other,
        }
    }

    /// One `POST /v1/codes` as given: a proof-of-work challenge comes back
    /// as an error carrying it (see [`Api::request_code`], which solves it).
    pub async fn post_code(&self, req: &CodeRequest) -> Result<CodeSent, ApiError> {
        self.call(reqwest::Method::POST, paths::CODES, Some(req))
            .await
    }

    /// `POST /v1/accounts`.
    pub async fn register(&self, req: &RegisterRequest) -> Result<DeviceCredentials, ApiError> {
        self.call(reqwest::Method::POST, paths::ACCOUNTS, Some(req))
            .await
    }

    /// `POST /v1/devices`.
    pub async fn login(&self, req: &LoginRequest) -> Result<DeviceCredentials, ApiError> {
        self.call(reqwest::Method::POST, paths::DEVICES, Some(req))
            .await
    }

    /// `GET /v1/account`.
    pub async fn account(&self) -> Result<AccountInfo, ApiError> {
        self.call(reqwest::Method::GET, paths::ACCOUNT, None::<&()>)
            .await
    }

    /// `PUT /v1/account`: the settings the server keeps for the account.
    pub async fn set_account_settings(
        &self,
        req: &tidings_proto::api::AccountSettings,
    ) -> Result<AccountInfo, ApiError> {
        self.call(reqwest::Method::PUT, paths::ACCOUNT, Some(req))
            .await
    }

    /// `GET /v1/handles`.
    pub async fn handles(&self) -> Result<Vec<Handle>, ApiError> {
        self.call(reqwest::Method::GET, paths::HANDLES, None::<&()>)
            .await
    }

    /// `POST /v1/handles`.
    pub async fn add_handle(&self, handle: &str, code: &str) -> Result<Vec<Handle>, ApiError> {
        let body = AddHandleRequest {
            handle: handle.into(),
            code: code.into(),
        };
        self.call(reqwest::Method::POST, paths::HANDLES, Some(&body))
            .await
    }

    /// `DELETE /v1/handles/{handle}`.
    pub async fn remove_handle(&self, handle: &str) -> Result<Vec<Handle>, ApiError> {
        let path = paths::path(paths::HANDLE, &[handle]);
        self.call(reqwest::Method::DELETE, &path, None::<&()>).await
    }

    /// `DELETE /v1/account`.
    pub async fn delete_account(&self) -> Result<(), ApiError> {
        self.call::<()>(reqwest::Method::DELETE, paths::ACCOUNT, None::<&()>)
            .await
    }

    /// `GET /v1/devices`.
    pub async fn devices(&self) -> Result<Vec<DeviceInfo>, ApiError> {
        self.call(reqwest::Method::GET, paths::DEVICES, None::<&()>)
            .await
    }

    /// `DELETE /v1/devices/{id}`.
    pub async fn remove_device(&self, id: DeviceId) -> Result<(), ApiError> {
        self.call::<()>(
            reqwest::Method::DELETE,
            &paths::path(paths::DEVICE, &[&id.to_string()]),
            None::<&()>,
        )
        .await
    }

    /// `POST /v1/directory`.
    pub async fn lookup(&self, handles: &[String]) -> Result<DirectoryResponse, ApiError> {
        let body = DirectoryRequest {
            handles: handles.to_vec(),
        };
        self.call(reqwest::Method::POST, paths::DIRECTORY, Some(&body))
            .await
    }

    /// `POST /v1/messages`.
    pub async fn send(&self, req: &SendRequest) -> Result<SendAccepted, ApiError> {
        self.call(reqwest::Method::POST, paths::MESSAGES, Some(req))
            .await
    }

    /// `POST /v1/keys`.
    pub async fn upload_keys(&self, req: &UploadKeys) -> Result<KeyCount, ApiError> {
        self.call(reqwest::Method::POST, paths::KEYS, Some(req))
            .await
    }

    /// `GET /v1/keys`.
    pub async fn key_count(&self) -> Result<KeyCount, ApiError> {
        self.call(reqwest::Method::GET, paths::KEYS, None::<&()>)
            .await
    }

    /// `POST /v1/keys/claim`.
    pub async fn claim_keys(&self, devices: &[DeviceId]) -> Result<ClaimResponse, ApiError> {
        let body = DevicesRequest {
            devices: devices.to_vec(),
        };
        self.call(reqwest::Method::POST, paths::KEYS_CLAIM, Some(&body))
            .await
    }

    /// `POST /v1/keys/identities`.
    pub async fn identities(&self, devices: &[DeviceId]) -> Result<IdentitiesResponse, ApiError> {
        let body = DevicesRequest {
            devices: devices.to_vec(),
        };
        self.call(reqwest::Method::POST, paths::KEYS_IDENTITIES, Some(&body))
            .await
    }

    /// `POST /v1/blobs`.
    pub async fn create_blob(&self, size: u64) -> Result<tidings_proto::api::BlobInfo, ApiError> {
        let body = tidings_proto::api::BlobCreate { size };
        self.call(reqwest::Method::POST, paths::BLOBS, Some(&body))
            .await
    }

    /// `POST /v1/links`: a download link for an attachment sent by SMS.
    pub async fn create_link(
        &self,
        req: &tidings_proto::api::LinkCreate,
    ) -> Result<tidings_proto::api::LinkInfo, ApiError> {
        self.call(reqwest::Method::POST, paths::LINKS, Some(req))
            .await
    }

    /// `POST /v1/reports`: blocks (`junk: false`) or reports as junk the
    /// sender of an envelope, proven by the envelope's report token.
    pub async fn report(&self, req: &tidings_proto::api::ReportRequest) -> Result<(), ApiError> {
        self.call::<serde::de::IgnoredAny>(reqwest::Method::POST, paths::REPORTS, Some(req))
            .await
            .map(|_| ())
    }

    /// `GET /v1/campaigns`: fingerprints of spam campaigns, for matching
    /// message requests on the device.
    pub async fn campaigns(&self) -> Result<tidings_proto::api::CampaignList, ApiError> {
        self.call(reqwest::Method::GET, paths::CAMPAIGNS, None::<&()>)
            .await
    }

    /// `GET /v1/blobs/{id}`.
    pub async fn blob_status(&self, id: &str) -> Result<tidings_proto::api::BlobInfo, ApiError> {
        self.call(
            reqwest::Method::GET,
            &paths::path(paths::BLOB, &[id]),
            None::<&()>,
        )
        .await
    }

    /// `POST /v1/blobs/{id}/complete`.
    pub async fn complete_blob(&self, id: &str) -> Result<tidings_proto::api::BlobInfo, ApiError> {
        self.call(
            reqwest::Method::POST,
            &paths::path(paths::BLOB_COMPLETE, &[id]),
            None::<&()>,
        )
        .await
    }

    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ApiError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.body(b);
        }
        self.exchange(req).await
    }

    /// `PUT /v1/blobs/{id}/{index}`.
    pub async fn put_chunk(&self, id: &str, index: u64, bytes: Vec<u8>) -> Result<(), ApiError> {
        self.raw(
            reqwest::Method::PUT,
            &paths::path(paths::BLOB_CHUNK, &[id, &index.to_string()]),
            Some(bytes),
        )
        .await
        .map(|_| ())
    }

    /// `GET /v1/blobs/{id}/{index}`.
    pub async fn get_chunk(&self, id: &str, index: u64) -> Result<Vec<u8>, ApiError> {
        self.raw(
            reqwest::Method::GET,
            &paths::path(paths::BLOB_CHUNK, &[id, &index.to_string()]),
            None,
        )
        .await
    }

    /// `GET /v1/carrier/{address}`: a simulated inbox (development servers).
    pub async fn carrier_inbox(
        &self,
        address: &str,
    ) -> Result<Vec<tidings_sms_inbox::InboxMessage>, ApiError> {
        let path = paths::path(paths::CARRIER_INBOX, &[address]);
        self.call(reqwest::Method::GET, &path, None::<&()>).await
    }

    /// `POST /v1/messages/fallback`.
    pub async fn fallback(
        &self,
        req: &tidings_proto::api::FallbackRequest,
    ) -> Result<(), ApiError> {
        self.call::<()>(reqwest::Method::POST, paths::MESSAGES_FALLBACK, Some(req))
            .await
    }

    /// `POST /v1/carrier/send`: a simulated phone sends an SMS.
    pub async fn carrier_send(&self, from: &str, to: &str, text: &str) -> Result<(), ApiError> {
        let body = tidings_proto::api::CarrierSend {
            from: from.into(),
            to: to.into(),
            text: text.into(),
        };
        self.call::<()>(reqwest::Method::POST, paths::CARRIER_SEND, Some(&body))
            .await
    }

    /// Opens the delivery stream and authenticates.
    pub async fn stream(&self) -> Result<Stream, ApiError> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| ApiError::Protocol("not signed in".into()))?;
        let url = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}{}", paths::STREAM)
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}{}", paths::STREAM)
        } else {
            return Err(ApiError::Protocol(format!(
                "server URL must start with http:// or https://, not {:?}",
                self.base
            )));
        };
        let mut ws = Socket::connect(&url, &self.base).await?;
        let auth =
            serde_json::to_string(&ClientFrame::Auth { token }).expect("frames always serialise");
        ws.send_text(auth).await?;
        let mut stream = Stream { ws };
        match stream.next().await? {
            Some(ServerFrame::Ready { .. }) => Ok(stream),
            Some(ServerFrame::Error { error, message }) => Err(ApiError::Server {
                status: 401,
                body: Box::new(ErrorBody {
                    error,
                    message,
                    mismatches: Vec::new(),
                    not_registered: Vec::new(),
                    retry_after_secs: None,
                    pow: None,
                }),
            }),
            other => Err(ApiError::Protocol(format!("expected ready, got {other:?}"))),
        }
    }
}

/// Re-exported inbox row of the development carrier.
pub mod tidings_sms_inbox {
    use serde::{Deserialize, Serialize};

    /// One SMS or e-mail in a simulated inbox.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
    pub struct InboxMessage {
        /// Sender.
        pub from: String,
        /// Recipient.
        pub to: String,
        /// Text.
        pub text: String,
        /// Arrival, milliseconds since the epoch.
        pub at: u64,
    }
}

/// An authenticated delivery stream.
pub struct Stream {
    ws: Socket,
}

impl Stream {
    /// The next frame from the server; `None` when the server closed.
    /// Cancel-safe: a frame is never half read.
    pub async fn next(&mut self) -> Result<Option<ServerFrame>, ApiError> {
        let Some(text) = self.ws.next_text().await? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ApiError::Protocol(e.to_string()))
    }

    /// Acknowledges processed envelopes.
    pub async fn ack(&mut self, seqs: Vec<Seq>) -> Result<(), ApiError> {
        let text =
            serde_json::to_string(&ClientFrame::Ack { seqs }).expect("frames always serialise");
        self.ws.send_text(text).await
    }

    /// Closes the stream politely (acks sent before are processed first).
    pub async fn close(mut self) {
        self.ws.start_close().await;
        // Drain until the server closes, so our acks are read before the
        // connection goes away.
        let _ = crate::rt::timeout(Duration::from_secs(5), async {
            while let Ok(Some(_)) = self.ws.next_text().await {}
        })
        .await;
    }
}

impl ApiError {
    /// Whether the request never reached the server: the connection was
    /// refused or the name did not resolve (hyper names these `Connect`
    /// errors). Retrying at once is then pointless; a message waits in the
    /// outbox instead.
    pub fn never_connected(&self) -> bool {
        // A browser's `fetch` says only that it failed, in each engine's
        // words; every such failure is treated as "not reached" (a send
        // retried later keeps its id, so the server stores it once).
        matches!(self, ApiError::Network { message, .. }
            if message.contains("(Connect)")
                || message.contains("onnection refused")
                || message.contains("dns error")
                || message.contains("Failed to fetch")
                || message.contains("NetworkError")
                || message.contains("Load failed"))
    }
}

/// A network error with its whole chain of causes: reqwest's own text
/// ("error sending request") does not say that, for instance, the server's
/// certificate is not trusted.
fn network_error(url: &str, e: impl std::error::Error) -> ApiError {
    let mut message = error_chain(&e);
    if message.contains("invalid peer certificate") {
        message.push_str(
            " (this system does not trust the server's certificate; if it comes \
             from a private authority, point SSL_CERT_FILE at that authority's \
             certificate)",
        );
    }
    ApiError::Network {
        url: url.to_string(),
        message,
    }
}

/// An error's text followed by those of its causes, skipping causes the
/// text already quotes.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod url_tests {
    #[test]
    fn server_addresses_must_be_http_urls_with_a_host() {
        for good in [
            "http://127.0.0.1:7878",
            "https://chat.example.org",
            "http://[::1]:80",
        ] {
            assert!(super::check_server_url(good).is_ok(), "{good}");
        }
        for bad in [
            "notaurl",
            "ht!tp://x",
            "ftp://example.org",
            "http://",
            "127.0.0.1:7878",
        ] {
            let e = super::check_server_url(bad).expect_err(bad);
            assert!(e.to_string().contains("is not a server address"), "{e}");
        }
    }
}
