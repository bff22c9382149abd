//! One function per subcommand.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;
use tidings_proto::ErrorCode;

use anyhow::{Context, Result};

use tidings_client::content::RelationChange;
use tidings_client::local::changes::MAX_SEARCH_BYTES;
use tidings_client::{Api, Client, ClientError, GroupEdit, Profile};
use tidings_proto::api::{LoginRequest, RegisterRequest};
use tidings_server::Config;
use tidings_spam::requests::{defang, Folder};

use crate::output;
use crate::{
    AccountAction, CarrierAction, ChatsAction, Cli, Command, ContactsAction, DevicesAction,
    GroupAction, HandlesAction, HistoryAction, OnOff, RequestsAction,
};

fn profile_dir(cli: &Cli) -> Result<PathBuf> {
    if let Some(p) = &cli.profile {
        return Ok(p.clone());
    }
    let base =
        dirs::data_dir().context("no data directory known for this user; pass --profile DIR")?;
    Ok(base.join("tidings").join("default"))
}

/// The default name of this device: the host's name, as `hostname`
/// prints it.
fn default_device_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        "tidings cli".into()
    } else {
        host
    }
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Serve {
            listen,
            data,
            config,
            database,
            dev,
        } => serve(listen, data, config, database, *dev).await,
        Command::Register {
            handle,
            name,
            code,
            device_name,
        } => {
            let device = device_name.clone().unwrap_or_else(default_device_name);
            enroll(
                &cli,
                handle.text(),
                code.as_deref(),
                Enroll::Register(name.clone()),
                &device,
            )
            .await
        }
        Command::Login {
            handle,
            code,
            device_name,
        } => {
            let device = device_name.clone().unwrap_or_else(default_device_name);
            enroll(&cli, handle.text(), code.as_deref(), Enroll::Login, &device).await
        }
        Command::Verify { handle, mark } => {
            let client = open(&cli)?;
            let handle = client.resolve_handle(handle)?;
            let v = if *mark {
                client.mark_verified(&handle).await?
            } else {
                client.verification(&handle).await?
            };
            if cli.json {
                output::json(&v);
            } else {
                println!("safety number with {}:", v.handle);
                let groups: Vec<&str> = v.safety_number.split(' ').collect();
                for line in groups.chunks(4) {
                    println!("  {}", line.join(" "));
                }
                println!(
                    "{}",
                    if v.verified {
                        "verified"
                    } else {
                        "not verified: compare these digits with your contact, then run again with --mark"
                    }
                );
            }
            Ok(())
        }
        Command::Send {
            args,
            message,
            reply,
            confirm,
            attach,
            sms_link,
        } => {
            let (targets, text) = split_send_args(args, message.as_deref(), !attach.is_empty())?;
            let mut client = open(&cli)?;
            let mut bars = output::Bars::new("uploading");
            let m = client
                .send_text(
                    targets,
                    &text,
                    attach,
                    reply.as_deref(),
                    *confirm,
                    *sms_link,
                    &mut |name, done, total| bars.update(name, done, total),
                )
                .await?;
            bars.finish();
            if cli.json {
                output::json(&m);
            } else {
                println!("{} {}", m.conversation, output::message_line(&m));
                if m.state == "waiting" {
                    println!(
                        "the server cannot be reached; the message waits here and the next \
                         `tidings sync` or `tidings send` sends it"
                    );
                }
            }
            Ok(())
        }
        Command::Sync { wait, verbose } => {
            let mut client = open(&cli)?;
            let json = cli.json;
            let mut printer = output::Events::new(json, *verbose || json);
            let n = client
                .sync(Duration::from_secs(*wait), |e| printer.print(e))
                .await?;
            let mut bars = output::Bars::new("downloading");
            let saved = client
                .download_pending(&mut |name, done, total| bars.update(name, done, total))
                .await?;
            bars.finish();
            if saved > 0 && !json {
                println!(
                    "saved {saved} attachment(s) under {}",
                    client.profile().dir().join("attachments").display()
                );
            }
            if !json && n == 0 {
                println!("nothing new");
            }
            Ok(())
        }
        Command::Chats {
            archived: _,
            action: Some(action),
        } => {
            use tidings_client::content::ConversationChange as C;
            let (target, change) = match action {
                ChatsAction::Mute { target } => (target, C::Mute),
                ChatsAction::Unmute { target } => (target, C::Unmute),
                ChatsAction::Archive { target } => (target, C::Archive),
                ChatsAction::Unarchive { target } => (target, C::Unarchive),
                ChatsAction::Pin { target } => (target, C::Pin),
                ChatsAction::Unpin { target } => (target, C::Unpin),
                ChatsAction::Delete { target, yes } => {
                    if !yes {
                        anyhow::bail!(
                            "deleting {target} removes its messages from all your devices; \
                             run again with --yes to confirm"
                        );
                    }
                    (target, C::Delete)
                }
            };
            let mut client = open(&cli)?;
            let key = client.change_conversation(target, change).await?;
            if cli.json {
                output::json(&serde_json::json!({ "conversation": key, "done": change.past() }));
            } else {
                println!("{key}: {}", change.past());
            }
            Ok(())
        }
        Command::Chats {
            archived,
            action: None,
        } => {
            let client = open(&cli)?;
            let chats = client.local().conversations()?;
            if cli.json {
                output::json(&chats);
                return Ok(());
            }
            let (shown, filed): (Vec<_>, Vec<_>) =
                chats.into_iter().partition(|c| c.archived == *archived);
            let in_archive = if *archived { 0 } else { filed.len() };
            let (inbox, held): (Vec<_>, Vec<_>) =
                shown.into_iter().partition(|c| !c.state.is_held());
            if inbox.is_empty() {
                println!(
                    "{}",
                    if *archived {
                        "no archived conversations"
                    } else {
                        "no conversations yet"
                    }
                );
            }
            for c in inbox {
                let members = if let Some(name) = c.name.as_deref() {
                    format!(" ({name})")
                } else if c.key.starts_with("group:") {
                    let title = c
                        .title
                        .as_deref()
                        .map(|t| format!("{t}: "))
                        .unwrap_or_default();
                    format!(" ({title}{})", c.members.join(", "))
                } else {
                    String::new()
                };
                let unread = if c.unread > 0 {
                    format!(" [{} unread]", c.unread)
                } else {
                    String::new()
                };
                let mut marks = Vec::new();
                if c.pinned {
                    marks.push("pinned");
                }
                if c.muted {
                    marks.push("muted");
                }
                let marks = if marks.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", marks.join(", "))
                };
                println!("{}{members}{unread}{marks}: {}", c.key, c.last);
            }
            let junk = held.iter().filter(|c| c.state == Folder::Junk).count();
            let requests = held.len() - junk;
            if requests > 0 {
                println!("-- {requests} message request(s): see `tidings requests`");
            }
            if junk > 0 {
                println!("-- {junk} in junk: see `tidings requests --junk`");
            }
            if in_archive > 0 {
                println!("-- {in_archive} archived: see `tidings chats --archived`");
            }
            Ok(())
        }
        Command::Show { targets } => {
            let client = open(&cli)?;
            let key = client.conversation_key(targets)?;
            let messages = client.local().messages(&key)?;
            let held = client.local().request(&key)?;
            let messages: Vec<_> = if held.is_some() {
                // A stranger's chosen name could pose as anyone: a
                // request shows handles only.
                messages
                    .into_iter()
                    .map(|mut m| {
                        m.from_name = None;
                        m
                    })
                    .collect()
            } else {
                messages
            };
            if cli.json {
                match &held {
                    None => output::json(&messages),
                    Some(r) => output::json(&output::held_messages(&messages, r)),
                }
            } else {
                if let Some(r) = &held {
                    println!("{}", output::held_banner(r));
                }
                if messages.is_empty() {
                    println!("no messages with {key}");
                } else {
                    println!("{key} (times in {})", output::zone());
                }
                if held.is_none() {
                    let photo = client
                        .local()
                        .conversations()?
                        .into_iter()
                        .find(|c| c.key == key)
                        .and_then(|c| c.photo);
                    if let Some(path) = photo {
                        println!("photo: {path}");
                    }
                }
                for m in &messages {
                    if held.is_some() {
                        let mut m = m.clone();
                        m.body = defang(&m.body);
                        println!("{}", output::message_line(&m));
                    } else {
                        println!("{}", output::message_line(m));
                    }
                }
            }
            Ok(())
        }
        Command::History {
            action: HistoryAction::Send { to, yes },
        } => {
            let client = open(&cli)?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    anyhow::bail!(
                        "sending your history to another device needs your confirmation: \
                         run again with --yes"
                    );
                }
                let file = client.export_history()?;
                let messages: usize = file.conversations.iter().map(|c| c.messages.len()).sum();
                eprint!(
                    "send {} conversation(s), {messages} message(s) to your {}? [y/N] ",
                    file.conversations.len(),
                    to.map(|d| format!("device {d}"))
                        .unwrap_or_else(|| "newest other device".into())
                );
                std::io::stderr().flush()?;
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if !line.trim().eq_ignore_ascii_case("y") {
                    anyhow::bail!("nothing sent");
                }
            }
            let to = to.map(tidings_proto::DeviceId::try_from).transpose()?;
            let mut bars = output::Bars::new("uploading");
            let sent = client
                .send_history(to, &mut |done, total| bars.update("history", done, total))
                .await?;
            bars.finish();
            if cli.json {
                output::json(&sent);
            } else {
                println!(
                    "sent {} conversation(s), {} message(s) ({} bytes, encrypted) to device {}; \
                     it takes them at its next `tidings sync`",
                    sent.conversations, sent.messages, sent.bytes, sent.device
                );
            }
            Ok(())
        }
        Command::Chat { target } => {
            let mut client = open(&cli)?;
            crate::chat::run(&mut client, target).await
        }
        Command::Read { targets } => {
            let mut client = open(&cli)?;
            let n = client.read(targets).await?;
            if cli.json {
                output::json(&serde_json::json!({ "read": n }));
            } else {
                println!("marked {n} message(s) read");
            }
            Ok(())
        }
        Command::React { id, emoji } => {
            let mut client = open(&cli)?;
            let (conv, _, full) = client.find_message(id)?;
            client.react(&full, emoji).await?;
            if cli.json {
                output::json(&serde_json::json!({
                    "conversation": conv, "id": full, "reaction": emoji,
                }));
            } else if emoji.is_empty() {
                println!(
                    "{conv}: removed your reaction to {}",
                    output::short_id(&full)
                );
            } else {
                println!("{conv}: you reacted {emoji} to {}", output::short_id(&full));
            }
            Ok(())
        }
        Command::Edit { id, text } => {
            let mut client = open(&cli)?;
            let done = client.edit(id, text).await?;
            changed(&done, cli.json);
            Ok(())
        }
        Command::Unsend { id } => {
            let mut client = open(&cli)?;
            let done = client.unsend(id).await?;
            changed(&done, cli.json);
            Ok(())
        }
        Command::Delete { id } => {
            let mut client = open(&cli)?;
            let done = client.delete_for_me(id).await?;
            changed(&done, cli.json);
            Ok(())
        }
        Command::Search { text, limit } => {
            let client = open(&cli)?;
            if text.is_empty() || text.len() > MAX_SEARCH_BYTES {
                anyhow::bail!("search for 1 to {MAX_SEARCH_BYTES} bytes of text");
            }
            let found = client.local().search(text, *limit)?;
            if cli.json {
                output::json(&found);
            } else {
                if found.is_empty() {
                    println!("no message contains \u{201c}{text}\u{201d}");
                }
                for m in &found {
                    println!("{} {}", m.conversation, output::message_line(m));
                }
            }
            Ok(())
        }
        Command::Typing { targets } => {
            let mut client = open(&cli)?;
            client.typing(targets).await?;
            if cli.json {
                output::json(&serde_json::json!({ "typing": targets }));
            }
            Ok(())
        }
        Command::Devices { action } => {
            let client = open(&cli)?;
            match action {
                None => {
                    let devices = client.api().devices().await?;
                    if cli.json {
                        output::json(&devices);
                    } else {
                        let me = client.credentials().device;
                        for d in devices {
                            let this = if d.id == me { " (this device)" } else { "" };
                            println!(
                                "{}  {}{this}  added {}  last seen {}",
                                d.id,
                                d.name,
                                output::time(d.created_at),
                                output::time(d.last_seen)
                            );
                        }
                    }
                }
                Some(DevicesAction::Remove { id }) => {
                    client.api().remove_device(*id).await?;
                    if *id == client.credentials().device {
                        client.profile().clear()?;
                    }
                    if cli.json {
                        output::json(&serde_json::json!({ "removed": id }));
                    } else {
                        println!("device {id} removed");
                    }
                }
            }
            Ok(())
        }
        Command::Handles { action } => {
            let mut client = open(&cli)?;
            let handles = match action {
                None => client.api().handles().await?,
                Some(HandlesAction::Remove { handle, yes }) => {
                    let current = client.api().handles().await?;
                    let parsed = Client::parse_handle(handle)?;
                    if current.as_slice() == std::slice::from_ref(&parsed) && !yes {
                        anyhow::bail!(
                            "{parsed} is this account's last handle: without one nobody can write \
                             to you and no new device can sign in; run again with --yes to remove \
                             it anyway, or leave with `tidings account delete --yes`"
                        );
                    }
                    client.api().remove_handle(handle).await?
                }
                Some(HandlesAction::Add { handle, code: None }) => {
                    let sent = client.api().request_code(handle).await?;
                    code_sent(cli.json, sent.handle.as_str(), "handles add");
                    return Ok(());
                }
                Some(HandlesAction::Add {
                    handle,
                    code: Some(code),
                }) => client.api().add_handle(handle, code).await?,
            };
            client.keep_handles(handles.clone())?;
            if cli.json {
                output::json(&handles);
            } else {
                for h in handles {
                    println!("{h}");
                }
            }
            Ok(())
        }
        Command::Account {
            action: AccountAction::Delete { yes },
        } => {
            if !yes {
                anyhow::bail!("deleting the account removes every handle, device and message; run again with --yes to confirm");
            }
            let client = open(&cli)?;
            client.api().delete_account().await?;
            client.profile().clear()?;
            if cli.json {
                output::json(&serde_json::json!({ "deleted": true }));
            } else {
                println!("account deleted; this profile is signed out");
            }
            Ok(())
        }
        Command::Group { action } => {
            let mut client = open(&cli)?;
            let (group, edit) = match action {
                GroupAction::Add { group, handles } => (group, GroupEdit::Add(handles.clone())),
                GroupAction::Remove { group, handles } => {
                    (group, GroupEdit::Remove(handles.clone()))
                }
                GroupAction::Rename { group, name } => (group, GroupEdit::Rename(name.clone())),
                GroupAction::Admin { group, handles } => (group, GroupEdit::Admin(handles.clone())),
                GroupAction::Leave { group } => (group, GroupEdit::Leave),
                GroupAction::Create { name, members } => {
                    let state = client.create_named_group(name, members).await?;
                    let key = format!("group:{}", state.id);
                    output::group(&key, &state, client.credentials(), cli.json);
                    return Ok(());
                }
                GroupAction::Info { group } => {
                    let key = client.conversation_key(std::slice::from_ref(group))?;
                    let state = client.group_state(&key)?.ok_or_else(|| {
                        anyhow::anyhow!("{group} is not a group; see `tidings chats`")
                    })?;
                    output::group(&key, &state, client.credentials(), cli.json);
                    return Ok(());
                }
            };
            let state = client.change_group(group, edit).await?;
            let key = format!("group:{}", state.id);
            output::group(&key, &state, client.credentials(), cli.json);
            Ok(())
        }
        Command::Requests { junk, action } => requests(&cli, *junk, action.as_ref()).await,
        Command::Accept { target } => {
            let mut client = open(&cli)?;
            let done = client.accept(target).await?;
            if cli.json {
                output::json(&done);
            } else {
                println!(
                    "accepted {}: it is in your chats now ({} read receipt(s) sent)",
                    done.conversation, done.receipts
                );
            }
            // Attachments held back while it was a request come now.
            let mut bars = output::Bars::new("downloading");
            let saved = client
                .download_pending(&mut |name, done, total| bars.update(name, done, total))
                .await?;
            bars.finish();
            if saved > 0 && !cli.json {
                println!("saved {saved} attachment(s)");
            }
            Ok(())
        }
        Command::Block { handle } => {
            let client = open(&cli)?;
            let done = client.block(handle).await?;
            if cli.json {
                output::json(&done);
            } else {
                println!(
                    "blocked {}: its messages are dropped on this device",
                    done.handle
                );
                if done.reported {
                    println!("the server was told");
                } else if let Some(e) = &done.report_error {
                    println!("the server was not told: {e}");
                }
            }
            Ok(())
        }
        Command::Unblock { handle } => {
            let client = open(&cli)?;
            let was = client.unblock(handle)?;
            client
                .share_relation(handle, RelationChange::Unblock, None)
                .await;
            if cli.json {
                output::json(&serde_json::json!({ "unblocked": was }));
            } else if was {
                println!("unblocked {handle}");
            } else {
                println!("{handle} was not blocked");
            }
            Ok(())
        }
        Command::Report { handle, share_text } => {
            let mut client = open(&cli)?;
            let done = client.report(handle, *share_text).await?;
            if cli.json {
                output::json(&done);
            } else {
                if done.reported {
                    let shared = if done.shared_text {
                        "with the text"
                    } else {
                        "without the text"
                    };
                    println!("reported {} as junk ({shared})", done.handle);
                } else if let Some(e) = &done.report_error {
                    println!("the report did not reach the server: {e}");
                }
                println!(
                    "blocked {} and deleted {} conversation(s)",
                    done.handle,
                    done.deleted.len()
                );
            }
            Ok(())
        }
        Command::Contacts { action } => {
            let client = open(&cli)?;
            match action {
                None => {
                    let contacts = client.contacts()?;
                    if cli.json {
                        output::json(&contacts);
                    } else if contacts.is_empty() {
                        println!("no contacts saved");
                    } else {
                        for c in contacts {
                            let name = c.name.map(|n| format!("  {n}")).unwrap_or_default();
                            println!("{}{name}  (added {})", c.handle, output::time(c.added_at));
                        }
                    }
                }
                Some(ContactsAction::Add { handle, name }) => {
                    let c = client.add_contact(handle, name.as_deref())?;
                    client
                        .share_relation(&c.handle, RelationChange::Contact, c.name.as_deref())
                        .await;
                    if cli.json {
                        output::json(&c);
                    } else {
                        println!("saved {} as a contact", c.handle);
                    }
                }
                Some(ContactsAction::Remove { handle }) => {
                    let was = client.remove_contact(handle)?;
                    client
                        .share_relation(handle, RelationChange::Uncontact, None)
                        .await;
                    if cli.json {
                        output::json(&serde_json::json!({ "removed": was }));
                    } else if was {
                        println!("removed {handle} from your contacts");
                    } else {
                        println!("{handle} was not a contact");
                    }
                }
            }
            Ok(())
        }
        Command::Settings {
            read_receipts,
            sms_fallback,
            name,
            link_handles,
            photo,
        } => {
            use tidings_client::client::{DISPLAY_NAME, READ_RECEIPTS, SMS_FALLBACK};
            let client = open(&cli)?;
            if let Some(l) = link_handles {
                use tidings_proto::api::LinkHandles;
                let link = match l {
                    crate::LinkArg::Nobody => LinkHandles::Nobody,
                    crate::LinkArg::Contacts => LinkHandles::Contacts,
                    crate::LinkArg::Everyone => LinkHandles::Everyone,
                };
                client.set_link_handles(link).await?;
            }
            if let Some(path) = photo {
                client.set_profile_photo(path).await?;
            }
            let change = tidings_client::client::settings::SettingsChange {
                read_receipts: read_receipts.map(|v| v == OnOff::On),
                sms_fallback: sms_fallback.map(|v| v == OnOff::On),
                name: name.clone(),
            };
            match client.change_settings(&change).await {
                Ok(()) => {}
                Err(e @ tidings_client::ClientError::Usage(_)) => return Err(e.into()),
                // The account's other devices follow.
                Err(e) => {
                    return Err(anyhow::Error::from(e).context(
                        "changed on this device, but could not tell your other devices; \
                         run the command again when the server can be reached",
                    ))
                }
            }
            let get = |key| -> Result<String> {
                Ok(client.local().setting(key)?.unwrap_or_else(|| "on".into()))
            };
            let (rr, fb) = (get(READ_RECEIPTS)?, get(SMS_FALLBACK)?);
            let shown = client.local().setting(DISPLAY_NAME)?;
            let linked = client
                .local()
                .setting(tidings_client::client::LINK_HANDLES)?
                .unwrap_or_else(|| "contacts".into());
            if cli.json {
                output::json(&serde_json::json!({
                    "read_receipts": rr, "sms_fallback": fb, "name": shown, "link_handles": linked,
                }));
            } else {
                println!(
                    "read receipts: {rr}\nSMS fallback: {fb}\nname: {}\nyour handles are one account to: {linked}",
                    shown.as_deref().unwrap_or("(none; set one with --name)")
                );
            }
            Ok(())
        }
        Command::Logout { force } => {
            use tidings_client::client::logout::LoggedOut;
            let profile = Profile::new(profile_dir(&cli)?);
            let client = match open(&cli) {
                Ok(client) => client,
                Err(e) => match e.downcast_ref::<ClientError>() {
                    Some(ClientError::NotSignedIn) => {
                        // No device to remove: only local leftovers.
                        profile.clear()?;
                        if cli.json {
                            output::json(&serde_json::json!({ "outcome": "not_signed_in" }));
                        } else {
                            println!("this profile was not signed in; its local data is deleted");
                        }
                        return Ok(());
                    }
                    _ => return Err(e),
                },
            };
            let outcome = client.logout(*force).await?;
            if cli.json {
                output::json(&outcome);
            }
            match outcome {
                LoggedOut::Removed { device } if !cli.json => println!(
                    "signed out: device {device} is removed from the server (its token no longer works), \
                     and this profile's credentials and messages are deleted"
                ),
                LoggedOut::AlreadyRemoved { device } if !cli.json => println!(
                    "signed out: device {device} had already been removed from the server; \
                     this profile's credentials and messages are deleted"
                ),
                LoggedOut::LocalOnly { device, error } => eprintln!(
                    "warning: the server did not remove device {device} ({error}); it stays registered and \
                     its token keeps working until you remove it from another device with \
                     `tidings devices remove {device}`. This profile's credentials and messages are deleted."
                ),
                _ => {}
            }
            Ok(())
        }
        Command::Carrier {
            action: CarrierAction::Inbox { address },
        } => {
            let api = Api::new(server(&cli), None)?;
            let messages = api.carrier_inbox(address).await?;
            if cli.json {
                output::json(&messages);
            } else if messages.is_empty() {
                println!("no messages for {address}");
            } else {
                for m in messages {
                    println!("[{}] from {}: {}", output::time(m.at), m.from, m.text);
                }
            }
            Ok(())
        }
        Command::Carrier {
            action: CarrierAction::Code { address },
        } => {
            let api = Api::new(server(&cli), None)?;
            let messages = api.carrier_inbox(address).await?;
            let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
            let Some(code) = latest_code(&texts) else {
                anyhow::bail!(
                    "no code has reached {address} yet; request one with `tidings register` or `tidings login`"
                );
            };
            if cli.json {
                output::json(&serde_json::json!({ "address": address, "code": code }));
            } else {
                println!("{code}");
            }
            Ok(())
        }
        Command::Carrier {
            action: CarrierAction::Send { from, to, text },
        } => {
            Api::new(server(&cli), None)?
                .carrier_send(from, to, text)
                .await?;
            if cli.json {
                output::json(&serde_json::json!({ "from": from, "to": to, "sent": true }));
            } else {
                println!("SMS sent from {from} to {to}");
            }
            Ok(())
        }
        Command::Spam {
            action: crate::SpamAction::Classify,
        } => classify(cli.json),
        Command::Spam {
            action: crate::SpamAction::Lessons { forget },
        } => {
            let mut client = open(&cli)?;
            if *forget {
                let n = client.forget_lessons()?;
                if cli.json {
                    output::json(&serde_json::json!({ "forgotten": n }));
                } else {
                    println!("forgot {n} lessons on this device");
                }
            } else {
                let lessons = client.local().lessons()?;
                if cli.json {
                    output::json(&lessons);
                } else if lessons.is_empty() {
                    println!("no lessons: `tidings report` and `tidings requests restore` teach the filter");
                } else {
                    for l in &lessons {
                        println!("{}\t{}", l.label, l.text);
                    }
                }
            }
            Ok(())
        }
        Command::Bench(args) => crate::bench::run(server(&cli), args).await,
        Command::Admin(args) => crate::admin::run(args, cli.json).await,
    }
}

/// Splits `send`'s arguments into recipients and text. Without
/// `--message` the text is the last argument, and a last argument that
/// reads as a phone number or an address is refused: it is more likely a
/// recipient whose text was forgotten than a message.
fn split_send_args<'a>(
    args: &'a [String],
    message: Option<&str>,
    attachments: bool,
) -> Result<(&'a [String], String)> {
    if let Some(m) = message {
        return Ok((args, m.to_string()));
    }
    if args.len() == 1 && attachments {
        return Ok((args, String::new()));
    }
    let Some((text, targets)) = args.split_last().filter(|(_, t)| !t.is_empty()) else {
        anyhow::bail!(
            "no text to send: give it after the recipients, e.g. `tidings send bob@example.org \"hello\"`"
        );
    };
    if Client::parse_handle(text).is_ok() {
        anyhow::bail!(
            "no text to send: \u{201c}{text}\u{201d} looks like a recipient; give the text last, \
             or pass it with --message to send it as it is"
        );
    }
    Ok((targets, text.clone()))
}

fn changed(done: &tidings_client::client::changes::Changed, json: bool) {
    if json {
        output::json(done);
    } else {
        println!(
            "{}: {} {}",
            done.conversation,
            done.action,
            output::short_id(&done.id)
        );
    }
}

async fn requests(cli: &Cli, junk: bool, action: Option<&RequestsAction>) -> Result<()> {
    let mut client = open(cli)?;
    match action {
        Some(RequestsAction::Delete { target }) => {
            let key = client.delete_request(target)?;
            if cli.json {
                output::json(&serde_json::json!({ "deleted": key }));
            } else {
                println!("deleted the request from {key}");
            }
        }
        Some(RequestsAction::Restore { target }) => {
            let key = client.restore(target).await?;
            if cli.json {
                output::json(&serde_json::json!({ "restored": key }));
            } else {
                println!("moved {key} back to the message requests");
            }
        }
        None => {
            let list = client.requests(junk)?;
            let (none, restore) = if junk {
                ("no junk", ", `tidings requests restore`")
            } else {
                ("no message requests", "")
            };
            if cli.json {
                output::json(&list);
            } else if list.is_empty() {
                println!("{none}");
            } else {
                for r in &list {
                    println!("{}", output::request_line(r));
                }
                println!(
                    "(links are defanged; `tidings show HANDLE` reads one; `tidings accept`, \
                     `tidings requests delete`, `tidings block`, `tidings report`{restore})"
                );
            }
        }
    }
    Ok(())
}

/// The server used when neither `--server` nor a profile names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7878";

fn server(cli: &Cli) -> &str {
    cli.server.as_deref().unwrap_or(DEFAULT_SERVER)
}

fn open(cli: &Cli) -> Result<Client> {
    let profile = Profile::new(profile_dir(cli)?);
    Ok(Client::open(profile, cli.server.as_deref())?)
}

async fn serve(
    listen: &Option<std::net::SocketAddr>,
    data: &Option<PathBuf>,
    config: &Option<PathBuf>,
    database: &Option<String>,
    dev: bool,
) -> Result<()> {
    let mut config = Config::load(config.as_deref(), std::env::vars())?;
    if let Some(url) = database {
        config.storage.database_url = url.clone();
    }
    if let Some(l) = listen {
        config.listen = *l;
    }
    if let Some(d) = data {
        config.data_dir = d.clone();
    }
    config.dev |= dev;
    // Refuse before binding: a server that would show every code to the
    // network must not answer even once.
    tidings_server::web::carrier::dev_pages(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another server running?)",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    println!("tidings: listening on http://{addr}");
    std::io::stdout().flush()?;
    config.listen = addr;
    if tidings_server::web::carrier::dev_pages(&config)? {
        eprintln!(
            "tidings: WARNING: development mode: every verification code (SMS and e-mail) is \
             readable at http://{addr}/carrier by anyone who can reach this address, who can then \
             log in as anyone. {}",
            if addr.ip().to_canonical().is_loopback() {
                "Only this machine can reach it now; never use it for real accounts."
            } else {
                "This address is reachable from other machines (--dev): never use it for real accounts."
            }
        );
    }
    tidings_server::run(listener, config, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on Unix");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

enum Enroll {
    Register(Option<String>),
    Login,
}

/// Says that a code went out and how to give it.
fn code_sent(json: bool, handle: &str, again: &str) {
    if json {
        output::json(&serde_json::json!({ "code_sent_to": handle }));
    } else {
        println!("a code was sent to {handle}; run `tidings {again}` again with --code CODE");
    }
}

/// The code in the newest of these texts that holds one: a run of six
/// digits (the form the server's code messages take).
fn latest_code(texts: &[&str]) -> Option<String> {
    texts.iter().rev().find_map(|t| {
        t.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_string)
    })
}

/// How often `register` and `login` ask for the code at a terminal.
const MAX_CODE_PROMPTS: usize = 3;

fn ask_code(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

async fn enroll(
    cli: &Cli,
    handle: &str,
    code: Option<&str>,
    kind: Enroll,
    device: &str,
) -> Result<()> {
    let api = Api::new(server(cli), None)?;
    let profile = Profile::new(profile_dir(cli)?);
    // At a terminal the code is asked for, and asked again after a typo
    // (the server allows a few tries per code); otherwise it comes with
    // --code.
    let (mut code, prompt) = match code {
        Some(c) => (c.trim().to_string(), false),
        None => {
            let sent = api.request_code(handle).await?;
            let again = match kind {
                Enroll::Register(_) => "register",
                Enroll::Login => "login",
            };
            if !std::io::stdin().is_terminal() {
                code_sent(cli.json, sent.handle.as_str(), again);
                return Ok(());
            }
            (
                ask_code(&format!("code sent to {} — enter it: ", sent.handle))?,
                true,
            )
        }
    };
    let display_name = match &kind {
        Enroll::Register(name) => name.clone(),
        Enroll::Login => None,
    };
    let registered = matches!(kind, Enroll::Register(_));
    let mut tries = 1;
    let creds = loop {
        let answer = match &kind {
            Enroll::Register(name) => {
                api.register(&RegisterRequest {
                    handle: handle.to_string(),
                    code: code.clone(),
                    name: name.clone(),
                    device_name: device.to_string(),
                })
                .await
            }
            Enroll::Login => {
                api.login(&LoginRequest {
                    handle: handle.to_string(),
                    code: code.clone(),
                    device_name: device.to_string(),
                })
                .await
            }
        };
        match answer {
            Err(tidings_client::ApiError::Server { ref body, .. })
                if prompt && body.error == ErrorCode::BadCode && tries < MAX_CODE_PROMPTS =>
            {
                tries += 1;
                code = ask_code(&format!("{} — enter the code again: ", body.message))?;
            }
            other => break other?,
        }
    };
    let client = Client::enrol(
        profile.clone(),
        server(cli),
        creds,
        registered,
        display_name.as_deref(),
    )?;
    let saved = client.credentials().clone();
    client
        .ensure_keys()
        .await
        .context("publishing this device's encryption keys (run `tidings sync` to retry)")?;
    if cli.json {
        output::json(&serde_json::json!({
            "account": saved.account, "device": saved.device, "handles": saved.handles,
        }));
    } else {
        let handles: Vec<String> = saved.handles.iter().map(|h| h.to_string()).collect();
        println!(
            "signed in as {} (account {}, device {}); profile {}",
            handles.join(", "),
            saved.account,
            saved.device,
            profile.dir().display()
        );
    }
    Ok(())
}

fn classify(json: bool) -> Result<()> {
    let model = tidings_spam::Model::shipped();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.context("standard input is not UTF-8 text")?;
        let verdict = model.classify(&line);
        if json {
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "label": verdict.label.as_str(),
                    "score": verdict.score,
                    "language": tidings_spam::language(&line).as_str(),
                    "text": line,
                })
            )?;
        } else {
            writeln!(
                out,
                "{}\t{:.4}\t{}",
                verdict.label.as_str(),
                verdict.score,
                tidings_spam::language(&line).as_str()
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_send_args;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_latest_code_is_found() {
        use super::latest_code;
        assert_eq!(
            latest_code(&[
                "Your Tidings code: 123456",
                "hi 42",
                "Your Tidings code: 654321",
                "ok"
            ]),
            Some("654321".into())
        );
        assert_eq!(latest_code(&["call 1234567 now"]), None);
    }

    #[test]
    fn send_refuses_a_recipient_as_its_text() {
        let a = args(&["bob@example.org", "+12025550101"]);
        let e = split_send_args(&a, None, false).expect_err("refused");
        assert!(e.to_string().contains("looks like a recipient"), "{e}");
        let (to, text) = split_send_args(&a, Some("+1 202 555 0101"), false).expect("with -m");
        assert_eq!((to.len(), text.as_str()), (2, "+1 202 555 0101"));
        let a = args(&["bob@example.org"]);
        assert!(split_send_args(&a, None, false).is_err(), "no text");
        assert_eq!(split_send_args(&a, None, true).expect("a file").1, "");
        let a = args(&["bob@example.org", "hello"]);
        assert_eq!(split_send_args(&a, None, false).expect("ok").1, "hello");
    }
}
