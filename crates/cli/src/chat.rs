//! `tidings chat TARGET`: one conversation in the terminal, live. New
//! messages, typing and receipts arrive over the delivery stream while the
//! user types; Enter sends, Esc or Ctrl-C leaves. Built on ratatui with
//! crossterm; what is shown is computed by pure functions below, so it is
//! tested without a terminal.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::event::{Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyModifiers};
use futures_util::StreamExt;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use tidings_client::local::StoredMessage;
use tidings_client::{Client, Event};
use tidings_proto::stream::ServerFrame;
use tidings_proto::Seq;

use crate::output;

/// How long "is typing" shows after the last typing notice.
const TYPING_SHOWN: Duration = Duration::from_secs(6);
/// Typing notices are sent at most this often while the user types.
const TYPING_EVERY: Duration = Duration::from_secs(3);
/// Longest line the input box holds, in bytes (a message's text limit).
const MAX_INPUT_BYTES: usize = tidings_client::content::MAX_TEXT_BYTES;
/// Messages read from the store for the screen (the newest).
const SHOWN_MESSAGES: usize = 500;

/// The lines of the conversation the screen shows: the newest that fit in
/// `height` rows, oldest first.
pub fn visible_lines(messages: &[StoredMessage], height: usize) -> Vec<String> {
    let mut lines: Vec<String> = messages
        .iter()
        .flat_map(|m| {
            output::message_line(m)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let skip = lines.len().saturating_sub(height);
    lines.drain(..skip);
    lines
}

/// The status line: who is typing (each once, by name), or the
/// connection's state.
pub fn status_line(typing: &[String], connection: &str) -> String {
    match typing {
        [] => connection.to_string(),
        [one] => format!("{one} is typing\u{2026}"),
        many => format!("{} are typing\u{2026}", many.join(", ")),
    }
}

/// Puts the terminal back however the chat ends, panics included.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::LeaveAlternateScreen);
    }
}

/// Runs the chat until the user leaves.
pub async fn run(client: &mut Client, target: &str) -> Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "`tidings chat` needs a terminal; in a script use `tidings send` and `tidings sync --wait`"
        );
    }
    let key = client.conversation_key(std::slice::from_ref(&target.to_string()))?;
    let targets = vec![key.clone()];
    client.flush_outbox().await?;
    let mut stream = client
        .api()
        .stream()
        .await
        .context("opening the delivery stream")?;

    crossterm::terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
    let guard = TerminalGuard;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut terminal = ratatui::Terminal::new(backend)?;

    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut typing: HashMap<String, Instant> = HashMap::new();
    let mut input = String::new();
    let mut typing_sent = Instant::now() - TYPING_EVERY;
    let mut connection = "catching up\u{2026}".to_string();
    let mut dirty_read = true;
    let zone = output::zone();

    loop {
        if dirty_read && connection == "live" {
            // What is on the screen has been read: receipts go (unless off).
            if let Err(e) = client.read(&targets).await {
                connection = format!("could not send read receipts: {e}");
            }
            dirty_read = false;
        }
        let mut messages = client.local().messages(&key)?;
        let from = messages.len().saturating_sub(SHOWN_MESSAGES);
        messages.drain(..from);
        // The conversation may be new (made while catching up), and names
        // may arrive with messages: both are looked up each time.
        let title = client
            .local()
            .conversations()?
            .into_iter()
            .find(|c| c.key == key)
            .and_then(|c| c.title.or(c.name))
            .map(|n| format!("{n} ({key})"))
            .unwrap_or_else(|| key.clone());
        let name_of: HashMap<&str, &str> = messages
            .iter()
            .filter_map(|m| m.from_name.as_deref().map(|n| (m.from.as_str(), n)))
            .collect();
        let mut names: Vec<String> = typing
            .iter()
            .filter(|(_, at)| at.elapsed() < TYPING_SHOWN)
            .map(|(who, _)| {
                name_of
                    .get(who.as_str())
                    .copied()
                    .unwrap_or(who)
                    .to_string()
            })
            .collect();
        names.sort();
        let status = status_line(&names, &connection);
        terminal.draw(|f| {
            let [body, status_area, input_area, help] = Layout::vertical([
                Constraint::Min(3),
                Constraint::Length(1),
                Constraint::Length(3),
                Constraint::Length(1),
            ])
            .areas(f.area());
            let height = body.height.saturating_sub(2) as usize;
            let lines: Vec<Line> = visible_lines(&messages, height)
                .into_iter()
                .map(Line::from)
                .collect();
            f.render_widget(
                Paragraph::new(lines).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!(" {title} \u{b7} times in {zone} ")),
                ),
                body,
            );
            f.render_widget(
                Paragraph::new(status.as_str())
                    .style(Style::default().add_modifier(Modifier::ITALIC)),
                status_area,
            );
            f.render_widget(
                Paragraph::new(input.as_str())
                    .wrap(Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL).title(" message ")),
                input_area,
            );
            f.render_widget(Paragraph::new("Enter sends \u{b7} Esc leaves"), help);
        })?;

        tokio::select! {
            frame = stream.next() => match frame? {
                Some(ServerFrame::Envelope(env)) => {
                    let seq = env.seq;
                    for event in client.handle_envelope(env).await? {
                        match event {
                            Event::Typing { conversation, from } if conversation == key => {
                                typing.insert(from, Instant::now());
                            }
                            Event::Message(m) if m.conversation == key => {
                                typing.remove(&m.from);
                                dirty_read = true;
                            }
                            _ => {}
                        }
                    }
                    if seq != Seq::default() {
                        stream.ack(vec![seq]).await?;
                    }
                }
                Some(ServerFrame::Drained) => connection = "live".into(),
                Some(ServerFrame::Error { message, .. }) => anyhow::bail!("the server ended the stream: {message}"),
                Some(ServerFrame::Ready { .. }) => {}
                None => anyhow::bail!("the server closed the connection; run `tidings chat` again"),
            },
            key_event = keys.next() => {
                let Some(key_event) = key_event else { break };
                if let TermEvent::Key(KeyEvent { code, modifiers, .. }) = key_event? {
                    match code {
                        KeyCode::Esc => break,
                        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => break,
                        KeyCode::Enter if !input.trim().is_empty() => {
                            let text = std::mem::take(&mut input);
                            match client
                                .send_text(&targets, text.trim(), &[], None, false, false, &mut |_, _, _| {})
                                .await
                            {
                                Ok(m) if m.state == "waiting" => {
                                    connection = "offline: your message waits and goes when the server is back".into()
                                }
                                Ok(_) => {}
                                Err(e) => connection = format!("not sent: {e}"),
                            }
                        }
                        KeyCode::Backspace => {
                            input.pop();
                        }
                        KeyCode::Char(c) if input.len() + c.len_utf8() <= MAX_INPUT_BYTES => {
                            input.push(c);
                            if typing_sent.elapsed() >= TYPING_EVERY {
                                typing_sent = Instant::now();
                                // Typing is a courtesy: a failure is not worth stopping for.
                                let _ = client.typing(&targets).await;
                            }
                        }
                        _ => {}
                    }
                }
            },
            _ = tick.tick() => {}
        }
    }
    drop(terminal);
    drop(guard);
    stream.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> StoredMessage {
        StoredMessage {
            conversation: "bob@x.org".into(),
            from: "bob@x.org".into(),
            author_account: tidings_proto::AccountId::from(2u32),
            id: "0123456789abcdef".into(),
            outgoing: false,
            kind: "text".into(),
            body: body.into(),
            sent_at: 0,
            state: "received".into(),
            delivered_to: Vec::new(),
            read_by: Vec::new(),
            via: "ip".into(),
            attachments: Vec::new(),
            from_name: Some("Bob".into()),
            reactions: Vec::new(),
            edited_at: None,
            edits: Vec::new(),
            reply_to: None,
        }
    }

    #[test]
    fn the_newest_lines_that_fit_are_shown() {
        let all: Vec<StoredMessage> = (0..10).map(|i| msg(&format!("m{i}"))).collect();
        let lines = visible_lines(&all, 3);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with("Bob: m7"), "{lines:?}");
        assert!(lines[2].ends_with("Bob: m9"), "{lines:?}");
        assert_eq!(visible_lines(&all[..1], 5).len(), 1);
    }

    #[test]
    fn the_status_says_who_types_once() {
        assert_eq!(status_line(&[], "live"), "live");
        assert_eq!(
            status_line(&["Bob".into()], "live"),
            "Bob is typing\u{2026}"
        );
        assert_eq!(
            status_line(&["Ann".into(), "Bob".into()], "live"),
            "Ann, Bob are typing\u{2026}"
        );
    }
}
