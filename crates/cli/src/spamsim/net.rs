//! The simulation's side of the wire: the real HTTP API and delivery stream
//! of a server running in this process, with each request carrying the
//! simulated client address in `X-Forwarded-For`.

use std::time::Duration;
use tidings_proto::paths;
use tidings_proto::ErrorCode;
use tidings_proto::{AccountId, DeviceId, Seq};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tidings_proto::api::{
    CampaignList, CodeRequest, CodeSent, DeviceCredentials, DevicePayload, DirectoryRequest,
    DirectoryResponse, ErrorBody, PowSolution, RecipientPayloads, RegisterRequest, ReportRequest,
    SendRequest,
};
use tidings_proto::stream::{ClientFrame, EnvelopeBody, ServerFrame};
use tidings_spam::Fingerprint;
use tokio::sync::mpsc::Sender;
use tokio_tungstenite::tungstenite::Message;

/// Most proofs of work solved for one request before giving up.
const MAX_POW_ROUNDS: usize = 3;

/// A connection pool to the simulated server.
#[derive(Clone)]
pub struct Net {
    base: String,
    http: reqwest::Client,
}

/// A server answer: status and parsed body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body (`Null` when empty or not JSON).
    pub body: Value,
}

impl Answer {
    /// Whether the request succeeded.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error code of a failed request (`http_STATUS` when there is none).
    pub fn error(&self) -> String {
        self.body["error"]
            .as_str()
            .map(str::to_string)
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
        tidings_client::api::ensure_tls_provider();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Net {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// One request from client address `addr`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        addr: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Answer> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-forwarded-for", addr);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("reading {path}"))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
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
        let mut req = CodeRequest {
            handle: handle.to_string(),
            pow: None,
        };
        let mut solved = 0;
        let sent: CodeSent = loop {
            let a = self
                .call(reqwest::Method::POST, paths::CODES, None, addr, Some(&req))
                .await?;
            if a.ok() {
                break serde_json::from_value(a.body).context("code answer")?;
            }
            if a.status == 428 && (solved as usize) < MAX_POW_ROUNDS {
                let e: ErrorBody = serde_json::from_value(a.body).context("challenge")?;
                let c = e
                    .pow
                    .context("a proof-of-work answer without a challenge")?;
                let challenge = c.challenge.clone();
                let nonce = tokio::task::spawn_blocking(move || {
                    tidings_server::service::pow::solve(&c.challenge, c.bits)
                })
                .await
                .context("proof-of-work task")?
                .ok_or_else(|| anyhow!("the server asked for more work than a client does"))?;
                solved += 1;
                req.pow = Some(PowSolution { challenge, nonce });
                continue;
            }
            return Ok((Registration::Refused(a.error()), solved));
        };
        let key = sent.handle.as_str().to_string();
        let inbox = self
            .call(
                reqwest::Method::GET,
                &paths::path(paths::CARRIER_INBOX, &[&key]),
                None,
                addr,
                None::<&()>,
            )
            .await?;
        let code = inbox
            .body
            .as_array()
            .and_then(|msgs| {
                msgs.iter().rev().find_map(|m| {
                    m["text"].as_str().and_then(|t| {
                        t.split(|c: char| !c.is_ascii_digit())
                            .find(|w| w.len() == tidings_proto::CODE_DIGITS)
                            .map(str::to_string)
                    })
                })
            })
            .with_context(|| format!("no code for {key} in the simulated inbox"))?;
        let a = self
            .call(
                reqwest::Method::POST,
                paths::ACCOUNTS,
                None,
                addr,
                Some(&RegisterRequest {
                    handle: key,
                    code,
                    name: Some(name.to_string()),
                    device_name: "phone".into(),
                }),
            )
            .await?;
        if !a.ok() {
            return Ok((Registration::Refused(a.error()), solved));
        }
        let creds: DeviceCredentials = serde_json::from_value(a.body).context("credentials")?;
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
        self.call(
            reqwest::Method::POST,
            paths::MESSAGES,
            Some(token),
            addr,
            Some(&req),
        )
        .await
    }

    /// Looks handles up in the directory: the parsed answer, or the
    /// refusal.
    pub async fn lookup(
        &self,
        token: &str,
        addr: &str,
        handles: &[String],
    ) -> Result<std::result::Result<DirectoryResponse, Answer>> {
        let a = self
            .call(
                reqwest::Method::POST,
                paths::DIRECTORY,
                Some(token),
                addr,
                Some(&DirectoryRequest {
                    handles: handles.to_vec(),
                }),
            )
            .await?;
        if !a.ok() {
            return Ok(Err(a));
        }
        Ok(Ok(
            serde_json::from_value(a.body).context("directory answer")?
        ))
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
        self.call(
            reqwest::Method::POST,
            paths::REPORTS,
            Some(token),
            addr,
            Some(&req),
        )
        .await
    }

    /// The published campaign fingerprints (none when the server does not
    /// publish any).
    pub async fn campaigns(&self, token: &str, addr: &str) -> Result<Vec<Fingerprint>> {
        let a = self
            .call(
                reqwest::Method::GET,
                paths::CAMPAIGNS,
                Some(token),
                addr,
                None::<&()>,
            )
            .await?;
        if !a.ok() {
            return Ok(Vec::new());
        }
        let list: CampaignList = serde_json::from_value(a.body).context("campaign list")?;
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
        let url = format!(
            "{}{}",
            self.base.replacen("http://", "ws://", 1),
            paths::STREAM
        );
        tokio::spawn(async move {
            while !tx.is_closed() {
                match stream_once(&url, who, &token, &tx).await {
                    Ok(true) => return,
                    Ok(false) | Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        })
    }
}

/// One connection of a device's stream; `Ok(true)` when it should not be
/// reopened (the receiver is gone, or the server refuses the device).
async fn stream_once(url: &str, who: usize, token: &str, tx: &Sender<Delivery>) -> Result<bool> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let auth = serde_json::to_string(&ClientFrame::Auth {
        token: token.to_string(),
    })?;
    ws.send(Message::Text(auth.into())).await?;
    while let Some(msg) = ws.next().await {
        let Message::Text(text) = msg? else {
            continue;
        };
        let frame: ServerFrame = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(_) => {
                // A kind of envelope this build does not know: the device
                // stores nothing but must not block its queue.
                let v: Value = serde_json::from_str(&text)?;
                if let Some(seq) = v["seq"]
                    .as_u64()
                    .and_then(|s| Seq::new(s).ok())
                    .filter(|s| *s > Seq::default())
                {
                    let ack = serde_json::to_string(&ClientFrame::Ack { seqs: vec![seq] })?;
                    ws.send(Message::Text(ack.into())).await?;
                }
                continue;
            }
        };
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
                if env.seq > Seq::default() {
                    let ack = serde_json::to_string(&ClientFrame::Ack {
                        seqs: vec![env.seq],
                    })?;
                    ws.send(Message::Text(ack.into())).await?;
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
