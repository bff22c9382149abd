//! `tidings admin`: the operator's view of the spam defence.
//!
//! It works on the server's data directory directly (the database is
//! SQLite in WAL mode, so it runs beside a live server): whoever can read
//! that directory is the operator, and no admin endpoint is exposed on the
//! network.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::Value;
use tidings_proto::Handle;
use tidings_server::store::abuse::{AdminCommand, SETTINGS};
use tidings_server::{Config, SqlStore, Store};

/// Where the server's data lives.
#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    /// Data directory of the server [default: the config's, ./tidings-data].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The server's TOML configuration file (for its thresholds).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: AdminAction,
}

/// `tidings admin ...`.
#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Accounts that are restricted, banned or reported, with the evidence.
    Flagged {
        /// Most accounts listed.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One account (id or handle): standing, evidence, cluster, action log.
    Show {
        /// Account id or handle.
        account: String,
    },
    /// Ban an account (all sends refused, waiting messages withdrawn).
    Ban {
        /// Account id or handle.
        account: String,
        /// Why (logged).
        #[arg(long)]
        reason: String,
        /// Ban its whole cluster.
        #[arg(long)]
        cluster: bool,
    },
    /// Restrict an account to people who wrote to it first.
    Restrict {
        /// Account id or handle.
        account: String,
        /// Why (logged and shown to the user).
        #[arg(long)]
        reason: String,
        /// Restrict its whole cluster.
        #[arg(long)]
        cluster: bool,
    },
    /// Lift a ban or restriction (an accepted appeal).
    Unban {
        /// Account id or handle.
        account: String,
        /// Why (logged).
        #[arg(long)]
        reason: String,
        /// Lift it for the whole cluster.
        #[arg(long)]
        cluster: bool,
    },
    /// The thresholds in force.
    Settings,
    /// Tune a threshold (takes effect at once, also in a running server).
    Set {
        /// Which one (see `tidings admin settings`).
        key: String,
        /// The new value.
        value: u64,
    },
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn account_id(store: &SqlStore, config: &Config, text: &str) -> Result<i64> {
    if let Ok(id) = text.parse::<i64>() {
        return Ok(id);
    }
    let handle = Handle::parse(text, &config.default_region)
        .with_context(|| format!("{text} is neither an account id nor a handle"))?;
    match store.lookup(std::slice::from_ref(&handle)).await?.first() {
        Some(Some((account, _))) => Ok(account.as_i64()),
        _ => bail!("{handle} belongs to no account"),
    }
}

/// Runs an admin command; prints a table, or JSON with `--json`.
pub async fn run(args: &AdminArgs, json: bool) -> Result<()> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(d) = &args.data {
        config.data_dir = d.clone();
    }
    let store = if config.storage.database_url.is_empty() {
        let path = config.data_dir.join(tidings_server::DATABASE_FILE);
        if !path.exists() {
            bail!(
                "no Tidings database at {}; pass --data with the server's data directory (or set database_url for PostgreSQL)",
                path.display()
            );
        }
        SqlStore::open(&path, config.storage.max_batch)?
    } else {
        SqlStore::open_postgres(&config.storage.database_url, config.storage.max_batch)?
    };
    let standing = |account: i64, state: Option<&str>, reason: &str, cluster: bool| {
        AdminCommand::SetStanding {
            account,
            state: state.map(str::to_string),
            reason: reason.to_string(),
            cluster,
        }
    };
    let command = match &args.action {
        AdminAction::Flagged { limit } => AdminCommand::Flagged { limit: *limit },
        AdminAction::Show { account } => AdminCommand::Show {
            account: account_id(&store, &config, account).await?,
        },
        AdminAction::Ban {
            account,
            reason,
            cluster,
        } => standing(
            account_id(&store, &config, account).await?,
            Some("banned"),
            reason,
            *cluster,
        ),
        AdminAction::Restrict {
            account,
            reason,
            cluster,
        } => standing(
            account_id(&store, &config, account).await?,
            Some("restricted"),
            reason,
            *cluster,
        ),
        AdminAction::Unban {
            account,
            reason,
            cluster,
        } => standing(
            account_id(&store, &config, account).await?,
            None,
            reason,
            *cluster,
        ),
        AdminAction::Settings => AdminCommand::Settings,
        AdminAction::Set { key, value } => AdminCommand::Set {
            key: key.clone(),
            value: *value,
        },
    };
    let answer = store.admin(command, config.spam_policy(), now_ms()).await?;
    if json {
        println!("{answer}");
        return Ok(());
    }
    print_table(&args.action, &answer);
    Ok(())
}

fn print_table(action: &AdminAction, answer: &Value) {
    match action {
        AdminAction::Flagged { .. } => {
            let rows = answer.as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                println!("no flagged accounts");
                return;
            }
            println!(
                "{:>8}  {:<10}  {:>5}  {:>6}  {:>8}  {:>7}  {:<18}  cluster",
                "account", "standing", "junk", "blocks", "contacts", "replies", "source"
            );
            for r in rows {
                let cluster = r["cluster"].as_array().map_or(0, Vec::len);
                println!(
                    "{:>8}  {:<10}  {:>5}  {:>6}  {:>8}  {:>7}  {:<18}  {cluster} accounts",
                    r["account"],
                    r["state"].as_str().unwrap_or(""),
                    r["junk_reports"],
                    r["blocks"],
                    r["first_contacts"],
                    r["replies"],
                    r["source"].as_str().unwrap_or(""),
                );
            }
        }
        AdminAction::Settings | AdminAction::Set { .. } => {
            for (key, what) in SETTINGS {
                println!("{key:<32} {:>10}  {what}", answer[*key]);
            }
        }
        AdminAction::Show { .. } => {
            println!(
                "account {}: {}",
                answer["account"],
                answer["standing"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("in good standing")
            );
            if let Some(reason) = answer["reason"].as_str().filter(|r| !r.is_empty()) {
                println!("reason: {reason}");
            }
            println!("cluster: {}", answer["cluster"]);
            for a in answer["actions"].as_array().cloned().unwrap_or_default() {
                println!(
                    "  {} {} by {}: {}",
                    crate::output::time(a["at"].as_u64().unwrap_or(0)),
                    a["action"].as_str().unwrap_or(""),
                    a["actor"].as_str().unwrap_or(""),
                    a["reason"].as_str().unwrap_or("")
                );
            }
        }
        AdminAction::Ban { .. } | AdminAction::Restrict { .. } | AdminAction::Unban { .. } => {
            println!(
                "accounts {} now: {}",
                answer["accounts"],
                answer["standing"].as_str().unwrap_or("in good standing")
            );
        }
    }
}
