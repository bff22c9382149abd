//! The `tidings` binary: `tidings serve` runs the server; every other
//! subcommand is the client. This file only parses flags, calls the
//! libraries and prints.

mod admin;
mod bench;
mod chat;
mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tidings: messages that are never lost, spam that does not get through,
/// and a server anybody can run.
#[derive(Parser, Debug)]
#[command(name = "tidings", version, about)]
pub struct Cli {
    /// Server URL [default: the profile's server, else http://127.0.0.1:7878].
    #[arg(long, global = true, env = "TIDINGS_SERVER")]
    server: Option<String>,
    /// Profile directory (device credentials and local messages).
    #[arg(long, global = true, env = "TIDINGS_PROFILE")]
    profile: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on [default: 127.0.0.1:7878].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Data directory [default: ./tidings-data].
        #[arg(long)]
        data: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// PostgreSQL instead of the embedded SQLite file:
        /// postgres://user:password@host:port/database (database_url,
        /// TIDINGS_DATABASE_URL).
        #[arg(long)]
        database: Option<String>,
        /// Development mode on a non-loopback address: serve the simulated
        /// carrier and mail outbox at /carrier, where anyone who reaches the
        /// server can read every code (same as dev = true, TIDINGS_DEV=1).
        #[arg(long)]
        dev: bool,
    },
    /// Create an account, proving a phone number or e-mail address by code.
    Register {
        /// The handle to prove.
        #[command(flatten)]
        handle: HandleArg,
        /// Your display name.
        #[arg(long)]
        name: Option<String>,
        /// The code you received (without it, a code is sent).
        #[arg(long)]
        code: Option<String>,
        /// This device's name, shown in device lists and to your other
        /// devices [default: the host's name].
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Add this profile as a new device of an existing account.
    Login {
        /// The handle to prove.
        #[command(flatten)]
        handle: HandleArg,
        /// The code you received (without it, a code is sent).
        #[arg(long)]
        code: Option<String>,
        /// This device's name, shown in device lists and to your other
        /// devices, who are told a device of that name signed in
        /// [default: the host's name].
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Send a message: one handle for a direct chat, several for a group.
    Send {
        /// Recipients (phone numbers, e-mail addresses, contact names, a
        /// group's name or group:ID), then the text. Your own handle is a
        /// note to self.
        #[arg(required = true, num_args = 1..)]
        args: Vec<String>,
        /// The text, when it should not be read from the last argument
        /// (for a text that looks like a phone number or an address).
        #[arg(long, short = 'm')]
        message: Option<String>,
        /// Reply to a message (its id, or the start of it, as `show`
        /// prints it).
        #[arg(long, value_name = "ID")]
        reply: Option<String>,
        /// Send even though a verified contact's devices changed.
        #[arg(long)]
        confirm: bool,
        /// Attach a photo, video or any file (repeat for several).
        #[arg(long = "attach", value_name = "FILE")]
        attach: Vec<PathBuf>,
        /// Agree that attachments to recipients not on Tidings go as
        /// download links in the SMS, readable by the server until the
        /// links expire.
        #[arg(long)]
        sms_link: bool,
    },
    /// Show the safety number with a contact (the same on both sides).
    Verify {
        /// The contact's handle.
        handle: String,
        /// Record the number as verified (after comparing it in person).
        #[arg(long)]
        mark: bool,
    },
    /// Receive new messages and receipts.
    Sync {
        /// Keep listening this many seconds after catching up.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Also print each delivery to each device (quiet by default).
        #[arg(long, short)]
        verbose: bool,
    },
    /// List conversations (message requests and junk are counted at the
    /// end; `--json` lists them too, with their `state`).
    Chats {
        /// List the archived conversations instead.
        #[arg(long)]
        archived: bool,
        /// Mute, archive, pin or delete a conversation (every device of
        /// yours follows).
        #[command(subcommand)]
        action: Option<ChatsAction>,
    },
    /// Show a conversation.
    Show {
        /// A handle, several handles (a group) or group:ID.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// One conversation, live, in the terminal: messages, typing and
    /// receipts as they happen; type and press Enter to send.
    Chat {
        /// A handle, a contact's name, a group's name or group:ID.
        target: String,
    },
    /// Message history for a new device of your account.
    History {
        /// What to do.
        #[command(subcommand)]
        action: HistoryAction,
    },
    /// Mark a conversation read (sends read receipts unless turned off).
    Read {
        /// A handle, several handles or group:ID.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// React to a message; "" removes your reaction.
    React {
        /// The message's id (or its start, as `show` prints it).
        id: String,
        /// The reaction, e.g. an emoji.
        emoji: String,
    },
    /// Change the text of a message you sent, within 15 minutes; everyone
    /// sees it marked edited, with its history.
    Edit {
        /// The message's id (or its start, as `show` prints it).
        id: String,
        /// The new text.
        text: String,
    },
    /// Take back a message you sent, within 2 minutes, on every device;
    /// a note that it was unsent stays.
    Unsend {
        /// The message's id (or its start).
        id: String,
    },
    /// Delete a message on your own devices only.
    Delete {
        /// The message's id (or its start).
        id: String,
    },
    /// Search the text of every conversation on this device.
    Search {
        /// The text to look for (any part of a word, any script).
        text: String,
        /// Most results, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Tell a conversation you are typing.
    Typing {
        /// A handle, several handles or group:ID.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// List this account's devices, or remove one.
    Devices {
        /// What to do.
        #[command(subcommand)]
        action: Option<DevicesAction>,
    },
    /// List this account's handles, or add one.
    Handles {
        /// What to do.
        #[command(subcommand)]
        action: Option<HandlesAction>,
    },
    /// Manage the account itself.
    Account {
        /// What to do.
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Change a group's members.
    Group {
        /// What to do.
        #[command(subcommand)]
        action: GroupAction,
    },
    /// Message requests: conversations started by someone you have no
    /// relation with (not a contact, never written to, not in a group with
    /// someone you know). They raise no notification, send no read
    /// receipts or typing, download no attachments and show links
    /// defanged until you accept them. Requests that look like spam, or
    /// match a reported campaign, are in junk, kept 30 days.
    Requests {
        /// List junk instead of requests.
        #[arg(long)]
        junk: bool,
        /// What to do (without: list).
        #[command(subcommand)]
        action: Option<RequestsAction>,
    },
    /// Accept a message request (or junk): it moves to your chats, the
    /// sender becomes known, and read receipts are sent from now on.
    Accept {
        /// The sender's handle, or group:ID.
        target: String,
    },
    /// Block a handle on this device: its messages are dropped from now
    /// on. If its messages carry a report token, the server is told.
    Block {
        /// The handle.
        handle: String,
    },
    /// Unblock a handle.
    Unblock {
        /// The handle.
        handle: String,
    },
    /// Report junk: tells the server (with the report token of the latest
    /// message), then blocks the handle and deletes its conversations.
    Report {
        /// The handle.
        handle: String,
        /// Also send the decrypted text of the reported message (it helps
        /// recognise campaigns; without this flag no content leaves the
        /// device).
        #[arg(long)]
        share_text: bool,
    },
    /// List saved contacts, or add or remove one. Messages from contacts
    /// are never message requests.
    Contacts {
        /// What to do (without: list).
        #[command(subcommand)]
        action: Option<ContactsAction>,
    },
    /// Show or change settings.
    Settings {
        /// Send read receipts: on or off.
        #[arg(long)]
        read_receipts: Option<OnOff>,
        /// Re-send as SMS what reached none of a phone number's devices in
        /// time: on or off.
        #[arg(long)]
        sms_fallback: Option<OnOff>,
        /// Your display name, which the people you write to see (it
        /// travels inside your messages, end-to-end encrypted).
        #[arg(long)]
        name: Option<String>,
        /// Who may see that your handles (phone, e-mail) are one account:
        /// nobody, contacts (people you write to; the default) or everyone.
        #[arg(long)]
        link_handles: Option<LinkArg>,
        /// Your profile photo (an image of at most 512 KiB), which the
        /// people you write to see, end-to-end encrypted like your name.
        #[arg(long, value_name = "FILE")]
        photo: Option<PathBuf>,
    },
    /// Remove this device on the server (its token stops working), then
    /// forget its credentials and local messages. Refuses, deleting
    /// nothing, when the server cannot be reached, unless --force.
    Logout {
        /// Delete the local data even when the server cannot remove the
        /// device; it then stays registered until removed from another
        /// device (`tidings devices remove ID`).
        #[arg(long)]
        force: bool,
    },
    /// The simulated carrier of a development server.
    Carrier {
        /// What to do.
        #[command(subcommand)]
        action: CarrierAction,
    },
    /// The on-device spam classifier.
    Spam {
        /// What to do.
        #[command(subcommand)]
        action: SpamAction,
    },
    /// Load-test a server over the real protocol.
    Bench(bench::BenchArgs),
    /// The operator's view of the spam defence: flagged accounts and
    /// clusters, bans, appeals and thresholds (works on the data directory).
    Admin(admin::AdminArgs),
}

/// `tidings spam ...`.
#[derive(Subcommand, Debug)]
pub enum SpamAction {
    /// Read messages one per line on standard input (any language); print
    /// the label (spam or ham), the score and the detected language of each.
    Classify,
    /// List the lessons this device's spam filter learnt from your reports
    /// and restores (the texts are kept, on this device only, to learn from).
    Lessons {
        /// Forget them all on this device (the filter goes back to the
        /// shipped model here; other devices keep theirs).
        #[arg(long)]
        forget: bool,
    },
}

/// A phone number or an e-mail address.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct HandleArg {
    /// Phone number, e.g. +12025550101.
    #[arg(long)]
    phone: Option<String>,
    /// E-mail address.
    #[arg(long)]
    email: Option<String>,
}

impl HandleArg {
    fn text(&self) -> &str {
        self.phone
            .as_deref()
            .or(self.email.as_deref())
            .expect("clap requires one of --phone and --email")
    }
}

/// Who may see that an account's handles belong together.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkArg {
    /// Nobody.
    Nobody,
    /// People you write to.
    Contacts,
    /// Anyone who looks your handles up.
    Everyone,
}

/// On or off.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// `tidings devices ...`.
#[derive(Subcommand, Debug)]
pub enum DevicesAction {
    /// Remove a device: its credential stops working at once.
    Remove {
        /// Device id, from `tidings devices`.
        id: tidings_proto::DeviceId,
    },
}

/// `tidings handles ...`.
#[derive(Subcommand, Debug)]
pub enum HandlesAction {
    /// Add a phone number or e-mail address, proven by a code.
    Add {
        /// The handle.
        handle: String,
        /// The code received (without it, a code is sent).
        #[arg(long)]
        code: Option<String>,
    },
    /// Unbind a phone number or address from this account, at once.
    /// Messages waiting for it go back to their senders, who re-send them
    /// as SMS.
    Remove {
        /// The handle.
        handle: String,
        /// Remove it even when it is the account's last handle.
        #[arg(long)]
        yes: bool,
    },
}

/// `tidings account ...`.
#[derive(Subcommand, Debug)]
pub enum AccountAction {
    /// Delete this account: every handle, device, queued message and
    /// attachment.
    Delete {
        /// Confirm: this cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

/// `tidings requests ...`.
#[derive(Subcommand, Debug)]
pub enum RequestsAction {
    /// Delete a request or junk conversation (without blocking: a new
    /// message from the sender is a new request).
    Delete {
        /// The sender's handle, or group:ID.
        target: String,
    },
    /// Move a junk conversation back to the requests.
    Restore {
        /// The sender's handle, or group:ID.
        target: String,
    },
}

/// `tidings contacts ...`.
#[derive(Subcommand, Debug)]
pub enum ContactsAction {
    /// Save a contact (again: rename it).
    Add {
        /// The handle.
        handle: String,
        /// A name for it.
        #[arg(long)]
        name: Option<String>,
    },
    /// Forget a contact.
    Remove {
        /// The handle.
        handle: String,
    },
}

/// `tidings history ...`.
#[derive(Subcommand, Debug)]
pub enum HistoryAction {
    /// Send this device's conversations (not requests or junk), end-to-end
    /// encrypted, to another device of your account; it takes them at its
    /// next `sync`.
    Send {
        /// The device (see `tidings devices`) [default: the newest other one].
        #[arg(long)]
        to: Option<u64>,
        /// Send without asking (needed without a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// `tidings chats ...`: a conversation is named by a handle, a contact's
/// name, a group's name or group:ID.
#[derive(Subcommand, Debug)]
pub enum ChatsAction {
    /// New messages in it are not printed by `sync`.
    Mute {
        /// The conversation.
        target: String,
    },
    /// Undo `mute`.
    Unmute {
        /// The conversation.
        target: String,
    },
    /// Move it out of the list (see `chats --archived`).
    Archive {
        /// The conversation.
        target: String,
    },
    /// Undo `archive`.
    Unarchive {
        /// The conversation.
        target: String,
    },
    /// Keep it at the top of the list.
    Pin {
        /// The conversation.
        target: String,
    },
    /// Undo `pin`.
    Unpin {
        /// The conversation.
        target: String,
    },
    /// Delete it and its messages from your devices.
    Delete {
        /// The conversation.
        target: String,
        /// Confirm: the messages cannot be brought back.
        #[arg(long)]
        yes: bool,
    },
}

/// `tidings group ...`. A group is named as `group:ID` or by its name.
#[derive(Subcommand, Debug)]
pub enum GroupAction {
    /// Make a named group (you are its admin) and tell its members.
    Create {
        /// The group's name.
        name: String,
        /// The other members: handles or contact names.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Add members (admins only).
    Add {
        /// The group: group:ID or its name.
        group: String,
        /// Handles (or contact names) to add.
        #[arg(required = true)]
        handles: Vec<String>,
    },
    /// Remove members (admins only).
    Remove {
        /// The group: group:ID or its name.
        group: String,
        /// Handles (or contact names) to remove.
        #[arg(required = true)]
        handles: Vec<String>,
    },
    /// Name the group; every member sees the new name (admins only).
    Rename {
        /// The group: group:ID or its name.
        group: String,
        /// The new name.
        name: String,
    },
    /// Make members admins, who may change the group (admins only).
    Admin {
        /// The group: group:ID or its name.
        group: String,
        /// Members (handles or contact names) to make admins.
        #[arg(required = true)]
        handles: Vec<String>,
    },
    /// Leave the group.
    Leave {
        /// The group: group:ID or its name.
        group: String,
    },
    /// Show the group's members and admins.
    Info {
        /// The group: group:ID or its name.
        group: String,
    },
}

/// `tidings carrier ...`.
#[derive(Subcommand, Debug)]
pub enum CarrierAction {
    /// What a simulated phone (or e-mail address) received.
    Inbox {
        /// Phone number or e-mail address.
        address: String,
    },
    /// The latest verification code a simulated phone (or e-mail
    /// address) received, alone on a line, for `register --code "$(…)"`.
    Code {
        /// Phone number or e-mail address.
        address: String,
    },
    /// Send an SMS from a simulated phone that is not on Tidings.
    Send {
        /// The sending phone number.
        #[arg(long)]
        from: String,
        /// The receiving phone number.
        #[arg(long)]
        to: String,
        /// The text.
        text: String,
    },
}

/// clap's rendered error as one line: its first line without the
/// `error: ` prefix, and where to read the usage.
fn usage_error_line(rendered: &str) -> String {
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .trim();
    format!("{first} (see `tidings --help`, or `tidings COMMAND --help`)")
}

/// Whether an error is only a closed standard output (`tidings show … |
/// head -1`): the reader has what it wanted, so the CLI exits quietly.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    // `println!` panics when standard output is a closed pipe; that is not
    // a bug to report but the reader being done, so end quietly.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || matches!(
                    e.kind(),
                    ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                )
            {
                e.exit();
            }
            // A usage error is one line, like every other error, saying
            // where the full usage is.
            eprintln!("tidings: {}", usage_error_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let serving = matches!(cli.command, Command::Serve { .. });
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if serving { "info" } else { "warn" })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts on any supported platform");
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let text = format!("{e:#}").replace('\n', " ");
            eprintln!("tidings: {text}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn usage_errors_are_one_line() {
        let e = super::usage_error_line(
            "error: unexpected argument '--bogus' found\n\nUsage: tidings send <ARGS>...\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(
            e,
            "unexpected argument '--bogus' found (see `tidings --help`, or `tidings COMMAND --help`)"
        );
    }
}
