//! The simulation loop: an in-process server on a manual clock, the
//! population's registrations and warm-up, then the campaign in steps of
//! `tick_minutes`, with every message going through the real API.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidings_proto::{AccountId, DeviceId};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use tidings_server::{App, Config, ManualClock};
use tidings_spam::requests::{self, Current, Filing, Folder, Reason, Relation};
use tidings_spam::{Fingerprint, Model};
use tokio::sync::mpsc;

use super::{SpamSimArgs, SpamStrategy};
use crate::net::{Answer, Cred, Delivery, Net, Registration};
use crate::population::{self, Role, Shape, PHONE_SHARE};
use crate::report::{self, Tally};
use crate::templates::{self, Campaign, Lang};

const MINUTE_MS: u64 = 60_000;
/// Mixed into the seed of the generator that gives people their language.
const LANGUAGE_SEED: u64 = 0x1a46_0a6e_5eed;
const DAY_MINUTES: u64 = 24 * 60;
/// People read and act on messages between these minutes of the day.
const AWAKE: (u64, u64) = (7 * 60, 23 * 60);
/// People chat with contacts between these minutes of the day.
const CHATTING: (u64, u64) = (8 * 60, 22 * 60);
/// Couriers, offices and colleagues write between these minutes.
const WORKING: (u64, u64) = (9 * 60, 18 * 60);
/// Spam accounts send between these minutes.
const SPAMMING: (u64, u64) = (8 * 60, 21 * 60);
/// The spam operation registers accounts between these minutes.
const SPAM_SIGNUPS: (u64, u64) = (8 * 60, 20 * 60);
/// Days over which the population registers before the warm-up: a server
/// of a few thousand people got them over months, not in one day (and
/// people registering from one address range at the same time are what
/// the server treats as a cluster).
const SETUP_DAYS: usize = 90;
/// Tries for a person whose registration is refused during set-up.
const SETUP_TRIES: u32 = 5;
/// How long to wait for accepted messages to reach their devices.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Deliveries the stream tasks may hand over before the simulation reads
/// them; past this a stream task waits (its envelope stays queued on the
/// server, unacknowledged), so nothing is lost and memory stays bounded.
const DELIVERY_QUEUE: usize = 65_536;
/// Address ranges of the spam operation (documentation and shared ranges).
const SPAM_PREFIXES: &[&str] = &[
    "203.0.113",
    "198.51.100",
    "192.0.2",
    "100.64.7",
    "100.64.9",
    "100.64.23",
];
/// Domains of throwaway e-mail addresses.
const THROWAWAY_DOMAINS: &[&str] = &["tempbox.example", "quickmail.example", "burner.example"];

/// Where a device files a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The conversation list, with a notification.
    Main,
    /// Message requests: no notification, the sender learns nothing until
    /// the person accepts.
    Requests,
    /// The junk folder.
    Junk,
}

/// Files a message the way the device does, with the client's own rule
/// (`tidings_spam::requests::file`): a known sender or an accepted
/// conversation goes to the inbox; a stranger's message goes to Junk when
/// it matches a published campaign or the shipped classifier calls it spam
/// (unless the person restored the conversation), else to Requests; a junk
/// conversation stays junk.
fn placement(known: bool, current: Current, text: &str, campaigns: &[Fingerprint]) -> Filing {
    let relation = Relation {
        conversation_accepted: current.folder == Some(Folder::Inbox),
        sender_known: known,
        other_member_known: false,
    };
    requests::file(
        relation,
        current,
        Some(text),
        Model::shipped().into(),
        campaigns,
    )
}

/// What a message is, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Contacts writing to each other before the campaign.
    Warmup,
    /// Chat between contacts.
    Contact,
    /// Someone who just joined writing to a person in their address book.
    Hello,
    /// An answer to a legitimate first contact.
    Reply,
    /// A legitimate first contact.
    First(FirstKind),
    /// A spam message to an enumerated handle.
    Spam,
    /// A spammer's second message to a person who answered.
    FollowUp,
    /// A person answering a spammer.
    ToSpammer,
}

/// Who makes a legitimate first contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FirstKind {
    /// A courier.
    Driver,
    /// A doctor's office.
    Office,
    /// A new colleague.
    Colleague,
}

impl Kind {
    /// Legitimate messages to someone the sender has a relation with: these
    /// must never be held back.
    pub fn between_contacts(self) -> bool {
        matches!(self, Kind::Contact | Kind::Hello | Kind::Reply)
    }

    /// Spam, first messages and follow-ups.
    pub fn is_spam(self) -> bool {
        matches!(self, Kind::Spam | Kind::FollowUp)
    }
}

/// One message of the run.
#[derive(Debug, Clone)]
pub struct Msg {
    /// What it is.
    pub kind: Kind,
    /// Sender (party index).
    pub from: usize,
    /// Recipient (party index), once known.
    pub to: Option<usize>,
    /// Campaign day it was sent on (`None` in the warm-up).
    pub day: Option<u32>,
    /// Whether it was posted at all (spam batches reserve more than they use).
    pub attempted: bool,
    /// The server's refusal, if it refused.
    pub refused: Option<String>,
    /// Accepted by the server.
    pub accepted: bool,
    /// Received by the recipient's device.
    pub delivered: bool,
    /// Filing on arrival.
    pub arrival: Option<Placement>,
    /// Filing now (after re-filing and the person's actions).
    pub now: Option<Placement>,
    /// The person saw it while it was in Requests.
    pub seen_in_requests: bool,
    /// Moved from Requests to Junk when a campaign was published.
    pub refiled: bool,
    /// Filed in Junk on arrival because it matched a published campaign
    /// (the client checks campaigns before the classifier).
    pub junk_by_campaign: bool,
    /// Reported as junk by its recipient.
    pub reported: bool,
    /// Accepted (or rescued from Junk) by its recipient.
    pub accepted_by_person: bool,
    /// Spam account index, for spam.
    pub spammer: Option<usize>,
    /// Text as received, kept for messages from strangers.
    pub text: Option<String>,
    /// Report token as received.
    pub report_token: Option<String>,
}

impl Msg {
    fn new(kind: Kind, from: usize, to: Option<usize>, day: Option<u32>) -> Msg {
        Msg {
            kind,
            from,
            to,
            day,
            attempted: false,
            refused: None,
            accepted: false,
            delivered: false,
            arrival: None,
            now: None,
            seen_in_requests: false,
            refiled: false,
            junk_by_campaign: false,
            reported: false,
            accepted_by_person: false,
            spammer: None,
            text: None,
            report_token: None,
        }
    }
}

/// Which folder a person looks into for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Message requests (looked at after a while, like any new message).
    Requests,
    /// The junk folder (looked into rarely).
    Junk,
}

/// A person or a spam account.
#[derive(Debug, Clone)]
struct Party {
    handle: String,
    first: String,
    addr: String,
    cred: Option<Cred>,
    /// Whom this party's device treats as known: address book, people it
    /// wrote to, people it accepted.
    known: HashSet<usize>,
    /// Has a delivery stream (people do, spam accounts do not read).
    streaming: bool,
    /// The language it writes in.
    lang: Lang,
}

/// When a spam account was first refused as restricted or banned.
#[derive(Debug, Clone)]
pub struct Block {
    /// `restricted` or `banned`.
    pub reason: String,
    /// Messages the server had accepted from it before.
    pub accepted_before: u64,
    /// Messages it had tried to send before.
    pub attempts_before: u64,
    /// Campaign day.
    pub day: u32,
}

/// One throwaway account of the spam operation.
#[derive(Debug, Clone)]
pub struct SpamAccount {
    party: usize,
    /// Campaign day it was registered.
    pub day: u32,
    /// The kind of spam it sends.
    pub campaign: Campaign,
    /// Its handle is an e-mail address (no phone number verified).
    pub email: bool,
    /// Messages the server accepted, by campaign day.
    pub accepted_by_day: BTreeMap<u32, u64>,
    /// Messages refused by the new-recipient cap.
    pub cap_refusals: u64,
    targets: VecDeque<String>,
    quota: f64,
    paused_until: u64,
    done: bool,
    /// Messages posted.
    pub attempts: u64,
    /// Messages the server accepted.
    pub accepted: u64,
    /// First restriction or ban.
    pub block: Option<Block>,
    follow_ups: VecDeque<usize>,
}

/// A spam registration still to be made.
#[derive(Debug, Clone)]
struct SpamSignup {
    day: u32,
    due: u64,
}

/// A send prepared for the network.
#[derive(Debug, Clone)]
struct SendJob {
    msg: usize,
    token: String,
    addr: String,
    to: String,
    device: DeviceId,
    text: String,
}

impl SendJob {
    /// Posts the message, with `m{msg}` as its idempotency id.
    async fn post(&self, net: &Net) -> Result<Answer> {
        net.send(
            &self.token,
            &self.addr,
            &format!("m{}", self.msg),
            &self.to,
            self.device,
            &self.text,
        )
        .await
    }
}

/// One spam account's work for a step.
struct SpamBatch {
    account: usize,
    strategy: SpamStrategy,
    token: String,
    addr: String,
    follow_ups: Vec<SendJob>,
    targets: Vec<String>,
    /// Reserved message slots and texts, one per target.
    slots: Vec<(usize, String)>,
}

/// What came of a spam batch.
struct SpamResult {
    account: usize,
    lookup_refusal: Option<Answer>,
    /// The refusal that made the account stop for this step.
    halted: Option<String>,
    not_found: usize,
    /// (message, recipient account, answer)
    /// Message, the recipient's handle (none for follow-ups), answer.
    attempts: Vec<(usize, Option<String>, Answer)>,
    /// Targets not tried, to try again later.
    unsent: Vec<String>,
}

/// The server of the run and its data directory.
struct LocalServer {
    url: String,
    clock: Arc<ManualClock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    dir: PathBuf,
}

impl LocalServer {
    async fn start() -> Result<LocalServer> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("tidings-spam-sim-{}-{nanos}", std::process::id()));
        let mut config = Config {
            data_dir: dir.clone(),
            // Every request says which simulated client it comes from,
            // including the reads of the carrier's inboxes, which
            // development mode otherwise refuses to proxied requests.
            dev: true,
            ..Config::default()
        };
        // Thousands of simulated people share this host; the limits below
        // protect code delivery, not against spam, and would otherwise
        // count them as one client.
        config.codes.code_sends_per_address_per_hour = 1_000_000;
        config.codes.code_checks_per_address_per_hour = 1_000_000;
        config.connections.trust_forwarded_for = true;
        let clock = Arc::new(ManualClock::new());
        let app = App::open(config, clock.clone()).context("opening the simulated server")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the simulated server")?;
        let url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            if let Err(e) = tidings_server::serve(listener, app, async {
                let _ = rx.await;
            })
            .await
            {
                eprintln!("simulated server stopped: {e}");
            }
        });
        Ok(LocalServer {
            url,
            clock,
            stop: Some(tx),
            task: Some(task),
            dir,
        })
    }

    async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The state of a run.
struct Sim {
    args: SpamSimArgs,
    rng: StdRng,
    net: Net,
    clock: Arc<ManualClock>,
    pop: population::Population,
    parties: Vec<Party>,
    by_account: HashMap<AccountId, usize>,
    /// Who holds each handle: the directory shows a stranger's account
    /// under a stand-in id, so recipients are found by handle.
    by_handle: HashMap<String, usize>,
    msgs: Vec<Msg>,
    outstanding: HashSet<usize>,
    agenda: BTreeMap<u64, Vec<(usize, Look)>>,
    in_requests: HashSet<usize>,
    /// The folder of each conversation on each device: (person, sender).
    conversations: HashMap<(usize, usize), Current>,
    campaigns: Vec<Fingerprint>,
    spam: Vec<SpamAccount>,
    signups: Vec<SpamSignup>,
    joins: BTreeMap<u64, Vec<usize>>,
    tx: mpsc::Sender<Delivery>,
    rx: mpsc::Receiver<Delivery>,
    streams: Vec<tokio::task::JoinHandle<()>>,
    tally: Tally,
    tick: u64,
    throwaways: usize,
}

/// Runs a whole simulation.
pub async fn simulate(args: &SpamSimArgs) -> Result<report::Summary> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let pop = population::build(
        &Shape {
            users: args.users,
            contacts_min: args.contacts_min,
            contacts_max: args.contacts_max,
            joiners_per_day: args.joiners_per_day,
            days: args.days,
            enumeration_hit_rate: args.enumeration_hit_rate,
        },
        &mut rng,
    );
    let mut server = LocalServer::start().await?;
    let result = async {
        let net = Net::new(&server.url)?;
        let (tx, rx) = mpsc::channel(DELIVERY_QUEUE);
        // Languages come from their own generator, so that choosing them
        // leaves the rest of a seed's run as it was.
        let mut lang_rng = StdRng::seed_from_u64(args.seed ^ LANGUAGE_SEED);
        let parties = pop
            .people
            .iter()
            .enumerate()
            .map(|(i, p)| Party {
                handle: p.handle.clone(),
                first: p.first.clone(),
                addr: p.addr.clone(),
                cred: None,
                known: p.contacts.iter().copied().filter(|&c| c != i).collect(),
                streaming: false,
                lang: args.language.pick(&mut lang_rng),
            })
            .collect();
        let mut sim = Sim {
            args: args.clone(),
            rng,
            net,
            clock: server.clock.clone(),
            pop,
            parties,
            by_account: HashMap::new(),
            by_handle: HashMap::new(),
            msgs: Vec::new(),
            outstanding: HashSet::new(),
            agenda: BTreeMap::new(),
            in_requests: HashSet::new(),
            conversations: HashMap::new(),
            campaigns: Vec::new(),
            spam: Vec::new(),
            signups: Vec::new(),
            joins: BTreeMap::new(),
            tx,
            rx,
            streams: Vec::new(),
            tally: Tally::default(),
            tick: 0,
            throwaways: 0,
        };
        sim.set_up().await?;
        sim.warm_up().await?;
        sim.campaign().await?;
        for s in sim.streams.drain(..) {
            s.abort();
        }
        Ok::<_, anyhow::Error>(sim)
    }
    .await;
    server.shut_down().await;
    let sim = result?;
    Ok(report::summarise(
        args,
        started.elapsed(),
        &sim.pop,
        &sim.msgs,
        &sim.spam,
        &sim.tally,
    ))
}

fn poisson(rng: &mut impl Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        let n: f64 = lambda + lambda.sqrt() * normal(rng);
        return n.round().max(0.0) as u32;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p: f64 = rng.random();
    while p > limit {
        k += 1;
        p *= rng.random::<f64>();
    }
    k
}

fn normal(rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.random::<f64>().max(1e-12);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    -(rng.random::<f64>().max(1e-12)).ln() * mean
}

fn in_window(minute: u64, w: (u64, u64)) -> bool {
    (w.0..w.1).contains(&minute)
}

impl Sim {
    fn tick_ms(&self) -> u64 {
        u64::from(self.args.tick_minutes) * MINUTE_MS
    }

    fn ticks_per_day(&self) -> u64 {
        DAY_MINUTES / u64::from(self.args.tick_minutes)
    }

    fn minute_of_day(&self) -> u64 {
        (self.tick % self.ticks_per_day()) * u64::from(self.args.tick_minutes)
    }

    fn day(&self) -> u32 {
        (self.tick / self.ticks_per_day()) as u32
    }

    /// Ticks per day inside a window of the day.
    fn ticks_in(&self, w: (u64, u64)) -> f64 {
        ((w.1 - w.0) / u64::from(self.args.tick_minutes)).max(1) as f64
    }

    fn new_msg(&mut self, kind: Kind, from: usize, to: Option<usize>, day: Option<u32>) -> usize {
        self.msgs.push(Msg::new(kind, from, to, day));
        self.msgs.len() - 1
    }

    /// A send from a registered party to a registered person; `None` when
    /// either is not registered.
    fn job(&mut self, kind: Kind, from: usize, to: usize, text: String) -> Option<SendJob> {
        let day = (kind != Kind::Warmup).then(|| self.day());
        let (token, addr) = {
            let p = &self.parties[from];
            (p.cred.as_ref()?.token.clone(), p.addr.clone())
        };
        let (handle, device) = {
            let c = self.parties[to].cred.as_ref()?;
            (c.handle.clone(), c.device)
        };
        let msg = self.new_msg(kind, from, Some(to), day);
        Some(SendJob {
            msg,
            token,
            addr,
            to: handle,
            device,
            text,
        })
    }

    fn register_party(&mut self, who: usize, cred: Cred, stream: bool) {
        self.by_account.insert(cred.account, who);
        self.by_handle.insert(cred.handle.clone(), who);
        if stream {
            self.streams.push(
                self.net
                    .spawn_stream(who, cred.token.clone(), self.tx.clone()),
            );
            self.parties[who].streaming = true;
        }
        self.parties[who].cred = Some(cred);
    }

    /// Registers everybody who is on Tidings before the campaign, in a
    /// random order spread evenly over [`SETUP_DAYS`].
    async fn set_up(&mut self) -> Result<()> {
        let mut order: Vec<usize> = (0..self.pop.people.len())
            .filter(|&i| self.pop.people[i].joins_on.is_none())
            .collect();
        order.shuffle(&mut self.rng);
        let per_hour = order.len().div_ceil(SETUP_DAYS * 24).max(1);
        let mut queue: VecDeque<(usize, u32)> = order.into_iter().map(|i| (i, 0)).collect();
        while !queue.is_empty() {
            let batch: Vec<(usize, u32)> = (0..per_hour).map_while(|_| queue.pop_front()).collect();
            let jobs: Vec<(usize, u32, String, String, String)> = batch
                .into_iter()
                .map(|(i, tries)| {
                    let p = &self.parties[i];
                    (i, tries, p.handle.clone(), p.first.clone(), p.addr.clone())
                })
                .collect();
            let net = self.net.clone();
            let results: Vec<_> = futures_util::stream::iter(jobs)
                .map(|(i, tries, handle, name, addr)| {
                    let net = net.clone();
                    async move { (i, tries, net.register(&handle, &name, &addr).await) }
                })
                .buffered(self.args.concurrency)
                .collect()
                .await;
            for (i, tries, r) in results {
                let (outcome, solved) = r?;
                self.tally.people_pow_solved += u64::from(solved);
                match outcome {
                    Registration::Done(cred) => {
                        self.register_party(i, cred, true);
                        self.tally.registered_before += 1;
                    }
                    Registration::Refused(e) => {
                        *self.tally.people_signup_refusals.entry(e).or_default() += 1;
                        if tries + 1 < SETUP_TRIES {
                            queue.push_back((i, tries + 1));
                        } else {
                            self.tally.people_not_registered += 1;
                        }
                    }
                }
            }
            self.clock.advance(60 * MINUTE_MS);
        }
        Ok(())
    }

    /// Contacts write to each other once each way, spread over the warm-up
    /// days, so that the server has seen every pair talk before the
    /// campaign.
    async fn warm_up(&mut self) -> Result<()> {
        let days = self.args.warmup_days.max(1) as usize;
        let mut by_day: Vec<Vec<(usize, usize)>> = vec![Vec::new(); days];
        for a in 0..self.pop.people.len() {
            for &b in &self.pop.people[a].contacts {
                if a < b && self.parties[a].cred.is_some() && self.parties[b].cred.is_some() {
                    let (x, y) = if self.rng.random_bool(0.5) {
                        (a, b)
                    } else {
                        (b, a)
                    };
                    by_day[self.rng.random_range(0..days)].push((x, y));
                }
            }
        }
        for pairs in by_day {
            for forward in [true, false] {
                let mut jobs = Vec::new();
                for &(x, y) in &pairs {
                    let (from, to) = if forward { (x, y) } else { (y, x) };
                    let text = templates::chat(
                        &mut self.rng,
                        self.parties[from].lang,
                        &self.parties[to].first.clone(),
                        &self.parties[from].first.clone(),
                    );
                    if let Some(j) = self.job(Kind::Warmup, from, to, text) {
                        jobs.push(j);
                    }
                }
                self.send_all(jobs).await?;
                self.collect().await?;
            }
            self.clock.advance(DAY_MINUTES * MINUTE_MS);
        }
        Ok(())
    }

    /// Posts sends concurrently and records what the server said.
    async fn send_all(&mut self, jobs: Vec<SendJob>) -> Result<()> {
        let net = self.net.clone();
        let results: Vec<(usize, Result<Answer>)> = futures_util::stream::iter(jobs)
            .map(|j| {
                let net = net.clone();
                async move { (j.msg, j.post(&net).await) }
            })
            .buffered(self.args.concurrency)
            .collect()
            .await;
        for (m, a) in results {
            let a = a?;
            self.record_send(m, &a);
        }
        Ok(())
    }

    fn record_send(&mut self, m: usize, a: &Answer) {
        let msg = &mut self.msgs[m];
        msg.attempted = true;
        if a.ok() {
            msg.accepted = true;
            let from = msg.from;
            if let Some(to) = msg.to {
                if self.parties[to].streaming {
                    self.outstanding.insert(m);
                }
                // The sender wrote to the recipient: known from now on.
                self.parties[from].known.insert(to);
            }
        } else {
            msg.refused = Some(a.error());
        }
    }

    /// Waits until every accepted message has reached its device, and files
    /// each one as the device does.
    async fn collect(&mut self) -> Result<()> {
        let mut arrived = Vec::new();
        while !self.outstanding.is_empty() {
            let d = match tokio::time::timeout(DELIVERY_TIMEOUT, self.rx.recv()).await {
                Ok(Some(d)) => d,
                Ok(None) => bail!("every delivery stream ended"),
                Err(_) => {
                    self.tally.undelivered += self.outstanding.len() as u64;
                    self.outstanding.clear();
                    break;
                }
            };
            let Some(m) =
                d.id.strip_prefix('m')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|&m| m < self.msgs.len())
            else {
                continue;
            };
            // A reconnect re-delivers what was not acknowledged yet.
            if self.outstanding.remove(&m) {
                arrived.push((m, d));
            }
        }
        // Streams deliver in a varying order; filing in message order
        // keeps a run reproducible.
        arrived.sort_by_key(|(m, _)| *m);
        for (m, d) in arrived {
            self.receive(m, d);
        }
        Ok(())
    }

    fn receive(&mut self, m: usize, d: Delivery) {
        let r = d.to;
        let from = self.msgs[m].from;
        if self.by_account.get(&d.from_account) != Some(&from) {
            self.tally.misattributed += 1;
        }
        let msg = &mut self.msgs[m];
        msg.delivered = true;
        if msg.kind == Kind::Warmup {
            return;
        }
        let known = self.parties[r].known.contains(&from);
        let current = self
            .conversations
            .get(&(r, from))
            .copied()
            .unwrap_or_default();
        let filing = placement(known, current, &d.text, &self.campaigns);
        self.conversations.insert(
            (r, from),
            Current {
                folder: Some(filing.folder),
                reason: filing.reason,
                restored: current.restored,
            },
        );
        let p = match filing.folder {
            Folder::Inbox => Placement::Main,
            Folder::Request => Placement::Requests,
            Folder::Junk => Placement::Junk,
        };
        let msg = &mut self.msgs[m];
        msg.junk_by_campaign = filing.reason == Some(Reason::CampaignMatch);
        msg.arrival = Some(p);
        msg.now = Some(p);
        msg.report_token = d.report_token;
        if !known {
            msg.text = Some(d.text);
        }
        match p {
            Placement::Main => {}
            Placement::Requests => {
                self.in_requests.insert(m);
                let mean = self.args.read_delay_hours;
                self.schedule(m, Look::Requests, mean);
            }
            Placement::Junk => self.maybe_look_in_junk(m),
        }
    }

    /// People rarely look into Junk: spam there is reported with
    /// `junk_report_probability`, a legitimate message is found and
    /// accepted with `rescue_probability`.
    fn maybe_look_in_junk(&mut self, m: usize) {
        let chance = if self.msgs[m].kind.is_spam() {
            self.args.junk_report_probability
        } else {
            self.args.rescue_probability
        };
        if self.rng.random_bool(chance) {
            let mean = self.args.read_delay_hours * 8.0;
            self.schedule(m, Look::Junk, mean);
        }
    }

    /// The recipient of `m` looks at it after a random delay while awake.
    fn schedule(&mut self, m: usize, look: Look, mean_hours: f64) {
        let now = self.tick * u64::from(self.args.tick_minutes);
        let mut at = now + exponential(&mut self.rng, mean_hours * 60.0).round() as u64;
        let minute = at % DAY_MINUTES;
        if minute < AWAKE.0 {
            at += AWAKE.0 - minute + exponential(&mut self.rng, 30.0) as u64;
        } else if minute >= AWAKE.1 {
            at += DAY_MINUTES - minute + AWAKE.0 + exponential(&mut self.rng, 30.0) as u64;
        }
        let tick = at
            .div_ceil(u64::from(self.args.tick_minutes))
            .max(self.tick + 1);
        self.agenda.entry(tick).or_default().push((m, look));
    }

    /// Fetches the campaign list; when it changed, devices move message
    /// requests that match a campaign to Junk.
    async fn refresh_campaigns(&mut self) -> Result<()> {
        let Some(who) = self.parties.iter().position(|p| p.streaming) else {
            return Ok(());
        };
        let token = self.parties[who]
            .cred
            .as_ref()
            .expect("streaming parties are registered")
            .token
            .clone();
        let list = self.net.campaigns(&token, &self.parties[who].addr).await?;
        if list == self.campaigns {
            return Ok(());
        }
        if self.tally.first_campaign_tick.is_none() && !list.is_empty() {
            self.tally.first_campaign_tick = Some(self.tick);
        }
        self.campaigns = list;
        self.tally.campaigns_published = self.campaigns.len() as u64;
        let mut moved = Vec::new();
        for &m in &self.in_requests {
            let text = self.msgs[m].text.as_deref().unwrap_or_default();
            let fp = Fingerprint::of(text);
            if self.campaigns.iter().any(|c| tidings_spam::matches(fp, *c)) {
                moved.push(m);
            }
        }
        for m in moved {
            self.in_requests.remove(&m);
            let msg = &mut self.msgs[m];
            msg.now = Some(Placement::Junk);
            msg.refiled = true;
            let key = (msg.to.expect("recipient"), msg.from);
            self.conversations.insert(
                key,
                Current {
                    folder: Some(Folder::Junk),
                    reason: Some(Reason::CampaignMatch),
                    restored: false,
                },
            );
            self.maybe_look_in_junk(m);
        }
        Ok(())
    }

    /// People look at what is due: report, accept, answer or ignore.
    async fn run_agenda(&mut self) -> Result<()> {
        let due: Vec<(usize, Look)> = self.agenda.remove(&self.tick).unwrap_or_default();
        let mut replies = Vec::new();
        let mut reports = Vec::new();
        let p = self.args.clone();
        for (m, look) in due {
            let msg = self.msgs[m].clone();
            let r = msg.to.expect("a delivered message has a recipient");
            if msg.reported || msg.accepted_by_person {
                continue;
            }
            match (look, msg.now) {
                (Look::Requests, Some(Placement::Requests)) => {
                    self.msgs[m].seen_in_requests = true;
                    let u: f64 = self.rng.random();
                    if msg.kind.is_spam() {
                        if u < p.report_probability {
                            reports.push(m);
                        } else if u < p.report_probability + p.accept_spam_probability {
                            self.accept(m);
                            let text =
                                templates::reply(&mut self.rng, self.parties[r].lang, "", "");
                            if let Some(j) = self.job(Kind::ToSpammer, r, msg.from, text) {
                                replies.push(j);
                            }
                            if let Some(s) = msg.spammer {
                                self.spam[s].follow_ups.push_back(r);
                            }
                        }
                    } else if u < p.misreport_probability {
                        reports.push(m);
                    } else if u < p.misreport_probability + p.accept_legit_probability {
                        self.accept(m);
                        if self.rng.random_bool(p.reply_probability) {
                            if let Some(j) = self.reply_job(r, msg.from) {
                                replies.push(j);
                            }
                        }
                    }
                }
                (Look::Junk, Some(Placement::Junk)) => {
                    if msg.kind.is_spam() {
                        reports.push(m);
                    } else {
                        self.tally.legit_rescued += 1;
                        self.accept(m);
                        if self.rng.random_bool(p.reply_probability) {
                            if let Some(j) = self.reply_job(r, msg.from) {
                                replies.push(j);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.send_reports(reports).await?;
        self.send_all(replies).await
    }

    fn reply_job(&mut self, from: usize, to: usize) -> Option<SendJob> {
        let text = templates::reply(
            &mut self.rng,
            self.parties[from].lang,
            &self.parties[to].first.clone(),
            &self.parties[from].first.clone(),
        );
        self.job(Kind::Reply, from, to, text)
    }

    /// The person accepts the conversation (from Requests, or restores it
    /// from Junk): its sender is known from now on.
    fn accept(&mut self, m: usize) {
        let msg = &mut self.msgs[m];
        msg.accepted_by_person = true;
        let restored = msg.now == Some(Placement::Junk);
        msg.now = Some(Placement::Main);
        let (r, from) = (msg.to.expect("recipient"), msg.from);
        self.in_requests.remove(&m);
        self.parties[r].known.insert(from);
        self.conversations.insert(
            (r, from),
            Current {
                folder: Some(Folder::Inbox),
                reason: None,
                restored,
            },
        );
    }

    async fn send_reports(&mut self, reports: Vec<usize>) -> Result<()> {
        let mut jobs = Vec::new();
        for m in reports {
            let msg = &mut self.msgs[m];
            msg.reported = true;
            msg.now = Some(Placement::Junk);
            self.in_requests.remove(&m);
            let msg = &self.msgs[m];
            let r = msg.to.expect("recipient");
            // Reporting blocks the sender and deletes the conversation.
            self.conversations.remove(&(r, msg.from));
            let Some(token) = msg.report_token.clone() else {
                self.tally.reports_without_token += 1;
                continue;
            };
            let share = self.rng.random_bool(self.args.share_text_probability);
            let text = share.then(|| msg.text.clone()).flatten();
            if text.is_some() {
                self.tally.reports_with_text += 1;
            }
            let cred = self.parties[r]
                .cred
                .as_ref()
                .expect("recipients are registered");
            jobs.push((
                cred.token.clone(),
                self.parties[r].addr.clone(),
                token,
                text,
            ));
        }
        let net = self.net.clone();
        let results: Vec<Result<Answer>> = futures_util::stream::iter(jobs)
            .map(|(t, addr, token, text)| {
                let net = net.clone();
                async move { net.report(&t, &addr, &token, text).await }
            })
            .buffered(self.args.concurrency)
            .collect()
            .await;
        for a in results {
            let a = a?;
            if a.ok() {
                self.tally.reports_accepted += 1;
            } else {
                *self.tally.report_refusals.entry(a.error()).or_default() += 1;
            }
        }
        Ok(())
    }

    /// The campaign, step by step.
    async fn campaign(&mut self) -> Result<()> {
        let tpd = self.ticks_per_day();
        let total = u64::from(self.args.days + self.args.tail_days) * tpd;
        // Joiners and spam sign-ups are planned up front.
        for (i, p) in self.pop.people.iter().enumerate() {
            if let Some(day) = p.joins_on {
                let minute = self.rng.random_range(CHATTING.0..CHATTING.1 - 60);
                let tick = u64::from(day) * tpd + minute / u64::from(self.args.tick_minutes);
                self.joins.entry(tick).or_default().push(i);
            }
        }
        for day in 0..self.args.days {
            for _ in 0..self.args.spam_accounts_per_day {
                let minute = self.rng.random_range(SPAM_SIGNUPS.0..SPAM_SIGNUPS.1);
                let due = u64::from(day) * tpd + minute / u64::from(self.args.tick_minutes);
                self.signups.push(SpamSignup { day, due });
            }
        }
        let refresh_every = u64::from(self.args.campaign_refresh_minutes);
        let report_every = (total / 20).max(1);
        for tick in 0..total {
            self.tick = tick;
            if tick % report_every == 0 {
                eprintln!(
                    "spam-sim: day {} {:02}:{:02}, {} spam accounts, {} messages",
                    self.day(),
                    self.minute_of_day() / 60,
                    self.minute_of_day() % 60,
                    self.spam.len(),
                    self.msgs.iter().filter(|m| m.attempted).count()
                );
            }
            let minute_abs = tick * u64::from(self.args.tick_minutes);
            if minute_abs % refresh_every < u64::from(self.args.tick_minutes) {
                self.refresh_campaigns().await?;
            }
            self.run_agenda().await?;
            self.collect().await?;
            self.join().await?;
            let jobs = self.legit_traffic();
            self.send_all(jobs).await?;
            self.spam_signups().await?;
            self.spam_step().await?;
            self.collect().await?;
            self.clock.advance(self.tick_ms());
        }
        self.collect().await
    }

    /// People whose join time has come register and greet some contacts.
    async fn join(&mut self) -> Result<()> {
        let Some(joiners) = self.joins.remove(&self.tick) else {
            return Ok(());
        };
        let mut jobs = Vec::new();
        for i in joiners {
            let p = self.parties[i].clone();
            let (outcome, solved) = self.net.register(&p.handle, &p.first, &p.addr).await?;
            self.tally.people_pow_solved += u64::from(solved);
            match outcome {
                Registration::Done(cred) => {
                    self.register_party(i, cred, true);
                    self.tally.joined += 1;
                    let mut contacts: Vec<usize> = self.pop.people[i]
                        .contacts
                        .iter()
                        .copied()
                        .filter(|&c| self.parties[c].cred.is_some())
                        .collect();
                    contacts.sort_unstable();
                    let n = self.rng.random_range(3..=8).min(contacts.len());
                    let chosen: Vec<usize> = contacts
                        .choose_multiple(&mut self.rng, n)
                        .copied()
                        .collect();
                    for c in chosen {
                        let text = templates::hello(
                            &mut self.rng,
                            self.parties[i].lang,
                            &self.parties[c].first.clone(),
                            &p.first,
                        );
                        if let Some(j) = self.job(Kind::Hello, i, c, text) {
                            jobs.push(j);
                        }
                    }
                }
                Registration::Refused(e) => {
                    *self.tally.people_signup_refusals.entry(e).or_default() += 1;
                    self.tally.people_not_registered += 1;
                }
            }
        }
        self.send_all(jobs).await
    }

    /// A stranger for `from` to write to: registered, not in their address
    /// book, and not knowing `from` yet.
    fn stranger(&mut self, from: usize, pool: Option<&[usize]>) -> Option<usize> {
        let n = self.pop.people.len();
        for _ in 0..20 {
            let r = match pool {
                Some(p) => *p.choose(&mut self.rng)?,
                None => self.rng.random_range(0..n),
            };
            if r != from
                && self.parties[r].cred.is_some()
                && !self.parties[r].known.contains(&from)
                && !self.parties[from].known.contains(&r)
            {
                return Some(r);
            }
        }
        None
    }

    /// This step's chat between contacts and legitimate first contacts.
    fn legit_traffic(&mut self) -> Vec<SendJob> {
        let minute = self.minute_of_day();
        let mut jobs = Vec::new();
        let chat_rate = self.args.messages_per_day / self.ticks_in(CHATTING);
        let work_ticks = self.ticks_in(WORKING);
        for a in 0..self.pop.people.len() {
            if self.parties[a].cred.is_none() {
                continue;
            }
            if in_window(minute, CHATTING) {
                for _ in 0..poisson(&mut self.rng, chat_rate) {
                    let contacts: Vec<usize> = self.pop.people[a]
                        .contacts
                        .iter()
                        .copied()
                        .filter(|&c| self.parties[c].cred.is_some())
                        .collect();
                    let Some(&to) = contacts.choose(&mut self.rng) else {
                        break;
                    };
                    let text = templates::chat(
                        &mut self.rng,
                        self.parties[a].lang,
                        &self.parties[to].first.clone(),
                        &self.parties[a].first.clone(),
                    );
                    jobs.extend(self.job(Kind::Contact, a, to, text));
                }
            }
            if !in_window(minute, WORKING) {
                continue;
            }
            let (kind, rate) = match self.pop.people[a].role {
                Role::Driver => (FirstKind::Driver, self.args.driver_messages_per_day),
                Role::Office => (FirstKind::Office, self.args.office_messages_per_day),
                Role::Person => (FirstKind::Colleague, 0.0),
            };
            for _ in 0..poisson(&mut self.rng, rate / work_ticks) {
                if let Some(to) = self.stranger(a, None) {
                    let (them, me) = (
                        self.parties[to].first.clone(),
                        self.parties[a].first.clone(),
                    );
                    let lang = self.parties[a].lang;
                    let text = match kind {
                        FirstKind::Driver => templates::driver(&mut self.rng, lang, &them, &me),
                        _ => templates::office(&mut self.rng, lang, &them, &me),
                    };
                    jobs.extend(self.job(Kind::First(kind), a, to, text));
                }
            }
            if self
                .rng
                .random_bool((self.args.colleague_intro_rate / work_ticks).min(1.0))
            {
                let own = self.pop.people[a].workplace;
                let other = self.rng.random_range(0..self.pop.workplaces.len());
                if other != own {
                    let pool = self.pop.workplaces[other].clone();
                    for _ in 0..self.rng.random_range(1..=3) {
                        if let Some(to) = self.stranger(a, Some(&pool)) {
                            let (them, me) = (
                                self.parties[to].first.clone(),
                                self.parties[a].first.clone(),
                            );
                            let lang = self.parties[a].lang;
                            let text = templates::colleague(&mut self.rng, lang, &them, &me);
                            jobs.extend(self.job(Kind::First(FirstKind::Colleague), a, to, text));
                        }
                    }
                }
            }
        }
        jobs
    }

    fn throwaway_handle(&mut self) -> String {
        let k = self.throwaways;
        self.throwaways += 1;
        if !self.rng.random_bool(self.args.spam_email_share) {
            format!(
                "+1332{:07}",
                5_000_000 + k * 7 + self.rng.random_range(0..7)
            )
        } else {
            let word: String = (0..6)
                .map(|_| (b'a' + self.rng.random_range(0..26)) as char)
                .collect();
            let domain = THROWAWAY_DOMAINS.choose(&mut self.rng).expect("domains");
            format!("{word}{k}@{domain}")
        }
    }

    fn spam_addr(&mut self, range: usize) -> String {
        let prefix = match SPAM_PREFIXES.get(range) {
            Some(p) => (*p).to_string(),
            None => format!("100.65.{}", range % 250),
        };
        format!("{prefix}.{}", self.rng.random_range(2..=254))
    }

    /// The spam operation registers the accounts that are due, trying each
    /// of its ranges in turn; refused sign-ups are tried again next step
    /// until the day is over.
    async fn spam_signups(&mut self) -> Result<()> {
        let tick = self.tick;
        let tpd = self.ticks_per_day();
        let (due, later): (Vec<SpamSignup>, Vec<SpamSignup>) =
            self.signups.drain(..).partition(|s| s.due <= tick);
        self.signups = later;
        if due.is_empty() {
            return Ok(());
        }
        let ranges = self.args.spam_ranges;
        let mut jobs = Vec::new();
        for s in due {
            let handle = self.throwaway_handle();
            let start = self.rng.random_range(0..ranges);
            let addrs: Vec<String> = (0..ranges)
                .map(|k| self.spam_addr((start + k) % ranges))
                .collect();
            jobs.push((s, handle, addrs));
        }
        let net = self.net.clone();
        let results: Vec<_> = futures_util::stream::iter(jobs)
            .map(|(s, handle, addrs)| {
                let net = net.clone();
                async move {
                    let mut refusals = Vec::new();
                    let mut solved = 0;
                    for addr in addrs {
                        let (r, n) = net.register(&handle, "Support", &addr).await?;
                        solved += n;
                        match r {
                            Registration::Done(cred) => {
                                return Ok::<_, anyhow::Error>((
                                    s,
                                    Some((cred, addr)),
                                    refusals,
                                    solved,
                                ))
                            }
                            Registration::Refused(e) => refusals.push(e),
                        }
                    }
                    Ok((s, None, refusals, solved))
                }
            })
            .buffered(self.args.concurrency)
            .collect()
            .await;
        for r in results {
            let (s, done, refusals, solved) = r?;
            self.tally.spam_signup_attempts += 1 + refusals.len() as u64;
            self.tally.spam_pow_solved += u64::from(solved);
            for e in refusals {
                *self.tally.spam_signup_refusals.entry(e).or_default() += 1;
            }
            match done {
                Some((cred, addr)) => self.new_spam_account(s.day, cred, addr),
                None if tick + 1 < u64::from(s.day + 1) * tpd => self.signups.push(SpamSignup {
                    day: s.day,
                    due: tick + 1,
                }),
                None => self.tally.spam_signups_abandoned += 1,
            }
        }
        Ok(())
    }

    fn new_spam_account(&mut self, day: u32, cred: Cred, addr: String) {
        let party = self.parties.len();
        let lang = self.args.language.pick(&mut self.rng);
        self.parties.push(Party {
            handle: cred.handle.clone(),
            first: String::new(),
            addr,
            cred: None,
            known: HashSet::new(),
            streaming: false,
            lang,
        });
        self.register_party(party, cred, false);
        let n = self.args.spam_targets_per_account;
        let phones = ((n as f64) * PHONE_SHARE).round() as usize;
        let block = &self.pop.number_block;
        let list = &self.pop.address_list;
        let start = self.rng.random_range(0..block.len());
        let mut phone_targets: VecDeque<String> = (0..phones.min(block.len()))
            .map(|k| block[(start + k) % block.len()].clone())
            .collect();
        let start = self.rng.random_range(0..list.len().max(1));
        let mut mail_targets: VecDeque<String> = (0..(n - phones).min(list.len()))
            .map(|k| list[(start + k) % list.len()].clone())
            .collect();
        let mut targets = VecDeque::with_capacity(n);
        while !phone_targets.is_empty() || !mail_targets.is_empty() {
            let take_phone = !phone_targets.is_empty()
                && (mail_targets.is_empty() || self.rng.random_bool(PHONE_SHARE));
            let next = if take_phone {
                phone_targets.pop_front()
            } else {
                mail_targets.pop_front()
            };
            targets.extend(next);
        }
        let campaign = *templates::campaigns(lang)
            .choose(&mut self.rng)
            .expect("campaigns");
        let email = self.parties[party].handle.contains('@');
        self.spam.push(SpamAccount {
            party,
            day,
            campaign,
            email,
            accepted_by_day: BTreeMap::new(),
            cap_refusals: 0,
            targets,
            quota: 0.0,
            paused_until: 0,
            done: false,
            attempts: 0,
            accepted: 0,
            block: None,
            follow_ups: VecDeque::new(),
        });
    }

    /// Every working spam account sends its share for this step.
    async fn spam_step(&mut self) -> Result<()> {
        let minute = self.minute_of_day();
        if !in_window(minute, SPAMMING) {
            return Ok(());
        }
        let per_tick =
            f64::from(self.args.spam_per_hour) * f64::from(self.args.tick_minutes) / 60.0;
        let day = self.day();
        let mut batches = Vec::new();
        for s in 0..self.spam.len() {
            if self.spam[s].paused_until > self.tick {
                continue;
            }
            let party = self.spam[s].party;
            let cred = self.parties[party]
                .cred
                .clone()
                .expect("spam accounts are registered");
            let addr = self.parties[party].addr.clone();
            let campaign = self.spam[s].campaign;
            let mut follow_ups = Vec::new();
            while let Some(r) = self.spam[s].follow_ups.pop_front() {
                let text = templates::spam_follow_up(&mut self.rng, campaign);
                if let Some(j) = self.job(Kind::FollowUp, party, r, text) {
                    self.msgs[j.msg].spammer = Some(s);
                    follow_ups.push(j);
                }
            }
            let mut targets = Vec::new();
            if !self.spam[s].done {
                let acct = &mut self.spam[s];
                acct.quota += per_tick;
                let n = acct.quota.floor() as usize;
                acct.quota -= n as f64;
                for _ in 0..n {
                    match acct.targets.pop_front() {
                        Some(t) => targets.push(t),
                        None => {
                            acct.done = true;
                            break;
                        }
                    }
                }
            }
            if follow_ups.is_empty() && targets.is_empty() {
                continue;
            }
            let mut slots = Vec::with_capacity(targets.len());
            for _ in &targets {
                let name = *templates::FIRST_NAMES.choose(&mut self.rng).expect("names");
                let text = templates::spam(&mut self.rng, campaign, name);
                let m = self.new_msg(Kind::Spam, party, None, Some(day));
                self.msgs[m].spammer = Some(s);
                slots.push((m, text));
            }
            batches.push(SpamBatch {
                account: s,
                strategy: self.args.spam_strategy,
                token: cred.token,
                addr,
                follow_ups,
                targets,
                slots,
            });
        }
        let net = self.net.clone();
        let results: Vec<Result<SpamResult>> = futures_util::stream::iter(batches)
            .map(|b| {
                let net = net.clone();
                async move { spam_batch(&net, b).await }
            })
            .buffered(self.args.concurrency)
            .collect()
            .await;
        for r in results {
            self.apply_spam(r?);
        }
        Ok(())
    }

    fn apply_spam(&mut self, r: SpamResult) {
        let s = r.account;
        let tpd = self.ticks_per_day();
        self.tally.spam_not_registered += r.not_found as u64;
        if let Some(a) = &r.lookup_refusal {
            *self
                .tally
                .spam_lookup_refusals
                .entry(a.error())
                .or_default() += 1;
        }
        let today = self.day();
        for (m, handle, a) in &r.attempts {
            let to = handle.as_ref().and_then(|h| self.by_handle.get(h).copied());
            if self.msgs[*m].to.is_none() {
                self.msgs[*m].to = to;
            }
            self.record_send(*m, a);
            let acct = &mut self.spam[s];
            acct.attempts += 1;
            if a.ok() {
                acct.accepted += 1;
                *acct.accepted_by_day.entry(today).or_default() += 1;
                continue;
            }
            let e = a.error();
            if e == "new_recipient_cap" {
                acct.cap_refusals += 1;
            }
            if (e == "restricted" || e == "banned") && acct.block.is_none() {
                acct.block = Some(Block {
                    reason: e.clone(),
                    accepted_before: acct.accepted,
                    attempts_before: acct.attempts - 1,
                    day: today,
                });
            }
        }
        // Follow-ups went out before the lookup that was refused.
        if let Some(e) = r
            .halted
            .as_deref()
            .filter(|e| *e == "restricted" || *e == "banned")
        {
            let acct = &mut self.spam[s];
            if r.lookup_refusal.is_some() && acct.block.is_none() {
                acct.block = Some(Block {
                    reason: e.to_string(),
                    accepted_before: acct.accepted,
                    attempts_before: acct.attempts,
                    day: today,
                });
            }
        }
        let acct = &mut self.spam[s];
        match r.halted.as_deref() {
            Some("restricted") | Some("banned") => match self.args.spam_strategy {
                SpamStrategy::Adaptive => acct.done = true,
                // The tool goes on with the next targets; those it could
                // not even look up are lost to it.
                SpamStrategy::Persistent => {
                    self.tally.spam_targets_dropped += r.unsent.len() as u64;
                }
            },
            Some("new_recipient_cap") => {
                let next_morning =
                    (self.tick / tpd + 1) * tpd + SPAMMING.0 / u64::from(self.args.tick_minutes);
                acct.paused_until = next_morning;
                for t in r.unsent.into_iter().rev() {
                    acct.targets.push_front(t);
                }
            }
            Some(_) => {
                acct.paused_until = self.tick + 1;
                for t in r.unsent.into_iter().rev() {
                    acct.targets.push_front(t);
                }
            }
            None => {}
        }
    }
}

/// One spam account's step, in order: follow-ups to people who answered,
/// a directory lookup of the next targets, then one message per found
/// target until a refusal makes it stop (see [`SpamStrategy`]).
async fn spam_batch(net: &Net, b: SpamBatch) -> Result<SpamResult> {
    let mut out = SpamResult {
        account: b.account,
        lookup_refusal: None,
        halted: None,
        not_found: 0,
        attempts: Vec::new(),
        unsent: Vec::new(),
    };
    for j in &b.follow_ups {
        let a = j.post(net).await?;
        out.attempts.push((j.msg, None, a));
    }
    if b.targets.is_empty() {
        return Ok(out);
    }
    let found = match net.lookup(&b.token, &b.addr, &b.targets).await? {
        Ok(found) => found,
        Err(a) => {
            out.halted = Some(a.error());
            out.lookup_refusal = Some(a);
            out.unsent = b.targets;
            return Ok(out);
        }
    };
    out.not_found = found.not_found.len();
    let entries: HashMap<String, DeviceId> = found
        .found
        .iter()
        .filter_map(|e| Some((e.handle.as_str().to_string(), *e.devices.first()?)))
        .collect();
    let mut pending: VecDeque<(String, (usize, String))> = b
        .targets
        .into_iter()
        .zip(b.slots)
        .filter(|(t, _)| entries.contains_key(t))
        .collect();
    while let Some((target, (m, text))) = pending.pop_front() {
        let device = entries[&target];
        let a = net
            .send(&b.token, &b.addr, &format!("m{m}"), &target, device, &text)
            .await?;
        let halts = b.strategy.halts_on(&a);
        if halts {
            out.halted = Some(a.error());
        }
        out.attempts.push((m, Some(target.clone()), a));
        if halts {
            out.unsent.push(target);
            out.unsent.extend(pending.into_iter().map(|(t, _)| t));
            break;
        }
    }
    Ok(out)
}
