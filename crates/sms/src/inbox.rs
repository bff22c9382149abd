//! Bounded in-memory inboxes, keyed by address.
//!
//! The simulated carrier keeps what each simulated phone received here, and
//! the development mail outbox keeps what each address was sent. Both are
//! for people trying Tidings on one machine, so both forget the oldest
//! entries instead of growing without bound: at most
//! [`MAX_MESSAGES_PER_INBOX`] per address, [`MAX_INBOXES`] addresses, and a
//! total of `max_bytes` ([`DEFAULT_MAX_INBOX_BYTES`] unless set), the oldest
//! message going first.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// Most messages kept per address; older ones are forgotten.
pub const MAX_MESSAGES_PER_INBOX: usize = 100;
/// Most addresses kept; the one written to longest ago is forgotten.
pub const MAX_INBOXES: usize = 10_000;
/// Bytes (sender, recipient and text) all inboxes of one set keep by
/// default; past it the oldest message anywhere is forgotten. Without it,
/// the two bounds above would allow a gigabyte of long texts.
pub const DEFAULT_MAX_INBOX_BYTES: usize = 8 * 1024 * 1024;

/// One message in an inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxMessage {
    /// Who sent it (number, short code or address).
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// The text.
    pub text: String,
    /// When it arrived, milliseconds since the Unix epoch.
    pub at: u64,
}

impl InboxMessage {
    /// What the message counts against the byte bound.
    fn bytes(&self) -> usize {
        self.from.len() + self.to.len() + self.text.len()
    }
}

#[derive(Default)]
struct State {
    /// Each address's messages with their sequence numbers, oldest first.
    boxes: HashMap<String, VecDeque<(u64, InboxMessage)>>,
    /// Addresses in order of last write, oldest first.
    order: VecDeque<String>,
    /// Every message kept, by sequence number (so by age): its address.
    by_age: BTreeMap<u64, String>,
    /// Bytes of every message kept.
    bytes: usize,
    /// The next sequence number.
    next: u64,
}

impl State {
    /// Forgets the oldest message of `address`.
    fn drop_oldest_of(&mut self, address: &str) {
        if let Some(inbox) = self.boxes.get_mut(address) {
            if let Some((seq, m)) = inbox.pop_front() {
                self.by_age.remove(&seq);
                self.bytes -= m.bytes();
            }
            if inbox.is_empty() {
                self.boxes.remove(address);
                self.order.retain(|k| k != address);
            }
        }
    }

    /// Forgets a whole inbox.
    fn drop_inbox(&mut self, address: &str) {
        if let Some(inbox) = self.boxes.remove(address) {
            for (seq, m) in inbox {
                self.by_age.remove(&seq);
                self.bytes -= m.bytes();
            }
        }
        self.order.retain(|k| k != address);
    }
}

/// A set of bounded inboxes.
pub struct Inboxes {
    state: Mutex<State>,
    max_bytes: usize,
}

impl Default for Inboxes {
    fn default() -> Self {
        Self::with_max_bytes(DEFAULT_MAX_INBOX_BYTES)
    }
}

impl Inboxes {
    /// Empty inboxes keeping [`DEFAULT_MAX_INBOX_BYTES`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty inboxes keeping at most `max_bytes` in total (at least one
    /// message is always kept, however long).
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Inboxes {
            state: Mutex::new(State::default()),
            max_bytes,
        }
    }

    /// Stores a message in the inbox of `msg.to`, with the next sequence
    /// number (rising, unique within this set of inboxes).
    pub fn deliver(&self, msg: InboxMessage) {
        let mut state = self.state.lock().expect("inbox lock is never poisoned");
        let key = msg.to.clone();
        if let Some(pos) = state.order.iter().position(|k| *k == key) {
            state.order.remove(pos);
        } else if state.boxes.len() >= MAX_INBOXES {
            if let Some(oldest) = state.order.front().cloned() {
                state.drop_inbox(&oldest);
            }
        }
        state.order.push_back(key.clone());
        if state
            .boxes
            .get(&key)
            .is_some_and(|b| b.len() >= MAX_MESSAGES_PER_INBOX)
        {
            state.drop_oldest_of(&key);
            // Dropping the last message would have removed the address
            // from `order`, but an inbox at its bound is never emptied.
        }
        let seq = state.next;
        state.next += 1;
        state.bytes += msg.bytes();
        state.by_age.insert(seq, key.clone());
        state.boxes.entry(key).or_default().push_back((seq, msg));
        while state.bytes > self.max_bytes && state.by_age.len() > 1 {
            let (_, address) = state
                .by_age
                .first_key_value()
                .map(|(s, a)| (*s, a.clone()))
                .expect("more than one message is kept");
            state.drop_oldest_of(&address);
        }
        debug_assert!(state.boxes.len() <= MAX_INBOXES);
        debug_assert_eq!(
            state.by_age.len(),
            state.boxes.values().map(VecDeque::len).sum::<usize>()
        );
    }

    /// The messages of one address, oldest first.
    pub fn messages(&self, address: &str) -> Vec<InboxMessage> {
        let state = self.state.lock().expect("inbox lock is never poisoned");
        state
            .boxes
            .get(address)
            .map(|b| b.iter().map(|(_, m)| m.clone()).collect())
            .unwrap_or_default()
    }

    /// One page of one address's messages: the newest `limit` with a
    /// sequence number below `before` (all when `None`), oldest first,
    /// each with its sequence number.
    pub fn page(
        &self,
        address: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Vec<(u64, InboxMessage)> {
        let state = self.state.lock().expect("inbox lock is never poisoned");
        let Some(inbox) = state.boxes.get(address) else {
            return Vec::new();
        };
        let mut page: Vec<(u64, InboxMessage)> = inbox
            .iter()
            .rev()
            .filter(|(seq, _)| before.is_none_or(|b| *seq < b))
            .take(limit)
            .cloned()
            .collect();
        page.reverse();
        page
    }

    /// The newest `limit` messages of every address with a sequence number
    /// below `before` (all when `None`), newest first.
    pub fn recent(&self, before: Option<u64>, limit: usize) -> Vec<(u64, InboxMessage)> {
        let state = self.state.lock().expect("inbox lock is never poisoned");
        let range = state.by_age.range(..before.unwrap_or(u64::MAX));
        range
            .rev()
            .take(limit)
            .filter_map(|(seq, address)| {
                let inbox = state.boxes.get(address)?;
                let at = inbox.partition_point(|(s, _)| s < seq);
                inbox.get(at).filter(|(s, _)| s == seq).cloned()
            })
            .collect()
    }

    /// Every address with messages, most recently written first.
    pub fn addresses(&self) -> Vec<String> {
        let state = self.state.lock().expect("inbox lock is never poisoned");
        state.order.iter().rev().cloned().collect()
    }

    /// Bytes of every message kept (see [`Inboxes::with_max_bytes`]).
    pub fn bytes(&self) -> usize {
        self.state
            .lock()
            .expect("inbox lock is never poisoned")
            .bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(to: &str, text: &str) -> InboxMessage {
        InboxMessage {
            from: "Tidings".into(),
            to: to.into(),
            text: text.into(),
            at: 0,
        }
    }

    #[test]
    fn keeps_order_and_bounds_each_inbox() {
        let inboxes = Inboxes::new();
        for i in 0..MAX_MESSAGES_PER_INBOX + 5 {
            inboxes.deliver(msg("+12025550101", &i.to_string()));
        }
        let got = inboxes.messages("+12025550101");
        assert_eq!(got.len(), MAX_MESSAGES_PER_INBOX);
        assert_eq!(got[0].text, "5");
        assert!(inboxes.messages("+12025550102").is_empty());
        assert_eq!(
            inboxes.recent(None, usize::MAX).len(),
            MAX_MESSAGES_PER_INBOX
        );
    }

    #[test]
    fn forgets_the_least_recent_address() {
        let inboxes = Inboxes::new();
        for i in 0..MAX_INBOXES + 1 {
            inboxes.deliver(msg(&format!("a{i}"), "x"));
        }
        assert!(inboxes.messages("a0").is_empty());
        assert_eq!(inboxes.messages(&format!("a{MAX_INBOXES}")).len(), 1);
        assert_eq!(inboxes.addresses().len(), MAX_INBOXES);
        assert_eq!(inboxes.recent(None, usize::MAX).len(), MAX_INBOXES);
    }

    #[test]
    fn total_bytes_are_bounded_oldest_message_first() {
        let one = msg("a", &"x".repeat(98)).bytes();
        assert_eq!(one, 106);
        let inboxes = Inboxes::with_max_bytes(10 * one);
        for i in 0..25 {
            let to = if i % 2 == 0 { "a" } else { "b" };
            inboxes.deliver(msg(to, &format!("{i:02}{}", "x".repeat(96))));
        }
        assert!(inboxes.bytes() <= 10 * one);
        let kept: Vec<String> = inboxes
            .recent(None, usize::MAX)
            .into_iter()
            .map(|(_, m)| m.text[..2].to_string())
            .collect();
        let newest: Vec<String> = (15..25).rev().map(|i| format!("{i:02}")).collect();
        assert_eq!(kept, newest, "the ten newest, whichever inbox");
        // An inbox emptied by the bound is gone from the addresses too.
        let tiny = Inboxes::with_max_bytes(one);
        tiny.deliver(msg("a", &"x".repeat(98)));
        tiny.deliver(msg("b", &"x".repeat(98)));
        assert_eq!(tiny.addresses(), vec!["b".to_string()]);
        // One message longer than the bound is still kept.
        tiny.deliver(msg("c", &"x".repeat(5000)));
        assert_eq!(tiny.messages("c").len(), 1);
        assert_eq!(tiny.addresses(), vec!["c".to_string()]);
    }

    #[test]
    fn pages_walk_back_from_the_newest() {
        let inboxes = Inboxes::new();
        for i in 0..7 {
            inboxes.deliver(msg("a", &i.to_string()));
            inboxes.deliver(msg("b", "other"));
        }
        let texts =
            |p: &[(u64, InboxMessage)]| p.iter().map(|(_, m)| m.text.clone()).collect::<Vec<_>>();
        let first = inboxes.page("a", None, 3);
        assert_eq!(texts(&first), ["4", "5", "6"], "newest three, oldest first");
        let second = inboxes.page("a", Some(first[0].0), 3);
        assert_eq!(texts(&second), ["1", "2", "3"]);
        let last = inboxes.page("a", Some(second[0].0), 3);
        assert_eq!(texts(&last), ["0"]);
        assert!(inboxes.page("a", Some(last[0].0), 3).is_empty());
        let recent = inboxes.recent(None, 3);
        assert_eq!(
            texts(&recent),
            ["other", "6", "other"],
            "newest first, all inboxes"
        );
        let older = inboxes.recent(Some(recent[2].0), 2);
        assert_eq!(texts(&older), ["5", "other"]);
    }
}
