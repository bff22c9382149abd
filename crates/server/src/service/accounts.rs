//! Accounts and handles: verification codes, registration, login (adding a
//! device), and adding handles.
//!
//! Every code request gets the same answer whether or not the handle is
//! registered, so codes cannot be used to enumerate accounts; what an
//! account exists for is revealed only to someone who has proven control of
//! the handle with a code.
//!
//! Code requests are limited so that nobody can lock a handle's owner out:
//! per client address, per (handle, address) pair, and per handle only past
//! a threshold, beyond which each request needs a proof of work (as
//! Signal's challenges do), up to a generous hard cap that bounds the SMS
//! cost of one number. Every per-address limit counts the
//! [`ClientAddr`](crate::service::address::ClientAddr) of the request.

use std::net::IpAddr;
use tidings_proto::ErrorCode;

use rand::Rng;
use sha2::{Digest as _, Sha256};
use tidings_proto::api::{
    AccountInfo, AddHandleRequest, CodeRequest, CodeSent, DeviceCredentials, LoginRequest,
    PowSolution, RegisterRequest,
};
use tidings_proto::{AccountId, DeviceId, Handle, CODE_DIGITS, MAX_NAME_BYTES};
use tidings_sms::OutboundSms;

use crate::error::ApiError;
use crate::service::auth::{self, Authed};
use crate::service::ratelimit::{Counted, Limited, RateLimiter};
use crate::service::{address, pow};
use crate::store::{CodeAction, Digest, Redeemed};
use crate::App;

/// Counts one event against a rate limit, or refuses the request with the
/// limit's name and when to retry.
pub(crate) async fn limited(
    limiter: &RateLimiter,
    key: &str,
    now: u64,
    what: &str,
) -> Result<(), ApiError> {
    limiter
        .hit(key, now)
        .await
        .map_err(|refused| rate_limited(limiter.name(), refused, what))
}

/// Like [`limited`], but counts nothing: for a request that may yet fail
/// for another reason. Returns what the window holds so far.
async fn peek_limited(
    limiter: &RateLimiter,
    key: &str,
    now: u64,
    what: &str,
) -> Result<Counted, ApiError> {
    limiter
        .look(key, now)
        .await
        .map_err(|refused| rate_limited(limiter.name(), refused, what))
}

/// The error for a request over the limit `name`.
fn rate_limited(name: &str, Limited { retry_after_secs }: Limited, what: &str) -> ApiError {
    tracing::info!(limit = name, "rate limited");
    ApiError::Limit {
        code: ErrorCode::RateLimited,
        message: format!("too many {what} ({name}); try again in {retry_after_secs} s"),
        retry_after_secs: Some(retry_after_secs),
    }
}

/// Parses a handle as typed, with the server's default region.
pub fn parse_handle(app: &App, text: &str) -> Result<Handle, ApiError> {
    Handle::parse(text, &app.config.default_region).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// What a code is for. The purpose is part of the code's hash, so a code
/// sent to remove a number from Tidings cannot be used to register, log in
/// or add a handle, and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Registration, login and adding a handle (`POST /v1/codes`).
    Account,
    /// Removing a phone number from Tidings (the `/deregister` page).
    Deregister,
}

fn code_hash(app: &App, purpose: CodePurpose, handle: &Handle, code: &str) -> Digest {
    let mut h = Sha256::new();
    h.update(app.secret);
    if purpose == CodePurpose::Deregister {
        h.update(b"deregister:");
    }
    h.update(handle.as_str().as_bytes());
    h.update(b":");
    h.update(code.as_bytes());
    h.finalize().into()
}

fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{what} must be at most {MAX_NAME_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

fn check_code_shape(code: &str) -> Result<(), ApiError> {
    if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!(
            "a code is {CODE_DIGITS} digits, as received by SMS or e-mail"
        )));
    }
    Ok(())
}

/// `POST /v1/codes`: sends a fresh code to a phone number or address.
pub async fn send_code(
    app: &App,
    ip: std::net::IpAddr,
    req: CodeRequest,
) -> Result<CodeSent, ApiError> {
    let handle = parse_handle(app, &req.handle)?;
    let expires_in_secs = deliver_code(
        app,
        ip,
        &handle,
        CodePurpose::Account,
        Work::Api(req.pow.as_ref()),
    )
    .await?;
    Ok(CodeSent {
        handle,
        expires_in_secs,
    })
}

/// Days during which a ban makes its address range and number range need a
/// proof of work for codes.
pub const ABUSE_MEMORY_DAYS: u64 = 30;

/// The first digits of a number that make its range (the last four vary).
fn number_range(handle: &Handle) -> Option<String> {
    let s = handle.as_str();
    (handle.is_phone() && s.len() > 8).then(|| s[..s.len() - 4].to_string())
}

/// How a code request can meet a demand for a proof of work.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work<'a> {
    /// A client of the API, which solves challenges; its solution, if it
    /// sent one.
    Api(Option<&'a PowSolution>),
    /// A web form without scripts, which cannot: past
    /// `code_sends_per_handle_per_hour` it is refused instead (it never
    /// pushes a handle towards the hard cap).
    Form,
}

/// Whether a proof of work is due because registrations spike, or because
/// the client's address range or the number's range had an account banned
/// recently. The same for registered and unregistered handles.
async fn abuse_needs_work(
    app: &App,
    ip: IpAddr,
    handle: &Handle,
    now: u64,
) -> Result<bool, ApiError> {
    let source = address::range(ip);
    let last_hour = app
        .store
        .registrations_since(now.saturating_sub(3_600_000))
        .await?;
    let spike = last_hour >= app.config.spam.registration_spike_per_hour;
    let abused = app
        .store
        .recently_abused(
            &source,
            number_range(handle).as_deref(),
            now.saturating_sub(ABUSE_MEMORY_DAYS * 24 * 3_600_000),
        )
        .await?;
    Ok(spike || abused)
}

/// Accepts a solution to a challenge issued for `handle` that has not been
/// used before, or answers with a fresh challenge.
async fn check_work(
    app: &App,
    handle: &Handle,
    solution: Option<&PowSolution>,
    now: u64,
) -> Result<(), ApiError> {
    let bits = app.config.spam.pow_bits.min(pow::MAX_BITS);
    if let Some(s) = solution {
        if pow::verify(
            &app.secret,
            handle.as_str(),
            &s.challenge,
            s.nonce,
            bits,
            now,
        ) && app.limits.pow_spent.spend_shared(&s.challenge, now).await
        {
            return Ok(());
        }
    }
    Err(ApiError::ProofOfWork(tidings_proto::api::PowChallenge {
        challenge: pow::challenge(&app.secret, handle.as_str(), now),
        bits,
    }))
}

/// Sends a fresh code for `purpose` to a handle, whether or not the handle
/// is registered, within the send limits; returns how many seconds the code
/// stays valid.
///
/// The limits: per client address, per (handle, address) pair, and per
/// handle a hard cap (`code_sends_per_handle_max_per_hour`). Past
/// `code_sends_per_handle_per_hour` codes to the handle, every further
/// request needs a proof of work ([`Work`]), so strangers asking for codes
/// from many addresses cost themselves work rather than lock the owner out.
/// Nothing is counted until every check has passed.
pub(crate) async fn deliver_code(
    app: &App,
    ip: IpAddr,
    handle: &Handle,
    purpose: CodePurpose,
    work: Work<'_>,
) -> Result<u64, ApiError> {
    let now = app.now();
    let address_key = ip.to_string();
    let pair_key = format!("{}|{address_key}", handle.as_str());
    let limits = &app.limits;
    let per_address = (
        &limits.code_per_address,
        address_key.as_str(),
        "code requests from your address",
    );
    let per_pair = (
        &limits.code_per_handle_address,
        pair_key.as_str(),
        "codes sent to this handle from your address",
    );
    let per_handle = (
        &limits.code_per_handle,
        handle.as_str(),
        "codes sent to this handle",
    );
    peek_limited(per_address.0, per_address.1, now, per_address.2).await?;
    peek_limited(per_pair.0, per_pair.1, now, per_pair.2).await?;
    let sent = peek_limited(per_handle.0, per_handle.1, now, per_handle.2).await?;
    let busy = sent.count >= app.config.codes.code_sends_per_handle_per_hour;
    match work {
        Work::Form if busy => {
            return Err(rate_limited(
                "code_sends_per_handle_per_hour",
                Limited {
                    retry_after_secs: sent.resets_in_secs,
                },
                "codes sent to this handle",
            ))
        }
        Work::Form => {}
        Work::Api(solution) => {
            if busy || abuse_needs_work(app, ip, handle, now).await? {
                check_work(app, handle, solution, now).await?;
            }
        }
    }
    for (limiter, key, what) in [per_address, per_pair, per_handle] {
        limited(limiter, key, now, what).await?;
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let ttl_ms = app.config.codes.code_ttl_minutes * 60_000;
    app.store
        .put_code(
            handle,
            code_hash(app, purpose, handle, &code),
            now + ttl_ms,
            app.config.codes.code_max_tries,
        )
        .await?;
    let minutes = app.config.codes.code_ttl_minutes;
    let text = match purpose {
        CodePurpose::Account => format!(
            "Your Tidings code is {code}. It expires in {minutes} minutes. Never share it with anyone."
        ),
        CodePurpose::Deregister => format!(
            "Your Tidings code to remove this number from Tidings is {code}. It expires in {minutes} minutes. If you did not ask for this, ignore this message."
        ),
    };
    let delivered = match handle {
        Handle::Phone(number) => app
            .sms
            .send(OutboundSms {
                from: app.config.sms.sms_sender.clone(),
                to: number.clone(),
                text,
                report_ref: None,
            })
            .await
            .map_err(|e| e.to_string()),
        Handle::Email(address) => app
            .mailer
            .send(address, "Your Tidings code", &text)
            .await
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = delivered {
        tracing::warn!(error = %e, "could not deliver a code");
        return Err(ApiError::Unavailable(
            "the code could not be sent right now; try again in a few minutes".into(),
        ));
    }
    tracing::info!(
        kind = if handle.is_phone() { "phone" } else { "email" },
        ?purpose,
        "code sent"
    );
    Ok(ttl_ms / 1000)
}

fn code_refused(outcome: &Redeemed) -> Option<ApiError> {
    match outcome {
        Redeemed::NoCode => Some(ApiError::BadCode(
            "no valid code for this handle (expired, used or never sent); request a new one".into(),
        )),
        Redeemed::WrongCode { tries_left: 0 } => Some(ApiError::BadCode(
            "wrong code, and that was the last try; request a new code".into(),
        )),
        Redeemed::WrongCode { tries_left } => Some(ApiError::BadCode(format!(
            "wrong code; {tries_left} tries left"
        ))),
        _ => None,
    }
}

async fn credentials(
    app: &App,
    account: AccountId,
    device: DeviceId,
    secret: &str,
) -> Result<DeviceCredentials, ApiError> {
    let record = app
        .store
        .account(account)
        .await?
        .ok_or(ApiError::Internal)?;
    Ok(DeviceCredentials {
        account,
        device,
        token: crate::store::token(device, secret),
        handles: record.handles,
    })
}

/// `POST /v1/accounts`: creates an account from a proven handle.
pub async fn register(
    app: &App,
    ip: std::net::IpAddr,
    req: RegisterRequest,
) -> Result<DeviceCredentials, ApiError> {
    let handle = parse_handle(app, &req.handle)?;
    check_code_shape(&req.code)?;
    check_name("device name", &req.device_name)?;
    if let Some(name) = &req.name {
        check_name("name", name)?;
    }
    let now = app.now();
    limited(
        &app.limits.checks_per_address,
        &ip.to_string(),
        now,
        "code checks from your address",
    )
    .await?;
    let secret = auth::new_secret();
    let action = CodeAction::Register {
        name: req.name.clone(),
        device_name: req.device_name.clone(),
        token_secret: secret.clone(),
        source: address::range(ip),
        max_per_source_per_day: app.config.spam.registrations_per_range_per_day,
        cluster_window_ms: app.config.spam.cluster_window_hours * 3_600_000,
    };
    let outcome = redeem(app, CodePurpose::Account, &handle, &req.code, now, action).await?;
    match outcome {
        Redeemed::Device { account, device } => {
            tracing::info!(%account, %device, "account registered");
            credentials(app, account, device, &secret).await
        }
        Redeemed::HandleTaken => Err(ApiError::Conflict(format!(
            "{handle} is already registered; run `tidings login` to add this device to that account"
        ))),
        Redeemed::TooManyRegistrations => Err(ApiError::limit(
            ErrorCode::RegistrationsPerRange,
            format!(
                "your network registered {} accounts today (registrations_per_range_per_day); try again tomorrow",
                app.config.spam.registrations_per_range_per_day
            ),
        )),
        other => Err(code_refused(&other).unwrap_or(ApiError::Internal)),
    }
}

/// `POST /v1/devices`: adds a device to the account that owns a handle.
pub async fn login(
    app: &App,
    ip: std::net::IpAddr,
    req: LoginRequest,
) -> Result<DeviceCredentials, ApiError> {
    let handle = parse_handle(app, &req.handle)?;
    check_code_shape(&req.code)?;
    check_name("device name", &req.device_name)?;
    let now = app.now();
    limited(
        &app.limits.checks_per_address,
        &ip.to_string(),
        now,
        "code checks from your address",
    )
    .await?;
    let secret = auth::new_secret();
    let action = CodeAction::Login {
        device_name: req.device_name.clone(),
        token_secret: secret.clone(),
        max_devices: app.config.limits.max_devices,
    };
    let outcome = redeem(app, CodePurpose::Account, &handle, &req.code, now, action).await?;
    match outcome {
        Redeemed::Device { account, device } => {
            tracing::info!(%account, %device, "device added");
            credentials(app, account, device, &secret).await
        }
        Redeemed::NotRegistered => Err(ApiError::NotFound(format!(
            "{handle} is not registered; run `tidings register` to create an account"
        ))),
        Redeemed::TooManyDevices => Err(ApiError::limit(
            ErrorCode::TooManyDevices,
            format!(
                "this account already has {} devices (max_devices); remove one with `tidings devices remove ID`",
                app.config.limits.max_devices
            ),
        )),
        other => Err(code_refused(&other).unwrap_or(ApiError::Internal)),
    }
}

/// Unbinds `handle` from whatever account holds it, proven by a code sent
/// for [`CodePurpose::Deregister`] (the `/deregister` page); wakes the
/// senders whose undelivered messages go back to them as SMS.
pub async fn deregister(
    app: &App,
    ip: IpAddr,
    handle: &Handle,
    code: &str,
) -> Result<Redeemed, ApiError> {
    let now = app.now();
    limited(
        &app.limits.checks_per_address,
        &ip.to_string(),
        now,
        "code checks from your address",
    )
    .await?;
    let action = CodeAction::Deregister { ttl: app.ttl_ms() };
    let outcome = redeem(app, CodePurpose::Deregister, handle, code, now, action).await?;
    if let Redeemed::Unbound { woken } = &outcome {
        app.hub.wake(woken);
        tracing::info!(
            handed_back = woken.len(),
            "number unbound through the deregistration page"
        );
    }
    Ok(outcome)
}

/// Redeems a code sent for `purpose`: checks it and, when it is right,
/// performs the action in the same transaction (a wrong code costs a try).
pub(crate) async fn redeem(
    app: &App,
    purpose: CodePurpose,
    handle: &Handle,
    code: &str,
    now: u64,
    action: CodeAction,
) -> Result<Redeemed, ApiError> {
    Ok(app
        .store
        .redeem_code(handle, code_hash(app, purpose, handle, code), now, action)
        .await?)
}

/// `GET /v1/account`: who this device is.
pub async fn me(app: &App, who: Authed) -> Result<AccountInfo, ApiError> {
    let record = app
        .store
        .account(who.account)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(AccountInfo {
        account: record.id,
        name: record.name,
        handles: record.handles,
        device: who.device,
        link_handles: record.link_handles,
    })
}

/// `PUT /v1/account`: the settings the server keeps for the account (who
/// may see that its handles are one account).
pub async fn set_settings(
    app: &App,
    who: Authed,
    req: tidings_proto::api::AccountSettings,
) -> Result<AccountInfo, ApiError> {
    app.store
        .set_link_handles(who.account, req.link_handles)
        .await?;
    me(app, who).await
}

/// `GET /v1/handles`: the account's handles.
pub async fn handles(app: &App, who: Authed) -> Result<Vec<Handle>, ApiError> {
    let record = app
        .store
        .account(who.account)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(record.handles)
}

/// `POST /v1/handles`: adds a handle proven by a code.
pub async fn add_handle(
    app: &App,
    ip: std::net::IpAddr,
    who: Authed,
    req: AddHandleRequest,
) -> Result<Vec<Handle>, ApiError> {
    let handle = parse_handle(app, &req.handle)?;
    check_code_shape(&req.code)?;
    let now = app.now();
    limited(
        &app.limits.checks_per_address,
        &ip.to_string(),
        now,
        "code checks from your address",
    )
    .await?;
    let action = CodeAction::AddHandle {
        account: who.account,
    };
    let outcome = redeem(app, CodePurpose::Account, &handle, &req.code, now, action).await?;
    match outcome {
        Redeemed::HandleAdded => handles(app, who).await,
        Redeemed::HandleTaken => Err(ApiError::Conflict(format!(
            "{handle} already belongs to an account (maybe this one); see `tidings handles`"
        ))),
        other => Err(code_refused(&other).unwrap_or(ApiError::Internal)),
    }
}

/// `DELETE /v1/handles/{handle}`: unbinds a handle from this account at
/// once; messages waiting for it go back to their senders to be re-sent as
/// SMS.
pub async fn remove_handle(app: &App, who: Authed, text: String) -> Result<Vec<Handle>, ApiError> {
    let handle = parse_handle(app, &text)?;
    match app
        .store
        .remove_handle(who.account, &handle, app.now(), app.ttl_ms())
        .await?
    {
        Some(woken) => {
            app.hub.wake(&woken);
            tracing::info!(
                account = %who.account,
                handed_back = woken.len(),
                "handle unbound"
            );
            handles(app, who).await
        }
        None => Err(ApiError::NotFound(format!(
            "{handle} is not one of this account's handles; see `tidings handles`"
        ))),
    }
}

/// `DELETE /v1/account`: deletes the account with all its handles, devices,
/// queues and attachments.
pub async fn delete_account(app: &App, who: Authed) -> Result<(), ApiError> {
    let (woken, devices, blobs) = app
        .store
        .delete_account(who.account, app.now(), app.ttl_ms())
        .await?;
    app.hub.wake(&woken);
    for d in devices {
        app.hub.kick(d, ErrorCode::DeviceRemoved);
    }
    for b in blobs {
        app.blobs.delete(&b).await?;
    }
    tracing::info!(account = %who.account, "account deleted");
    Ok(())
}
