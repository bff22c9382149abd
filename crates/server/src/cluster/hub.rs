//! Who is connected: one delivery stream per device, woken when its queue
//! gains something.
//!
//! The hub holds no messages, only wake-up signals: the queue in the store
//! is the truth, and a stream re-reads it when woken. Ephemeral envelopes
//! (typing) are the exception: they go straight to a channel bounded in
//! count and bytes, and are dropped when it is full or nobody is connected.
//!
//! The hub also counts delivery streams that have not authenticated yet
//! (`max_unauthenticated_streams`), which cost memory before anyone is
//! known to be behind them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tidings_proto::api::{AccountId, DeviceId};
use tidings_proto::stream::Envelope;
use tidings_proto::ErrorCode;
use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::bus::{Bus, Signal};

/// Ephemeral envelopes buffered per connection before new ones are dropped.
pub const EPHEMERAL_QUEUE: usize = 64;

struct Conn {
    id: u64,
    account: AccountId,
    wake: Arc<Notify>,
    ephemeral: mpsc::Sender<(Envelope, usize)>,
    ephemeral_bytes: Arc<AtomicUsize>,
    kick: Option<oneshot::Sender<ErrorCode>>,
}

/// The hub's limits, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubLimits {
    /// `max_connections_per_account`.
    pub max_per_account: usize,
    /// `max_unauthenticated_streams`.
    pub max_unauthenticated: usize,
    /// `max_inflight_bytes_per_stream`, which also bounds the ephemeral
    /// envelopes waiting for one connection.
    pub max_ephemeral_bytes: usize,
}

impl HubLimits {
    /// The limits `config` sets.
    pub fn from_config(config: &crate::Config) -> HubLimits {
        HubLimits {
            max_per_account: config.connections.max_connections_per_account,
            max_unauthenticated: config.connections.max_unauthenticated_streams,
            max_ephemeral_bytes: config.connections.max_inflight_bytes_per_stream,
        }
    }
}

#[derive(Default)]
struct State {
    conns: HashMap<DeviceId, Conn>,
    per_account: HashMap<AccountId, usize>,
    next_id: u64,
}

/// The registry of connected devices.
pub struct Hub {
    bus: Option<Arc<Bus>>,
    state: Mutex<State>,
    limits: HubLimits,
    unauthenticated: Arc<AtomicUsize>,
    shutdown: watch::Sender<bool>,
}

/// A delivery stream's place among those not yet authenticated; dropping
/// it (after authentication, or with the connection) frees the place.
pub struct Unauthenticated {
    count: Arc<AtomicUsize>,
}

impl Drop for Unauthenticated {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Ephemeral envelopes waiting for one connection, bounded in bytes.
pub struct EphemeralQueue {
    rx: mpsc::Receiver<(Envelope, usize)>,
    bytes: Arc<AtomicUsize>,
}

impl EphemeralQueue {
    /// The next ephemeral envelope; its bytes no longer count as waiting.
    pub async fn recv(&mut self) -> Option<Envelope> {
        let (envelope, size) = self.rx.recv().await?;
        self.bytes.fetch_sub(size, Ordering::AcqRel);
        Some(envelope)
    }
}

/// A connection's end of the hub.
pub struct Registration {
    /// Identifies this connection (a device may reconnect).
    pub id: u64,
    /// Notified when the device's queue has something new.
    pub wake: Arc<Notify>,
    /// Ephemeral envelopes for this device.
    pub ephemeral: EphemeralQueue,
    /// Fires with a reason when the connection must close (replaced by a
    /// newer one, device removed).
    pub kicked: oneshot::Receiver<ErrorCode>,
    /// Becomes true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// The account already has its maximum number of connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyConnections;

impl Hub {
    /// An empty hub with these limits.
    pub fn new(limits: HubLimits) -> Self {
        assert!(
            limits.max_per_account > 0,
            "accounts need at least one connection"
        );
        Hub {
            bus: None,
            state: Mutex::new(State::default()),
            limits,
            unauthenticated: Arc::new(AtomicUsize::new(0)),
            shutdown: watch::channel(false).0,
        }
    }

    /// A hub whose wake-ups and kicks reach other nodes through `bus`.
    pub fn with_bus(limits: HubLimits, bus: Arc<Bus>) -> Self {
        Hub {
            bus: Some(bus),
            ..Hub::new(limits)
        }
    }

    /// The bus to other nodes, if this node is one of several.
    pub fn bus(&self) -> Option<&Arc<Bus>> {
        self.bus.as_ref()
    }

    /// Whether wake-ups may be lost now, so streams must poll their queues
    /// (this node is one of several and its Redis is unreachable).
    pub fn degraded(&self) -> bool {
        self.bus.as_ref().is_some_and(|b| b.degraded())
    }

    /// Devices with a stream open here.
    pub fn connected_devices(&self) -> Vec<DeviceId> {
        self.lock().conns.keys().copied().collect()
    }

    /// A place for a stream that has yet to authenticate, or `None` when
    /// `max_unauthenticated_streams` are already waiting.
    pub fn unauthenticated(&self) -> Option<Unauthenticated> {
        let max = self.limits.max_unauthenticated;
        self.unauthenticated
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Unauthenticated {
            count: self.unauthenticated.clone(),
        })
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
        if !replacing && count >= self.limits.max_per_account {
            return Err(TooManyConnections);
        }
        state.next_id += 1;
        let id = state.next_id;
        let wake = Arc::new(Notify::new());
        let (etx, erx) = mpsc::channel(EPHEMERAL_QUEUE);
        let ephemeral_bytes = Arc::new(AtomicUsize::new(0));
        let (ktx, krx) = oneshot::channel();
        let old = state.conns.insert(
            device,
            Conn {
                id,
                account,
                wake: wake.clone(),
                ephemeral: etx,
                ephemeral_bytes: ephemeral_bytes.clone(),
                kick: Some(ktx),
            },
        );
        match old {
            Some(mut old) => {
                if let Some(k) = old.kick.take() {
                    let _ = k.send(ErrorCode::Replaced);
                }
            }
            None => *state.per_account.entry(account).or_default() += 1,
        }
        if let Some(bus) = &self.bus {
            bus.send(Signal::Present(device));
        }
        Ok(Registration {
            id,
            wake,
            ephemeral: EphemeralQueue {
                rx: erx,
                bytes: ephemeral_bytes,
            },
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

    /// Wakes the streams of these devices, here or on another node.
    pub fn wake(&self, devices: &[DeviceId]) {
        let state = self.lock();
        for d in devices {
            match state.conns.get(d) {
                Some(c) => c.wake.notify_one(),
                None => {
                    if let Some(bus) = &self.bus {
                        bus.send(Signal::Wake(*d));
                    }
                }
            }
        }
    }

    /// Wakes the streams of these devices that are connected here (a
    /// signal from another node).
    pub fn wake_here(&self, devices: &[DeviceId]) {
        let state = self.lock();
        for d in devices {
            if let Some(c) = state.conns.get(d) {
                c.wake.notify_one();
            }
        }
    }

    /// Pushes an ephemeral envelope; false when not connected or too busy
    /// (`EPHEMERAL_QUEUE` envelopes or `max_inflight_bytes_per_stream`
    /// bytes already waiting; one envelope is always let through).
    pub fn push_ephemeral(&self, device: DeviceId, envelope: Envelope) -> bool {
        let size = serde_json::to_vec(&envelope)
            .expect("envelopes always serialise")
            .len();
        let state = self.lock();
        let Some(c) = state.conns.get(&device) else {
            return false;
        };
        let max = self.limits.max_ephemeral_bytes;
        let reserved =
            c.ephemeral_bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                    (waiting == 0 || waiting.saturating_add(size) <= max).then_some(waiting + size)
                });
        if reserved.is_err() {
            return false;
        }
        if c.ephemeral.try_send((envelope, size)).is_err() {
            c.ephemeral_bytes.fetch_sub(size, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Closes a device's stream (the device was removed), here or on
    /// another node.
    pub fn kick(&self, device: DeviceId, reason: ErrorCode) {
        if !self.kick_here(device, reason) {
            if let Some(bus) = &self.bus {
                bus.send(Signal::Kick(device, reason));
            }
        }
    }

    /// Closes a device's stream if it is connected here; whether it was.
    pub fn kick_here(&self, device: DeviceId, reason: ErrorCode) -> bool {
        let mut state = self.lock();
        match state.conns.get_mut(&device) {
            Some(c) => {
                if let Some(k) = c.kick.take() {
                    let _ = k.send(reason);
                }
                true
            }
            None => false,
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

    fn limits(max_per_account: usize) -> HubLimits {
        HubLimits {
            max_per_account,
            max_unauthenticated: 2,
            max_ephemeral_bytes: 1000,
        }
    }

    fn typing(payload_bytes: usize) -> Envelope {
        Envelope {
            seq: tidings_proto::Seq::default(),
            at: 0,
            body: tidings_proto::stream::EnvelopeBody::Ephemeral {
                sender: tidings_proto::stream::Sender {
                    account: acc(1),
                    device: dev(1),
                    handle: tidings_proto::Handle::parse("a@example.com", "US").expect("handle"),
                },
                payload: "A".repeat(payload_bytes),
            },
        }
    }

    #[test]
    fn unauthenticated_streams_are_capped_until_they_leave() {
        let hub = Hub::new(limits(1));
        let a = hub.unauthenticated().expect("first");
        let _b = hub.unauthenticated().expect("second");
        assert!(hub.unauthenticated().is_none(), "over the cap");
        drop(a);
        assert!(hub.unauthenticated().is_some(), "a place was freed");
    }

    #[tokio::test]
    async fn ephemeral_envelopes_are_bounded_in_bytes() {
        let hub = Hub::new(limits(1));
        assert!(!hub.push_ephemeral(dev(10), typing(10)), "nobody connected");
        let mut reg = hub.register(acc(1), dev(10)).expect("connects");
        // One envelope always goes, even over the byte bound.
        assert!(hub.push_ephemeral(dev(10), typing(5000)));
        assert!(!hub.push_ephemeral(dev(10), typing(10)), "bound reached");
        assert!(reg.ephemeral.recv().await.is_some());
        assert!(hub.push_ephemeral(dev(10), typing(300)));
        assert!(hub.push_ephemeral(dev(10), typing(300)));
        assert!(
            !hub.push_ephemeral(dev(10), typing(300)),
            "would pass 1000 bytes"
        );
        assert!(reg.ephemeral.recv().await.is_some());
        assert!(hub.push_ephemeral(dev(10), typing(300)));
    }

    #[test]
    fn limits_connections_per_account_and_replaces_per_device() {
        let hub = Hub::new(limits(2));
        let a = hub.register(acc(1), dev(10)).expect("first");
        let _b = hub.register(acc(1), dev(11)).expect("second");
        assert!(hub.register(acc(1), dev(12)).is_err());
        let mut a2 = hub.register(acc(1), dev(10)).expect("replacing is allowed");
        let mut a = a;
        assert_eq!(a.kicked.try_recv(), Ok(ErrorCode::Replaced));
        hub.unregister(dev(10), a.id); // stale id: no effect
        assert!(hub.is_connected(dev(10)));
        hub.unregister(dev(10), a2.id);
        assert!(!hub.is_connected(dev(10)));
        assert!(a2.kicked.try_recv().is_err());
        assert!(hub.register(acc(1), dev(12)).is_ok());
    }
}
