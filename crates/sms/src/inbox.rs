//! Bounded in-memory inboxes, keyed by address.
//!
//! The simulated carrier keeps what each simulated phone received here, and
//! the development mail outbox keeps what each address was sent. Both are
//! for people trying Tidings on one machine, so both forget the oldest
//! entries instead of growing without bound.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// Most messages kept per address; older ones are forgotten.
pub const MAX_MESSAGES_PER_INBOX: usize = 100;
/// Most addresses kept; the one written to longest ago is forgotten.
pub const MAX_INBOXES: usize = 10_000;

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

#[derive(Default)]
struct State {
    boxes: HashMap<String, VecDeque<InboxMessage>>,
    /// Addresses in order of last write, oldest first.
    order: VecDeque<String>,
}

/// A set of bounded inboxes.
#[derive(Default)]
pub struct Inboxes {
    state: Mutex<State>,
}

impl Inboxes {
    /// Empty inboxes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a message in the inbox of `msg.to`.
    pub fn deliver(&self, msg: InboxMessage) {
        let mut state = self.state.lock().expect("inbox lock is never poisoned");
        let key = msg.to.clone();
        if let Some(pos) = state.order.iter().position(|k| *k == key) {
            state.order.remove(pos);
        } else if state.boxes.len() >= MAX_INBOXES {
            if let Some(oldest) = state.order.pop_front() {
                state.boxes.remove(&oldest);
            }
        }
        state.order.push_back(key.clone());
        let inbox = state.boxes.entry(key).or_default();
        if inbox.len() >= MAX_MESSAGES_PER_INBOX {
            inbox.pop_front();
        }
        inbox.push_back(msg);
        debug_assert!(state.boxes.len() <= MAX_INBOXES);
    }

    /// The messages of one address, oldest first.
    pub fn messages(&self, address: &str) -> Vec<InboxMessage> {
        let state = self.state.lock().expect("inbox lock is never poisoned");
        state
            .boxes
            .get(address)
            .map(|b| b.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every address with messages, most recently written first.
    pub fn addresses(&self) -> Vec<String> {
        let state = self.state.lock().expect("inbox lock is never poisoned");
        state.order.iter().rev().cloned().collect()
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
    }
}
