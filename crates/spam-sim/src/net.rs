//! The simulation's side of the wire: `tidings-client`'s API and delivery
//! stream against a server running in this process, with a request hook
//! that makes each request carry the simulated client address in
//! `X-Forwarded-For`.

use std::sync::Arc;
use std::time::Duration;
use tidings_proto::ErrorCode;
use tidings_proto::{AccountId, DeviceId};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use tidings_client::api::{Api, ApiError};
use tidings_proto::api::{
    CodeRequest, CodeSent, DevicePayload, DirectoryResponse, PowSolution, RecipientPayloads,
    RegisterRequest, ReportRequest, SendRequest,
};
use tidings_proto::stream::{EnvelopeBody, ServerFrame};
use tidings_spam::Fingerprint;
use tokio::sync::mpsc::Sender;

/// Most proofs of work solved for one request before giving up.
const MAX_POW_ROUNDS: usize = 3;

/// The simulated server, reached through one connection pool.
#[derive(Clone)]
pub struct Net {
    api: Api,
}

/// How the server answered a request: its status, and the error code of a
/// refusal.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The error code (`new_recipient_cap`, ...) of a refusal.
    code: Option<String>,
}

impl Answer {
    /// A success.
    fn accepted() -> Answer {
        Answer {
            status: 200,
            code: None,
        }
    }

    /// The server's refusal; a network or protocol failure stops the
    /// simulation instead.
    fn refusal(e: ApiError) -> Result<Answer> {
        match e {
            ApiError::Server { status, body } => Ok(Answer {
                status,
                code: Some(match body.error {
                    ErrorCode::Http => format!("http_{status}"),
                    code => code.to_string(),
                }),
            }),
            e => Err(anyhow!(e)),
        }
    }

    /// The answer of a call: its value, or the server's refusal.
    fn of<T>(result: Result<T, ApiError>) -> Result<std::result::Result<T, Answer>> {
        match result {
            Ok(value) => Ok(Ok(value)),
            Err(e) => Ok(Err(Answer::refusal(e)?)),
        }
    }

    /// [`Answer::of`] for calls whose success carries nothing the
    /// simulation reads.
    fn status_of<T>(result: Result<T, ApiError>) -> Result<Answer> {
        Ok(Answer::of(result)?.map_or_else(|refusal| refusal, |_| Answer::accepted()))
    }

    /// Whether the request succeeded.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error code of a failed request (`http_STATUS` when there is none).
    pub fn error(&self) -> String {
        self.code
            .clone()
            .unwrap_or_else(|| format!("http_{}", self.status))
    }
}

/// Credentials of a registered simulated device.
#[derive(Debug, Clone)]
pub struct Cred {
    /// The account.
    pub account: AccountId,
    /// Its only device.
    pub device: DeviceId,
    /// Bearer token.
    pub token: String,
    /// The normalised handle.
    pub handle: String,
}

/// How a registration went.
#[derive(Debug, Clone)]
pub enum Registration {
    /// The account exists.
    Done(Cred),
    /// The server refused (the error code, e.g. `limit`).
    Refused(String),
}

/// A message envelope delivered to a simulated device.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Which party received it (index of the simulation).
    pub to: usize,
    /// The sender's client id.
    pub id: String,
    /// The sender's account, as the server authenticated it.
    pub from_account: AccountId,
    /// The payload (in the simulation: the text itself).
    pub text: String,
    /// Set when the recipient never wrote to the sender.
    pub report_token: Option<String>,
}

impl Net {
    /// A client for the server at `base`.
    pub fn new(base: &str) -> Result<Net> {
        let api = Api::new(base, None).context("a client for the simulated server")?;
        Ok(Net { api })
    }

    /// The API as device `token` (or nobody) calling from client address
    /// `addr`.
    fn as_client(&self, token: Option<&str>, addr: &str) -> Api {
        let addr = addr.to_string();
        self.api
            .with_token(token.map(str::to_string))
            .with_request_hook(Arc::new(move |req| req.header("x-forwarded-for", &addr)))
    }

    /// Registers `handle` from `addr`: asks for a code (solving proofs of
    /// work when asked, as the client does), reads it from the simulated
    /// carrier or the development mail outbox, and creates the account.
    /// Returns the outcome and the number of proofs of work solved.
    pub async fn register(
        &self,
        handle: &str,
        name: &str,
        addr: &str,
    ) -> Result<(Registration, u32)> {
        let api = self.as_client(None, addr);
        let mut req = CodeRequest {
            handle: handle.to_string(),
            pow: None,
        };
        let mut solved = 0;
        let sent: CodeSent = loop {
            let refused = match api.post_code(&req).await {
                Ok(sent) => break sent,
                Err(ApiError::Server { status: 428, body })
                    if (solved as usize) < MAX_POW_ROUNDS =>
                {
                    let c = body
                        .pow
                        .context("a proof-of-work answer without a challenge")?;
                    let challenge = c.challenge.clone();
                    // Solved off the runtime, which also runs the server.
                    let nonce = tokio::task::spawn_blocking(move || {
                        tidings_proto::pow::solve(&c.challenge, c.bits)
                    })
                    .await
                    .context("proof-of-work task")?
                    .ok_or_else(|| anyhow!("the server asked for more work than a client does"))?;
                    solved += 1;
                    req.pow = Some(PowSolution { challenge, nonce });
                    continue;
                }
                Err(e) => Answer::refusal(e)?,
            };
            return Ok((Registration::Refused(refused.error()), solved));
        };
        let key = sent.handle.as_str().to_string();
        let inbox = api
            .carrier_inbox(&key)
            .await
            .with_context(|| format!("reading the simulated inbox of {key}"))?;
        let code = inbox
            .iter()
            .rev()
            .find_map(|m| {
                m.text
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == tidings_proto::CODE_DIGITS)
                    .map(str::to_string)
            })
            .with_context(|| format!("no code for {key} in the simulated inbox"))?;
        let registered = api
            .register(&RegisterRequest {
                handle: key,
                code,
                name: Some(name.to_string()),
                device_name: "phone".into(),
            })
            .await;
        let creds = match Answer::of(registered)? {
            Ok(creds) => creds,
            Err(refusal) => return Ok((Registration::Refused(refusal.error()), solved)),
        };
        let handle = creds
            .handles
            .first()
            .map(|h| h.as_str().to_string())
            .context("an account has a handle")?;
        Ok((
            Registration::Done(Cred {
                account: creds.account,
                device: creds.device,
                token: creds.token,
                handle,
            }),
            solved,
        ))
    }

    /// Sends `text` to one device of one handle, as message `id`.
    pub async fn send(
        &self,
        token: &str,
        addr: &str,
        id: &str,
        to: &str,
        device: DeviceId,
        text: &str,
    ) -> Result<Answer> {
        let req = SendRequest {
            id: id.to_string(),
            from: None,
            to: vec![RecipientPayloads {
                handle: to.to_string(),
                devices: vec![DevicePayload {
                    device,
                    payload: base64::engine::general_purpose::STANDARD.encode(text),
                }],
            }],
            own: Vec::new(),
            ephemeral: false,
            partial: false,
            no_sms_fallback: true,
            sms: Vec::new(),
        };
        Answer::status_of(self.as_client(Some(token), addr).send(&req).await)
    }

    /// Looks handles up in the directory: the parsed answer, or the
    /// refusal.
    pub async fn lookup(
        &self,
        token: &str,
        addr: &str,
        handles: &[String],
    ) -> Result<std::result::Result<DirectoryResponse, Answer>> {
        Answer::of(self.as_client(Some(token), addr).lookup(handles).await)
    }

    /// Reports a message request as junk, sharing its text or not.
    pub async fn report(
        &self,
        token: &str,
        addr: &str,
        report_token: &str,
        text: Option<String>,
    ) -> Result<Answer> {
        let req = ReportRequest {
            token: report_token.to_string(),
            junk: true,
            text,
        };
        Answer::status_of(self.as_client(Some(token), addr).report(&req).await)
    }

    /// The published campaign fingerprints (none when the server does not
    /// publish any).
    pub async fn campaigns(&self, token: &str, addr: &str) -> Result<Vec<Fingerprint>> {
        let Ok(list) = Answer::of(self.as_client(Some(token), addr).campaigns().await)? else {
            return Ok(Vec::new());
        };
        Ok(list
            .fingerprints
            .iter()
            .filter_map(|f| f.parse().ok())
            .collect())
    }

    /// Keeps a delivery stream open for party `who` until `tx` is closed:
    /// forwards every message envelope and acknowledges every envelope at
    /// once (the device has stored it), reconnecting if the server drops
    /// the connection.
    pub fn spawn_stream(
        &self,
        who: usize,
        token: String,
        tx: Sender<Delivery>,
    ) -> tokio::task::JoinHandle<()> {
        let api = self.api.with_token(Some(token));
        tokio::spawn(async move {
            while !tx.is_closed() {
                match stream_once(&api, who, &tx).await {
                    Ok(true) => return,
                    Ok(false) | Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        })
    }
}

/// One connection of a device's stream; `Ok(true)` when it should not be
/// reopened (the receiver is gone, or the server refuses the device).
async fn stream_once(api: &Api, who: usize, tx: &Sender<Delivery>) -> Result<bool> {
    let mut stream = match api.stream().await {
        Ok(stream) => stream,
        Err(e) if e.code() == Some(ErrorCode::Unauthorized) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    while let Some(frame) = stream.next().await? {
        match frame {
            ServerFrame::Envelope(env) => {
                if let EnvelopeBody::Message {
                    id,
                    sender,
                    payload,
                    report_token,
                } = env.body
                {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(payload)
                        .unwrap_or_default();
                    let delivery = Delivery {
                        to: who,
                        id,
                        from_account: sender.account,
                        text: String::from_utf8_lossy(&bytes).into_owned(),
                        report_token,
                    };
                    if tx.send(delivery).await.is_err() {
                        return Ok(true);
                    }
                }
                if env.seq > tidings_proto::Seq::default() {
                    stream.ack(vec![env.seq]).await?;
                }
            }
            ServerFrame::Error {
                error: ErrorCode::Unauthorized,
                ..
            } => return Ok(true),
            ServerFrame::Error { error, message } => bail!("stream error {error}: {message}"),
            ServerFrame::Ready { .. } | ServerFrame::Drained => {}
        }
    }
    Ok(false)
}
