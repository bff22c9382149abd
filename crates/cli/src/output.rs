//! Printing for humans and for `--json`.

use serde::Serialize;
use tidings_client::local::{RequestSummary, StoredMessage};
use tidings_client::Event;
use tidings_spam::requests::{defang, Folder, JUNK_RETENTION_DAYS};

/// Prints a value as one JSON line.
pub fn json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string(value).expect("output values always serialise")
    );
}

/// A timestamp as `YYYY-MM-DD HH:MM` in the system's time zone (`TZ`,
/// else the system's setting); [`zone`] names it.
pub fn time(ms: u64) -> String {
    time_in(ms, &chrono::Local)
}

fn time_in<Tz: chrono::TimeZone>(ms: u64, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    match i64::try_from(ms)
        .ok()
        .and_then(|ms| tz.timestamp_millis_opt(ms).single())
    {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None => "(time out of range)".to_string(),
    }
}

/// The zone [`time`] shows times in, e.g. `Europe/Lisbon, UTC+00:00`.
pub fn zone() -> String {
    let offset = chrono::Local::now().format("%:z").to_string();
    let name = std::env::var("TZ")
        .ok()
        .map(|t| t.trim_start_matches(':').to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| iana_time_zone::get_timezone().ok());
    match name {
        Some(n) => format!("{n}, UTC{offset}"),
        None => format!("UTC{offset}"),
    }
}

/// The first characters of a message id, as `show` prints them and as
/// `react`, `edit`, `unsend` and `--reply` accept them.
pub fn short_id(id: &str) -> &str {
    let n = tidings_client::client::SHORT_ID_CHARS.min(id.len());
    id.get(..n).unwrap_or(id)
}

/// One message as a line.
pub fn message_line(m: &StoredMessage) -> String {
    let who = if m.outgoing {
        "you".to_string()
    } else {
        m.from_name.clone().unwrap_or_else(|| m.from.clone())
    };
    if m.kind == "event" {
        return format!("[{}] * {}", time(m.sent_at), m.body);
    }
    let id = short_id(&m.id);
    if m.kind == "unsent" {
        return format!("[{}] {id} {who}: (message unsent)", time(m.sent_at));
    }
    let state = if m.outgoing {
        let mut s = format!(" ({}", m.state);
        if !m.delivered_to.is_empty() && m.state != "failed" {
            s.push_str(&format!(", {} device(s)", m.delivered_to.len()));
        }
        s.push(')');
        s
    } else {
        String::new()
    };
    let sms = match m.via.as_str() {
        "sms" => " [SMS, not end-to-end encrypted]",
        "ip+sms" => " [partly SMS]",
        _ => "",
    };
    let edited = if m.edited_at.is_some() {
        " (edited)"
    } else {
        ""
    };
    let quote = match &m.reply_to {
        None => String::new(),
        Some(q) => match (&q.from, &q.text) {
            (Some(from), Some(text)) if !text.is_empty() => {
                format!("\u{21aa} {from}: \u{201c}{text}\u{201d}\n    ")
            }
            (Some(from), Some(_)) => format!("\u{21aa} {from}: (message unsent)\n    "),
            _ => format!(
                "\u{21aa} a message this device does not have ({})\n    ",
                short_id(&q.id)
            ),
        },
    };
    let mut line = format!(
        "[{}] {id} {who}: {quote}{}{edited}{state}{sms}",
        time(m.sent_at),
        m.body
    );
    if !m.reactions.is_empty() {
        let r: Vec<String> = m
            .reactions
            .iter()
            .map(|(by, e)| format!("{e} {by}"))
            .collect();
        line.push_str(&format!("  [{}]", r.join(", ")));
    }
    for a in &m.attachments {
        let mut facts = vec![a.content_type.clone(), format!("{} bytes", a.size)];
        if let (Some(w), Some(h)) = (a.width, a.height) {
            facts.push(format!("{w}x{h}"));
        }
        if let Some(d) = a.duration_ms {
            facts.push(format!("{:.1} s", d as f64 / 1000.0));
        }
        if a.has_thumbnail {
            facts.push("preview".into());
        }
        let place = match &a.path {
            Some(p) => p.clone(),
            None => a.state.clone(),
        };
        line.push_str(&format!(
            "\n    📎 {} ({}) {place}",
            a.name,
            facts.join(", ")
        ));
    }
    line
}

/// Why a held-back conversation is held, with its spam score.
fn held_why(r: &RequestSummary) -> String {
    match r.score {
        Some(score) => format!("{}, spam score {score:.2}", r.reason.describe()),
        None => r.reason.describe().to_string(),
    }
}

/// The line above a held-back conversation in `show`.
pub fn held_banner(r: &RequestSummary) -> String {
    let key = &r.conversation;
    let blocked = if r.blocked { ", blocked" } else { "" };
    match r.state {
        Folder::Junk => format!(
            "JUNK from {} ({}{blocked}): links disabled, nothing downloaded, no receipts; \
             deleted {JUNK_RETENTION_DAYS} days after the last message. \
             `tidings requests restore {key}` moves it to the requests.",
            r.from,
            held_why(r)
        ),
        _ => format!(
            "MESSAGE REQUEST from {} ({}{blocked}): links disabled, nothing downloaded, \
             no read receipts or typing until you accept. \
             `tidings accept {key}` | `tidings requests delete {key}` | `tidings block {}` | \
             `tidings report {}`",
            r.from,
            held_why(r),
            r.from,
            r.from
        ),
    }
}

/// A held-back conversation's messages for `show --json`: each as stored
/// (raw body), marked `request: true`, with the conversation's `folder` (`request` or `junk`).
pub fn held_messages(messages: &[StoredMessage], r: &RequestSummary) -> Vec<serde_json::Value> {
    messages
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).expect("messages serialise");
            if let Some(obj) = v.as_object_mut() {
                obj.insert("request".into(), serde_json::Value::Bool(true));
                obj.insert("folder".into(), r.state.as_str().into());
            }
            v
        })
        .collect()
}

/// One line of `tidings requests`: links defanged.
pub fn request_line(r: &RequestSummary) -> String {
    let who = if r.conversation.starts_with("group:") {
        let title = r
            .title
            .as_deref()
            .map(|t| format!("{t}: "))
            .unwrap_or_default();
        format!(
            "{} ({title}{}) from {}",
            r.conversation,
            r.members.join(", "),
            r.from
        )
    } else {
        r.conversation.clone()
    };
    let unread = if r.unread > 0 {
        format!(", {} unread", r.unread)
    } else {
        String::new()
    };
    let blocked = if r.blocked { ", blocked" } else { "" };
    let preview: String = defang(&r.last).chars().take(120).collect();
    format!(
        "{who} [{}{unread}{blocked}] {}: {preview}",
        held_why(r),
        time(r.updated_at)
    )
}

/// Progress bars for transfers, one per file, drawn on stderr only when it
/// is a terminal.
pub struct Bars {
    verb: &'static str,
    current: Option<(String, indicatif::ProgressBar)>,
}

impl Bars {
    /// No bar yet.
    pub fn new(verb: &'static str) -> Bars {
        Bars {
            verb,
            current: None,
        }
    }

    /// Reports progress of file `name`.
    pub fn update(&mut self, name: &str, done: u64, total: u64) {
        if self.current.as_ref().is_none_or(|(n, _)| n != name) {
            self.finish();
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar.set_message(format!("{} {name}", self.verb));
            self.current = Some((name.to_string(), bar));
        }
        if let Some((_, bar)) = &self.current {
            bar.set_position(done);
        }
    }

    /// Finishes the current bar.
    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish();
        }
    }
}

/// Prints the events of one `sync`: quiet by default (deliveries to each
/// device only when verbose), and "is typing" once per person and
/// conversation.
pub struct Events {
    json: bool,
    verbose: bool,
    typing: std::collections::HashSet<(String, String)>,
}

impl Events {
    /// A printer for one run.
    pub fn new(json: bool, verbose: bool) -> Events {
        Events {
            json,
            verbose,
            typing: std::collections::HashSet::new(),
        }
    }

    /// Prints one event, or nothing when it is noise.
    pub fn print(&mut self, e: &Event) {
        match e {
            Event::Delivered { .. } if !self.verbose => return,
            Event::Typing { conversation, from }
                if !self.typing.insert((conversation.clone(), from.clone())) =>
            {
                return
            }
            // A message from someone ends their typing.
            Event::Message(m) => {
                self.typing
                    .remove(&(m.conversation.clone(), m.from.clone()));
            }
            _ => {}
        }
        print_event(self.json, e);
    }
}

fn print_event(as_json: bool, e: &Event) {
    if as_json {
        return json(e);
    }
    match e {
        Event::Message(m) => {
            let conv = &m.conversation;
            println!("{conv} {}", message_line(m));
        }
        Event::Delivered {
            conversation,
            id,
            to,
            device,
        } => {
            println!(
                "{conversation} delivered {} to {to} (device {device})",
                short_id(id)
            )
        }
        Event::Read {
            conversation,
            id,
            by,
        } => println!("{conversation} {} read by {by}", short_id(id)),
        Event::Failed {
            conversation,
            id,
            to,
            reason,
        } => {
            println!("{conversation} {id} to {to}: {reason}")
        }
        Event::Typing { conversation, from } => println!("{conversation} {from} is typing…"),
        Event::SmsStatus {
            conversation,
            id,
            to,
            state,
        } => {
            println!("{conversation} {id} to {to}: {state}")
        }
        Event::Reaction {
            conversation,
            id,
            by,
            emoji,
        } => {
            println!("{conversation} {by} reacted {emoji} to {}", short_id(id))
        }
        Event::Notice { text, .. } => println!("notice: {text}"),
        Event::Live { wait_secs } => {
            eprintln!("up to date; listening for new messages for {wait_secs} s")
        }
        Event::Request {
            conversation, from, ..
        } => {
            if conversation == from {
                println!("message request from {from} (see `tidings requests`)")
            } else {
                println!("{conversation} message request from {from} (see `tidings requests`)")
            }
        }
    }
}

/// A group's members and admins.
pub fn group(
    key: &str,
    state: &tidings_client::group::GroupState,
    me: &tidings_client::profile::Credentials,
    json_out: bool,
) {
    if json_out {
        json(&serde_json::json!({
            "group": key,
            "name": state.name,
            "members": state.members,
            "admins": state.admins,
            "version": state.version,
            "member": me.handles.iter().any(|h| state.is_member(h)),
        }));
        return;
    }
    let title = state.name.as_deref().unwrap_or("(no name)");
    println!("{key}  {title}");
    for m in &state.members {
        let mut marks = Vec::new();
        if me.handles.contains(m) {
            marks.push("you");
        }
        if state.is_admin(m) {
            marks.push("admin");
        }
        if marks.is_empty() {
            println!("  {m}");
        } else {
            println!("  {m}  ({})", marks.join(", "));
        }
    }
    if !me.handles.iter().any(|h| state.is_member(h)) {
        println!("you are not a member of this group");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times_in_a_zone() {
        use super::time_in;
        assert_eq!(time_in(0, &chrono::Utc), "1970-01-01 00:00");
        assert_eq!(time_in(1_764_424_800_000, &chrono::Utc), "2025-11-29 14:00");
        let lisbon_summer = chrono::FixedOffset::east_opt(3600).expect("valid offset");
        assert_eq!(
            time_in(1_764_424_800_000, &lisbon_summer),
            "2025-11-29 15:00"
        );
        assert_eq!(time_in(u64::MAX, &chrono::Utc), "(time out of range)");
    }
}
