//! Sending: one envelope from a device to recipient handles, with one
//! payload per recipient device and sync copies for the sender's devices.
//!
//! The send is acknowledged only after the store has committed it for every
//! device. A stale device list is refused with the exact difference so the
//! client can fix it and retry; a repeated client id returns the first
//! answer without storing anything.

use std::collections::BTreeSet;
use tidings_proto::ErrorCode;

use base64::Engine;
use tidings_proto::api::{DeviceId, SendAccepted, SendRequest};
use tidings_proto::stream::{Envelope, EnvelopeBody, Sender};
use tidings_proto::{AccountId, Handle, Seq, MAX_CLIENT_ID_BYTES};

use crate::error::ApiError;
use crate::service::accounts::parse_handle;
use crate::service::auth::Authed;
use crate::store::{PlannedRecipient, SendOutcome, SendPlan, Standing};
use crate::App;

pub use crate::store::FallbackOutcome;

fn decode(app: &App, payload: &str) -> Result<Vec<u8>, ApiError> {
    // Base64 grows by 4/3: refuse before decoding anything too large.
    if payload.len() > app.config.limits.max_payload_bytes.div_ceil(3) * 4 + 4 {
        return Err(payload_too_large(app));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|_| ApiError::BadRequest("payload is not valid base64".into()))?;
    if bytes.len() > app.config.limits.max_payload_bytes {
        return Err(payload_too_large(app));
    }
    Ok(bytes)
}

fn payload_too_large(app: &App) -> ApiError {
    ApiError::limit(
        ErrorCode::PayloadTooLarge,
        format!(
            "a message payload may be at most {} bytes per device (max_payload_bytes); send large content as an attachment",
            app.config.limits.max_payload_bytes
        ),
    )
}

fn decode_all(
    app: &App,
    payloads: &[tidings_proto::api::DevicePayload],
) -> Result<Vec<(DeviceId, Vec<u8>)>, ApiError> {
    if payloads.len() > app.config.limits.max_devices {
        return Err(ApiError::BadRequest(format!(
            "more payloads than an account can have devices ({})",
            app.config.limits.max_devices
        )));
    }
    let mut seen = BTreeSet::new();
    payloads
        .iter()
        .map(|p| {
            if !seen.insert(p.device) {
                return Err(ApiError::BadRequest(format!(
                    "two payloads for device {}",
                    p.device
                )));
            }
            Ok((p.device, decode(app, &p.payload)?))
        })
        .collect()
}

/// The SMS segments a text needs. An empty text is an input error (400
/// `bad_request`), not a limit; one over `max_sms_segments` is a limit.
pub fn sms_segments(max_segments: usize, text: &str) -> Result<usize, ApiError> {
    if text.is_empty() {
        return Err(ApiError::BadRequest(
            "an SMS needs some text; this one is empty".into(),
        ));
    }
    let (_, segments) = tidings_sms::encoding::count_segments(text);
    if segments > max_segments {
        return Err(ApiError::limit(
            ErrorCode::SmsTooLong,
            format!(
                "an SMS may take at most {max_segments} segments (max_sms_segments); this text needs {segments}"
            ),
        ));
    }
    Ok(segments)
}

/// The answer to a banned account's send.
fn banned(reason: &str, appeal: &str) -> ApiError {
    ApiError::Forbidden {
        code: ErrorCode::Banned,
        message: format!(
            "this account is banned and cannot send: {reason}. To appeal, contact {appeal}"
        ),
    }
}

/// The answer to a restricted account's send to someone who never wrote
/// to it.
fn restricted(reason: &str, appeal: &str) -> ApiError {
    ApiError::Forbidden {
        code: ErrorCode::Restricted,
        message: format!(
            "this account may only write to people who wrote to it first, because {reason}. \
             If this is a mistake, contact {appeal} to appeal"
        ),
    }
}

/// Whether the sender's standing lets a send go ahead. A ban stops every
/// kind of send (messages, typing and other ephemeral envelopes, SMS,
/// fallback, attachments and links); a restriction stops those that reach
/// anyone who never wrote to the sender (`reaches_strangers`).
pub fn standing_allows(
    standing: &Standing,
    reaches_strangers: bool,
    appeal: &str,
) -> Result<(), ApiError> {
    match standing {
        Standing::Banned(reason) => Err(banned(reason, appeal)),
        Standing::Restricted(reason) if reaches_strangers => Err(restricted(reason, appeal)),
        _ => Ok(()),
    }
}

/// Refuses anything a banned account tries to send or share (uploads,
/// links, fallback SMS, reports); restrictions do not apply to these.
pub async fn refuse_if_banned(app: &App, account: AccountId) -> Result<(), ApiError> {
    let standing = app.store.standing(account).await?;
    standing_allows(&standing, false, &app.config.spam.appeal_contact)
}

fn check_client_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID_BYTES || !id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::BadRequest(format!(
            "a message id is 1 to {MAX_CLIENT_ID_BYTES} printable ASCII characters"
        )));
    }
    Ok(())
}

/// `POST /v1/messages`: stores an envelope for every device (or pushes an
/// ephemeral one to connected devices).
pub async fn send(app: &App, who: Authed, req: SendRequest) -> Result<SendAccepted, ApiError> {
    check_client_id(&req.id)?;
    if req.partial && req.to.iter().map(|r| r.devices.len()).sum::<usize>() + req.own.len() == 0 {
        return Err(ApiError::BadRequest(
            "a partial send addresses at least one device".into(),
        ));
    }
    if req.to.is_empty() && req.own.is_empty() && req.sms.is_empty() {
        return Err(ApiError::BadRequest(
            "a message needs at least one recipient".into(),
        ));
    }
    if req.to.len() > app.config.limits.max_recipients {
        return Err(ApiError::limit(
            ErrorCode::TooManyRecipients,
            format!(
                "at most {} recipients per message (max_recipients; groups have at most {} members)",
                app.config.limits.max_recipients, app.config.limits.max_group_members
            ),
        ));
    }
    let now = app.now();
    app.limits
        .sends
        .take_shared(&who.account.to_string(), now)
        .await
        .map_err(|l| ApiError::Limit {
            code: ErrorCode::RateLimited,
            message: format!(
                "sending too fast (sends_per_account_per_minute, send_burst); try again in {} s",
                l.retry_after_secs
            ),
            retry_after_secs: Some(l.retry_after_secs),
        })?;

    // Bans hold for every kind of send, ephemeral ones included.
    let standing = app.store.standing(who.account).await?;
    standing_allows(&standing, false, &app.config.spam.appeal_contact)?;

    let me = app
        .store
        .account(who.account)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let from = match &req.from {
        Some(f) => {
            let h = parse_handle(app, f)?;
            if !me.handles.contains(&h) {
                return Err(ApiError::BadRequest(format!(
                    "{h} is not one of this account's handles; see `tidings handles`"
                )));
            }
            h
        }
        None => me.handles.first().cloned().ok_or_else(|| {
            ApiError::BadRequest("this account has no handle left to send from".into())
        })?,
    };
    let mut recipients = Vec::with_capacity(req.to.len());
    let mut handles: Vec<Handle> = Vec::with_capacity(req.to.len());
    for r in &req.to {
        let handle = parse_handle(app, &r.handle)?;
        if me.handles.contains(&handle) {
            return Err(ApiError::BadRequest(format!(
                "{handle} is your own handle; copies for your other devices go in `own`"
            )));
        }
        if handles.contains(&handle) {
            return Err(ApiError::BadRequest(format!("{handle} is listed twice")));
        }
        handles.push(handle.clone());
        recipients.push(PlannedRecipient {
            handle,
            payloads: decode_all(app, &r.devices)?,
        });
    }
    let own = decode_all(app, &req.own)?;
    let mut sms_parts = Vec::with_capacity(req.sms.len());
    for part in &req.sms {
        let handle = parse_handle(app, &part.handle)?;
        if !handle.is_phone() {
            return Err(ApiError::NotRegistered(vec![handle]));
        }
        if handles.contains(&handle) || sms_parts.iter().any(|(h, _, _)| *h == handle) {
            return Err(ApiError::BadRequest(format!("{handle} is listed twice")));
        }
        let segments = sms_segments(app.config.sms.max_sms_segments, &part.text)?;
        sms_parts.push((handle, &part.text, segments));
    }
    // Every answer below can tell whether a handle is on Tidings, so each
    // handle the sender has not looked up lately costs a lookup first.
    let addressed: Vec<&Handle> = handles
        .iter()
        .chain(sms_parts.iter().map(|(h, _, _)| h))
        .collect();
    crate::service::directory::charge_unknown(
        &app.limits.lookups,
        &app.limits.recent_lookups,
        who.account,
        addressed,
        now,
    )
    .await
    .map_err(|l| crate::service::directory::lookups_exhausted(l, true))?;
    let mut sms = Vec::with_capacity(sms_parts.len());
    for (handle, text, segments) in sms_parts {
        // A number on Tidings gets SMS only while all its devices are silent.
        let registered = match app
            .store
            .lookup(std::slice::from_ref(&handle))
            .await?
            .pop()
            .flatten()
        {
            Some((account, _)) => {
                if crate::service::directory::reachable(app, account, now).await? {
                    return Err(ApiError::Conflict(format!(
                        "{handle} is on Tidings and reachable; send over the internet, end-to-end encrypted"
                    )));
                }
                true
            }
            None => false,
        };
        sms.push((handle, text.clone(), segments, !registered));
    }
    if req.to.len() + sms.len() > app.config.limits.max_recipients {
        return Err(ApiError::limit(
            ErrorCode::TooManyRecipients,
            format!(
                "at most {} recipients per message (max_recipients)",
                app.config.limits.max_recipients
            ),
        ));
    }
    let sender = Sender {
        account: who.account,
        device: who.device,
        handle: from,
    };

    let lookup = app.store.lookup(&handles).await?;
    let mut accounts = BTreeSet::new();
    for (handle, entry) in handles.iter().zip(&lookup) {
        if let Some((account, _)) = entry {
            if !accounts.insert(*account) {
                return Err(ApiError::BadRequest(format!(
                    "{handle} belongs to a person already addressed by another handle; send to one handle per person"
                )));
            }
        }
    }

    if req.ephemeral {
        if matches!(standing, Standing::Restricted(_)) {
            let reached: Vec<AccountId> = lookup.iter().flatten().map(|(a, _)| *a).collect();
            let strangers = app.store.any_stranger(who.account, &reached).await?;
            standing_allows(&standing, strangers, &app.config.spam.appeal_contact)?;
        }
        push_ephemeral(app, &sender, &recipients, &lookup, now);
        return Ok(SendAccepted {
            id: req.id,
            accepted_at: now,
            duplicate: false,
        });
    }

    let plan = SendPlan {
        sender,
        client_id: req.id.clone(),
        now,
        expires_at: now + app.ttl_ms(),
        recipients,
        own,
        max_queue: app.config.limits.max_queue_per_device,
        partial: req.partial,
        sms_from: me
            .handles
            .iter()
            .find(|h| h.is_phone())
            .map(|h| h.to_string())
            .unwrap_or_else(|| app.config.sms.sms_sender.clone()),
        sms,
        fallback: !req.no_sms_fallback,
        sms_per_hour: app.config.sms.sms_per_account_per_hour,
        sms_per_day: app.config.sms.sms_per_account_per_day,
        policy: app.config.spam_policy(),
    };
    match app.store.send(plan).await? {
        SendOutcome::Accepted { devices } => {
            app.hub.wake(&devices);
            app.sms_wake.notify_one();
            tracing::debug!(account = %who.account, devices = devices.len(), "envelope accepted");
            Ok(SendAccepted {
                id: req.id,
                accepted_at: now,
                duplicate: false,
            })
        }
        SendOutcome::Duplicate { accepted_at } => Ok(SendAccepted {
            id: req.id,
            accepted_at,
            duplicate: true,
        }),
        SendOutcome::NotRegistered(h) => Err(ApiError::NotRegistered(h)),
        SendOutcome::Stale(m) => Err(ApiError::StaleDevices(m)),
        SendOutcome::JoinedTidings(h) => Err(ApiError::Conflict(format!(
            "{} joined Tidings; send again and the message goes over the internet, end-to-end encrypted",
            h.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")
        ))),
        SendOutcome::SmsLimit { window } => Err(ApiError::limit(
            ErrorCode::SmsLimit,
            format!(
                "this account has used its SMS allowance for this {window} (sms_per_account_per_{window}); messages to people on Tidings still go through"
            ),
        )),
        SendOutcome::Banned(reason) => Err(banned(&reason, &app.config.spam.appeal_contact)),
        SendOutcome::Restricted(reason) => {
            Err(restricted(&reason, &app.config.spam.appeal_contact))
        }
        SendOutcome::NewRecipientCap { cap } => Err(ApiError::limit(
            ErrorCode::NewRecipientCap,
            format!(
                "this account has written to {cap} new people in the last 24 hours who have not answered \
                 (the cap grows with the account's age and with replies); people who wrote to you are not limited"
            ),
        )),
        SendOutcome::QueueFull(h) => Err(ApiError::limit(
            ErrorCode::QueueFull,
            format!(
                "{h} has {} messages waiting for one of its devices to collect them (max_queue_per_device); try again later",
                app.config.limits.max_queue_per_device
            ),
        )),
    }
}

/// Pushes typing indicators and the like to the recipients' devices
/// connected now, and only to devices that really belong to the addressed
/// accounts. The sender's own devices get none: it is the sender typing.
fn push_ephemeral(
    app: &App,
    sender: &Sender,
    recipients: &[PlannedRecipient],
    lookup: &[Option<(AccountId, Vec<DeviceId>)>],
    now: u64,
) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let push = |device: DeviceId, payload: &[u8]| {
        let envelope = Envelope {
            seq: Seq::default(),
            at: now,
            body: EnvelopeBody::Ephemeral {
                sender: sender.clone(),
                payload: b64.encode(payload),
            },
        };
        app.hub.push_ephemeral(device, envelope);
    };
    for (r, entry) in recipients.iter().zip(lookup) {
        let Some((_, devices)) = entry else { continue };
        for (device, payload) in &r.payloads {
            if devices.contains(device) {
                push(*device, payload);
            }
        }
    }
}

/// `POST /v1/messages/fallback`: re-sends, as SMS, a message that reached
/// none of a phone number's devices in time. Exactly once per message and
/// number, whichever of the sender's devices asks first; the queued IP
/// copies are withdrawn in the same transaction.
pub async fn fallback(
    app: &App,
    who: Authed,
    req: tidings_proto::api::FallbackRequest,
) -> Result<crate::store::FallbackOutcome, ApiError> {
    check_client_id(&req.id)?;
    let handle = parse_handle(app, &req.handle)?;
    let segments = sms_segments(app.config.sms.max_sms_segments, &req.text)?;
    refuse_if_banned(app, who.account).await?;
    let me = app
        .store
        .account(who.account)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let from = me
        .handles
        .iter()
        .find(|h| h.is_phone())
        .map(|h| h.to_string())
        .unwrap_or_else(|| app.config.sms.sms_sender.clone());
    let (outcome, _) = app
        .store
        .fallback_to_sms(
            who.account,
            &req.id,
            &handle,
            &req.text,
            segments,
            &from,
            app.now(),
        )
        .await?;
    match outcome {
        crate::store::FallbackOutcome::Queued => {
            tracing::info!(
                account = %who.account,
                "message re-sent as SMS after the fallback time"
            );
            app.sms_wake.notify_one();
            Ok(crate::store::FallbackOutcome::Queued)
        }
        done @ (crate::store::FallbackOutcome::AlreadyDone
        | crate::store::FallbackOutcome::Delivered) => Ok(done),
        crate::store::FallbackOutcome::NotRequested => Err(ApiError::Conflict(
            "no SMS fallback was asked for this message and number".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sms_is_an_input_error_and_long_ones_a_limit() {
        let err = sms_segments(2, "").expect_err("empty");
        assert!(matches!(err, ApiError::BadRequest(_)), "{err:?}");
        assert_eq!(sms_segments(2, "hi").expect("fits"), 1);
        let long = "x".repeat(400);
        let err = sms_segments(2, &long).expect_err("too long");
        assert!(
            matches!(
                err,
                ApiError::Limit {
                    code: ErrorCode::SmsTooLong,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn bans_stop_every_send_and_restrictions_only_those_to_strangers() {
        let appeal = "ops@example.org";
        assert!(standing_allows(&Standing::Good, true, appeal).is_ok());
        let banned = Standing::Banned("spam".into());
        for strangers in [false, true] {
            let err = standing_allows(&banned, strangers, appeal).expect_err("banned");
            assert!(
                matches!(err, ApiError::Forbidden { code: ErrorCode::Banned, ref message } if message.contains(appeal)),
                "{err:?}"
            );
        }
        let restricted = Standing::Restricted("reports".into());
        assert!(standing_allows(&restricted, false, appeal).is_ok());
        assert!(matches!(
            standing_allows(&restricted, true, appeal),
            Err(ApiError::Forbidden {
                code: ErrorCode::Restricted,
                ..
            })
        ));
    }
}
