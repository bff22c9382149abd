//! The figures of a run: counted from every message and spam account,
//! checked against the targets of the spam defence, and printed as a table
//! or JSON.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use super::SpamSimArgs;
use crate::engine::{FirstKind, Kind, Msg, Placement, SpamAccount};
use crate::population::{Population, Role};

/// A spam account counts as stopped in time when it was restricted or
/// banned before the server had accepted this many messages from it.
pub const STOPPED_BEFORE: u64 = 20;

/// Counters the engine keeps while it runs (what cannot be read off the
/// messages afterwards).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Proofs of work solved by people registering.
    pub people_pow_solved: u64,
    /// Refusals of people's registrations, by error code.
    pub people_signup_refusals: BTreeMap<String, u64>,
    /// People who could not register at all.
    pub people_not_registered: u64,
    /// People registered before the campaign.
    pub registered_before: u64,
    /// People who joined during the campaign.
    pub joined: u64,
    /// Accepted messages that did not reach their device in time.
    pub undelivered: u64,
    /// Deliveries whose authenticated sender was not the simulated sender.
    pub misattributed: u64,
    /// Legitimate first contacts people found in Junk and accepted.
    pub legit_rescued: u64,
    /// Reports that could not be made because the envelope had no token.
    pub reports_without_token: u64,
    /// Reports that shared the text.
    pub reports_with_text: u64,
    /// Reports the server took.
    pub reports_accepted: u64,
    /// Reports the server refused, by error code.
    pub report_refusals: BTreeMap<String, u64>,
    /// Step at which the first campaign fingerprint was published.
    pub first_campaign_tick: Option<u64>,
    /// Fingerprints on the campaign list at the end.
    pub campaigns_published: u64,
    /// Registration attempts of the spam operation (one per address tried).
    pub spam_signup_attempts: u64,
    /// Proofs of work the spam operation solved.
    pub spam_pow_solved: u64,
    /// Refusals of spam registrations, by error code.
    pub spam_signup_refusals: BTreeMap<String, u64>,
    /// Spam accounts the operation gave up on for the day.
    pub spam_signups_abandoned: u64,
    /// Enumerated handles the directory said are not on Tidings.
    pub spam_not_registered: u64,
    /// Directory lookups of spam accounts the server refused, by code.
    pub spam_lookup_refusals: BTreeMap<String, u64>,
    /// Targets a spam account gave up because the server refused to look
    /// them up.
    pub spam_targets_dropped: u64,
}

/// One target of the spam defence and whether the run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Stable name, e.g. `spam_main_inbox_percent`.
    pub name: &'static str,
    /// What it measures.
    pub description: &'static str,
    /// The measured value.
    pub value: f64,
    /// The limit.
    pub limit: f64,
    /// `<=` or `>=`.
    pub comparison: &'static str,
    /// Whether the value is on the right side of the limit.
    pub met: bool,
}

impl Target {
    fn at_most(name: &'static str, description: &'static str, value: f64, limit: f64) -> Target {
        Target {
            name,
            description,
            value,
            limit,
            comparison: "<=",
            met: value <= limit,
        }
    }

    fn at_least(name: &'static str, description: &'static str, value: f64, limit: f64) -> Target {
        Target {
            name,
            description,
            value,
            limit,
            comparison: ">=",
            met: value >= limit,
        }
    }
}

/// The population figures.
#[derive(Debug, Clone, Serialize)]
pub struct PopulationFigures {
    /// People in total.
    pub users: usize,
    /// People registered before the campaign.
    pub registered_before: u64,
    /// People who joined during the campaign.
    pub joined: u64,
    /// People whose registration the server refused every time.
    pub not_registered: u64,
    /// Refusals of people's registration attempts, by error code.
    pub signup_refusals: BTreeMap<String, u64>,
    /// Proofs of work people solved.
    pub pow_solved: u64,
    /// Couriers.
    pub drivers: usize,
    /// Doctors' offices.
    pub offices: usize,
    /// Mean contacts per person.
    pub contacts_mean: f64,
    /// Fewest contacts.
    pub contacts_min: usize,
    /// Most contacts.
    pub contacts_max: usize,
}

/// What became of the spam.
#[derive(Debug, Clone, Serialize)]
pub struct SpamFigures {
    /// Messages spam accounts posted (first messages and follow-ups).
    pub sent: u64,
    /// Of which follow-ups to people who answered.
    pub follow_ups: u64,
    /// Accepted by the server.
    pub accepted: u64,
    /// Refused by the server, in total.
    pub refused: u64,
    /// Refusals by error code.
    pub refusals: BTreeMap<String, u64>,
    /// Accepted but not delivered in time.
    pub undelivered: u64,
    /// Reached a main inbox, with a notification.
    pub main_inbox: u64,
    /// Filed in Requests on arrival.
    pub requests_on_arrival: u64,
    /// Seen by the person while in Requests, or still there at the end.
    pub requests_visible: u64,
    /// Still in Requests at the end.
    pub requests_at_end: u64,
    /// Filed in Junk (on arrival, or moved there by a campaign match
    /// before the person saw it).
    pub junk: u64,
    /// Moved from Requests to Junk by a campaign match.
    pub refiled: u64,
    /// Filed in Junk on arrival because they matched a published campaign.
    pub junk_on_arrival_by_campaign: u64,
    /// Reported as junk by people.
    pub reported: u64,
    /// Accepted by people.
    pub accepted_by_people: u64,
    /// Enumerated handles the directory said are not on Tidings (not
    /// messaged, not counted as sent).
    pub enumerated_not_on_tidings: u64,
    /// Directory lookups the server refused, by error code.
    pub lookup_refusals: BTreeMap<String, u64>,
    /// Targets never messaged because their lookup was refused.
    pub targets_dropped: u64,
    /// Outcomes by kind of spam (`prize`, `loan`, `wrong_number`, ...).
    pub by_campaign: BTreeMap<String, CampaignFigures>,
}

/// What became of one kind of spam.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CampaignFigures {
    /// Posted.
    pub sent: u64,
    /// Refused by the server.
    pub refused: u64,
    /// Filed in Junk.
    pub junk: u64,
    /// Visible in Requests.
    pub requests: u64,
}

/// The spam operation's accounts.
#[derive(Debug, Clone, Serialize)]
pub struct AccountFigures {
    /// Registration attempts (one per address tried).
    pub signup_attempts: u64,
    /// Refused attempts, by error code.
    pub signup_refusals: BTreeMap<String, u64>,
    /// Proofs of work solved.
    pub pow_solved: u64,
    /// Accounts the operation gave up on for the day.
    pub signups_abandoned: u64,
    /// Accounts registered.
    pub registered: u64,
    /// First refused as restricted.
    pub restricted: u64,
    /// First refused as banned.
    pub banned: u64,
    /// Restricted or banned before the server accepted
    /// [`STOPPED_BEFORE`] messages from them.
    pub stopped_before_20: u64,
    /// Never refused as restricted or banned.
    pub never_stopped: u64,
    /// Never had a [`STOPPED_BEFORE`]th message accepted: stopped before
    /// it, or held under it by the new-recipient cap until the run ended.
    pub held_below_20: u64,
    /// Messages accepted before the restriction or ban: median.
    pub accepted_before_stop_median: u64,
    /// 90th percentile.
    pub accepted_before_stop_p90: u64,
    /// Largest.
    pub accepted_before_stop_max: u64,
    /// Messages posted (accepted or refused, e.g. by the new-recipient
    /// cap) before the restriction or ban: median.
    pub attempted_before_stop_median: u64,
    /// 90th percentile.
    pub attempted_before_stop_p90: u64,
    /// Accounts by messages accepted before they were stopped (`never`:
    /// not stopped).
    pub histogram: Vec<(String, u64)>,
    /// Messages accepted per account, mean over all accounts.
    pub accepted_per_account_mean: f64,
    /// The same accounts by the kind of handle they registered with.
    pub by_handle: Vec<HandleFigures>,
}

/// Spam accounts of one kind of handle: what the new-recipient cap let
/// them do.
#[derive(Debug, Clone, Serialize)]
pub struct HandleFigures {
    /// `e-mail` or `phone`.
    pub kind: String,
    /// The server's first-contact allowance of such an account on its first
    /// day while nobody replied to it.
    pub allowance_first_day: u64,
    /// Accounts registered.
    pub accounts: u64,
    /// Messages accepted per account, mean.
    pub accepted_mean: f64,
    /// Most messages the server accepted from one account in one day.
    pub accepted_max_per_day: u64,
    /// Messages refused by the new-recipient cap.
    pub cap_refusals: u64,
}

/// Legitimate first contacts of one kind, or all of them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FirstContactFigures {
    /// Posted.
    pub sent: u64,
    /// Refused by the server.
    pub held_back: u64,
    /// Refusals by error code.
    pub refusals: BTreeMap<String, u64>,
    /// Reached the recipient's device.
    pub delivered: u64,
    /// Filed in Requests on arrival.
    pub requests: u64,
    /// Filed in Junk on arrival or moved there by a campaign match.
    pub junk: u64,
    /// Of those, because they matched a published campaign (on arrival,
    /// where the client checks campaigns before the classifier, or moved
    /// there later).
    pub junk_by_campaign: u64,
    /// Accepted by the recipient.
    pub accepted: u64,
    /// Reported as junk by the recipient.
    pub misreported: u64,
}

/// Legitimate traffic.
#[derive(Debug, Clone, Serialize)]
pub struct LegitFigures {
    /// Messages between people with a relation (chat, greetings of people
    /// who joined, answers to first contacts) posted during the campaign.
    pub between_contacts_sent: u64,
    /// Of those, refused by the server.
    pub between_contacts_held_back: u64,
    /// Refusals by kind of message and error code (`chat`, `hello`:
    /// someone who just joined, `reply`: an answer to a first contact).
    pub between_contacts_refusals: BTreeMap<String, u64>,
    /// Warm-up messages posted.
    pub warmup_sent: u64,
    /// Warm-up messages refused.
    pub warmup_held_back: u64,
    /// All legitimate first contacts.
    pub first_contacts: FirstContactFigures,
    /// By sender: `driver`, `office`, `colleague`.
    pub first_contacts_by_kind: BTreeMap<String, FirstContactFigures>,
    /// By the language of the text: `en`, `zh`.
    pub first_contacts_by_language: BTreeMap<String, FirstContactFigures>,
    /// First contacts found in Junk and accepted.
    pub rescued_from_junk: u64,
}

/// Reports people made.
#[derive(Debug, Clone, Serialize)]
pub struct ReportFigures {
    /// Taken by the server.
    pub accepted: u64,
    /// Refused, by error code.
    pub refusals: BTreeMap<String, u64>,
    /// Sharing the text.
    pub with_text: u64,
    /// Impossible: the envelope carried no report token.
    pub without_token: u64,
    /// Campaign fingerprints published at the end.
    pub campaigns_published: u64,
    /// Hours into the campaign when the first fingerprint was published.
    pub first_campaign_after_hours: Option<f64>,
}

/// One campaign day.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DayFigures {
    /// Campaign day (from 0).
    pub day: u32,
    /// Spam posted.
    pub spam_sent: u64,
    /// Refused by the server.
    pub refused: u64,
    /// Filed in Junk.
    pub junk: u64,
    /// Visible in Requests.
    pub requests: u64,
    /// In a main inbox.
    pub main_inbox: u64,
    /// Accepted, not delivered.
    pub undelivered: u64,
    /// Spam accounts registered that day.
    pub accounts_registered: u64,
    /// Spam accounts stopped by the end of that day (cumulative).
    pub accounts_stopped_cumulative: u64,
    /// Spam accounts registered by the end of that day (cumulative).
    pub accounts_registered_cumulative: u64,
    /// Legitimate first contacts posted.
    pub first_contacts: u64,
    /// Of which filed in Junk.
    pub first_contacts_junk: u64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The parameters.
    pub parameters: SpamSimArgs,
    /// Wall-clock seconds the run took.
    pub elapsed_secs: f64,
    /// The population.
    pub population: PopulationFigures,
    /// Spam outcomes.
    pub spam: SpamFigures,
    /// Spam accounts.
    pub spam_accounts: AccountFigures,
    /// Legitimate traffic.
    pub legit: LegitFigures,
    /// Reports and campaigns.
    pub reports: ReportFigures,
    /// Per campaign day.
    pub per_day: Vec<DayFigures>,
    /// Deliveries whose authenticated sender differed from the simulated
    /// one (must be 0: a check of the simulation itself).
    pub misattributed_deliveries: u64,
    /// The targets of the spam defence.
    pub targets: Vec<Target>,
    /// Whether every target was met.
    pub all_targets_met: bool,
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn visible_in_requests(m: &Msg) -> bool {
    m.arrival == Some(Placement::Requests)
        && (m.seen_in_requests || m.now == Some(Placement::Requests))
}

/// Where a spam message ended up, for the system (the person's own
/// reports and acceptances aside).
enum Outcome {
    Refused,
    Undelivered,
    Main,
    Requests,
    Junk,
}

fn outcome(m: &Msg) -> Outcome {
    if m.refused.is_some() {
        Outcome::Refused
    } else if !m.delivered {
        Outcome::Undelivered
    } else if m.arrival == Some(Placement::Main) {
        Outcome::Main
    } else if visible_in_requests(m) {
        Outcome::Requests
    } else {
        Outcome::Junk
    }
}

fn count_spam(spam: &mut SpamFigures, m: &Msg, accounts: &[SpamAccount]) {
    spam.sent += 1;
    if m.kind == Kind::FollowUp {
        spam.follow_ups += 1;
    }
    let name = m
        .spammer
        .map(|s| accounts[s].campaign.name())
        .unwrap_or("unknown");
    let c = spam.by_campaign.entry(name.to_string()).or_default();
    c.sent += 1;
    let o = outcome(m);
    match o {
        Outcome::Refused => c.refused += 1,
        Outcome::Requests => c.requests += 1,
        Outcome::Junk => c.junk += 1,
        Outcome::Undelivered | Outcome::Main => {}
    }
    match o {
        Outcome::Refused => {
            spam.refused += 1;
            if let Some(e) = &m.refused {
                *spam.refusals.entry(e.clone()).or_default() += 1;
            }
            return;
        }
        Outcome::Undelivered => {
            spam.accepted += 1;
            spam.undelivered += 1;
            return;
        }
        Outcome::Main => spam.main_inbox += 1,
        Outcome::Requests => spam.requests_visible += 1,
        Outcome::Junk => spam.junk += 1,
    }
    spam.accepted += 1;
    if m.arrival == Some(Placement::Requests) {
        spam.requests_on_arrival += 1;
    }
    if m.now == Some(Placement::Requests) {
        spam.requests_at_end += 1;
    }
    if m.refiled {
        spam.refiled += 1;
    }
    if m.junk_by_campaign {
        spam.junk_on_arrival_by_campaign += 1;
    }
    if m.reported {
        spam.reported += 1;
    }
    if m.accepted_by_person {
        spam.accepted_by_people += 1;
    }
}

fn count_first(f: &mut FirstContactFigures, m: &Msg) {
    f.sent += 1;
    if let Some(e) = &m.refused {
        f.held_back += 1;
        *f.refusals.entry(e.clone()).or_default() += 1;
    }
    if m.delivered {
        f.delivered += 1;
    }
    if m.arrival == Some(Placement::Requests) {
        f.requests += 1;
    }
    if m.arrival == Some(Placement::Junk) || m.refiled {
        f.junk += 1;
    }
    if m.junk_by_campaign || m.refiled {
        f.junk_by_campaign += 1;
    }
    if m.accepted_by_person {
        f.accepted += 1;
    }
    if m.reported {
        f.misreported += 1;
    }
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(((sorted.len() - 1) as f64) * q).round() as usize]
}

/// Spam accounts split by e-mail and phone handles, with the allowance the
/// server's defaults give each on its first day.
fn by_handle(accounts: &[SpamAccount]) -> Vec<HandleFigures> {
    let config = tidings_server::Config::default();
    [("e-mail", true), ("phone", false)]
        .into_iter()
        .map(|(kind, email)| {
            let of_kind: Vec<&SpamAccount> = accounts.iter().filter(|a| a.email == email).collect();
            let n = of_kind.len() as u64;
            HandleFigures {
                kind: kind.to_string(),
                allowance_first_day: if email {
                    config.spam.new_recipients_email_only
                } else {
                    config.spam.new_recipients_per_day
                }
                .min(config.spam.new_recipients_max),
                accounts: n,
                accepted_mean: if n == 0 {
                    0.0
                } else {
                    of_kind.iter().map(|a| a.accepted).sum::<u64>() as f64 / n as f64
                },
                accepted_max_per_day: of_kind
                    .iter()
                    .flat_map(|a| a.accepted_by_day.values().copied())
                    .max()
                    .unwrap_or(0),
                cap_refusals: of_kind.iter().map(|a| a.cap_refusals).sum(),
            }
        })
        .collect()
}

/// Counts the figures of a finished run.
pub fn summarise(
    args: &SpamSimArgs,
    elapsed: Duration,
    pop: &Population,
    msgs: &[Msg],
    accounts: &[SpamAccount],
    tally: &Tally,
) -> Summary {
    let days = (args.days + args.tail_days) as usize;
    let mut per_day: Vec<DayFigures> = (0..days)
        .map(|d| DayFigures {
            day: d as u32,
            ..DayFigures::default()
        })
        .collect();
    let mut spam = SpamFigures {
        sent: 0,
        follow_ups: 0,
        accepted: 0,
        refused: 0,
        refusals: BTreeMap::new(),
        undelivered: 0,
        main_inbox: 0,
        requests_on_arrival: 0,
        requests_visible: 0,
        requests_at_end: 0,
        junk: 0,
        refiled: 0,
        junk_on_arrival_by_campaign: 0,
        reported: 0,
        accepted_by_people: 0,
        enumerated_not_on_tidings: tally.spam_not_registered,
        lookup_refusals: tally.spam_lookup_refusals.clone(),
        targets_dropped: tally.spam_targets_dropped,
        by_campaign: BTreeMap::new(),
    };
    let mut legit = LegitFigures {
        between_contacts_sent: 0,
        between_contacts_held_back: 0,
        between_contacts_refusals: BTreeMap::new(),
        warmup_sent: 0,
        warmup_held_back: 0,
        first_contacts: FirstContactFigures::default(),
        first_contacts_by_kind: BTreeMap::new(),
        first_contacts_by_language: BTreeMap::new(),
        rescued_from_junk: tally.legit_rescued,
    };
    for m in msgs.iter().filter(|m| m.attempted) {
        let day = m.day.map(|d| (d as usize).min(days.saturating_sub(1)));
        if m.kind.is_spam() {
            count_spam(&mut spam, m, accounts);
            if let Some(d) = day {
                let d = &mut per_day[d];
                d.spam_sent += 1;
                match outcome(m) {
                    Outcome::Refused => d.refused += 1,
                    Outcome::Undelivered => d.undelivered += 1,
                    Outcome::Main => d.main_inbox += 1,
                    Outcome::Requests => d.requests += 1,
                    Outcome::Junk => d.junk += 1,
                }
            }
            continue;
        }
        match m.kind {
            Kind::Warmup => {
                legit.warmup_sent += 1;
                if m.refused.is_some() {
                    legit.warmup_held_back += 1;
                }
            }
            k if k.between_contacts() => {
                legit.between_contacts_sent += 1;
                if let Some(e) = &m.refused {
                    legit.between_contacts_held_back += 1;
                    let kind = match k {
                        Kind::Hello => "hello",
                        Kind::Reply => "reply",
                        _ => "chat",
                    };
                    *legit
                        .between_contacts_refusals
                        .entry(format!("{kind} {e}"))
                        .or_default() += 1;
                }
            }
            Kind::First(kind) => {
                count_first(&mut legit.first_contacts, m);
                let name = match kind {
                    FirstKind::Driver => "driver",
                    FirstKind::Office => "office",
                    FirstKind::Colleague => "colleague",
                };
                count_first(
                    legit
                        .first_contacts_by_kind
                        .entry(name.to_string())
                        .or_default(),
                    m,
                );
                if let Some(text) = &m.text {
                    let lang = tidings_spam::language(text).as_str().to_string();
                    count_first(legit.first_contacts_by_language.entry(lang).or_default(), m);
                }
                if let Some(d) = day {
                    per_day[d].first_contacts += 1;
                    if m.arrival == Some(Placement::Junk) || m.refiled {
                        per_day[d].first_contacts_junk += 1;
                    }
                }
            }
            _ => {}
        }
    }

    // Spam accounts.
    let mut stopped_at: Vec<u64> = accounts
        .iter()
        .filter_map(|a| a.block.as_ref().map(|b| b.accepted_before))
        .collect();
    stopped_at.sort_unstable();
    let mut attempted_before: Vec<u64> = accounts
        .iter()
        .filter_map(|a| a.block.as_ref().map(|b| b.attempts_before))
        .collect();
    attempted_before.sort_unstable();
    let buckets: [(&str, u64, u64); 6] = [
        ("0", 0, 0),
        ("1-4", 1, 4),
        ("5-9", 5, 9),
        ("10-19", 10, 19),
        ("20-49", 20, 49),
        ("50+", 50, u64::MAX),
    ];
    let mut histogram: Vec<(String, u64)> = buckets
        .iter()
        .map(|(name, lo, hi)| {
            (
                name.to_string(),
                stopped_at.iter().filter(|&&n| n >= *lo && n <= *hi).count() as u64,
            )
        })
        .collect();
    let never = accounts.iter().filter(|a| a.block.is_none()).count() as u64;
    histogram.push(("never".into(), never));
    let registered = accounts.len() as u64;
    let spam_accounts = AccountFigures {
        signup_attempts: tally.spam_signup_attempts,
        signup_refusals: tally.spam_signup_refusals.clone(),
        pow_solved: tally.spam_pow_solved,
        signups_abandoned: tally.spam_signups_abandoned,
        registered,
        restricted: accounts
            .iter()
            .filter(|a| a.block.as_ref().is_some_and(|b| b.reason == "restricted"))
            .count() as u64,
        banned: accounts
            .iter()
            .filter(|a| a.block.as_ref().is_some_and(|b| b.reason == "banned"))
            .count() as u64,
        stopped_before_20: stopped_at.iter().filter(|&&n| n < STOPPED_BEFORE).count() as u64,
        held_below_20: accounts
            .iter()
            .filter(|a| a.block.as_ref().map_or(a.accepted, |b| b.accepted_before) < STOPPED_BEFORE)
            .count() as u64,
        never_stopped: never,
        accepted_before_stop_median: quantile(&stopped_at, 0.5),
        accepted_before_stop_p90: quantile(&stopped_at, 0.9),
        accepted_before_stop_max: stopped_at.last().copied().unwrap_or(0),
        attempted_before_stop_median: quantile(&attempted_before, 0.5),
        attempted_before_stop_p90: quantile(&attempted_before, 0.9),
        histogram,
        accepted_per_account_mean: if registered == 0 {
            0.0
        } else {
            accounts.iter().map(|a| a.accepted).sum::<u64>() as f64 / registered as f64
        },
        by_handle: by_handle(accounts),
    };
    let mut registered_cum = 0;
    let mut stopped_cum = 0;
    for (d, day) in per_day.iter_mut().enumerate() {
        day.accounts_registered = accounts.iter().filter(|a| a.day as usize == d).count() as u64;
        registered_cum += day.accounts_registered;
        stopped_cum += accounts
            .iter()
            .filter(|a| a.block.as_ref().is_some_and(|b| b.day as usize == d))
            .count() as u64;
        day.accounts_registered_cumulative = registered_cum;
        day.accounts_stopped_cumulative = stopped_cum;
    }

    let contacts: Vec<usize> = pop.people.iter().map(|p| p.contacts.len()).collect();
    let population = PopulationFigures {
        users: pop.people.len(),
        registered_before: tally.registered_before,
        joined: tally.joined,
        not_registered: tally.people_not_registered,
        signup_refusals: tally.people_signup_refusals.clone(),
        pow_solved: tally.people_pow_solved,
        drivers: pop.people.iter().filter(|p| p.role == Role::Driver).count(),
        offices: pop.people.iter().filter(|p| p.role == Role::Office).count(),
        contacts_mean: contacts.iter().sum::<usize>() as f64 / contacts.len().max(1) as f64,
        contacts_min: contacts.iter().copied().min().unwrap_or(0),
        contacts_max: contacts.iter().copied().max().unwrap_or(0),
    };
    let reports = ReportFigures {
        accepted: tally.reports_accepted,
        refusals: tally.report_refusals.clone(),
        with_text: tally.reports_with_text,
        without_token: tally.reports_without_token,
        campaigns_published: tally.campaigns_published,
        first_campaign_after_hours: tally
            .first_campaign_tick
            .map(|t| (t * u64::from(args.tick_minutes)) as f64 / 60.0),
    };
    let targets = vec![
        Target::at_most(
            "spam_main_inbox_percent",
            "spam that reached a main inbox with a notification, % of spam sent",
            percent(spam.main_inbox, spam.sent),
            0.1,
        ),
        Target::at_most(
            "spam_visible_in_requests_percent",
            "spam left visible in Requests (not in Junk, not refused), % of spam sent",
            percent(spam.requests_visible, spam.sent),
            2.0,
        ),
        Target::at_least(
            "spam_accounts_held_below_20_percent",
            "spam accounts that never had a 20th message accepted (stopped or capped), % of spam accounts",
            percent(spam_accounts.held_below_20, spam_accounts.registered),
            95.0,
        ),
        Target::at_most(
            "legit_between_contacts_held_back",
            "legitimate messages between contacts held back by the server",
            legit.between_contacts_held_back as f64,
            0.0,
        ),
        Target::at_most(
            "legit_first_contacts_junk_percent",
            "legitimate first contacts filed in Junk, % of those delivered",
            percent(legit.first_contacts.junk, legit.first_contacts.delivered),
            1.0,
        ),
    ];
    let all_targets_met = targets.iter().all(|t| t.met);
    Summary {
        parameters: args.clone(),
        elapsed_secs: elapsed.as_secs_f64(),
        population,
        spam,
        spam_accounts,
        legit,
        reports,
        per_day,
        misattributed_deliveries: tally.misattributed,
        targets,
        all_targets_met,
    }
}

fn map_line(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The figures as an aligned plain-text table.
pub fn table(s: &Summary) -> String {
    let mut out = String::new();
    let sent = s.spam.sent;
    let row = |out: &mut String, label: &str, value: String, share: Option<f64>| {
        let share = share.map(|p| format!("{p:>8.3} %")).unwrap_or_default();
        let _ = writeln!(out, "  {label:<58} {value:>10} {share}");
    };
    let p = &s.parameters;
    let _ = writeln!(
        out,
        "spam-sim: {} people, {} days + {} tail, {} spam accounts/day x {} targets from {} ranges (seed {}, {:.0} s)",
        p.users, p.days, p.tail_days, p.spam_accounts_per_day, p.spam_targets_per_account, p.spam_ranges, p.seed, s.elapsed_secs
    );
    let _ = writeln!(out, "\nspam messages");
    row(
        &mut out,
        "sent (posted by spam accounts)",
        sent.to_string(),
        None,
    );
    row(
        &mut out,
        "accepted by the server",
        s.spam.accepted.to_string(),
        Some(percent(s.spam.accepted, sent)),
    );
    row(
        &mut out,
        "refused by the server",
        s.spam.refused.to_string(),
        Some(percent(s.spam.refused, sent)),
    );
    row(
        &mut out,
        "reached a main inbox with a notification",
        s.spam.main_inbox.to_string(),
        Some(percent(s.spam.main_inbox, sent)),
    );
    row(
        &mut out,
        "visible in Requests",
        s.spam.requests_visible.to_string(),
        Some(percent(s.spam.requests_visible, sent)),
    );
    row(
        &mut out,
        "  of which still in Requests at the end",
        s.spam.requests_at_end.to_string(),
        Some(percent(s.spam.requests_at_end, sent)),
    );
    row(
        &mut out,
        "in Junk",
        s.spam.junk.to_string(),
        Some(percent(s.spam.junk, sent)),
    );
    row(
        &mut out,
        "accepted, not delivered in time",
        s.spam.undelivered.to_string(),
        Some(percent(s.spam.undelivered, sent)),
    );
    row(
        &mut out,
        "filed in Requests on arrival / moved to Junk by campaigns",
        format!("{} / {}", s.spam.requests_on_arrival, s.spam.refiled),
        None,
    );
    row(
        &mut out,
        "filed in Junk on arrival by a campaign match",
        s.spam.junk_on_arrival_by_campaign.to_string(),
        None,
    );
    row(
        &mut out,
        "reported by people / accepted by people",
        format!("{} / {}", s.spam.reported, s.spam.accepted_by_people),
        None,
    );
    row(
        &mut out,
        "enumerated handles not on Tidings (not sent)",
        s.spam.enumerated_not_on_tidings.to_string(),
        None,
    );
    let _ = writeln!(out, "  refusals: {}", map_line(&s.spam.refusals));
    let _ = writeln!(
        out,
        "  by kind (sent / refused / Junk / Requests): {}",
        s.spam
            .by_campaign
            .iter()
            .map(|(k, c)| format!("{k} {}/{}/{}/{}", c.sent, c.refused, c.junk, c.requests))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let a = &s.spam_accounts;
    let _ = writeln!(out, "\nspam accounts");
    row(
        &mut out,
        "registration attempts / proofs of work solved",
        format!("{} / {}", a.signup_attempts, a.pow_solved),
        None,
    );
    row(&mut out, "registered", a.registered.to_string(), None);
    row(
        &mut out,
        "restricted / banned",
        format!("{} / {}", a.restricted, a.banned),
        None,
    );
    row(
        &mut out,
        "stopped before their 20th accepted message",
        a.stopped_before_20.to_string(),
        Some(percent(a.stopped_before_20, a.registered)),
    );
    row(
        &mut out,
        "never stopped",
        a.never_stopped.to_string(),
        Some(percent(a.never_stopped, a.registered)),
    );
    row(
        &mut out,
        "never had a 20th message accepted (stopped or capped)",
        a.held_below_20.to_string(),
        Some(percent(a.held_below_20, a.registered)),
    );
    row(
        &mut out,
        "accepted before stop: median / p90 / max",
        format!(
            "{} / {} / {}",
            a.accepted_before_stop_median, a.accepted_before_stop_p90, a.accepted_before_stop_max
        ),
        None,
    );
    row(
        &mut out,
        "posted before stop (refused ones too): median / p90",
        format!(
            "{} / {}",
            a.attempted_before_stop_median, a.attempted_before_stop_p90
        ),
        None,
    );
    let _ = writeln!(
        out,
        "  accounts by messages accepted before stop: {}",
        a.histogram
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "  registration refusals: {}",
        map_line(&a.signup_refusals)
    );
    for h in &a.by_handle {
        row(
            &mut out,
            &format!(
                "  {} handles (first-day allowance {}): accounts / accepted each, mean / most in a day / refused by the cap",
                h.kind, h.allowance_first_day
            ),
            format!(
                "{} / {:.1} / {} / {}",
                h.accounts, h.accepted_mean, h.accepted_max_per_day, h.cap_refusals
            ),
            None,
        );
    }

    let l = &s.legit;
    let f = &l.first_contacts;
    let _ = writeln!(out, "\nlegitimate traffic");
    row(
        &mut out,
        "messages between contacts sent",
        l.between_contacts_sent.to_string(),
        None,
    );
    row(
        &mut out,
        "messages between contacts held back",
        l.between_contacts_held_back.to_string(),
        Some(percent(
            l.between_contacts_held_back,
            l.between_contacts_sent,
        )),
    );
    row(
        &mut out,
        "warm-up messages sent / held back",
        format!("{} / {}", l.warmup_sent, l.warmup_held_back),
        None,
    );
    row(&mut out, "first contacts sent", f.sent.to_string(), None);
    row(
        &mut out,
        "first contacts held back by the server",
        f.held_back.to_string(),
        Some(percent(f.held_back, f.sent)),
    );
    row(
        &mut out,
        "first contacts delivered",
        f.delivered.to_string(),
        None,
    );
    row(
        &mut out,
        "first contacts in Junk",
        f.junk.to_string(),
        Some(percent(f.junk, f.delivered)),
    );
    row(
        &mut out,
        "first contacts accepted / misreported as junk",
        format!("{} / {}", f.accepted, f.misreported),
        None,
    );
    for (lang, k) in &l.first_contacts_by_language {
        row(
            &mut out,
            &format!("  in {lang}: sent / held back / in Junk (by campaign)"),
            format!(
                "{} / {} / {} ({})",
                k.sent, k.held_back, k.junk, k.junk_by_campaign
            ),
            None,
        );
    }
    for (kind, k) in &l.first_contacts_by_kind {
        row(
            &mut out,
            &format!("  {kind}: sent / held back / in Junk (by campaign)"),
            format!(
                "{} / {} / {} ({})",
                k.sent, k.held_back, k.junk, k.junk_by_campaign
            ),
            None,
        );
    }
    if !l.between_contacts_refusals.is_empty() || !f.refusals.is_empty() {
        let _ = writeln!(
            out,
            "  refusals: between contacts: {}; first contacts: {}",
            map_line(&l.between_contacts_refusals),
            map_line(&f.refusals)
        );
    }
    let pop = &s.population;
    row(
        &mut out,
        "people joined during the campaign / not registered",
        format!("{} / {}", pop.joined, pop.not_registered),
        None,
    );

    let r = &s.reports;
    let _ = writeln!(out, "\nreports and campaigns");
    row(
        &mut out,
        "reports taken / with text / without token",
        format!("{} / {} / {}", r.accepted, r.with_text, r.without_token),
        None,
    );
    row(
        &mut out,
        "campaign fingerprints published",
        r.campaigns_published.to_string(),
        None,
    );
    if !r.refusals.is_empty() {
        let _ = writeln!(out, "  report refusals: {}", map_line(&r.refusals));
    }

    let _ = writeln!(out, "\ntargets");
    for t in &s.targets {
        let _ = writeln!(
            out,
            "  [{}] {:<86} {:>9.3} {} {}",
            if t.met { "met " } else { "MISS" },
            t.description,
            t.value,
            t.comparison,
            t.limit
        );
    }
    let _ = writeln!(
        out,
        "  {}",
        if s.all_targets_met {
            "all targets met"
        } else {
            "some targets missed"
        }
    );
    out
}
