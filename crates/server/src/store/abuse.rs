//! The spam defence's durable state, on metadata only: who wrote to whom
//! (relations), report tokens, reports, the standing of accounts
//! (restricted, banned) and the campaign fingerprints reported texts yield.
//!
//! These are free functions on a SQLite connection, called inside the
//! store's transactions (a send checks and records in the same transaction
//! as it queues), and by the operator's `tidings admin`.

use super::sql::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::relational::{db, to_i64};
use super::StoreError;
use crate::clock::Millis;

/// Milliseconds in a day.
pub const DAY_MS: u64 = 24 * 3_600_000;
/// How long a report token can be used.
pub const REPORT_TOKEN_TTL_MS: u64 = 30 * DAY_MS;
/// Reports considered when grouping accounts and publishing campaigns.
pub const REPORT_WINDOW_MS: u64 = 30 * DAY_MS;
/// Most reported fingerprints looked at per evaluation (bounds the work).
pub const MAX_FINGERPRINTS_SCANNED: usize = 5_000;
/// Most accounts one cluster decision acts on.
pub const MAX_CLUSTER_MEMBERS: usize = 1_000;
/// Most fingerprints published in the campaign list.
pub const MAX_CAMPAIGNS: usize = 1_000;
/// Fingerprints this close (differing bits) count as the same text.
pub const FINGERPRINT_DISTANCE: u32 = 3;

/// The thresholds of the spam defence (config defaults, overridable at run
/// time by `tidings admin set`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpamPolicy {
    /// New recipients per day for a brand-new account.
    pub new_recipients_per_day: u64,
    /// Extra new recipients per day for each day of account age.
    pub new_recipients_per_day_of_age: u64,
    /// Extra new recipients per day for each person who replied.
    pub new_recipients_per_reply: u64,
    /// The cap never grows past this.
    pub new_recipients_max: u64,
    /// The whole daily cap of an account whose handles are all e-mail
    /// addresses, until someone replies to it.
    pub new_recipients_email_only: u64,
    /// Distinct junk reports on a cluster that restrict all of it.
    pub restrict_at_reports: u64,
    /// Distinct junk reports on a cluster that ban its reported members.
    pub ban_at_reports: u64,
    /// Accounts registered from one address range within this window of
    /// each other form a cluster.
    pub cluster_window_ms: u64,
    /// Distinct reporters of near-identical texts that make a campaign.
    pub campaign_min_reporters: u64,
    /// People who answered a cluster's first contacts that cancel one junk
    /// report against it (0: answers cancel nothing).
    pub replies_per_forgiven_report: u64,
}

/// Names accepted by [`set_setting`], with what they change.
pub const SETTINGS: &[(&str, &str)] = &[
    (
        "new_recipients_per_day",
        "new recipients per day for a new account",
    ),
    (
        "new_recipients_per_day_of_age",
        "extra new recipients per day of account age",
    ),
    (
        "new_recipients_per_reply",
        "extra new recipients per person who replied",
    ),
    ("new_recipients_max", "largest daily new-recipient cap"),
    (
        "new_recipients_email_only",
        "daily new-recipient cap of an e-mail-only account nobody replied to",
    ),
    (
        "restrict_at_reports",
        "junk reports on a cluster that restrict it",
    ),
    (
        "ban_at_reports",
        "junk reports on a cluster that ban its reported members",
    ),
    (
        "cluster_window_ms",
        "registration window of a cluster, milliseconds",
    ),
    (
        "campaign_min_reporters",
        "reporters of a text that make it a campaign",
    ),
    (
        "replies_per_forgiven_report",
        "people answering a cluster's first contacts that cancel one report",
    ),
];

impl SpamPolicy {
    /// The policy with the operator's run-time settings applied.
    pub fn effective(&self, conn: &Connection) -> Result<SpamPolicy, StoreError> {
        let mut p = self.clone();
        let mut stmt = conn
            .prepare_cached("SELECT key, value FROM spam_settings")
            .map_err(db)?;
        let rows = stmt
            .query_map((), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(db)?;
        for row in rows {
            let (key, value) = row.map_err(db)?;
            let value = value.max(0) as u64;
            match key.as_str() {
                "new_recipients_per_day" => p.new_recipients_per_day = value,
                "new_recipients_per_day_of_age" => p.new_recipients_per_day_of_age = value,
                "new_recipients_per_reply" => p.new_recipients_per_reply = value,
                "new_recipients_max" => p.new_recipients_max = value,
                "new_recipients_email_only" => p.new_recipients_email_only = value,
                "restrict_at_reports" => p.restrict_at_reports = value,
                "ban_at_reports" => p.ban_at_reports = value,
                "cluster_window_ms" => p.cluster_window_ms = value,
                "campaign_min_reporters" => p.campaign_min_reporters = value,
                "replies_per_forgiven_report" => p.replies_per_forgiven_report = value,
                _ => {}
            }
        }
        Ok(p)
    }
}

/// Stores an operator's setting; `false` for an unknown name.
pub fn set_setting(conn: &Connection, key: &str, value: u64) -> Result<bool, StoreError> {
    if !SETTINGS.iter().any(|(k, _)| *k == key) {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO spam_settings (key, value) VALUES (?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, to_i64(value)],
    )
    .map_err(db)?;
    Ok(true)
}

/// Whether `from` ever sent a message to `to`.
pub fn wrote_to(conn: &Connection, from: i64, to: i64) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM relations WHERE from_account = ? AND to_account = ?")
        .map_err(db)?
        .query_row(params![from, to], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
        .map_err(db)
}

/// Records that `from` sent a message to `to`.
pub fn record_relation(
    conn: &Connection,
    from: i64,
    to: i64,
    now: Millis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO relations (from_account, to_account, first_at, last_at, messages)
         VALUES (?, ?, ?, ?, 1)
         ON CONFLICT (from_account, to_account)
         DO UPDATE SET last_at = excluded.last_at, messages = relations.messages + 1",
    )
    .map_err(db)?
    .execute(params![from, to, to_i64(now), to_i64(now)])
    .map_err(db)?;
    Ok(())
}

/// An account's standing: `restricted` or `banned`, with the reason.
pub fn standing(conn: &Connection, account: i64) -> Result<Option<(String, String)>, StoreError> {
    conn.prepare_cached("SELECT state, reason FROM account_standing WHERE account_id = ?")
        .map_err(db)?
        .query_row([account], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db)
}

/// How many people who never wrote to it an account may start
/// conversations with in 24 hours.
///
/// A phone number costs a spammer a SIM and a verification SMS; an e-mail
/// address costs nothing, and throwaway e-mail accounts registered by the
/// batch are how campaigns start. So an account with only e-mail handles
/// gets the flat `new_recipients_email_only` (no growth with age: an idle
/// batch of accounts would otherwise ripen; never more than a phone account
/// starts with) until an established account ([`established_replies`])
/// replies to it: answers from its own batch do not count. From then on it
/// is treated like any account. The cap grows with age and replies, and
/// never passes `new_recipients_max`.
pub fn first_contact_cap(
    policy: &SpamPolicy,
    age_days: u64,
    replies: u64,
    established_replies: u64,
    email_only: bool,
) -> u64 {
    let cap = if email_only && established_replies == 0 {
        policy
            .new_recipients_email_only
            .min(policy.new_recipients_per_day)
    } else {
        policy
            .new_recipients_per_day
            .saturating_add(age_days.saturating_mul(policy.new_recipients_per_day_of_age))
            .saturating_add(replies.saturating_mul(policy.new_recipients_per_reply))
    };
    cap.min(policy.new_recipients_max)
}

/// The daily new-recipient cap of an account and how much of it the last
/// 24 hours used (first contacts that were not answered).
pub fn new_recipient_budget(
    conn: &Connection,
    account: i64,
    policy: &SpamPolicy,
    now: Millis,
) -> Result<(u64, u64), StoreError> {
    let created: i64 = conn
        .query_row(
            "SELECT created_at FROM accounts WHERE id = ?",
            [account],
            |r| r.get(0),
        )
        .map_err(db)?;
    let age_days = now.saturating_sub(created.max(0) as u64) / DAY_MS;
    let (_, replies) = first_contacts_and_replies(conn, account)?;
    let vouching = established_replies(conn, account)?;
    let has_phone: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM handles WHERE account_id = ? AND handle LIKE '+%')",
        )
        .map_err(db)?
        .query_row([account], |r| r.get(0))
        .map_err(db)?;
    let cap = first_contact_cap(policy, age_days, replies, vouching, !has_phone);
    let used: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM relations a
             WHERE a.from_account = ? AND a.first_at > ?
               AND NOT EXISTS (SELECT 1 FROM relations b
                               WHERE b.from_account = a.to_account AND b.to_account = a.from_account)",
        )
        .map_err(db)?
        .query_row(params![account, to_i64(now.saturating_sub(DAY_MS))], |r| {
            r.get(0)
        })
        .map_err(db)?;
    Ok((cap, used.max(0) as u64))
}

/// Mints a report token for an envelope from `sender` to `recipient`.
pub fn mint_report_token(
    conn: &Connection,
    sender: i64,
    recipient: i64,
    now: Millis,
) -> Result<String, StoreError> {
    use rand::RngCore;
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    conn.prepare_cached(
        "INSERT INTO report_tokens (token, sender_account, recipient_account, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .map_err(db)?
    .execute(params![
        token,
        sender,
        recipient,
        to_i64(now),
        to_i64(now + REPORT_TOKEN_TTL_MS)
    ])
    .map_err(db)?;
    Ok(token)
}

/// What a report did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportEffect {
    /// Accounts newly restricted.
    pub restricted: Vec<i64>,
    /// Accounts newly banned.
    pub banned: Vec<i64>,
}

/// Records a report made with a token and acts on the reported account's
/// cluster; `None` when the token is unknown, expired or not the reporter's.
pub fn report(
    conn: &Connection,
    token: &str,
    reporter: i64,
    junk: bool,
    fingerprint: Option<u64>,
    policy: &SpamPolicy,
    now: Millis,
) -> Result<Option<ReportEffect>, StoreError> {
    let sender: Option<i64> = conn
        .query_row(
            "SELECT sender_account FROM report_tokens
             WHERE token = ? AND recipient_account = ? AND expires_at > ?",
            params![token, reporter, to_i64(now)],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    let Some(sender) = sender else {
        return Ok(None);
    };
    conn.execute(
        "INSERT INTO reports (reporter, sender, junk, fingerprint, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (reporter, sender) DO UPDATE SET
             junk = CASE WHEN reports.junk > excluded.junk THEN reports.junk ELSE excluded.junk END,
             fingerprint = coalesce(excluded.fingerprint, reports.fingerprint)",
        params![
            reporter,
            sender,
            junk,
            fingerprint.map(|f| format!("{f:016x}")),
            to_i64(now)
        ],
    )
    .map_err(db)?;
    log_action(
        conn,
        sender,
        if junk { "reported" } else { "blocked" },
        &format!("by account {reporter}"),
        "user",
        now,
    )?;
    evaluate(conn, sender, policy, now).map(Some)
}

/// The accounts grouped with `account`: registered from the same address
/// range within the cluster window, or reported for near-identical texts.
pub fn cluster_of(
    conn: &Connection,
    account: i64,
    policy: &SpamPolicy,
    now: Millis,
) -> Result<Vec<i64>, StoreError> {
    let mut members = vec![account];
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT reg_source, created_at FROM accounts WHERE id = ?",
            [account],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db)?;
    if let Some((source, created)) = row.filter(|(s, _)| !s.is_empty()) {
        let window = to_i64(policy.cluster_window_ms);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id FROM accounts WHERE reg_source = ? AND created_at BETWEEN ? AND ?
                 ORDER BY id LIMIT ?",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(
                params![
                    source,
                    created - window,
                    created + window,
                    MAX_CLUSTER_MEMBERS as i64
                ],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db)?;
        for id in rows {
            members.push(id.map_err(db)?);
        }
    }
    // Near-identical reported texts tie their senders together.
    let recent = reported_fingerprints(conn, now)?;
    let own: Vec<u64> = recent
        .iter()
        .filter(|(s, _, _)| *s == account)
        .map(|(_, _, f)| *f)
        .collect();
    for (sender, _, f) in &recent {
        if own
            .iter()
            .any(|o| (o ^ f).count_ones() <= FINGERPRINT_DISTANCE)
        {
            members.push(*sender);
        }
    }
    members.sort_unstable();
    members.dedup();
    members.truncate(MAX_CLUSTER_MEMBERS);
    Ok(members)
}

/// (sender, reporter, fingerprint) of recent junk reports that shared text.
fn reported_fingerprints(
    conn: &Connection,
    now: Millis,
) -> Result<Vec<(i64, i64, u64)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT sender, reporter, fingerprint FROM reports
             WHERE junk = 1 AND fingerprint IS NOT NULL AND created_at > ?
             ORDER BY created_at DESC LIMIT ?",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(
            params![
                to_i64(now.saturating_sub(REPORT_WINDOW_MS)),
                MAX_FINGERPRINTS_SCANNED as i64
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .map_err(db)?;
    let mut out = Vec::new();
    for row in rows {
        let (sender, reporter, hex) = row.map_err(db)?;
        if let Ok(f) = u64::from_str_radix(&hex, 16) {
            out.push((sender, reporter, f));
        }
    }
    Ok(out)
}

/// Evidence against a set of accounts: distinct people who reported any of
/// them as junk, and distinct people who blocked them without reporting.
pub fn evidence(conn: &Connection, members: &[i64]) -> Result<(u64, u64), StoreError> {
    let list = members
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let count = |junk: bool| -> Result<u64, StoreError> {
        conn.query_row(
            &format!(
                "SELECT count(DISTINCT reporter) FROM reports WHERE junk = ? AND sender IN ({list})"
            ),
            [junk],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n.max(0) as u64)
        .map_err(db)
    };
    Ok((count(true)?, count(false)?))
}

/// First contacts below which an account's reply share says nothing.
pub const SILENT_MIN_CONTACTS: u64 = 10;

/// People `account` wrote to first, and how many of them answered.
pub fn first_contacts_and_replies(
    conn: &Connection,
    account: i64,
) -> Result<(u64, u64), StoreError> {
    let contacts: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM relations a WHERE a.from_account = ?
               AND NOT EXISTS (SELECT 1 FROM relations b WHERE b.from_account = a.to_account
                               AND b.to_account = a.from_account AND b.first_at < a.first_at)",
        )
        .map_err(db)?
        .query_row([account], |r| r.get(0))
        .map_err(db)?;
    let replies: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM relations a JOIN relations b
               ON b.from_account = a.to_account AND b.to_account = a.from_account
             WHERE a.from_account = ? AND b.first_at >= a.first_at",
        )
        .map_err(db)?
        .query_row([account], |r| r.get(0))
        .map_err(db)?;
    Ok((contacts.max(0) as u64, replies.max(0) as u64))
}

/// Accounts younger than this when they reply do not vouch for anyone: a
/// batch of throwaway accounts answering each other must not lift its own
/// limits.
pub const ESTABLISHED_AFTER_MS: u64 = 7 * DAY_MS;

/// People who answered `account`'s first contacts from an established
/// account: one at least [`ESTABLISHED_AFTER_MS`] old when it answered,
/// and neither restricted nor banned. Only these answers relax limits (the
/// e-mail-only allowance, forgiven reports, campaigns).
pub fn established_replies(conn: &Connection, account: i64) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM relations a
               JOIN relations b ON b.from_account = a.to_account AND b.to_account = a.from_account
               JOIN accounts r ON r.id = a.to_account
             WHERE a.from_account = ? AND b.first_at >= a.first_at
               AND r.created_at <= b.first_at - ?
               AND NOT EXISTS (SELECT 1 FROM account_standing s WHERE s.account_id = r.id)",
        )
        .map_err(db)?
        .query_row(params![account, to_i64(ESTABLISHED_AFTER_MS)], |r| r.get(0))
        .map_err(db)?;
    Ok(n.max(0) as u64)
}

/// Re-evaluates the cluster of `account` after new evidence.
pub fn evaluate(
    conn: &Connection,
    account: i64,
    policy: &SpamPolicy,
    now: Millis,
) -> Result<ReportEffect, StoreError> {
    let members = cluster_of(conn, account, policy, now)?;
    let (junk, blocks) = evidence(conn, &members)?;
    // Members that write to many strangers who never answer add to the
    // evidence, but only once someone reported the cluster: silence alone
    // never restricts anybody.
    let mut silent = 0;
    let mut answered = 0;
    if junk > 0 {
        for &member in &members {
            let (contacts, replies) = first_contacts_and_replies(conn, member)?;
            answered += established_replies(conn, member)?;
            if contacts >= SILENT_MIN_CONTACTS && replies * 10 < contacts {
                silent += 1;
            }
        }
    }
    let score = cluster_score(policy, junk, blocks, silent, answered);
    let mut effect = ReportEffect::default();
    if score < policy.restrict_at_reports {
        return Ok(effect);
    }
    let why = format!(
        "{junk} people reported messages from this account or accounts registered with it as junk \
         ({blocks} more blocked them; {silent} of these accounts wrote to many people who never answered)"
    );
    for member in members {
        let current = standing(conn, member)?.map(|(s, _)| s);
        let reported: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM reports WHERE sender = ? AND junk = 1)",
                [member],
                |r| r.get(0),
            )
            .map_err(db)?;
        if score >= policy.ban_at_reports && reported {
            if current.as_deref() != Some("banned") {
                set_standing(conn, member, Some("banned"), &why, "system", now)?;
                effect.banned.push(member);
            }
        } else if current.is_none() {
            set_standing(conn, member, Some("restricted"), &why, "system", now)?;
            effect.restricted.push(member);
        }
    }
    Ok(effect)
}

/// The evidence against a cluster, compared with `restrict_at_reports` and
/// `ban_at_reports`: distinct junk reports, half the blocks, members that
/// write to many who never answer, less one report per
/// `replies_per_forgiven_report` people who answered its first contacts
/// from established accounts, forgiving at most half of the junk reports.
///
/// A courier or a doctor's office writes to hundreds of strangers, and with
/// that many a few will press "report" by mistake; most of the others
/// answer. A spam cluster's recipients almost never answer. Counting the
/// answers keeps the first from being restricted by the mistakes of a few,
/// and changes nothing for the second.
pub fn cluster_score(
    policy: &SpamPolicy,
    junk: u64,
    blocks: u64,
    silent: u64,
    answered: u64,
) -> u64 {
    let forgiven = answered
        .checked_div(policy.replies_per_forgiven_report)
        .unwrap_or(0)
        .min(junk / 2);
    (junk + blocks / 2 + silent).saturating_sub(forgiven)
}

/// Whether enough people answered an account's first contacts that reports
/// of its texts cannot make them a campaign (`replies_per_forgiven_report`
/// of them: the answers that would cancel one report; 0 turns it off).
pub fn vouched_for(policy: &SpamPolicy, answered: u64) -> bool {
    policy.replies_per_forgiven_report > 0 && answered >= policy.replies_per_forgiven_report
}

/// Sets (or with `None` clears) an account's standing and logs it.
pub fn set_standing(
    conn: &Connection,
    account: i64,
    state: Option<&str>,
    reason: &str,
    actor: &str,
    now: Millis,
) -> Result<(), StoreError> {
    match state {
        Some(state) => {
            conn.execute(
                "INSERT INTO account_standing (account_id, state, reason, since) VALUES (?, ?, ?, ?)
                 ON CONFLICT (account_id) DO UPDATE SET
                     state = excluded.state, reason = excluded.reason, since = excluded.since",
                params![account, state, reason, to_i64(now)],
            )
            .map_err(db)?;
            if state == "banned" {
                withdraw_queued(conn, account)?;
            }
        }
        None => {
            conn.execute(
                "DELETE FROM account_standing WHERE account_id = ?",
                [account],
            )
            .map_err(db)?;
        }
    }
    log_action(
        conn,
        account,
        state.unwrap_or("cleared"),
        reason,
        actor,
        now,
    )
}

/// Withdraws the envelopes a banned account still has waiting in other
/// accounts' queues.
fn withdraw_queued(conn: &Connection, account: i64) -> Result<(), StoreError> {
    let affected: Vec<(i64, i64)> = {
        let mut stmt = conn
            .prepare(
                "SELECT q.device_id, q.seq FROM queue q JOIN envelopes e ON e.id = q.envelope_id
                 WHERE e.sender_account = ? AND q.kind = 'message'",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    for (device, seq) in affected {
        conn.execute(
            "DELETE FROM queue WHERE device_id = ? AND seq = ?",
            params![device, seq],
        )
        .map_err(db)?;
    }
    Ok(())
}

/// Appends to the log of actions on accounts.
pub fn log_action(
    conn: &Connection,
    account: i64,
    action: &str,
    reason: &str,
    actor: &str,
    now: Millis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO account_actions (account_id, action, reason, actor, at) VALUES (?, ?, ?, ?, ?)",
    )
    .map_err(db)?
    .execute(params![account, action, reason, actor, to_i64(now)])
    .map_err(db)?;
    tracing::info!(account, action, actor, "account action");
    Ok(())
}

/// Fingerprints of texts that several people reported as junk, from
/// senders that few people answered ([`vouched_for`]).
pub fn campaigns(
    conn: &Connection,
    policy: &SpamPolicy,
    now: Millis,
) -> Result<Vec<u64>, StoreError> {
    let mut recent = reported_fingerprints(conn, now)?;
    // Reports against senders that many people answered do not make a
    // campaign: a courier's notices, misreported by a few of the hundreds
    // it writes to, must not go to everyone's Junk.
    let mut answered: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    let mut kept = Vec::with_capacity(recent.len());
    for report in recent.drain(..) {
        let sender = report.0;
        let replies = match answered.get(&sender) {
            Some(&n) => n,
            None => {
                let n = established_replies(conn, sender)?;
                answered.insert(sender, n);
                n
            }
        };
        if !vouched_for(policy, replies) {
            kept.push(report);
        }
    }
    let recent = kept;
    let mut out: Vec<u64> = Vec::new();
    for (_, _, f) in &recent {
        if out
            .iter()
            .any(|o| (o ^ f).count_ones() <= FINGERPRINT_DISTANCE)
        {
            continue;
        }
        let mut reporters: Vec<i64> = recent
            .iter()
            .filter(|(_, _, g)| (f ^ g).count_ones() <= FINGERPRINT_DISTANCE)
            .map(|(_, r, _)| *r)
            .collect();
        reporters.sort_unstable();
        reporters.dedup();
        if reporters.len() as u64 >= policy.campaign_min_reporters {
            out.push(*f);
            if out.len() >= MAX_CAMPAIGNS {
                break;
            }
        }
    }
    Ok(out)
}

/// One account as the operator sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FlaggedAccount {
    /// Account id.
    pub account: i64,
    /// `restricted`, `banned` or `reported`.
    pub state: String,
    /// Why.
    pub reason: String,
    /// Address range it registered from.
    pub source: String,
    /// Distinct junk reporters.
    pub junk_reports: u64,
    /// Distinct blockers.
    pub blocks: u64,
    /// People it wrote to first.
    pub first_contacts: u64,
    /// Of those, how many replied.
    pub replies: u64,
    /// Accounts in its cluster (itself included).
    pub cluster: Vec<i64>,
}

/// Accounts with a standing or any report, most reported first.
pub fn flagged(
    conn: &Connection,
    policy: &SpamPolicy,
    now: Millis,
    limit: usize,
) -> Result<Vec<FlaggedAccount>, StoreError> {
    let ids: Vec<i64> = {
        let mut stmt = conn
            .prepare(
                "SELECT id FROM (
                     SELECT account_id AS id FROM account_standing
                     UNION SELECT sender AS id FROM reports) AS flagged
                 LIMIT ?",
            )
            .map_err(db)?;
        let rows = stmt.query_map([limit as i64], |r| r.get(0)).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let (state, reason) = standing(conn, id)?.unwrap_or(("reported".into(), String::new()));
        let (junk_reports, blocks) = evidence(conn, &[id])?;
        let source: String = conn
            .query_row("SELECT reg_source FROM accounts WHERE id = ?", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)?
            .unwrap_or_default();
        let (first_contacts, replies) = first_contacts_and_replies(conn, id)?;
        out.push(FlaggedAccount {
            account: id,
            state,
            reason,
            source,
            junk_reports,
            blocks,
            first_contacts,
            replies,
            cluster: cluster_of(conn, id, policy, now)?,
        });
    }
    out.sort_by(|a, b| {
        b.junk_reports
            .cmp(&a.junk_reports)
            .then(a.account.cmp(&b.account))
    });
    Ok(out)
}

/// The log of actions on one account, oldest first.
pub fn actions(
    conn: &Connection,
    account: i64,
) -> Result<Vec<(String, String, String, u64)>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT action, reason, actor, at FROM account_actions WHERE account_id = ? ORDER BY id")
        .map_err(db)?;
    let rows = stmt
        .query_map([account], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
        })
        .map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

/// What an operator can do with `tidings admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// Accounts with a standing or reports, with the evidence.
    Flagged {
        /// Most accounts listed.
        limit: usize,
    },
    /// One account: standing, evidence, cluster and action log.
    Show {
        /// The account.
        account: i64,
    },
    /// Ban, restrict or clear (`None`) an account, with a reason.
    SetStanding {
        /// The account.
        account: i64,
        /// `banned`, `restricted` or `None` to clear.
        state: Option<String>,
        /// Why (logged, and shown to a restricted user).
        reason: String,
        /// Apply to the whole cluster.
        cluster: bool,
    },
    /// The thresholds in force.
    Settings,
    /// Changes a threshold.
    Set {
        /// One of [`SETTINGS`].
        key: String,
        /// The new value.
        value: u64,
    },
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("plain data always serialises")
}

/// Runs an operator's command; the answer is JSON for both the table and
/// the `--json` output of `tidings admin`.
pub fn admin(
    conn: &Connection,
    command: AdminCommand,
    policy: &SpamPolicy,
    now: Millis,
) -> Result<serde_json::Value, StoreError> {
    let policy = policy.effective(conn)?;
    match command {
        AdminCommand::Flagged { limit } => Ok(to_json(&flagged(conn, &policy, now, limit)?)),
        AdminCommand::Show { account } => {
            let mut all = flagged(conn, &policy, now, MAX_CLUSTER_MEMBERS)?;
            let found = all.iter().position(|f| f.account == account);
            let (standing, reason) = standing(conn, account)?.unwrap_or_default();
            Ok(serde_json::json!({
                "account": account,
                "standing": standing,
                "reason": reason,
                "evidence": found.map(|i| to_json(&all.swap_remove(i))),
                "cluster": cluster_of(conn, account, &policy, now)?,
                "actions": actions(conn, account)?
                    .into_iter()
                    .map(|(action, reason, actor, at)| serde_json::json!({
                        "action": action, "reason": reason, "actor": actor, "at": at
                    }))
                    .collect::<Vec<_>>(),
            }))
        }
        AdminCommand::SetStanding {
            account,
            state,
            reason,
            cluster,
        } => {
            let members = if cluster {
                cluster_of(conn, account, &policy, now)?
            } else {
                vec![account]
            };
            for member in &members {
                set_standing(conn, *member, state.as_deref(), &reason, "operator", now)?;
            }
            Ok(serde_json::json!({ "accounts": members, "standing": state }))
        }
        AdminCommand::Settings => Ok(to_json(&policy)),
        AdminCommand::Set { key, value } => {
            if !set_setting(conn, &key, value)? {
                return Err(StoreError::Invalid(format!(
                    "unknown setting {key}; settings are: {}",
                    SETTINGS
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            log_action(
                conn,
                0,
                "setting",
                &format!("{key} = {value}"),
                "operator",
                now,
            )?;
            Ok(to_json(&policy.effective(conn)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SpamPolicy {
        SpamPolicy {
            new_recipients_per_day: 15,
            new_recipients_per_day_of_age: 5,
            new_recipients_per_reply: 2,
            new_recipients_max: 200,
            new_recipients_email_only: 3,
            restrict_at_reports: 3,
            ban_at_reports: 6,
            cluster_window_ms: 0,
            campaign_min_reporters: 2,
            replies_per_forgiven_report: 10,
        }
    }

    #[test]
    fn answers_forgive_a_few_reports_but_not_a_campaign() {
        let p = policy();
        // Four mistaken reports against a courier 25 people answered: at
        // most half of them are forgiven.
        assert_eq!(cluster_score(&p, 4, 0, 0, 25), 2);
        assert_eq!(cluster_score(&p, 3, 0, 0, 25), 2);
        // A spam cluster: many reports, nobody answers.
        assert_eq!(cluster_score(&p, 5, 2, 1, 0), 7);
        assert_eq!(cluster_score(&p, 1, 0, 0, 100), 1);
        assert_eq!(cluster_score(&p, 10, 0, 0, 1000), 5);
        let off = SpamPolicy {
            replies_per_forgiven_report: 0,
            ..p
        };
        assert_eq!(cluster_score(&off, 3, 0, 0, 25), 3);
        assert!(vouched_for(&p, 10) && !vouched_for(&p, 9));
        assert!(!vouched_for(&off, 1000));
    }

    #[test]
    fn e_mail_only_accounts_start_lower_until_someone_replies() {
        let p = policy();
        assert_eq!(first_contact_cap(&p, 0, 0, 0, false), 15);
        assert_eq!(first_contact_cap(&p, 0, 0, 0, true), 3);
        // Age alone does not ripen an e-mail-only account, nor do answers
        // from its own batch.
        assert_eq!(first_contact_cap(&p, 30, 0, 0, true), 3);
        assert_eq!(first_contact_cap(&p, 0, 40, 0, true), 3);
        // One answer from an established account and it counts like any.
        assert_eq!(first_contact_cap(&p, 2, 1, 1, true), 15 + 10 + 2);
        assert_eq!(first_contact_cap(&p, 2, 1, 0, false), 15 + 10 + 2);
        assert_eq!(first_contact_cap(&p, 1000, 1000, 0, false), 200);
        assert_eq!(first_contact_cap(&p, u64::MAX, u64::MAX, 0, false), 200);
        // Never more than a phone account starts with.
        let low = SpamPolicy {
            new_recipients_per_day: 2,
            ..policy()
        };
        assert_eq!(first_contact_cap(&low, 0, 0, 0, true), 2);
    }
}
