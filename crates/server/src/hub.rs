//! Who is connected: one delivery stream per device, woken when its queue
//! gains something.
//!
//! The hub holds no messages, only wake-up signals: the queue in the store
//! is the truth, and a stream re-reads it when woken. Ephemeral envelopes
//! (typing) are the exception: they go straight to a bounded channel and
//! are dropped when it is full or nobody is connected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tidings_proto::api::{AccountId, DeviceId};
use tidings_proto::stream::Envelope;
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// Ephemeral envelopes buffered per connection before new ones are dropped.
pub const EPHEMERAL_QUEUE: usize = 64;

struct Conn {
    id: u64,
    account: AccountId,
    wake: Arc<Notify>,
    ephemeral: mpsc::Sender<Envelope>,
    kick: Option<oneshot::Sender<&'static str>>,
}

#[derive(Default)]
struct State {
    conns: HashMap<DeviceId, Conn>,
    per_account: HashMap<AccountId, usize>,
    next_id: u64,
}

/// The registry of connected devices.
pub struct Hub {
    state: Mutex<State>,
    max_per_account: usize,
    shutdown: watch::Sender<bool>,
}

/// A connection's end of the hub.
pub struct Registration {
    /// Identifies this connection (a device may reconnect).
    pub id: u64,
    /// Notified when the device's queue has something new.
    pub wake: Arc<Notify>,
    /// Ephemeral envelopes for this device.
    pub ephemeral: mpsc::Receiver<Envelope>,
    /// Fires with a reason when the connection must close (replaced by a
    /// newer one, device removed).
    pub kicked: oneshot::Receiver<&'static str>,
    /// Becomes true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// The account already has its maximum number of connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyConnections;

impl Hub {
    /// An empty hub allowing `max_per_account` connections per account.
    pub fn new(max_per_account: usize) -> Self {
        assert!(max_per_account > 0, "accounts need at least one connection");
        Hub {
            state: Mutex::new(State::default()),
            max_per_account,
            shutdown: watch::channel(false).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("hub lock is never poisoned")
    }

    /// Registers a connection of a device; an older connection of the same
    /// device is told to close.
    pub fn register(
        &self,
        account: AccountId,
        device: DeviceId,
    ) -> Result<Registration, TooManyConnections> {
        let mut state = self.lock();
        let replacing = state.conns.contains_key(&device);
        let count = state.per_account.get(&account).copied().unwrap_or(0);
        if !replacing && count >= self.max_per_account {
            return Err(TooManyConnections);
        }
        state.next_id += 1;
        let id = state.next_id;
        let wake = Arc::new(Notify::new());
        let (etx, erx) = mpsc::channel(EPHEMERAL_QUEUE);
        let (ktx, krx) = oneshot::channel();
        let old = state.conns.insert(
            device,
            Conn {
                id,
                account,
                wake: wake.clone(),
                ephemeral: etx,
                kick: Some(ktx),
            },
        );
        match old {
            Some(mut old) => {
                if let Some(k) = old.kick.take() {
                    let _ = k.send("replaced");
                }
            }
            None => *state.per_account.entry(account).or_default() += 1,
        }
        Ok(Registration {
            id,
            wake,
            ephemeral: erx,
            kicked: krx,
            shutdown: self.shutdown.subscribe(),
        })
    }

    /// Forgets a connection, unless a newer one has replaced it.
    pub fn unregister(&self, device: DeviceId, id: u64) {
        let mut state = self.lock();
        if state.conns.get(&device).is_some_and(|c| c.id == id) {
            let conn = state.conns.remove(&device).expect("checked above");
            let n = state.per_account.entry(conn.account).or_default();
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.per_account.remove(&conn.account);
            }
        }
    }

    /// Wakes the streams of these devices, if connected.
    pub fn wake(&self, devices: &[DeviceId]) {
        let state = self.lock();
        for d in devices {
            if let Some(c) = state.conns.get(d) {
                c.wake.notify_one();
            }
        }
    }

    /// Pushes an ephemeral envelope; false when not connected or too busy.
    pub fn push_ephemeral(&self, device: DeviceId, envelope: Envelope) -> bool {
        let state = self.lock();
        state
            .conns
            .get(&device)
            .is_some_and(|c| c.ephemeral.try_send(envelope).is_ok())
    }

    /// Closes a device's stream (the device was removed).
    pub fn kick(&self, device: DeviceId, reason: &'static str) {
        let mut state = self.lock();
        if let Some(k) = state.conns.get_mut(&device).and_then(|c| c.kick.take()) {
            let _ = k.send(reason);
        }
    }

    /// True when the device has a stream open.
    pub fn is_connected(&self, device: DeviceId) -> bool {
        self.lock().conns.contains_key(&device)
    }

    /// Tells every stream to close: the server is stopping.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(n: u64) -> tidings_proto::AccountId {
        tidings_proto::AccountId::new(n).expect("small")
    }

    fn dev(n: u64) -> DeviceId {
        DeviceId::new(n).expect("small")
    }

    #[test]
    fn limits_connections_per_account_and_replaces_per_device() {
        let hub = Hub::new(2);
        let a = hub.register(acc(1), dev(10)).expect("first");
        let _b = hub.register(acc(1), dev(11)).expect("second");
        assert!(hub.register(acc(1), dev(12)).is_err());
        let mut a2 = hub.register(acc(1), dev(10)).expect("replacing is allowed");
        let mut a = a;
        assert_eq!(a.kicked.try_recv(), Ok("replaced"));
        hub.unregister(dev(10), a.id); // stale id: no effect
        assert!(hub.is_connected(dev(10)));
        hub.unregister(dev(10), a2.id);
        assert!(!hub.is_connected(dev(10)));
        assert!(a2.kicked.try_recv().is_err());
        assert!(hub.register(acc(1), dev(12)).is_ok());
    }
}
