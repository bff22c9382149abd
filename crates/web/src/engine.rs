//! The engine: one task owns the `Client` and the delivery stream, and
//! takes the page's commands one at a time between frames.
//!
//! Why an actor: a `Client` is used through `&mut self` across awaits, and
//! the page may send a command while a frame is being filed. One task that
//! owns both serialises them without a lock that could be held across an
//! await. The queue of commands is bounded ([`MAX_QUEUED_COMMANDS`]).

use std::pin::pin;
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tidings_client::api::Stream;
use tidings_client::client::DISPLAY_NAME;
use tidings_client::profile::Profile;
use tidings_client::rt::{self, Instant};
use tidings_client::{Api, Client, ClientError, Event};
use tidings_proto::api::{LoginRequest, RegisterRequest};
use tidings_proto::stream::ServerFrame;
use tidings_spam::requests::defang;
use wasm_bindgen::prelude::*;

use crate::command::{is_imported, parse, Command, Failure, OUTGOING_DIR};
use tidings_core::attachment::sanitise_name;

/// Commands waiting for the engine; more are refused until it catches up.
pub const MAX_QUEUED_COMMANDS: usize = 64;
/// Where the profile lives in the VFS's pool.
pub const PROFILE_DIR: &str = "/tidings";
/// First wait before connecting again after a failure; it doubles up to
/// [`MAX_RETRY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between two connection attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

type Answer = Result<Value, Failure>;
type Call = (Command, oneshot::Sender<Answer>);

/// Largest file the page may attach, in bytes (the server's own limit,
/// usually lower, is checked when it is sent).
pub const MAX_IMPORT_BYTES: f64 = (1u64 << 30) as f64;
/// How long a file picked but not sent is kept (the page that picked it
/// may still send it).
pub const UNSENT_KEEP: Duration = Duration::from_secs(24 * 3600);
/// Bytes read at a time from a file the person picked, or from a stored
/// file handed to the page.
pub const FILE_SLICE_BYTES: usize = 1024 * 1024;

/// The engine as the worker's script sees it.
#[wasm_bindgen]
pub struct Engine {
    calls: mpsc::Sender<Call>,
    /// For files, which need no turn of the actor: they are only read and
    /// written through the profile's file store.
    profile: Profile,
}

#[wasm_bindgen]
impl Engine {
    /// Opens the profile kept in this origin's private file system and
    /// starts the engine. `server` is the app's origin, `region` the
    /// country numbers typed without a code are read in (from the
    /// browser's language), and `emit` receives each event as a JSON
    /// string. The caller holds the profile's Web Lock.
    pub async fn start(
        server: String,
        region: String,
        emit: js_sys::Function,
    ) -> Result<Engine, JsError> {
        let options = sqlite_wasm_vfs::sahpool::OpfsSAHPoolCfgBuilder::new()
            .directory("tidings-profile")
            .initial_capacity(8)
            .build();
        sqlite_wasm_vfs::sahpool::install::<sqlite_wasm_rs::WasmOsCallback>(&options, true)
            .await
            .map_err(|e| {
                JsError::new(&format!(
                    "this browser cannot keep Tidings' data (the origin-private file system \
                     is unavailable: {e}); use a current Chrome, Edge, Firefox or Safari over \
                     https or on localhost"
                ))
            })?;
        if !region.is_empty() {
            // A region the browser made up is not worth failing for.
            let _ = tidings_client::client::set_region(&region);
        }
        let profile = Profile::in_database(PROFILE_DIR);
        let client = match profile.credentials() {
            Ok(Some(_)) => Some(Client::open(profile.clone(), Some(&server)).map_err(js)?),
            Ok(None) => None,
            Err(e) => return Err(js(ClientError::from(e))),
        };
        if let Some(client) = &client {
            // Files picked, never sent, and forgotten by a closed tab.
            if let Err(e) = client.forget_unsent(std::path::Path::new(OUTGOING_DIR), UNSENT_KEEP) {
                self::emit(
                    &emit,
                    json!({"event": "notice", "notice": "cleanup_failed", "text": e.to_string()}),
                );
            }
        }
        let (calls, queue) = mpsc::channel(MAX_QUEUED_COMMANDS);
        let actor = Actor {
            server,
            profile: profile.clone(),
            client,
            emit,
            stream: None,
            caught_up: false,
            retry_at: Some(Instant::now()),
            backoff: FIRST_RETRY,
            download_due: false,
        };
        wasm_bindgen_futures::spawn_local(actor.run(queue));
        Ok(Engine { calls, profile })
    }

    /// Copies a file the person picked (a `File` or `Blob`) into the
    /// profile's file store, a slice at a time, so that a message, and
    /// the outbox if the connection is down, can refer to it after a
    /// reload; resolves to its path for `send`.
    pub fn import(&self, name: String, file: web_sys::Blob) -> js_sys::Promise {
        let profile = self.profile.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let size = file.size();
            if size > MAX_IMPORT_BYTES {
                return Err(reject(Failure::new(
                    "too_large",
                    format!(
                        "{name} is {size} bytes; the web app attaches files up to {MAX_IMPORT_BYTES} bytes"
                    ),
                )));
            }
            let stored = sanitise_name(&name);
            let unique = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
            let path = format!("{OUTGOING_DIR}{}-{unique:08x}/{stored}", rt::now_ms());
            let failed = |e: &dyn std::fmt::Display| {
                reject(Failure::new(
                    "storage",
                    format!("{name} could not be kept in this browser: {e}"),
                ))
            };
            let mut out = profile
                .files()
                .create(std::path::Path::new(&path))
                .map_err(|e| failed(&e))?;
            let mut at = 0.0;
            while at < size {
                let end = (at + FILE_SLICE_BYTES as f64).min(size);
                let slice = file.slice_with_f64_and_f64(at, end)?;
                let buf = wasm_bindgen_futures::JsFuture::from(slice.array_buffer()).await?;
                let bytes = js_sys::Uint8Array::new(&buf).to_vec();
                std::io::Write::write_all(&mut out, &bytes).map_err(|e| failed(&e))?;
                at = end;
            }
            out.finish().map_err(|e| failed(&e))?;
            Ok(JsValue::from_str(&path))
        })
    }

    /// Forgets a file imported but not sent (the person took it off the
    /// message).
    pub fn discard(&self, path: String) -> Result<(), JsError> {
        if !is_imported(&path) {
            return Err(JsError::new("only an attached file can be discarded"));
        }
        self.profile
            .files()
            .remove(std::path::Path::new(&path))
            .map_err(js)
    }

    /// A stored file (an attachment received or sent) as a `Blob` of
    /// `content_type`, for the page to show, play or save.
    pub fn read(&self, path: String, content_type: String) -> Result<web_sys::Blob, JsError> {
        let mut file = self
            .profile
            .files()
            .open(std::path::Path::new(&path))
            .map_err(js)?;
        let parts = js_sys::Array::new();
        let mut buf = vec![0u8; FILE_SLICE_BYTES];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf).map_err(js)?;
            if n == 0 {
                break;
            }
            parts.push(&js_sys::Uint8Array::from(&buf[..n]));
        }
        let options = web_sys::BlobPropertyBag::new();
        options.set_type(&content_type);
        web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
            .map_err(|e| JsError::new(&format!("{e:?}")))
    }

    /// Runs one command (JSON, see `Command`); resolves to its answer as
    /// JSON, or rejects with `{error, message}` as JSON.
    pub fn call(&self, command: String) -> js_sys::Promise {
        let mut calls = self.calls.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let command = parse(&command).map_err(reject)?;
            let (tx, rx) = oneshot::channel();
            calls.try_send((command, tx)).map_err(|_| {
                reject(Failure::new("busy", "too many commands at once; try again"))
            })?;
            match rx.await {
                Ok(Ok(value)) => Ok(JsValue::from_str(&value.to_string())),
                Ok(Err(f)) => Err(reject(f)),
                Err(_) => Err(reject(Failure::new("internal", "the engine stopped"))),
            }
        })
    }
}

/// A failure as the worker expects a rejection: its JSON.
fn reject(f: Failure) -> JsValue {
    JsValue::from_str(&serde_json::to_string(&f).expect("failures serialise"))
}

fn js(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// What woke the engine.
enum Wake {
    Call(Option<Call>),
    Frame(Result<Option<ServerFrame>, tidings_client::ApiError>),
    Retry,
}

struct Actor {
    server: String,
    profile: Profile,
    client: Option<Client>,
    emit: js_sys::Function,
    stream: Option<Stream>,
    /// The stream delivered what was queued since it opened.
    caught_up: bool,
    /// When to connect next (none: not while signed out).
    retry_at: Option<Instant>,
    backoff: Duration,
    /// A command made attachments downloadable (accepting a request).
    download_due: bool,
}

impl Actor {
    async fn run(mut self, mut queue: mpsc::Receiver<Call>) {
        loop {
            if self.client.is_some()
                && self.stream.is_none()
                && self.retry_at.is_some_and(|at| Instant::now() >= at)
            {
                self.connect().await;
            }
            let wake = {
                let call = queue.next();
                let other = async {
                    match self.stream.as_mut() {
                        Some(stream) => Wake::Frame(stream.next().await),
                        None => {
                            let wait = self
                                .retry_at
                                .map(|at| at.saturating_duration_since(Instant::now()))
                                .unwrap_or(Duration::from_secs(3600));
                            rt::sleep(wait).await;
                            Wake::Retry
                        }
                    }
                };
                match select(pin!(call), pin!(other)).await {
                    Either::Left((call, _)) => Wake::Call(call),
                    Either::Right((wake, _)) => wake,
                }
            };
            match wake {
                Wake::Call(None) => return,
                Wake::Call(Some((command, reply))) => {
                    let answer = self.handle(command).await;
                    let _ = reply.send(answer);
                    if std::mem::take(&mut self.download_due) {
                        self.download().await;
                    }
                }
                Wake::Frame(frame) => self.on_frame(frame).await,
                Wake::Retry => {}
            }
        }
    }

    fn emit(&self, event: Value) {
        emit(&self.emit, event);
    }

    fn connection(&self, state: &str, detail: Option<String>) {
        self.emit(connection(state, detail));
    }

    /// Sends what waited, then opens the stream; on failure, schedules the
    /// next attempt with a doubling wait.
    async fn connect(&mut self) {
        let Some(client) = self.client.as_mut() else {
            return;
        };
        emit(&self.emit, connection("connecting", None));
        let opened = async {
            client.before_stream().await?;
            Ok::<_, ClientError>(client.api().stream().await?)
        }
        .await;
        match opened {
            Ok(stream) => {
                self.stream = Some(stream);
                self.caught_up = false;
                self.backoff = FIRST_RETRY;
                self.retry_at = None;
                // The outbox may have emptied: the list shows new states.
                self.emit(json!({"event": "changed"}));
            }
            Err(e) => self.lost(Some(e.to_string())),
        }
    }

    /// The stream is gone: connect again after the current wait.
    fn lost(&mut self, why: Option<String>) {
        self.stream = None;
        self.caught_up = false;
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_RETRY);
        self.connection("offline", why);
    }

    async fn on_frame(&mut self, frame: Result<Option<ServerFrame>, tidings_client::ApiError>) {
        let Some(client) = self.client.as_mut() else {
            return;
        };
        match frame {
            Ok(Some(ServerFrame::Envelope(env))) => {
                let seq = env.seq;
                match client.handle_envelope(env).await {
                    Ok(events) => {
                        for event in &events {
                            emit(&self.emit, event_json(client, event));
                        }
                        if seq != tidings_proto::Seq::default() {
                            if let Some(stream) = self.stream.as_mut() {
                                if let Err(e) = stream.ack(vec![seq]).await {
                                    self.lost(Some(e.to_string()));
                                }
                            }
                        }
                        // A message may bring files, or a new photo of its sender.
                        let message = events.iter().any(|e| matches!(e, Event::Message(_)));
                        if message && self.caught_up {
                            self.download().await;
                        }
                    }
                    // Not acknowledged: the server delivers it again.
                    Err(e) => self.lost(Some(e.to_string())),
                }
            }
            Ok(Some(ServerFrame::Drained)) => {
                if !self.caught_up {
                    self.caught_up = true;
                    for event in client.after_catch_up().await {
                        emit(&self.emit, event_json(client, &event));
                    }
                    self.connection("online", None);
                    self.download().await;
                }
            }
            Ok(Some(ServerFrame::Error { message, .. })) => self.lost(Some(message)),
            Ok(Some(ServerFrame::Ready { .. })) => {}
            Ok(None) => self.lost(None),
            Err(e) => self.lost(Some(e.to_string())),
        }
    }

    /// Fetches the attachments waiting in accepted conversations, with
    /// `download` events for the page's progress bars, and the profile
    /// photos not fetched yet; a `changed` event when any arrived. What
    /// fails waits for the next try.
    async fn download(&mut self) {
        let to_page = self.emit.clone();
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let mut progress = progress_events(to_page.clone(), "download");
        let saved = client.download_pending(&mut progress).await;
        // A photo that could not be fetched is tried with the next message.
        let photos = client.fetch_photos().await.unwrap_or(0);
        match saved {
            Ok(0) if photos == 0 => {}
            Ok(n) => emit(
                &to_page,
                json!({"event": "changed", "downloaded": n, "photos": photos}),
            ),
            Err(e) => emit(
                &to_page,
                json!({"event": "notice", "notice": "download_failed", "text": e.to_string()}),
            ),
        }
    }

    fn client(&mut self) -> Result<&mut Client, Failure> {
        self.client
            .as_mut()
            .ok_or_else(|| Failure::new("not_signed_in", "sign in first"))
    }

    async fn handle(&mut self, command: Command) -> Answer {
        match command {
            Command::Status => Ok(self.status()),
            Command::RequestCode { handle } => {
                let api = Api::new(&self.server, None)?;
                let sent = api
                    .request_code_reporting(&handle, |tried, expected| {
                        emit(
                            &self.emit,
                            json!({"event": "pow", "tried": tried, "expected": expected}),
                        );
                    })
                    .await?;
                Ok(json!({"handle": sent.handle}))
            }
            Command::Register {
                handle,
                code,
                name,
                device,
            } => {
                let api = Api::new(&self.server, None)?;
                let creds = api
                    .register(&RegisterRequest {
                        handle,
                        code,
                        name: name.clone(),
                        device_name: device,
                    })
                    .await?;
                self.signed_in(creds, true, name.as_deref()).await
            }
            Command::Login {
                handle,
                code,
                device,
            } => {
                let api = Api::new(&self.server, None)?;
                let creds = api
                    .login(&LoginRequest {
                        handle,
                        code,
                        device_name: device,
                    })
                    .await?;
                self.signed_in(creds, false, None).await
            }
            Command::Conversations => {
                let list = self
                    .client()?
                    .local()
                    .conversations()
                    .map_err(ClientError::from)?;
                Ok(json!(list))
            }
            Command::Resolve { to } => {
                let key = self.client()?.conversation_key(&to)?;
                Ok(json!({"conversation": key}))
            }
            Command::Messages { conversation } => {
                let client = self.client()?;
                let held = client
                    .local()
                    .request(&conversation)
                    .map_err(ClientError::from)?;
                let mut messages = client
                    .local()
                    .messages(&conversation)
                    .map_err(ClientError::from)?;
                if held.is_some() {
                    // A stranger's chosen name could pose as anyone: a
                    // request shows handles only, and its links defanged.
                    for m in &mut messages {
                        m.from_name = None;
                        m.body = defang(&m.body);
                    }
                }
                let mut value = json!({"messages": messages, "request": held});
                add_thumbnails(client, &mut value);
                Ok(value)
            }
            Command::Send {
                to,
                text,
                files,
                sms_links,
            } => {
                let mut progress = upload_progress(self.emit.clone());
                let files: Vec<std::path::PathBuf> = files.into_iter().map(Into::into).collect();
                let client = self.client()?;
                let sent = client
                    .send_text(&to, &text, &files, None, false, sms_links, &mut progress)
                    .await?;
                Ok(json!(sent))
            }
            Command::Retry { id } => {
                let to_page = self.emit.clone();
                let mut progress = upload_progress(to_page);
                Ok(json!(self.client()?.retry(&id, &mut progress).await?))
            }
            Command::Read { conversation } => {
                let n = self.client()?.read(&[conversation]).await?;
                Ok(json!({"read": n}))
            }
            Command::Typing { conversation } => {
                self.client()?.typing(&[conversation]).await?;
                Ok(json!({}))
            }
            Command::Requests { junk } => {
                let mut list = self.client()?.requests(junk)?;
                for r in &mut list {
                    r.last = defang(&r.last);
                }
                Ok(json!(list))
            }
            Command::Accept { conversation } => {
                let accepted = self.client()?.accept(&conversation).await?;
                // Its attachments come once the answer is out.
                self.download_due = true;
                Ok(json!(accepted))
            }
            Command::Block { handle } => Ok(json!(self.client()?.block(&handle).await?)),
            Command::Report { handle } => Ok(json!(self.client()?.report(&handle, true).await?)),
            Command::DeleteRequest { conversation } => {
                Ok(json!({"deleted": self.client()?.delete_request(&conversation)?}))
            }
            Command::CreateGroup { name, members } => {
                let state = self.client()?.create_named_group(&name, &members).await?;
                let key = tidings_client::client::group_key(&state.id);
                Ok(json!({"conversation": key, "group": state}))
            }
            Command::Group { conversation } => {
                Ok(json!(self.client()?.group_state(&conversation)?))
            }
            Command::ChangeGroup { conversation, edit } => {
                let state = self
                    .client()?
                    .change_group(&conversation, edit.into())
                    .await?;
                Ok(json!(state))
            }
            Command::Settings => Ok(json!(self.client()?.settings()?)),
            Command::ChangeSettings { change } => {
                let client = self.client()?;
                client.change_settings(&change).await?;
                Ok(json!(client.settings()?))
            }
            Command::Handles => {
                let client = self.client()?;
                let handles = client.api().handles().await?;
                client.keep_handles(handles.clone())?;
                Ok(json!({"handles": handles}))
            }
            Command::AddHandle { handle, code: None } => {
                let to_page = self.emit.clone();
                let sent = self
                    .client()?
                    .api()
                    .request_code_reporting(&handle, |tried, expected| {
                        emit(
                            &to_page,
                            json!({"event": "pow", "tried": tried, "expected": expected}),
                        );
                    })
                    .await?;
                Ok(json!({"code_sent": sent.handle}))
            }
            Command::AddHandle {
                handle,
                code: Some(code),
            } => {
                let client = self.client()?;
                let handles = client.api().add_handle(&handle, &code).await?;
                client.keep_handles(handles.clone())?;
                Ok(json!({"handles": handles}))
            }
            Command::RemoveHandle { handle } => {
                let client = self.client()?;
                let parsed = Client::parse_handle(&handle)?;
                let current = client.api().handles().await?;
                if current.as_slice() == std::slice::from_ref(&parsed) {
                    return Err(Failure::new(
                        "last_handle",
                        format!(
                            "{parsed} is this account's only handle: without one nobody can \
                             write to you; add another first, or delete the account"
                        ),
                    ));
                }
                let handles = client.api().remove_handle(&handle).await?;
                client.keep_handles(handles.clone())?;
                Ok(json!({"handles": handles}))
            }
            Command::Photo => photo_json(self.client()?),
            Command::SetPhoto { path } => {
                let client = self.client()?;
                let picked = std::path::PathBuf::from(&path);
                let result = client.set_profile_photo(&picked).await;
                // Kept as the account's photo (a copy): the pick is done.
                let _ = self.profile.files().remove(&picked);
                result?;
                photo_json(self.client()?)
            }
            Command::Devices => {
                let client = self.client()?;
                let me = client.credentials().device;
                let devices = client.api().devices().await?;
                Ok(json!({"this": me, "devices": devices}))
            }
            Command::RemoveDevice { device } => {
                let client = self.client()?;
                let id = tidings_proto::DeviceId::new(device)
                    .map_err(|e| Failure::new("usage", e.to_string()))?;
                if id == client.credentials().device {
                    return Err(Failure::new(
                        "usage",
                        "this is the device you are using: sign out instead",
                    ));
                }
                client.api().remove_device(id).await?;
                Ok(json!({"removed": device}))
            }
            Command::DeleteAccount => {
                let client = self.client()?;
                client.api().delete_account().await?;
                self.disconnect().await;
                // The store closes before it is emptied.
                self.client = None;
                self.profile.clear().map_err(ClientError::from)?;
                Ok(json!({"deleted": true}))
            }
            Command::Safety { handle, mark } => {
                let client = self.client()?;
                let handle = client.resolve_handle(&handle)?;
                let v = if mark {
                    client.mark_verified(&handle).await?
                } else {
                    client.verification(&handle).await?
                };
                let qr = qrcode::QrCode::new(v.safety_number.as_bytes())
                    .map_err(|e| Failure::new("internal", e.to_string()))?
                    .render::<qrcode::render::svg::Color>()
                    .min_dimensions(220, 220)
                    .quiet_zone(true)
                    .build();
                Ok(json!({
                    "handle": v.handle,
                    "safety_number": v.safety_number,
                    "verified": v.verified,
                    "qr_svg": qr,
                }))
            }
            Command::Reconnect => {
                if self.stream.is_none() && self.client.is_some() {
                    self.backoff = FIRST_RETRY;
                    self.retry_at = Some(Instant::now());
                }
                Ok(json!({}))
            }
            Command::SignOut => {
                let client = self
                    .client
                    .take()
                    .ok_or_else(|| Failure::new("not_signed_in", "not signed in"))?;
                self.disconnect().await;
                match client.logout(false).await {
                    Ok(out) => Ok(json!(out)),
                    Err(e) => {
                        // Nothing was deleted: keep using the profile.
                        self.client = Client::open(self.profile.clone(), Some(&self.server)).ok();
                        self.retry_at = Some(Instant::now());
                        Err(e.into())
                    }
                }
            }
        }
    }

    async fn signed_in(
        &mut self,
        creds: tidings_proto::api::DeviceCredentials,
        registered: bool,
        name: Option<&str>,
    ) -> Answer {
        self.disconnect().await;
        self.client = None;
        let client = Client::enrol(self.profile.clone(), &self.server, creds, registered, name)?;
        // Published before answering, so that nobody writes to a device
        // without keys; if that fails, every connection tries again
        // (`Client::before_stream`) and the person is signed in anyway.
        if let Err(e) = client.ensure_keys().await {
            self.connection("offline", Some(e.to_string()));
        }
        self.client = Some(client);
        self.backoff = FIRST_RETRY;
        self.retry_at = Some(Instant::now());
        Ok(self.status())
    }

    /// Closes the stream and stops reconnecting (signing out or in).
    async fn disconnect(&mut self) {
        if let Some(stream) = self.stream.take() {
            stream.close().await;
        }
        self.retry_at = None;
    }

    fn status(&self) -> Value {
        match &self.client {
            None => json!({"signed_in": false, "server": self.server}),
            Some(client) => {
                let creds = client.credentials();
                let name = client.local().setting(DISPLAY_NAME).ok().flatten();
                json!({
                    "signed_in": true,
                    "server": self.server,
                    "account": creds.account,
                    "device": creds.device,
                    "handles": creds.handles,
                    "name": name,
                })
            }
        }
    }
}

/// This account's photo for the page: `{path, content_type}`, or null.
fn photo_json(client: &Client) -> Answer {
    let photo = client.own_photo_file()?;
    Ok(json!(photo.map(|(path, content_type)| json!({
        "path": path.display().to_string(),
        "content_type": content_type,
    }))))
}

/// Bytes between two progress events of a transfer.
pub const PROGRESS_STEP_BYTES: u64 = 512 * 1024;

/// A transfer's progress as events for the page: one per
/// [`PROGRESS_STEP_BYTES`] and at the end, not one per chunk.
fn progress_events(to_page: js_sys::Function, event: &'static str) -> impl FnMut(&str, u64, u64) {
    let mut last = 0u64;
    move |name, done, total| {
        if done == total || done >= last + PROGRESS_STEP_BYTES || done < last {
            last = done;
            emit(
                &to_page,
                json!({"event": event, "name": file_name(name), "done": done, "total": total}),
            );
        }
    }
}

/// Progress of the files a message sends.
fn upload_progress(to_page: js_sys::Function) -> impl FnMut(&str, u64, u64) {
    progress_events(to_page, "upload")
}

/// The last part of a stored file's path: the name the person knows.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Puts each attachment's preview (a small JPEG that travelled in the
/// message) beside it, for the page to show before, or instead of, the
/// file.
fn add_thumbnails(client: &Client, value: &mut Value) {
    let Some(messages) = value["messages"].as_array_mut() else {
        return;
    };
    for m in messages {
        let Some(list) = m["attachments"].as_array_mut() else {
            continue;
        };
        for a in list {
            if a["has_thumbnail"] != json!(true) {
                continue;
            }
            let Some(row) = a["row"].as_i64() else {
                continue;
            };
            if let Ok(Some((pointer, _, _))) = client.local().attachment(row) {
                a["thumbnail"] = json!(pointer.thumbnail);
            }
        }
    }
}

/// Hands one event to the page.
fn emit(to: &js_sys::Function, event: Value) {
    let _ = to.call1(&JsValue::NULL, &JsValue::from_str(&event.to_string()));
}

/// The connection's state: `connecting`, `online` or `offline` (with why).
fn connection(state: &str, detail: Option<String>) -> Value {
    json!({"event": "connection", "state": state, "detail": detail})
}

/// An event for the page; a message in a muted conversation says so, so
/// the page raises no notification for it.
fn event_json(client: &Client, event: &Event) -> Value {
    let mut value = json!(event);
    if let Event::Message(m) = event {
        let muted = client.local().is_muted(&m.conversation).unwrap_or(false);
        value["muted"] = json!(muted);
    }
    value
}
