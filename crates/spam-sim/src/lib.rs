//! `tidings-spam-sim`: measures the spam defence end to end.
//!
//! A real server runs in this process on a manual clock and is driven over
//! its real HTTP API and delivery stream, so every server limit applies as
//! it would in production. A population with a clustered contact graph
//! chats, couriers, doctors' offices and new colleagues make legitimate
//! first contacts, and a spam operation registers throwaway accounts from a
//! few address ranges every day and messages enumerated numbers and
//! addresses with texts that vary per message. Each received message is
//! filed the way the client files it (main inbox, Requests, Junk), people
//! report some of what they see, and the run counts what got through.
//!
//! Only limits unrelated to spam are relaxed for the run (code requests
//! and checks per address, since thousands of simulated people share one
//! host); every spam-defence setting keeps its default.

mod engine;
mod net;
mod plot;
mod population;
mod report;
mod templates;
mod templates_zh;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tidings_client::client::requests::CAMPAIGN_REFRESH_SECS;

pub use report::Summary;

/// Parameters of `tidings-spam-sim`; the defaults are the campaign the
/// README reports.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct SpamSimArgs {
    /// People in the population (those joining during the campaign
    /// included).
    #[arg(long, default_value_t = 2000)]
    pub users: usize,
    /// Days the spam operation registers accounts.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Extra days after the campaign during which its accounts keep
    /// sending and people keep reading and reporting.
    #[arg(long, default_value_t = 1)]
    pub tail_days: u32,
    /// Languages of the population and the campaigns: everyone writes
    /// English or Chinese, or (`mixed`) each person and each spam account
    /// one of the two at random, half and half.
    #[arg(long, value_enum, default_value_t = Languages::Mixed)]
    pub language: Languages,
    /// Throwaway accounts the spam operation registers per day.
    #[arg(long, default_value_t = 50)]
    pub spam_accounts_per_day: usize,
    /// Share of those accounts registered with an e-mail address (free to
    /// make by the batch) rather than a phone number.
    #[arg(long, default_value_t = 0.75)]
    pub spam_email_share: f64,
    /// Enumerated numbers and addresses each spam account tries to message.
    #[arg(long, default_value_t = 300)]
    pub spam_targets_per_account: usize,
    /// Address ranges (/24) the spam operation registers and sends from.
    #[arg(long, default_value_t = 3)]
    pub spam_ranges: usize,
    /// How spam accounts react to refusals.
    #[arg(long, value_enum, default_value_t = SpamStrategy::Persistent)]
    pub spam_strategy: SpamStrategy,
    /// Messages a spam account sends per hour while it works (08:00-21:00).
    #[arg(long, default_value_t = 40)]
    pub spam_per_hour: u32,
    /// Share of enumerated numbers and addresses that belong to somebody
    /// on the server.
    #[arg(long, default_value_t = 0.8)]
    pub enumeration_hit_rate: f64,
    /// Fewest contacts per person.
    #[arg(long, default_value_t = 10)]
    pub contacts_min: usize,
    /// Most contacts per person.
    #[arg(long, default_value_t = 40)]
    pub contacts_max: usize,
    /// Messages a person sends to contacts per day (08:00-22:00).
    #[arg(long, default_value_t = 6.0)]
    pub messages_per_day: f64,
    /// First contacts a courier sends per working day (1% of people are
    /// couriers).
    #[arg(long, default_value_t = 12.0)]
    pub driver_messages_per_day: f64,
    /// First contacts a doctor's office sends per working day (0.5% of
    /// people run one).
    #[arg(long, default_value_t = 8.0)]
    pub office_messages_per_day: f64,
    /// Chance per person and day of introducing themself to 1-3 new
    /// colleagues in another team.
    #[arg(long, default_value_t = 0.01)]
    pub colleague_intro_rate: f64,
    /// People joining Tidings per campaign day, who then write to people
    /// in their address book.
    #[arg(long, default_value_t = 5)]
    pub joiners_per_day: usize,
    /// Chance that a person who looks at a spam message request reports it
    /// as junk.
    #[arg(long, default_value_t = 0.3)]
    pub report_probability: f64,
    /// Chance that a report shares the message text (which lets the server
    /// recognise the campaign).
    #[arg(long, default_value_t = 0.5)]
    pub share_text_probability: f64,
    /// Chance that spam filed in Junk is looked at and reported there.
    #[arg(long, default_value_t = 0.05)]
    pub junk_report_probability: f64,
    /// Chance that a person accepts a spam message request and answers it.
    #[arg(long, default_value_t = 0.005)]
    pub accept_spam_probability: f64,
    /// Chance that a person reports a legitimate first contact as junk.
    #[arg(long, default_value_t = 0.01)]
    pub misreport_probability: f64,
    /// Chance that a person accepts a legitimate first contact.
    #[arg(long, default_value_t = 0.9)]
    pub accept_legit_probability: f64,
    /// Chance that a person who accepted a first contact answers it.
    #[arg(long, default_value_t = 0.5)]
    pub reply_probability: f64,
    /// Chance that a person finds a legitimate first contact in Junk and
    /// accepts it.
    #[arg(long, default_value_t = 0.2)]
    pub rescue_probability: f64,
    /// Mean hours (while awake, 07:00-23:00) before a person looks at a new
    /// message request.
    #[arg(long, default_value_t = 3.0)]
    pub read_delay_hours: f64,
    /// Days of ordinary traffic before the campaign, so that contacts have
    /// written to each other and accounts have an age.
    #[arg(long, default_value_t = 14)]
    pub warmup_days: u32,
    /// Simulated minutes per step.
    #[arg(long, default_value_t = 10)]
    pub tick_minutes: u32,
    /// Minutes between fetches of the campaign list by devices (the
    /// client's `CAMPAIGN_REFRESH_SECS`).
    #[arg(long, default_value_t = (CAMPAIGN_REFRESH_SECS / 60) as u32)]
    pub campaign_refresh_minutes: u32,
    /// Random seed: the same seed and parameters give the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Where to write the plot (SVG).
    #[arg(long, default_value = "spam-sim.svg")]
    pub plot: PathBuf,
}

/// Which languages a run speaks.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Languages {
    /// English only.
    En,
    /// Chinese only.
    Zh,
    /// Both, half and half.
    Mixed,
}

impl Languages {
    /// The language of one more person or spam account.
    pub fn pick(self, rng: &mut impl rand::Rng) -> templates::Lang {
        match self {
            Languages::En => templates::Lang::En,
            Languages::Zh => templates::Lang::Zh,
            Languages::Mixed if rng.random_bool(0.5) => templates::Lang::Zh,
            Languages::Mixed => templates::Lang::En,
        }
    }
}

/// What a spam account does when the server refuses a message.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpamStrategy {
    /// A bulk-sending tool: tries every target on its list once at its
    /// pace whatever the server answers, and only waits when told to retry
    /// later by a rate limit.
    Persistent,
    /// A careful operator: also waits out the new-recipient cap until the
    /// next morning, and abandons an account once it is restricted or
    /// banned.
    Adaptive,
}

impl SpamStrategy {
    /// Whether this refusal makes the account stop sending for the step.
    pub fn halts_on(self, a: &net::Answer) -> bool {
        if a.ok() || a.status == 404 {
            return false;
        }
        match self {
            SpamStrategy::Adaptive => true,
            SpamStrategy::Persistent => a.status == 429 && a.error() != "new_recipient_cap",
        }
    }
}

impl SpamSimArgs {
    fn validate(&self) -> Result<()> {
        if self.users < 50 {
            bail!("--users must be at least 50");
        }
        if self.days == 0 {
            bail!("--days must be at least 1");
        }
        if self.contacts_min == 0 || self.contacts_min > self.contacts_max {
            bail!("--contacts-min must be between 1 and --contacts-max");
        }
        if self.tick_minutes == 0 || self.tick_minutes > 60 || 1440 % self.tick_minutes != 0 {
            bail!("--tick-minutes must divide a day and be at most 60");
        }
        if self.campaign_refresh_minutes == 0 {
            bail!("--campaign-refresh-minutes must be positive");
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be positive");
        }
        if !(0.05..=1.0).contains(&self.enumeration_hit_rate) {
            bail!("--enumeration-hit-rate must be between 0.05 and 1");
        }
        if self.spam_ranges == 0 {
            bail!("--spam-ranges must be at least 1");
        }
        if self.joiners_per_day * self.days as usize > self.users / 4 {
            bail!("--joiners-per-day times --days must stay below a quarter of --users");
        }
        let probabilities = [
            ("report-probability", self.report_probability),
            ("share-text-probability", self.share_text_probability),
            ("junk-report-probability", self.junk_report_probability),
            ("accept-spam-probability", self.accept_spam_probability),
            ("misreport-probability", self.misreport_probability),
            ("accept-legit-probability", self.accept_legit_probability),
            ("reply-probability", self.reply_probability),
            ("rescue-probability", self.rescue_probability),
            ("colleague-intro-rate", self.colleague_intro_rate),
            ("spam-email-share", self.spam_email_share),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                bail!("--{name} must be between 0 and 1");
            }
        }
        if self.misreport_probability + self.accept_legit_probability > 1.0
            || self.report_probability + self.accept_spam_probability > 1.0
        {
            bail!("the chances of reporting and accepting one message add up to more than 1");
        }
        for (name, v) in [
            ("messages-per-day", self.messages_per_day),
            ("driver-messages-per-day", self.driver_messages_per_day),
            ("office-messages-per-day", self.office_messages_per_day),
            ("read-delay-hours", self.read_delay_hours),
        ] {
            if !(0.0..=1000.0).contains(&v) {
                bail!("--{name} must be between 0 and 1000");
            }
        }
        Ok(())
    }
}

/// Runs the simulation and returns its figures without printing them
/// (the plot is not written either).
pub async fn simulate(args: &SpamSimArgs) -> Result<Summary> {
    args.validate()?;
    engine::simulate(args).await
}

/// `tidings-spam-sim`: runs the simulation, writes the plot, and prints the
/// table (or the JSON summary with `json`). Missed targets are reported,
/// not turned into an error: the caller (or a test) decides.
pub async fn run(args: &SpamSimArgs, json: bool) -> Result<()> {
    let summary = simulate(args).await?;
    std::fs::write(&args.plot, plot::svg(&summary))
        .with_context(|| format!("writing the plot to {}", args.plot.display()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).context("summary as JSON")?
        );
    } else {
        print!("{}", report::table(&summary));
        println!("plot written to {}", args.plot.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Harness {
        #[command(flatten)]
        args: SpamSimArgs,
    }

    /// Parameters of a run small enough for a unit test.
    fn tiny(extra: &[&str]) -> SpamSimArgs {
        let mut argv = vec![
            "spam-sim",
            "--users",
            "120",
            "--days",
            "1",
            "--tail-days",
            "0",
            "--spam-accounts-per-day",
            "4",
            "--spam-targets-per-account",
            "40",
            "--warmup-days",
            "2",
            "--joiners-per-day",
            "2",
            "--tick-minutes",
            "30",
        ];
        argv.extend_from_slice(extra);
        Harness::parse_from(argv).args
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tiny_run_counts_every_message() {
        let s = simulate(&tiny(&[])).await.expect("the run completes");
        eprintln!("{}", report::table(&s));
        assert_eq!(s.misattributed_deliveries, 0);
        assert!(s.legit.warmup_sent > 0 && s.legit.between_contacts_sent > 0);
        assert_eq!(s.spam_accounts.registered, 4, "{:?}", s.spam_accounts);
        assert!(s.spam.sent > 0);
        assert_eq!(
            s.spam.sent,
            s.spam.refused
                + s.spam.undelivered
                + s.spam.main_inbox
                + s.spam.requests_visible
                + s.spam.junk
        );
        let svg = plot::svg(&s);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn bad_parameters_are_explained() {
        let mut a = tiny(&[]);
        assert!(a.validate().is_ok());
        a.tick_minutes = 7;
        assert!(a.validate().is_err());
        let mut a = tiny(&["--report-probability", "1.5"]);
        assert!(a.validate().is_err());
        a.report_probability = 0.3;
        a.users = 10;
        assert!(a.validate().is_err());
    }
}
