//! Signals between nodes, over Redis: wake-ups and kicks for devices
//! connected to another node, and presence keys that say which node holds
//! which device.
//!
//! Redis carries only signals, never messages: the queue in the database is
//! the truth. A node whose Redis is unreachable marks itself degraded, and
//! its delivery streams then poll their queues every `cluster_poll_secs`
//! ([`Bus::degraded`]) until the subscription is back, so a lost signal
//! delays a message but never loses it.
//!
//! - Presence: `tidings:device:{id}` holds the node id of the device's
//!   stream, set when it connects and refreshed every
//!   [`PRESENCE_REFRESH`]; it expires after [`PRESENCE_TTL_SECS`], so a dead
//!   node's devices are forgotten by themselves.
//! - Signals: each node subscribes to `tidings:node:{id}`. A wake-up for a
//!   device not connected here is looked up in presence and published to
//!   the holder's channel as `wake 12,57`; a kick as `kick 12 device_removed`.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tidings_proto::api::DeviceId;
use tidings_proto::ErrorCode;
use tokio::sync::mpsc;

use super::hub::Hub;

/// Signals waiting to be published; past it they are dropped (counted),
/// and the streams' polling delivers what they would have woken.
pub const SIGNAL_QUEUE: usize = 8192;
/// Signals published per round.
pub const SIGNAL_BATCH: usize = 512;
/// Seconds a presence key lives without being refreshed.
pub const PRESENCE_TTL_SECS: u64 = 60;
/// How often a node refreshes the presence of its devices.
pub const PRESENCE_REFRESH: Duration = Duration::from_secs(20);
/// Longest wait before reconnecting to Redis after a failure.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// A signal for another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// The device's queue has something new.
    Wake(DeviceId),
    /// The device's stream must close.
    Kick(DeviceId, ErrorCode),
    /// The device connected here.
    Present(DeviceId),
}

/// A node's connection to the others.
pub struct Bus {
    node: String,
    client: redis::Client,
    out: mpsc::Sender<Signal>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Signal>>>,
    healthy: AtomicBool,
    dropped: AtomicU64,
}

/// Why the bus could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("redis_url: {0}")]
pub struct BusError(String);

impl Bus {
    /// A bus for node `node` on the Redis at `url`; nothing connects until
    /// [`Bus::run`].
    pub fn new(url: &str, node: String) -> Result<Bus, BusError> {
        let client = redis::Client::open(url).map_err(|e| BusError(e.to_string()))?;
        let (out, rx) = mpsc::channel(SIGNAL_QUEUE);
        Ok(Bus {
            node,
            client,
            out,
            rx: std::sync::Mutex::new(Some(rx)),
            healthy: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        })
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether signals may be lost now (Redis unreachable, or the outgoing
    /// queue overflowed): streams then poll their queues.
    pub fn degraded(&self) -> bool {
        !self.healthy.load(Ordering::Acquire)
    }

    /// Queues a signal; a full queue drops it and marks the node degraded
    /// until the publisher catches up.
    pub fn send(&self, signal: Signal) {
        if self.out.try_send(signal).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            self.healthy.store(false, Ordering::Release);
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "cluster signals dropped; streams poll meanwhile"
                );
            }
        }
    }

    /// Runs the subscriber, the publisher and the presence refresher until
    /// the hub is gone.
    pub async fn run(self: Arc<Self>, hub: Weak<Hub>) {
        let rx = self
            .rx
            .lock()
            .expect("bus lock is never poisoned")
            .take()
            .expect("a bus runs once");
        let publisher = tokio::spawn(self.clone().publish(rx, hub.clone()));
        let refresher = tokio::spawn(self.clone().refresh(hub.clone()));
        self.subscribe(hub).await;
        publisher.abort();
        refresher.abort();
    }

    /// Receives this node's signals, reconnecting after failures.
    async fn subscribe(&self, hub: Weak<Hub>) {
        let channel = node_channel(&self.node);
        let mut delay = Duration::from_millis(100);
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        tracing::info!(node = %self.node, "cluster bus subscribed");
                        self.healthy.store(true, Ordering::Release);
                        delay = Duration::from_millis(100);
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            let Some(hub) = hub.upgrade() else { return };
                            match message.get_payload::<String>() {
                                Ok(text) => apply(&hub, &text),
                                Err(e) => tracing::warn!(error = %e, "unreadable cluster signal"),
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot subscribe to the cluster bus"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot reach Redis; streams poll meanwhile"),
            }
            self.healthy.store(false, Ordering::Release);
            if hub.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RECONNECT_DELAY);
        }
    }

    /// Publishes queued signals to the nodes that hold their devices.
    async fn publish(self: Arc<Self>, mut rx: mpsc::Receiver<Signal>, hub: Weak<Hub>) {
        let mut batch = Vec::with_capacity(SIGNAL_BATCH);
        let mut conn = None;
        while rx.recv_many(&mut batch, SIGNAL_BATCH).await > 0 {
            if hub.strong_count() == 0 {
                return;
            }
            if conn.is_none() {
                conn = self.client.get_multiplexed_async_connection().await.ok();
            }
            let Some(c) = conn.as_mut() else {
                // Redis is away: what these would have woken is polled.
                self.healthy.store(false, Ordering::Release);
                batch.clear();
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            if let Err(e) = self.publish_batch(c, &batch).await {
                tracing::warn!(error = %e, "cannot publish cluster signals");
                self.healthy.store(false, Ordering::Release);
                conn = None;
            }
            batch.clear();
        }
    }

    async fn publish_batch(
        &self,
        c: &mut redis::aio::MultiplexedConnection,
        batch: &[Signal],
    ) -> redis::RedisResult<()> {
        let mut present = Vec::new();
        let mut targets: Vec<DeviceId> = Vec::new();
        for s in batch {
            match s {
                Signal::Present(d) => present.push(*d),
                Signal::Wake(d) | Signal::Kick(d, _) => targets.push(*d),
            }
        }
        if !present.is_empty() {
            set_presence(c, &self.node, &present).await?;
        }
        if targets.is_empty() {
            return Ok(());
        }
        targets.sort_unstable();
        targets.dedup();
        let keys: Vec<String> = targets.iter().map(|d| presence_key(*d)).collect();
        let holders: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(c).await?;
        let holder: BTreeMap<DeviceId, String> = targets
            .iter()
            .zip(holders)
            .filter_map(|(d, h)| Some((*d, h?)))
            .filter(|(_, h)| *h != self.node)
            .collect();
        let mut wakes: BTreeMap<&str, Vec<DeviceId>> = BTreeMap::new();
        let mut pipe = redis::pipe();
        let mut commands = 0;
        for s in batch {
            match s {
                Signal::Wake(d) => {
                    if let Some(node) = holder.get(d) {
                        wakes.entry(node).or_default().push(*d);
                    }
                }
                Signal::Kick(d, code) => {
                    if let Some(node) = holder.get(d) {
                        pipe.cmd("PUBLISH")
                            .arg(node_channel(node))
                            .arg(format!("kick {d} {}", code.as_str()))
                            .ignore();
                        commands += 1;
                    }
                }
                Signal::Present(_) => {}
            }
        }
        for (node, mut devices) in wakes {
            devices.dedup();
            pipe.cmd("PUBLISH")
                .arg(node_channel(node))
                .arg(wake_text(&devices))
                .ignore();
            commands += 1;
        }
        if commands == 0 {
            // Nobody else holds these devices (offline, or here).
            return Ok(());
        }
        pipe.query_async::<()>(c).await
    }

    /// Refreshes the presence of this node's devices.
    async fn refresh(self: Arc<Self>, hub: Weak<Hub>) {
        let mut tick = tokio::time::interval(PRESENCE_REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut conn = None;
        loop {
            tick.tick().await;
            let Some(h) = hub.upgrade() else { return };
            let devices = h.connected_devices();
            drop(h);
            if conn.is_none() {
                conn = self.client.get_multiplexed_async_connection().await.ok();
            }
            if let Some(c) = conn.as_mut() {
                for chunk in devices.chunks(SIGNAL_BATCH) {
                    if let Err(e) = set_presence(c, &self.node, chunk).await {
                        tracing::warn!(error = %e, "cannot refresh presence");
                        conn = None;
                        break;
                    }
                }
            }
        }
    }
}

async fn set_presence(
    c: &mut redis::aio::MultiplexedConnection,
    node: &str,
    devices: &[DeviceId],
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for d in devices {
        pipe.cmd("SET")
            .arg(presence_key(*d))
            .arg(node)
            .arg("EX")
            .arg(PRESENCE_TTL_SECS)
            .ignore();
    }
    pipe.query_async::<()>(c).await
}

/// The presence key of a device.
pub fn presence_key(device: DeviceId) -> String {
    format!("tidings:device:{device}")
}

/// The channel a node listens on.
pub fn node_channel(node: &str) -> String {
    format!("tidings:node:{node}")
}

/// The text of a wake-up for `devices`.
pub fn wake_text(devices: &[DeviceId]) -> String {
    let ids: Vec<String> = devices.iter().map(ToString::to_string).collect();
    format!("wake {}", ids.join(","))
}

/// What a signal's text asks of this node; `None` for text no node sends
/// (ignored, so a stray publish cannot break a node).
pub fn parse(text: &str) -> Option<Received> {
    let (verb, rest) = text.split_once(' ')?;
    match verb {
        "wake" => {
            let mut devices = Vec::new();
            let mut seen = HashSet::new();
            for id in rest.split(',').take(SIGNAL_BATCH) {
                let d: DeviceId = id.trim().parse().ok()?;
                if seen.insert(d) {
                    devices.push(d);
                }
            }
            Some(Received::Wake(devices))
        }
        "kick" => {
            let (id, code) = rest.split_once(' ')?;
            let code: ErrorCode =
                serde_json::from_value(serde_json::Value::String(code.into())).ok()?;
            Some(Received::Kick(id.parse().ok()?, code))
        }
        _ => None,
    }
}

/// A signal as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Wake these devices' streams.
    Wake(Vec<DeviceId>),
    /// Close this device's stream.
    Kick(DeviceId, ErrorCode),
}

fn apply(hub: &Hub, text: &str) {
    match parse(text) {
        Some(Received::Wake(devices)) => hub.wake_here(&devices),
        Some(Received::Kick(device, code)) => {
            hub.kick_here(device, code);
        }
        None => tracing::warn!("ignored a malformed cluster signal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(n: u64) -> DeviceId {
        DeviceId::new(n).expect("small")
    }

    #[test]
    fn signals_read_back_as_sent_and_garbage_is_ignored() {
        let text = wake_text(&[dev(3), dev(9)]);
        assert_eq!(text, "wake 3,9");
        assert_eq!(parse(&text), Some(Received::Wake(vec![dev(3), dev(9)])));
        assert_eq!(
            parse("wake 3,3,4"),
            Some(Received::Wake(vec![dev(3), dev(4)]))
        );
        assert_eq!(
            parse("kick 7 device_removed"),
            Some(Received::Kick(dev(7), ErrorCode::DeviceRemoved))
        );
        for junk in [
            "",
            "wake",
            "wake x",
            "wake -1",
            "kick 7",
            "kick x device_removed",
            "boom 1",
        ] {
            assert_eq!(parse(junk), None, "{junk:?}");
        }
    }
}
