//! What the page may ask of the engine, and the shape of errors.

// Natively only this module's tests use it; the engine reads the fields.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use serde::{Deserialize, Serialize};
use tidings_client::ClientError;

/// Longest command the page may send, in bytes: a message's text is at
/// most 64 KiB, so this leaves room for the rest.
pub const MAX_COMMAND_BYTES: usize = 256 * 1024;
/// Most files one message carries from the web app.
pub const MAX_FILES_PER_MESSAGE: usize = 32;

/// One command from the page.
#[derive(Debug, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Who is signed in, if anyone.
    Status,
    /// Sends a sign-in code to a phone number or e-mail address, solving
    /// the server's proof of work first if it asks (with `pow` events).
    RequestCode {
        /// As the person typed it.
        handle: String,
    },
    /// Creates an account with a code and signs this browser in.
    Register {
        /// As typed for the code.
        handle: String,
        /// The code received.
        code: String,
        /// The display name chosen.
        name: Option<String>,
        /// How this device is listed among the account's devices.
        device: String,
    },
    /// Signs this browser in to an existing account with a code.
    Login {
        /// As typed for the code.
        handle: String,
        /// The code received.
        code: String,
        /// How this device is listed among the account's devices.
        device: String,
    },
    /// The conversation list, as the CLI's `chats --json`.
    Conversations,
    /// The conversation key for what the person typed (handles, a
    /// contact's or group's name), as `tidings show` resolves it.
    Resolve {
        /// What was typed, one entry per person.
        to: Vec<String>,
    },
    /// A conversation's messages (and, for a request, why it is held).
    Messages {
        /// Conversation key.
        conversation: String,
    },
    /// Sends a text; when the server is out of reach it waits in the
    /// outbox and goes at the next connection.
    Send {
        /// A conversation key, or handles as typed.
        to: Vec<String>,
        /// The text.
        text: String,
        /// Files imported with `Engine::import`, at most
        /// [`MAX_FILES_PER_MESSAGE`].
        #[serde(default)]
        files: Vec<String>,
        /// The person agreed that recipients not on Tidings get the files
        /// as download links in an SMS.
        #[serde(default)]
        sms_links: bool,
    },
    /// Sends a failed message of this device's again, as itself.
    Retry {
        /// The message's id.
        id: String,
    },
    /// Marks a conversation read (sending receipts if they are on).
    Read {
        /// Conversation key.
        conversation: String,
    },
    /// Tells the other side that this person is typing.
    Typing {
        /// Conversation key.
        conversation: String,
    },
    /// Message requests (`junk`: the Junk list).
    Requests {
        /// Junk instead of requests.
        junk: bool,
    },
    /// Accepts a message request.
    Accept {
        /// Conversation key.
        conversation: String,
    },
    /// Blocks a handle.
    Block {
        /// The handle.
        handle: String,
    },
    /// Reports a sender as junk (with the text, to teach the filter).
    Report {
        /// The handle.
        handle: String,
    },
    /// Deletes a message request.
    DeleteRequest {
        /// Conversation key.
        conversation: String,
    },
    /// Creates a named group with these members (handles as typed).
    CreateGroup {
        /// The group's name.
        name: String,
        /// The other members.
        members: Vec<String>,
    },
    /// A group's members, admins and name.
    Group {
        /// `group:ID`.
        conversation: String,
    },
    /// Changes a group: adds or removes members, renames it, or leaves.
    ChangeGroup {
        /// `group:ID`.
        conversation: String,
        /// What to change.
        edit: Edit,
    },
    /// The settings (read receipts, SMS fallback, name).
    Settings,
    /// Changes settings; the account's other devices follow.
    ChangeSettings {
        /// What changes.
        change: tidings_client::client::settings::SettingsChange,
    },
    /// The account's handles.
    Handles,
    /// Adds a handle: without a code, sends one to it (with `pow` events
    /// if the server asks for work); with the code, adds it.
    AddHandle {
        /// Phone number or e-mail address, as typed.
        handle: String,
        /// The code it received.
        code: Option<String>,
    },
    /// Removes one of the account's handles (never the last: deleting the
    /// account is the way to leave).
    RemoveHandle {
        /// As listed.
        handle: String,
    },
    /// This account's photo, if it has one: its path and type.
    Photo,
    /// Makes an imported picture this account's photo.
    SetPhoto {
        /// As `Engine::import` returned it.
        path: String,
    },
    /// The account's devices.
    Devices,
    /// Removes one of the account's other devices.
    RemoveDevice {
        /// Its id.
        device: u64,
    },
    /// Deletes the account, its handles and devices, for good.
    DeleteAccount,
    /// The safety number with a person (and, with `mark`, records it as
    /// verified after comparing it in person).
    Safety {
        /// Their handle.
        handle: String,
        /// Mark the current number verified.
        #[serde(default)]
        mark: bool,
    },
    /// Connects again now (the browser says it is back online).
    Reconnect,
    /// Removes this device from the account and forgets the profile.
    SignOut,
}

/// A change to a group, as [`tidings_client::GroupEdit`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Add these handles.
    Add(Vec<String>),
    /// Remove these handles.
    Remove(Vec<String>),
    /// Give the group this name.
    Rename(String),
    /// Leave the group.
    Leave,
}

impl From<Edit> for tidings_client::GroupEdit {
    fn from(e: Edit) -> Self {
        match e {
            Edit::Add(h) => tidings_client::GroupEdit::Add(h),
            Edit::Remove(h) => tidings_client::GroupEdit::Remove(h),
            Edit::Rename(n) => tidings_client::GroupEdit::Rename(n),
            Edit::Leave => tidings_client::GroupEdit::Leave,
        }
    }
}

/// Reads one command from the page: at most [`MAX_COMMAND_BYTES`] of JSON
/// naming a known command with its fields, and no other field (serde lets
/// an extra field through on the commands that have none, harmlessly).
pub fn parse(text: &str) -> Result<Command, Failure> {
    if text.len() > MAX_COMMAND_BYTES {
        return Err(Failure::new(
            "usage",
            format!("a command is at most {MAX_COMMAND_BYTES} bytes"),
        ));
    }
    let command: Command = serde_json::from_str(text)
        .map_err(|e| Failure::new("usage", format!("bad command: {e}")))?;
    if let Command::SetPhoto { path } = &command {
        if !is_imported(path) {
            return Err(Failure::new(
                "usage",
                format!("{path} is not a file this page attached"),
            ));
        }
    }
    if let Command::Send { files, .. } = &command {
        if files.len() > MAX_FILES_PER_MESSAGE {
            return Err(Failure::new(
                "usage",
                format!("a message carries at most {MAX_FILES_PER_MESSAGE} files"),
            ));
        }
        // Only files the page imported: a command names no other file of
        // the profile (its keys' database, another person's photo).
        if let Some(f) = files.iter().find(|f| !is_imported(f)) {
            return Err(Failure::new(
                "usage",
                format!("{f} is not a file this page attached"),
            ));
        }
    }
    Ok(command)
}

/// Where `Engine::import` puts the files the person picks.
pub const OUTGOING_DIR: &str = "/tidings/outgoing/";

/// Whether `path` is one of the imported files: under [`OUTGOING_DIR`],
/// with no way back out of it.
pub fn is_imported(path: &str) -> bool {
    path.strip_prefix(OUTGOING_DIR)
        .is_some_and(|rest| !rest.is_empty() && !rest.split('/').any(|p| p == ".." || p == "."))
}

/// An error for the page: a stable code and a sentence to show.
#[derive(Debug, Serialize)]
pub struct Failure {
    /// The server's error code, or `usage`, `offline`, `internal`.
    pub error: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl Failure {
    /// A failure of the engine's own making.
    pub fn new(error: &str, message: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let error = match &e {
            ClientError::Api(api) if api.never_connected() => "offline".to_string(),
            ClientError::Api(api) => api.code().map_or("network", |c| c.as_str()).to_string(),
            ClientError::Usage(_) => "usage".into(),
            ClientError::NotSignedIn => "not_signed_in".into(),
            _ => "internal".into(),
        };
        Failure {
            error,
            message: e.to_string(),
        }
    }
}

impl From<tidings_client::ApiError> for Failure {
    fn from(e: tidings_client::ApiError) -> Failure {
        ClientError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_as_the_page_sends_them() {
        assert!(matches!(parse(r#"{"cmd":"status"}"#), Ok(Command::Status)));
        let send = parse(r#"{"cmd":"send","to":["+12025550101"],"text":"hi"}"#);
        assert!(
            matches!(send, Ok(Command::Send { ref to, ref text, ref files, sms_links: false }) if to.len() == 1 && text == "hi" && files.is_empty())
        );
        let files = parse(
            r#"{"cmd":"send","to":["x"],"text":"","files":["/tidings/outgoing/1-2/a.jpg"],"sms_links":true}"#,
        );
        assert!(
            matches!(files, Ok(Command::Send { ref files, sms_links: true, .. }) if files.len() == 1)
        );
        for bad in [
            "/tidings/profile.sqlite3",
            "/tidings/outgoing/../profile.sqlite3",
            "/tidings/outgoing/",
        ] {
            let cmd = format!(r#"{{"cmd":"send","to":["x"],"text":"","files":["{bad}"]}}"#);
            assert!(parse(&cmd).is_err(), "{bad} is refused");
        }
        let many = vec!["\"/tidings/outgoing/1/a\""; MAX_FILES_PER_MESSAGE + 1].join(",");
        let cmd = format!(r#"{{"cmd":"send","to":["x"],"text":"","files":[{many}]}}"#);
        assert!(parse(&cmd).is_err(), "too many files");
        assert!(parse(r#"{"cmd":"set_photo","path":"/tidings/profile.sqlite3"}"#).is_err());
        assert!(parse(r#"{"cmd":"set_photo","path":"/tidings/outgoing/1-2/me.jpg"}"#).is_ok());
        let add =
            parse(r#"{"cmd":"change_group","conversation":"group:1","edit":{"add":["a@b.org"]}}"#);
        assert!(
            matches!(add, Ok(Command::ChangeGroup { edit: Edit::Add(ref h), .. }) if h.len() == 1)
        );
        let leave = parse(r#"{"cmd":"change_group","conversation":"group:1","edit":"leave"}"#);
        assert!(matches!(
            leave,
            Ok(Command::ChangeGroup {
                edit: Edit::Leave,
                ..
            })
        ));
        let change = parse(r#"{"cmd":"change_settings","change":{"read_receipts":false}}"#);
        assert!(
            matches!(change, Ok(Command::ChangeSettings { ref change }) if change.read_receipts == Some(false))
        );
        assert!(matches!(
            parse(r#"{"cmd":"safety","handle":"x"}"#),
            Ok(Command::Safety { mark: false, .. })
        ));
    }

    #[test]
    fn unknown_malformed_and_oversized_commands_are_refused() {
        for bad in [
            r#"{"cmd":"format_disk"}"#,
            r#"{"cmd":"read","conversation":"x","extra":1}"#,
            r#"{"cmd":"send","to":"+1","text":"hi"}"#,
            "not json",
        ] {
            let e = parse(bad).expect_err(bad);
            assert_eq!(e.error, "usage", "{bad}");
        }
        let long = format!(
            r#"{{"cmd":"send","to":["x"],"text":"{}"}}"#,
            "a".repeat(MAX_COMMAND_BYTES)
        );
        let e = parse(&long).expect_err("too long");
        assert!(e.message.contains("at most"), "{}", e.message);
    }
}
