//! The store conformance suite: one set of tests for every [`Store`]
//! backend.
//!
//! The server talks to storage only through the [`Store`] trait, so every
//! backend (the embedded SQLite store today, PostgreSQL later) must behave
//! the same way for every method: the same outcome for the same calls, the
//! same notices queued for the same devices. Rather than each backend
//! growing its own tests that drift apart, [`store_conformance!`] expands
//! into one module of tests per backend, each starting from a fresh, empty
//! store made by the constructor the backend passes in. The tests use the
//! trait alone and assert exact outcomes, so a backend passes only if it
//! keeps the trait's contract, not just if it returns `Ok`.
//!
//! This module also holds the helpers the tests share (registering an
//! account by code, a [`SendPlan`] with the server's defaults, reading a
//! queue); they too use nothing but the trait.

use std::any::Any;
use std::ops::Deref;
use std::sync::Arc;

use base64::Engine;
use tidings_proto::api::{AccountId, DeviceId, IdentityKeys, SignedKey};
use tidings_proto::stream::{Envelope, EnvelopeBody, Sender};
use tidings_proto::{Handle, Seq};
use tidings_server::clock::Millis;
use tidings_server::store::abuse::{AdminCommand, SpamPolicy, DAY_MS};
use tidings_server::store::{
    BlobCreated, CodeAction, Digest, LinkRecord, PlannedRecipient, Redeemed, SendOutcome, SendPlan,
    Store,
};
use tidings_server::Config;

/// A store under test, with whatever must outlive it (a temporary
/// directory, a database to drop): the constructor given to
/// [`store_conformance!`] returns one of these, or a bare `Arc<dyn Store>`
/// when nothing needs keeping.
pub struct TestStore {
    // Declared first so that it is dropped first, before its guard.
    store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl TestStore {
    /// A store that needs `guard` kept alive as long as it is used.
    pub fn new(store: Arc<dyn Store>, guard: impl Any + Send + Sync) -> TestStore {
        TestStore {
            store,
            _guard: Box::new(guard),
        }
    }
}

impl From<Arc<dyn Store>> for TestStore {
    fn from(store: Arc<dyn Store>) -> TestStore {
        TestStore::new(store, ())
    }
}

impl Deref for TestStore {
    type Target = dyn Store;

    fn deref(&self) -> &(dyn Store + 'static) {
        &*self.store
    }
}

/// The time every test starts at (November 2023), far from zero so that
/// "a day before" never underflows.
pub const T0: Millis = 1_700_000_000_000;
/// How long notices are kept (the server's default envelope lifetime).
pub const TTL: Millis = 30 * DAY_MS;
/// The secret part of every test device's token.
pub const SECRET: &str = "device-secret";
/// The hash of the code every helper sends.
pub const CODE: Digest = [7; 32];
/// The hash of a code nobody was sent.
pub const WRONG: Digest = [8; 32];
/// Tries a code allows (the server's `code_max_tries`).
pub const TRIES: u32 = 5;
/// How long a code lives (the server's `code_ttl_minutes`).
pub const CODE_TTL: Millis = 10 * 60_000;
/// The number SMS are sent from when the sender has none.
pub const SMS_FROM: &str = "Tidings";
/// Alice's and Bob's phone numbers, and two that no account holds.
pub const ALICE_PHONE: &str = "+12025550101";
/// See [`ALICE_PHONE`].
pub const BOB_PHONE: &str = "+12025550102";
/// See [`ALICE_PHONE`].
pub const STRANGER_PHONE: &str = "+12025550103";
/// See [`ALICE_PHONE`].
pub const OTHER_PHONE: &str = "+12025550104";

/// The spam defence's thresholds exactly as the server builds them from its
/// default configuration.
pub fn policy() -> SpamPolicy {
    Config::default().spam_policy()
}

/// A handle from its normalised text.
pub fn handle(text: &str) -> Handle {
    Handle::parse_normalised(text).expect("test handles are valid")
}

/// An id no backend has handed out in a test's few rows.
pub fn unknown_device() -> DeviceId {
    DeviceId::from(999_999u32)
}

/// See [`unknown_device`].
pub fn unknown_account() -> AccountId {
    AccountId::from(999_999u32)
}

/// The start of every queue.
pub fn start() -> Seq {
    Seq::from(0u32)
}

/// Device ids in ascending order, to compare sets of woken devices.
pub fn sorted(mut devices: Vec<DeviceId>) -> Vec<DeviceId> {
    devices.sort();
    devices
}

/// A registered account with one of its devices and its first handle.
#[derive(Debug, Clone)]
pub struct Person {
    /// The account.
    pub account: AccountId,
    /// Its first device.
    pub device: DeviceId,
    /// Its first handle.
    pub handle: Handle,
}

impl Person {
    /// The sender of a message from the first device.
    pub fn sender(&self) -> Sender {
        self.sender_on(self.device)
    }

    /// The sender of a message from `device`.
    pub fn sender_on(&self, device: DeviceId) -> Sender {
        Sender {
            account: self.account,
            device,
            handle: self.handle.clone(),
        }
    }
}

/// A registration from `source`, as the server makes it.
pub fn registration(source: &str, max_per_source_per_day: u64) -> CodeAction {
    CodeAction::Register {
        name: Some("Test person".into()),
        device_name: "phone".into(),
        token_secret: SECRET.into(),
        source: source.into(),
        max_per_source_per_day,
        cluster_window_ms: policy().cluster_window_ms,
    }
}

/// A login adding a device called `laptop`.
pub fn login_action(max_devices: usize) -> CodeAction {
    CodeAction::Login {
        device_name: "laptop".into(),
        token_secret: SECRET.into(),
        max_devices,
    }
}

/// Sends [`CODE`] to `handle` and redeems it at once for `action`.
pub async fn redeem(
    store: &dyn Store,
    handle: &Handle,
    now: Millis,
    action: CodeAction,
) -> Redeemed {
    store
        .put_code(handle, CODE, now + CODE_TTL, TRIES)
        .await
        .expect("a code is stored");
    store
        .redeem_code(handle, CODE, now, action)
        .await
        .expect("a code is redeemed")
}

/// Registers an account for `text` (each from its own address range, so
/// that no two test accounts form a cluster).
pub async fn register(store: &dyn Store, text: &str, now: Millis) -> Person {
    let handle = handle(text);
    let source = format!("range of {handle}");
    match redeem(store, &handle, now, registration(&source, 20)).await {
        Redeemed::Device { account, device } => Person {
            account,
            device,
            handle,
        },
        other => panic!("registering {handle}: {other:?}"),
    }
}

/// Adds a device to `person`'s account by logging in.
pub async fn login(store: &dyn Store, person: &Person, now: Millis) -> DeviceId {
    match redeem(store, &person.handle, now, login_action(10)).await {
        Redeemed::Device { account, device } if account == person.account => device,
        other => panic!("logging in to {}: {other:?}", person.handle),
    }
}

/// Adds `text` as a handle of `person`'s account.
pub async fn add_handle(store: &dyn Store, person: &Person, text: &str, now: Millis) -> Handle {
    let handle = handle(text);
    let action = CodeAction::AddHandle {
        account: person.account,
    };
    assert_eq!(
        redeem(store, &handle, now, action).await,
        Redeemed::HandleAdded
    );
    handle
}

/// A send with the server's defaults and nobody addressed yet.
pub fn plan(sender: &Sender, client_id: &str, now: Millis) -> SendPlan {
    let config = Config::default();
    SendPlan {
        sender: sender.clone(),
        client_id: client_id.into(),
        now,
        expires_at: now + config.limits.envelope_ttl_days * DAY_MS,
        recipients: Vec::new(),
        own: Vec::new(),
        max_queue: config.limits.max_queue_per_device,
        partial: false,
        sms: Vec::new(),
        sms_from: SMS_FROM.into(),
        fallback: true,
        sms_per_hour: config.sms.sms_per_account_per_hour,
        sms_per_day: config.sms.sms_per_account_per_day,
        policy: config.spam_policy(),
    }
}

/// The payload bytes of a test message.
pub fn payload(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// A payload as queued envelopes carry it (base64).
pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The current devices of the account that holds `handle` (none if no
/// account does).
pub async fn devices_of(store: &dyn Store, handle: &Handle) -> Vec<DeviceId> {
    let found = store
        .lookup(std::slice::from_ref(handle))
        .await
        .expect("lookup runs");
    match found.as_slice() {
        [Some((_, devices))] => devices.clone(),
        [None] => Vec::new(),
        other => panic!("one answer per handle, got {other:?}"),
    }
}

/// A plan that addresses every current device of each recipient and the
/// sender's other devices, as an up-to-date client would.
pub async fn message(
    store: &dyn Store,
    from: &Person,
    to: &[&Handle],
    client_id: &str,
    now: Millis,
) -> SendPlan {
    let mut p = plan(&from.sender(), client_id, now);
    for handle in to {
        let payloads = devices_of(store, handle)
            .await
            .into_iter()
            .map(|d| (d, payload(&format!("{client_id} for {d}"))))
            .collect();
        p.recipients.push(PlannedRecipient {
            handle: (*handle).clone(),
            payloads,
        });
    }
    p.own = devices_of(store, &from.handle)
        .await
        .into_iter()
        .filter(|d| *d != from.device)
        .map(|d| (d, payload(&format!("{client_id} sync"))))
        .collect();
    p
}

/// Runs a send.
pub async fn send(store: &dyn Store, plan: SendPlan) -> SendOutcome {
    store.send(plan).await.expect("a send runs")
}

/// Sends a message that must be accepted; returns the devices to wake.
pub async fn deliver(
    store: &dyn Store,
    from: &Person,
    to: &[&Handle],
    client_id: &str,
    now: Millis,
) -> Vec<DeviceId> {
    match send(store, message(store, from, to, client_id, now).await).await {
        SendOutcome::Accepted { devices } => devices,
        other => panic!("sending {client_id}: {other:?}"),
    }
}

/// A device's whole queue.
pub async fn queue(store: &dyn Store, device: DeviceId) -> Vec<Envelope> {
    store
        .queued(device, start(), 1_000)
        .await
        .expect("a queue is read")
}

/// What a device's queue holds.
pub async fn bodies(store: &dyn Store, device: DeviceId) -> Vec<EnvelopeBody> {
    queue(store, device)
        .await
        .into_iter()
        .map(|e| e.body)
        .collect()
}

/// The client ids of the messages (and sync copies) in a device's queue.
pub async fn message_ids(store: &dyn Store, device: DeviceId) -> Vec<String> {
    bodies(store, device)
        .await
        .into_iter()
        .filter_map(|b| match b {
            EnvelopeBody::Message { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

/// The seq of the queued message `client_id` on `device`.
pub async fn seq_of(store: &dyn Store, device: DeviceId, client_id: &str) -> Seq {
    queue(store, device)
        .await
        .into_iter()
        .find(|e| matches!(&e.body, EnvelopeBody::Message { id, .. } if id == client_id))
        .map(|e| e.seq)
        .unwrap_or_else(|| panic!("{client_id} is queued for device {device}"))
}

/// The account notices (`handle_removed`, `keys_low`, ...) queued for a
/// device, with the handle each concerns.
pub async fn notices(store: &dyn Store, device: DeviceId) -> Vec<(String, Option<Handle>)> {
    bodies(store, device)
        .await
        .into_iter()
        .filter_map(|b| match b {
            EnvelopeBody::AccountNotice { notice, handle, .. } => Some((notice, handle)),
            _ => None,
        })
        .collect()
}

/// Identity keys number `n`.
pub fn identity(n: u8) -> IdentityKeys {
    IdentityKeys {
        curve25519: format!("curve-{n}"),
        ed25519: format!("ed-{n}"),
    }
}

/// A signed key with id `id`.
pub fn signed_key(id: &str) -> SignedKey {
    SignedKey {
        id: id.into(),
        key: format!("key of {id}"),
        signature: format!("signature of {id}"),
    }
}

/// `n` one-time keys with ids `prefix-0`, `prefix-1`, ...
pub fn one_time_keys(prefix: &str, n: usize) -> Vec<SignedKey> {
    (0..n)
        .map(|i| signed_key(&format!("{prefix}-{i}")))
        .collect()
}

/// Uploads a one-chunk blob of `size` bytes for `owner` and completes it
/// with expiry `expires_at`.
pub async fn uploaded_blob(
    store: &dyn Store,
    id: &str,
    owner: &Person,
    size: u64,
    expires_at: Millis,
) {
    let created = store
        .create_blob(
            id,
            owner.account,
            owner.device,
            size,
            1,
            expires_at,
            4,
            1 << 30,
        )
        .await
        .expect("a blob is created");
    assert_eq!(created, BlobCreated::Created);
    store.blob_chunk(id, 0).await.expect("a chunk is recorded");
    assert!(
        store
            .complete_blob(id, expires_at)
            .await
            .expect("a blob is completed"),
        "{id} has all its chunks"
    );
}

/// A download link as the server makes one.
pub fn link_record(
    token: &str,
    blob: &str,
    account: AccountId,
    created_at: Millis,
    expires_at: Millis,
) -> LinkRecord {
    LinkRecord {
        token: token.into(),
        blob: blob.into(),
        account,
        key: "a2V5".into(),
        name: "photo.jpg".into(),
        content_type: "image/jpeg".into(),
        size: 1234,
        created_at,
        expires_at,
    }
}

/// Sets (or with `None` clears) an account's standing as the operator does
/// with `tidings admin`; returns the command's answer.
pub async fn set_standing(
    store: &dyn Store,
    person: &Person,
    state: Option<&str>,
    reason: &str,
    now: Millis,
) -> serde_json::Value {
    let command = AdminCommand::SetStanding {
        account: person.account.as_i64(),
        state: state.map(str::to_string),
        reason: reason.into(),
        cluster: false,
    };
    store
        .admin(command, policy(), now)
        .await
        .expect("an admin command runs")
}

/// Expands into a module `$backend` of `#[tokio::test]`s that check a
/// [`Store`] backend against the trait's contract.
///
/// `$constructor` is called once per test, so every test starts from a
/// fresh, empty store and tests cannot depend on each other's leftovers. It
/// is a closure taking nothing and returning a future of `Some` of a
/// [`TestStore`] (when the store needs something kept alive, such as its
/// temporary directory) or of an `Arc<dyn Store>`, or of `None` when the
/// backend's server is not available to this run (the test then passes
/// without checking anything, after the constructor has said so):
///
/// ```ignore
/// store_conformance!(sqlite, async || {
///     let dir = tempfile::tempdir().expect("a temporary directory");
///     let store = SqlStore::open(&dir.path().join("t.db"), 64).expect("opens");
///     Some(TestStore::new(Arc::new(store), dir))
/// });
/// ```
///
/// The macro names no backend: a new one joins by invoking it with its own
/// constructor and passes when it behaves exactly as the others do. The
/// tests are written inside the macro (as matrix-rust-sdk's
/// `cryptostore_integration_tests!` does) so that each backend's failures
/// are reported under its own module path, e.g.
/// `sqlite::ack_queues_a_delivery_receipt_for_the_senders_devices`. The
/// price is that a failed assertion reports the invocation's line, so the
/// assertions compare exact values or say in words what they expect.
///
/// Each test binds `store: &dyn Store` from its [`TestStore`] once: a
/// `&TestStore` does not coerce to `&dyn Store` (the compiler tries to
/// unsize it rather than dereference it).
macro_rules! store_conformance {
    ($backend:ident, $constructor:expr $(,)?) => {
        mod $backend {
            // The constructor is written at the invocation, so its names
            // resolve there (unused when it names only full paths).
            #[allow(unused_imports)]
            use super::*;
            use $crate::conformance::*;
            use tidings_proto::api::{
                AccountId, ClaimedKey, DeviceId, DeviceIdentity, DeviceInfo, DeviceMismatch,
                IdentityKeys, LinkHandles, SignedKey,
            };
            use tidings_proto::stream::{Envelope, EnvelopeBody};
            use tidings_proto::Handle;
            use tidings_server::clock::Millis;
            use tidings_server::store::abuse::{ReportEffect, DAY_MS};
            use tidings_server::store::{
                AccountRecord, BlobCreated, BlobRecord, CodeAction, FallbackOutcome, InboundSms,
                KeysOutcome, LinkCreated, PlannedRecipient, Redeemed, SendOutcome, SmsJob,
                SmsResult, Standing, Store,
            };

            /// A fresh, empty store of this backend, or `None` when the
            /// backend is not available to this run (the constructor has
            /// said why).
            async fn fresh() -> Option<$crate::conformance::TestStore> {
                ($constructor)().await.map(Into::into)
            }

            // ---------------------------------------------------------------
            // The queue
            // ---------------------------------------------------------------

            #[tokio::test]
            async fn queued_envelopes_come_in_order_and_ack_removes_them() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                for (i, id) in ["m1", "m2", "m3"].into_iter().enumerate() {
                    deliver(store, &alice, &[&bob.handle], id, T0 + i as u64).await;
                }

                let all = queue(store, bob.device).await;
                let ids: Vec<_> = message_ids(store, bob.device).await;
                assert_eq!(ids, ["m1", "m2", "m3"]);
                assert!(
                    all[0].seq < all[1].seq && all[1].seq < all[2].seq,
                    "seqs grow: {all:?}"
                );
                let at: Vec<_> = all.iter().map(|e| e.at).collect();
                assert_eq!(at, [T0, T0 + 1, T0 + 2], "each at its acceptance time");

                // `after` and `limit` page through the queue.
                let page = store.queued(bob.device, start(), 2).await.expect("read");
                assert_eq!(page, all[..2]);
                let page = store
                    .queued(bob.device, all[0].seq, 10)
                    .await
                    .expect("read");
                assert_eq!(page, all[1..]);
                let page = store.queued(bob.device, all[0].seq, 1).await.expect("read");
                assert_eq!(page, all[1..2]);
                let page = store
                    .queued(bob.device, all[2].seq, 10)
                    .await
                    .expect("read");
                assert!(page.is_empty(), "nothing after the last: {page:?}");

                store
                    .ack(bob.device, &[all[0].seq, all[2].seq], T0 + 10, TTL)
                    .await
                    .expect("ack");
                assert_eq!(message_ids(store, bob.device).await, ["m2"]);
                assert_eq!(queue(store, bob.device).await, all[1..2]);
            }

            #[tokio::test]
            async fn each_device_has_its_own_queue_and_acks_only_its_own_entries() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let bob2 = login(store, &bob, T0).await;
                let mut p = plan(&alice.sender(), "m1", T0);
                p.recipients.push(PlannedRecipient {
                    handle: bob.handle.clone(),
                    payloads: vec![
                        (bob.device, payload("for the phone")),
                        (bob2, payload("for the laptop")),
                    ],
                });
                assert_eq!(
                    send(store, p).await,
                    SendOutcome::Accepted {
                        devices: vec![bob.device, bob2]
                    }
                );

                let payload_on = |envelopes: Vec<Envelope>| match &envelopes[..] {
                    [e] => match &e.body {
                        EnvelopeBody::Message { payload, .. } => payload.clone(),
                        other => panic!("a message, not {other:?}"),
                    },
                    other => panic!("one envelope, not {other:?}"),
                };
                let on_phone = queue(store, bob.device).await;
                let on_laptop = queue(store, bob2).await;
                assert_eq!(payload_on(on_phone.clone()), b64("for the phone"));
                assert_eq!(payload_on(on_laptop.clone()), b64("for the laptop"));

                // The laptop's seq means nothing on the phone.
                if on_laptop[0].seq != on_phone[0].seq {
                    store
                        .ack(bob.device, &[on_laptop[0].seq], T0, TTL)
                        .await
                        .expect("ack");
                    assert_eq!(queue(store, bob.device).await, on_phone);
                }
                store
                    .ack(bob.device, &[on_phone[0].seq], T0, TTL)
                    .await
                    .expect("ack");
                assert!(queue(store, bob.device).await.is_empty());
                assert_eq!(
                    queue(store, bob2).await,
                    on_laptop,
                    "the laptop keeps its copy"
                );
            }

            #[tokio::test]
            async fn a_repeated_client_id_is_a_duplicate_with_the_original_time_and_stores_nothing()
            {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;

                let mut again = message(store, &alice, &[&bob.handle], "m1", T0 + 5_000).await;
                again.recipients[0].payloads[0].1 = payload("a different text");
                assert_eq!(
                    send(store, again).await,
                    SendOutcome::Duplicate { accepted_at: T0 }
                );
                let queued = queue(store, bob.device).await;
                assert_eq!(queued.len(), 1, "{queued:?}");
                assert_eq!(queued[0].at, T0);

                // Client ids are the sender account's own: another account
                // may use the same one.
                assert_eq!(
                    deliver(store, &bob, &[&alice.handle], "m1", T0 + 6_000).await,
                    [alice.device]
                );
            }

            #[tokio::test]
            async fn ack_queues_a_delivery_receipt_for_the_senders_devices() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let alice2 = login(store, &alice, T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;
                let seq = seq_of(store, bob.device, "m1").await;

                let woken = store
                    .ack(bob.device, &[seq], T0 + 1, TTL)
                    .await
                    .expect("ack");
                assert_eq!(sorted(woken), sorted(vec![alice.device, alice2]));
                let receipt = EnvelopeBody::Delivered {
                    id: "m1".into(),
                    account: bob.account,
                    handle: bob.handle.clone(),
                    device: bob.device,
                };
                assert_eq!(
                    bodies(store, alice.device).await,
                    std::slice::from_ref(&receipt)
                );
                // The laptop also has the sync copy of m1, then the receipt.
                assert_eq!(bodies(store, alice2).await.last(), Some(&receipt));
                assert!(queue(store, bob.device).await.is_empty());

                // Acks are idempotent: acking again sends no second receipt.
                let again = store
                    .ack(bob.device, &[seq], T0 + 2, TTL)
                    .await
                    .expect("ack");
                assert!(again.is_empty(), "{again:?}");
                assert_eq!(bodies(store, alice.device).await.len(), 1);

                // Acking a receipt (or a sync copy) sends no receipt back.
                let receipt_seq = queue(store, alice.device).await[0].seq;
                let woken = store
                    .ack(alice.device, &[receipt_seq], T0 + 3, TTL)
                    .await
                    .expect("ack");
                assert!(woken.is_empty(), "{woken:?}");
                let sync_seq = seq_of(store, alice2, "m1").await;
                let woken = store
                    .ack(alice2, &[sync_seq], T0 + 3, TTL)
                    .await
                    .expect("ack");
                assert!(woken.is_empty(), "{woken:?}");
                assert!(queue(store, bob.device).await.is_empty());
            }

            #[tokio::test]
            async fn a_full_device_queue_gives_queue_full_and_stores_nothing() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                for id in ["m1", "m2", "m3"] {
                    let mut p = message(store, &alice, &[&bob.handle], id, T0).await;
                    p.max_queue = 2;
                    let outcome = send(store, p).await;
                    if id == "m3" {
                        assert_eq!(outcome, SendOutcome::QueueFull(bob.handle.clone()));
                    } else {
                        assert_eq!(
                            outcome,
                            SendOutcome::Accepted {
                                devices: vec![bob.device]
                            }
                        );
                    }
                }
                assert_eq!(message_ids(store, bob.device).await, ["m1", "m2"]);

                // Room again once one is acknowledged; m3 was not recorded,
                // so the same id is accepted now.
                let seq = seq_of(store, bob.device, "m1").await;
                store.ack(bob.device, &[seq], T0, TTL).await.expect("ack");
                let mut p = message(store, &alice, &[&bob.handle], "m3", T0 + 1).await;
                p.max_queue = 2;
                assert_eq!(
                    send(store, p).await,
                    SendOutcome::Accepted {
                        devices: vec![bob.device]
                    }
                );
            }

            #[tokio::test]
            async fn expire_drops_envelopes_past_their_expiry_and_tells_the_sender() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let mut p = message(store, &alice, &[&bob.handle], "m1", T0).await;
                p.expires_at = T0 + 1_000;
                send(store, p).await;
                deliver(store, &alice, &[&bob.handle], "m2", T0).await;

                let woken = store.expire(T0 + 999, TTL).await.expect("expire");
                assert!(woken.is_empty(), "nothing expired yet: {woken:?}");
                assert_eq!(message_ids(store, bob.device).await, ["m1", "m2"]);

                let woken = store.expire(T0 + 1_001, TTL).await.expect("expire");
                assert_eq!(woken, [alice.device]);
                assert_eq!(message_ids(store, bob.device).await, ["m2"]);
                assert_eq!(
                    bodies(store, alice.device).await,
                    [EnvelopeBody::Failed {
                        id: "m1".into(),
                        handle: bob.handle.clone(),
                        device: bob.device,
                        reason: "expired".into(),
                    }]
                );

                // An expired message leaves room in the queue.
                let mut p = message(store, &alice, &[&bob.handle], "m3", T0 + 2_000).await;
                p.max_queue = 2;
                assert!(matches!(send(store, p).await, SendOutcome::Accepted { .. }));
            }

            #[tokio::test]
            async fn idempotency_keys_are_forgotten_only_after_ttl() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;
                let seq = seq_of(store, bob.device, "m1").await;
                store
                    .ack(bob.device, &[seq], T0 + 1, TTL)
                    .await
                    .expect("ack");

                store.expire(T0 + TTL / 2, TTL).await.expect("expire");
                let again = message(store, &alice, &[&bob.handle], "m1", T0 + TTL / 2).await;
                assert_eq!(
                    send(store, again).await,
                    SendOutcome::Duplicate { accepted_at: T0 }
                );

                let later = T0 + TTL + 10;
                store.expire(later, TTL).await.expect("expire");
                let again = message(store, &alice, &[&bob.handle], "m1", later).await;
                assert_eq!(
                    send(store, again).await,
                    SendOutcome::Accepted {
                        devices: vec![bob.device]
                    }
                );
            }

            #[tokio::test]
            async fn a_wrong_device_list_is_stale_with_missing_and_extra_devices() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let alice2 = login(store, &alice, T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let bob2 = login(store, &bob, T0).await;

                // One of Bob's devices left out, one that does not exist,
                // and no sync copy for Alice's laptop.
                let mut p = plan(&alice.sender(), "m1", T0);
                p.recipients.push(PlannedRecipient {
                    handle: bob.handle.clone(),
                    payloads: vec![
                        (bob.device, payload("hi")),
                        (unknown_device(), payload("hi")),
                    ],
                });
                let SendOutcome::Stale(mut mismatches) = send(store, p.clone()).await else {
                    panic!("a stale device list");
                };
                mismatches.sort_by(|a, b| a.handle.cmp(&b.handle));
                assert_eq!(
                    mismatches,
                    [
                        DeviceMismatch {
                            handle: alice.handle.clone(),
                            missing: vec![alice2],
                            extra: vec![],
                        },
                        DeviceMismatch {
                            handle: bob.handle.clone(),
                            missing: vec![bob2],
                            extra: vec![unknown_device()],
                        },
                    ]
                );
                assert!(queue(store, bob.device).await.is_empty(), "nothing stored");

                // A partial send may leave devices out, but may not name
                // one that does not exist.
                p.partial = true;
                let SendOutcome::Stale(mismatches) = send(store, p.clone()).await else {
                    panic!("an unknown device is stale even in a partial send");
                };
                assert_eq!(
                    mismatches,
                    [DeviceMismatch {
                        handle: bob.handle.clone(),
                        missing: vec![],
                        extra: vec![unknown_device()],
                    }]
                );
                p.recipients[0].payloads.truncate(1);
                assert_eq!(
                    send(store, p).await,
                    SendOutcome::Accepted {
                        devices: vec![bob.device]
                    }
                );
                assert!(queue(store, bob2).await.is_empty());
                assert!(queue(store, alice2).await.is_empty());
            }

            #[tokio::test]
            async fn unknown_handles_are_not_registered_and_nothing_is_stored() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let carol = handle("carol@example.org");
                let nobody = handle(STRANGER_PHONE);
                let p = message(store, &alice, &[&carol, &bob.handle, &nobody], "m1", T0).await;
                assert_eq!(
                    send(store, p).await,
                    SendOutcome::NotRegistered(vec![carol, nobody])
                );
                assert!(queue(store, bob.device).await.is_empty());
                // Nothing was recorded under the client id either.
                assert_eq!(
                    deliver(store, &alice, &[&bob.handle], "m1", T0 + 1).await,
                    [bob.device]
                );
            }

            #[tokio::test]
            async fn sync_copies_go_to_the_senders_other_devices() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let alice2 = login(store, &alice, T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let mut p = plan(&alice.sender(), "m1", T0);
                p.recipients.push(PlannedRecipient {
                    handle: bob.handle.clone(),
                    payloads: vec![(bob.device, payload("to bob"))],
                });
                p.own.push((alice2, payload("to my laptop")));
                assert_eq!(
                    send(store, p).await,
                    SendOutcome::Accepted {
                        devices: vec![bob.device, alice2]
                    }
                );
                assert_eq!(
                    bodies(store, alice2).await,
                    [EnvelopeBody::Message {
                        id: "m1".into(),
                        sender: alice.sender(),
                        payload: b64("to my laptop"),
                        report_token: None,
                    }]
                );
                assert!(queue(store, alice.device).await.is_empty(), "not to itself");
                match &bodies(store, bob.device).await[..] {
                    [EnvelopeBody::Message {
                        id,
                        sender,
                        payload,
                        ..
                    }] => {
                        assert_eq!(
                            (id.as_str(), sender, payload.as_str()),
                            ("m1", &alice.sender(), b64("to bob").as_str())
                        );
                    }
                    other => panic!("one message for Bob, not {other:?}"),
                }
            }

            // ---------------------------------------------------------------
            // Accounts and codes
            // ---------------------------------------------------------------

            #[tokio::test]
            async fn register_creates_an_account_with_its_handle_and_first_device() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0 + 5).await;
                assert_ne!(alice.account, bob.account);
                assert_ne!(alice.device, bob.device);

                assert_eq!(
                    store.account(alice.account).await.expect("account"),
                    Some(AccountRecord {
                        id: alice.account,
                        name: Some("Test person".into()),
                        handles: vec![alice.handle.clone()],
                        link_handles: LinkHandles::Contacts,
                    })
                );
                assert_eq!(
                    store.devices(alice.account).await.expect("devices"),
                    [DeviceInfo {
                        id: alice.device,
                        name: "phone".into(),
                        created_at: T0,
                        last_seen: T0,
                    }]
                );
                let token = tidings_server::store::token(alice.device, SECRET);
                assert_eq!(
                    store
                        .device_credential(alice.device)
                        .await
                        .expect("credential"),
                    Some((alice.account, tidings_server::store::token_hash(&token)))
                );

                // Lookup answers each handle, in order.
                let unknown = handle("nobody@example.org");
                assert_eq!(
                    store
                        .lookup(&[bob.handle.clone(), unknown, alice.handle.clone()])
                        .await
                        .expect("lookup"),
                    [
                        Some((bob.account, vec![bob.device])),
                        None,
                        Some((alice.account, vec![alice.device])),
                    ]
                );

                // Unknown ids are absent, not errors.
                assert_eq!(
                    store.account(unknown_account()).await.expect("account"),
                    None
                );
                assert!(store
                    .devices(unknown_account())
                    .await
                    .expect("devices")
                    .is_empty());
                assert_eq!(
                    store
                        .device_credential(unknown_device())
                        .await
                        .expect("credential"),
                    None
                );
            }

            #[tokio::test]
            async fn a_code_is_single_use() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let again = store
                    .redeem_code(&alice.handle, CODE, T0 + 1, login_action(10))
                    .await
                    .expect("redeem");
                assert_eq!(again, Redeemed::NoCode);
                assert_eq!(
                    store.devices(alice.account).await.expect("devices").len(),
                    1
                );

                // A handle that was never sent a code has none either.
                let never = store
                    .redeem_code(&handle("bob@example.org"), CODE, T0, registration("r", 20))
                    .await
                    .expect("redeem");
                assert_eq!(never, Redeemed::NoCode);
            }

            #[tokio::test]
            async fn a_wrong_code_costs_a_try_until_none_are_left() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let bob = handle("bob@example.org");
                store
                    .put_code(&bob, CODE, T0 + CODE_TTL, 3)
                    .await
                    .expect("code");
                for left in [2, 1, 0] {
                    let outcome = store
                        .redeem_code(&bob, WRONG, T0, registration("r", 20))
                        .await
                        .expect("redeem");
                    assert_eq!(outcome, Redeemed::WrongCode { tries_left: left });
                }
                let outcome = store
                    .redeem_code(&bob, CODE, T0, registration("r", 20))
                    .await
                    .expect("redeem");
                assert_eq!(outcome, Redeemed::NoCode, "the code is void");
                assert_eq!(devices_of(store, &bob).await, Vec::<DeviceId>::new());

                // A wrong try does not void a code that has tries left.
                let carol = handle("carol@example.org");
                store
                    .put_code(&carol, CODE, T0 + CODE_TTL, 3)
                    .await
                    .expect("code");
                let outcome = store
                    .redeem_code(&carol, WRONG, T0, registration("r", 20))
                    .await
                    .expect("redeem");
                assert_eq!(outcome, Redeemed::WrongCode { tries_left: 2 });
                let outcome = store
                    .redeem_code(&carol, CODE, T0, registration("r", 20))
                    .await
                    .expect("redeem");
                assert!(matches!(outcome, Redeemed::Device { .. }), "{outcome:?}");
            }

            #[tokio::test]
            async fn an_expired_code_is_no_code() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let bob = handle("bob@example.org");
                store
                    .put_code(&bob, CODE, T0 + 1_000, TRIES)
                    .await
                    .expect("code");
                let late = store
                    .redeem_code(&bob, CODE, T0 + 1_001, registration("r", 20))
                    .await
                    .expect("redeem");
                assert_eq!(late, Redeemed::NoCode);
                assert_eq!(devices_of(store, &bob).await, Vec::<DeviceId>::new());

                store
                    .put_code(&bob, CODE, T0 + 1_000, TRIES)
                    .await
                    .expect("code");
                let in_time = store
                    .redeem_code(&bob, CODE, T0 + 999, registration("r", 20))
                    .await
                    .expect("redeem");
                assert!(matches!(in_time, Redeemed::Device { .. }), "{in_time:?}");

                // `expire` drops codes past their expiry.
                let carol = handle("carol@example.org");
                store
                    .put_code(&carol, CODE, T0 + 1_000, TRIES)
                    .await
                    .expect("code");
                store.expire(T0 + 2_000, TTL).await.expect("expire");
                let dropped = store
                    .redeem_code(&carol, CODE, T0 + 500, registration("r", 20))
                    .await
                    .expect("redeem");
                assert_eq!(dropped, Redeemed::NoCode);
            }

            #[tokio::test]
            async fn a_new_code_replaces_the_earlier_one() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let bob = handle("bob@example.org");
                store
                    .put_code(&bob, WRONG, T0 + CODE_TTL, 1)
                    .await
                    .expect("code");
                store
                    .put_code(&bob, CODE, T0 + CODE_TTL, TRIES)
                    .await
                    .expect("code");
                let old = store
                    .redeem_code(&bob, WRONG, T0, registration("r", 20))
                    .await
                    .expect("redeem");
                assert_eq!(
                    old,
                    Redeemed::WrongCode {
                        tries_left: TRIES - 1
                    }
                );
                let new = store
                    .redeem_code(&bob, CODE, T0, registration("r", 20))
                    .await
                    .expect("redeem");
                assert!(matches!(new, Redeemed::Device { .. }), "{new:?}");
            }

            #[tokio::test]
            async fn login_adds_devices_up_to_max_devices() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let laptop = match redeem(store, &alice.handle, T0 + 10, login_action(2)).await {
                    Redeemed::Device { account, device } => {
                        assert_eq!(account, alice.account);
                        device
                    }
                    other => panic!("a login: {other:?}"),
                };
                assert_ne!(laptop, alice.device);
                let devices = store.devices(alice.account).await.expect("devices");
                let mut expected = vec![
                    DeviceInfo {
                        id: alice.device,
                        name: "phone".into(),
                        created_at: T0,
                        last_seen: T0,
                    },
                    DeviceInfo {
                        id: laptop,
                        name: "laptop".into(),
                        created_at: T0 + 10,
                        last_seen: T0 + 10,
                    },
                ];
                expected.sort_by_key(|d| d.id);
                assert_eq!(devices, expected, "ascending by id");
                let token = tidings_server::store::token(laptop, SECRET);
                assert_eq!(
                    store.device_credential(laptop).await.expect("credential"),
                    Some((alice.account, tidings_server::store::token_hash(&token)))
                );

                assert_eq!(
                    redeem(store, &alice.handle, T0 + 20, login_action(2)).await,
                    Redeemed::TooManyDevices
                );
                assert_eq!(
                    store.devices(alice.account).await.expect("devices").len(),
                    2
                );

                assert_eq!(
                    redeem(store, &handle("nobody@example.org"), T0, login_action(2)).await,
                    Redeemed::NotRegistered
                );
            }

            #[tokio::test]
            async fn add_handle_binds_a_new_handle_and_a_taken_one_is_handle_taken() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let phone = add_handle(store, &alice, ALICE_PHONE, T0 + 10).await;
                let record = store.account(alice.account).await.expect("account");
                assert_eq!(
                    record.map(|r| r.handles),
                    Some(vec![alice.handle.clone(), phone.clone()]),
                    "oldest first"
                );
                assert_eq!(devices_of(store, &phone).await, [alice.device]);

                let bob = register(store, "bob@example.org", T0).await;
                let take = CodeAction::AddHandle {
                    account: bob.account,
                };
                assert_eq!(
                    redeem(store, &phone, T0 + 20, take).await,
                    Redeemed::HandleTaken
                );
                assert_eq!(
                    redeem(store, &alice.handle, T0 + 20, registration("r", 20)).await,
                    Redeemed::HandleTaken
                );
                let record = store.account(bob.account).await.expect("account");
                assert_eq!(record.map(|r| r.handles), Some(vec![bob.handle.clone()]));
                assert_eq!(devices_of(store, &phone).await, [alice.device]);
            }

            #[tokio::test]
            async fn deregister_unbinds_the_handle_and_hands_pending_messages_back() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, BOB_PHONE, T0).await;
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;

                let outcome = redeem(
                    store,
                    &bob.handle,
                    T0 + 10,
                    CodeAction::Deregister { ttl: TTL },
                )
                .await;
                let Redeemed::Unbound { woken } = outcome else {
                    panic!("unbound, not {outcome:?}");
                };
                assert_eq!(sorted(woken), sorted(vec![alice.device, bob.device]));
                assert_eq!(devices_of(store, &bob.handle).await, Vec::<DeviceId>::new());
                assert_eq!(
                    bodies(store, alice.device).await,
                    [EnvelopeBody::Fallback {
                        id: "m1".into(),
                        handle: bob.handle.clone(),
                    }]
                );
                assert!(
                    notices(store, bob.device)
                        .await
                        .contains(&("handle_removed".into(), Some(bob.handle.clone()))),
                    "Bob's devices are told"
                );

                // A handle no account holds: the code is used up all the same.
                assert_eq!(
                    redeem(
                        store,
                        &bob.handle,
                        T0 + 20,
                        CodeAction::Deregister { ttl: TTL }
                    )
                    .await,
                    Redeemed::NotRegistered
                );
                let again = store
                    .redeem_code(
                        &bob.handle,
                        CODE,
                        T0 + 21,
                        CodeAction::Deregister { ttl: TTL },
                    )
                    .await
                    .expect("redeem");
                assert_eq!(again, Redeemed::NoCode);
            }

            #[tokio::test]
            async fn a_source_may_register_only_its_daily_number_of_accounts() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let first = redeem(
                    store,
                    &handle("a@example.org"),
                    T0,
                    registration("net-1", 1),
                )
                .await;
                assert!(matches!(first, Redeemed::Device { .. }), "{first:?}");
                let second = handle("b@example.org");
                assert_eq!(
                    redeem(store, &second, T0 + 1, registration("net-1", 1)).await,
                    Redeemed::TooManyRegistrations
                );
                assert_eq!(devices_of(store, &second).await, Vec::<DeviceId>::new());
                let elsewhere = redeem(store, &second, T0 + 2, registration("net-2", 1)).await;
                assert!(
                    matches!(elsewhere, Redeemed::Device { .. }),
                    "{elsewhere:?}"
                );
                let next_day = redeem(
                    store,
                    &handle("c@example.org"),
                    T0 + DAY_MS + 1,
                    registration("net-1", 1),
                )
                .await;
                assert!(matches!(next_day, Redeemed::Device { .. }), "{next_day:?}");
            }

            #[tokio::test]
            async fn remove_device_drops_the_device_and_its_queue() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let bob2 = login(store, &bob, T0).await;
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;

                assert!(
                    !store
                        .remove_device(alice.account, bob2)
                        .await
                        .expect("remove"),
                    "not Alice's device"
                );
                assert!(store
                    .remove_device(bob.account, bob2)
                    .await
                    .expect("remove"));
                assert!(!store
                    .remove_device(bob.account, bob2)
                    .await
                    .expect("remove"));
                let left: Vec<_> = store
                    .devices(bob.account)
                    .await
                    .expect("devices")
                    .into_iter()
                    .map(|d| d.id)
                    .collect();
                assert_eq!(left, [bob.device]);
                assert_eq!(
                    store.device_credential(bob2).await.expect("credential"),
                    None
                );
                assert!(queue(store, bob2).await.is_empty());
                assert_eq!(devices_of(store, &bob.handle).await, [bob.device]);
                assert_eq!(message_ids(store, bob.device).await, ["m1"]);
            }

            #[tokio::test]
            async fn remove_handle_unbinds_only_a_handle_of_the_account() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let phone = add_handle(store, &alice, ALICE_PHONE, T0 + 1).await;
                let bob = register(store, "bob@example.org", T0).await;

                let none = store
                    .remove_handle(alice.account, &bob.handle, T0 + 2, TTL)
                    .await
                    .expect("remove");
                assert_eq!(none, None);
                assert_eq!(devices_of(store, &bob.handle).await, [bob.device]);

                let woken = store
                    .remove_handle(alice.account, &phone, T0 + 2, TTL)
                    .await
                    .expect("remove");
                assert_eq!(woken, Some(vec![alice.device]));
                let record = store.account(alice.account).await.expect("account");
                assert_eq!(record.map(|r| r.handles), Some(vec![alice.handle.clone()]));
                assert_eq!(devices_of(store, &phone).await, Vec::<DeviceId>::new());
                assert_eq!(
                    notices(store, alice.device).await,
                    [("handle_removed".to_string(), Some(phone.clone()))]
                );
                let again = store
                    .remove_handle(alice.account, &phone, T0 + 3, TTL)
                    .await
                    .expect("remove");
                assert_eq!(again, None);
            }

            #[tokio::test]
            async fn delete_account_removes_everything_and_names_devices_and_blobs() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let phone = add_handle(store, &alice, ALICE_PHONE, T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                uploaded_blob(store, "blob-a", &alice, 100, T0 + DAY_MS).await;
                deliver(store, &bob, &[&phone], "m1", T0).await;

                let (woken, former, blobs) = store
                    .delete_account(alice.account, T0 + 10, TTL)
                    .await
                    .expect("delete");
                assert_eq!(woken, [bob.device], "Bob gets his message back");
                assert_eq!(former, [alice.device]);
                assert_eq!(blobs, ["blob-a"]);

                assert_eq!(store.account(alice.account).await.expect("account"), None);
                assert!(store
                    .devices(alice.account)
                    .await
                    .expect("devices")
                    .is_empty());
                assert_eq!(
                    store
                        .device_credential(alice.device)
                        .await
                        .expect("credential"),
                    None
                );
                assert_eq!(
                    store
                        .lookup(&[alice.handle.clone(), phone.clone()])
                        .await
                        .expect("lookup"),
                    [None, None]
                );
                assert_eq!(store.blob("blob-a").await.expect("blob"), None);
                assert!(queue(store, alice.device).await.is_empty());
                assert_eq!(
                    bodies(store, bob.device).await,
                    [EnvelopeBody::Fallback {
                        id: "m1".into(),
                        handle: phone
                    }]
                );
                // The handles are free for a new account.
                let again = register(store, "alice@example.org", T0 + 20).await;
                assert_ne!(again.account, alice.account);
            }

            #[tokio::test]
            async fn the_link_handles_setting_decides_who_learns_handles_are_one_account() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let linked = |target: &Person, requester: &Person| {
                    let (t, r) = (target.account, requester.account);
                    async move { store.handles_linked_for(t, r).await.expect("linked") }
                };

                // Contacts (the default): those the account wrote to.
                assert!(!linked(&alice, &bob).await);
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;
                assert!(linked(&alice, &bob).await);
                assert!(!linked(&bob, &alice).await, "Bob never wrote to Alice");

                store
                    .set_link_handles(alice.account, LinkHandles::Nobody)
                    .await
                    .expect("set");
                let record = store.account(alice.account).await.expect("account");
                assert_eq!(record.map(|r| r.link_handles), Some(LinkHandles::Nobody));
                assert!(!linked(&alice, &bob).await);

                store
                    .set_link_handles(bob.account, LinkHandles::Everyone)
                    .await
                    .expect("set");
                let record = store.account(bob.account).await.expect("account");
                assert_eq!(record.map(|r| r.link_handles), Some(LinkHandles::Everyone));
                assert!(linked(&bob, &alice).await);
                assert_eq!(
                    store
                        .account(alice.account)
                        .await
                        .expect("account")
                        .map(|r| r.link_handles),
                    Some(LinkHandles::Nobody),
                    "one account's setting leaves the other's alone"
                );
            }

            // ---------------------------------------------------------------
            // Keys and claims
            // ---------------------------------------------------------------

            #[tokio::test]
            async fn put_keys_stores_keys_and_publishes_the_identity() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                assert_eq!(store.count_keys(alice.device).await.expect("count"), 0);
                assert!(store
                    .identities(&[alice.device])
                    .await
                    .expect("identities")
                    .is_empty());

                let stored = store
                    .put_keys(
                        alice.device,
                        identity(1),
                        one_time_keys("a", 3),
                        Some(signed_key("fb")),
                        100,
                    )
                    .await
                    .expect("put");
                assert_eq!(stored, KeysOutcome::Stored(3));
                let stored = store
                    .put_keys(alice.device, identity(1), one_time_keys("b", 2), None, 100)
                    .await
                    .expect("put");
                assert_eq!(stored, KeysOutcome::Stored(5));
                assert_eq!(store.count_keys(alice.device).await.expect("count"), 5);
                assert_eq!(store.count_keys(bob.device).await.expect("count"), 0);

                assert_eq!(
                    store
                        .identities(&[bob.device, alice.device, unknown_device()])
                        .await
                        .expect("identities"),
                    [DeviceIdentity {
                        device: alice.device,
                        identity: identity(1),
                    }]
                );
            }

            #[tokio::test]
            async fn put_keys_refuses_another_identity_and_more_keys_than_the_limit() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let put = |identity: IdentityKeys, keys: Vec<SignedKey>| {
                    let device = alice.device;
                    async move {
                        store
                            .put_keys(device, identity, keys, None, 3)
                            .await
                            .expect("put")
                    }
                };
                assert_eq!(
                    put(identity(1), one_time_keys("a", 1)).await,
                    KeysOutcome::Stored(1)
                );
                assert_eq!(
                    put(identity(2), one_time_keys("b", 1)).await,
                    KeysOutcome::IdentityMismatch
                );
                assert_eq!(
                    put(identity(1), one_time_keys("c", 3)).await,
                    KeysOutcome::TooMany
                );
                assert_eq!(store.count_keys(alice.device).await.expect("count"), 1);
                assert_eq!(
                    store.identities(&[alice.device]).await.expect("identities"),
                    [DeviceIdentity {
                        device: alice.device,
                        identity: identity(1),
                    }],
                    "the first identity stays"
                );
                assert_eq!(
                    put(identity(1), one_time_keys("d", 2)).await,
                    KeysOutcome::Stored(3),
                    "up to the limit is allowed"
                );
            }

            #[tokio::test]
            async fn a_refused_first_upload_publishes_no_identity() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let refused = store
                    .put_keys(alice.device, identity(1), one_time_keys("a", 4), None, 3)
                    .await
                    .expect("put");
                assert_eq!(refused, KeysOutcome::TooMany);
                assert!(
                    store
                        .identities(&[alice.device])
                        .await
                        .expect("identities")
                        .is_empty(),
                    "nothing of a refused upload is stored"
                );
                assert_eq!(store.count_keys(alice.device).await.expect("count"), 0);
                // So the device may still choose its identity.
                assert_eq!(
                    store
                        .put_keys(alice.device, identity(2), one_time_keys("b", 1), None, 3)
                        .await
                        .expect("put"),
                    KeysOutcome::Stored(1)
                );
            }

            #[tokio::test]
            async fn claim_keys_hands_out_each_one_time_key_once_then_the_fallback() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let keys = one_time_keys("otk", 2);
                store
                    .put_keys(
                        alice.device,
                        identity(1),
                        keys.clone(),
                        Some(signed_key("fb")),
                        100,
                    )
                    .await
                    .expect("put");

                let mut handed_out = Vec::new();
                for _ in 0..2 {
                    // Bob has published nothing: he is skipped.
                    let (claimed, woken) = store
                        .claim_keys(&[bob.device, alice.device], 0, T0, TTL)
                        .await
                        .expect("claim");
                    assert!(woken.is_empty(), "{woken:?}");
                    let [key] = &claimed[..] else {
                        panic!("one key, for Alice: {claimed:?}");
                    };
                    assert_eq!(
                        (key.device, &key.identity, key.fallback),
                        (alice.device, &identity(1), false)
                    );
                    handed_out.push(key.key.clone());
                }
                handed_out.sort_by(|a, b| a.id.cmp(&b.id));
                assert_eq!(handed_out, keys, "each one-time key once");
                assert_eq!(store.count_keys(alice.device).await.expect("count"), 0);

                for _ in 0..2 {
                    let (claimed, _) = store
                        .claim_keys(&[alice.device], 0, T0, TTL)
                        .await
                        .expect("claim");
                    assert_eq!(
                        claimed,
                        [ClaimedKey {
                            device: alice.device,
                            identity: identity(1),
                            key: signed_key("fb"),
                            fallback: true,
                        }],
                        "the fallback key, as often as needed"
                    );
                }
            }

            #[tokio::test]
            async fn claim_keys_tells_a_device_once_when_its_keys_fall_below_low() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                store
                    .put_keys(
                        alice.device,
                        identity(1),
                        one_time_keys("otk", 3),
                        Some(signed_key("fb")),
                        100,
                    )
                    .await
                    .expect("put");
                let low = tidings_server::store::KEYS_LOW_NOTICE.to_string();
                let claim = || {
                    let device = alice.device;
                    async move {
                        store
                            .claim_keys(&[device], 2, T0, TTL)
                            .await
                            .expect("claim")
                            .1
                    }
                };

                assert!(claim().await.is_empty(), "2 left: not below 2");
                assert!(notices(store, alice.device).await.is_empty());
                assert_eq!(claim().await, [alice.device], "1 left: below 2");
                assert_eq!(notices(store, alice.device).await, [(low.clone(), None)]);
                assert!(claim().await.is_empty(), "told once per crossing");
                assert!(claim().await.is_empty(), "the fallback key changes nothing");
                assert_eq!(notices(store, alice.device).await, [(low, None)]);
            }

            // ---------------------------------------------------------------
            // Blobs and links
            // ---------------------------------------------------------------

            #[tokio::test]
            async fn create_blob_limits_uploads_in_progress_and_account_storage() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let create = |id: &'static str, size: u64, max_in_progress: usize| {
                    let (account, device) = (alice.account, alice.device);
                    async move {
                        store
                            .create_blob(
                                id,
                                account,
                                device,
                                size,
                                1,
                                T0 + DAY_MS,
                                max_in_progress,
                                1_000,
                            )
                            .await
                            .expect("create")
                    }
                };
                assert_eq!(create("b1", 100, 2).await, BlobCreated::Created);
                assert_eq!(create("b2", 100, 2).await, BlobCreated::Created);
                assert_eq!(create("b3", 100, 2).await, BlobCreated::TooManyUploads);
                assert_eq!(store.blob("b3").await.expect("blob"), None);

                // A completed upload is no longer in progress.
                store.blob_chunk("b1", 0).await.expect("chunk");
                assert!(store
                    .complete_blob("b1", T0 + DAY_MS)
                    .await
                    .expect("complete"));
                assert_eq!(create("b3", 100, 2).await, BlobCreated::Created);

                // 300 bytes stored of 1,000.
                assert_eq!(create("b4", 701, 10).await, BlobCreated::StorageFull);
                assert_eq!(store.blob("b4").await.expect("blob"), None);
                assert_eq!(create("b4", 700, 10).await, BlobCreated::Created);
                assert_eq!(create("b5", 1, 10).await, BlobCreated::StorageFull);
            }

            #[tokio::test]
            async fn a_blob_completes_only_with_all_its_chunks() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let created = store
                    .create_blob(
                        "b",
                        alice.account,
                        alice.device,
                        3_000,
                        3,
                        T0 + DAY_MS,
                        4,
                        1 << 30,
                    )
                    .await
                    .expect("create");
                assert_eq!(created, BlobCreated::Created);
                let record = |received: Vec<u64>, complete: bool| BlobRecord {
                    account: alice.account,
                    device: alice.device,
                    size: 3_000,
                    chunks: 3,
                    received,
                    complete,
                };
                assert_eq!(
                    store.blob("b").await.expect("blob"),
                    Some(record(vec![], false))
                );

                for index in [2, 0, 0] {
                    store.blob_chunk("b", index).await.expect("chunk");
                }
                assert_eq!(
                    store.blob("b").await.expect("blob"),
                    Some(record(vec![0, 2], false))
                );
                assert!(!store
                    .complete_blob("b", T0 + 2 * DAY_MS)
                    .await
                    .expect("complete"));
                assert!(!store.blob("b").await.expect("blob").expect("kept").complete);

                store.blob_chunk("b", 1).await.expect("chunk");
                assert!(store
                    .complete_blob("b", T0 + 2 * DAY_MS)
                    .await
                    .expect("complete"));
                assert!(store.blob("b").await.expect("blob").expect("kept").complete);

                assert!(!store.complete_blob("nope", T0).await.expect("complete"));
                assert_eq!(store.blob("nope").await.expect("blob"), None);
            }

            #[tokio::test]
            async fn expire_blobs_forgets_blobs_past_their_expiry() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                for (id, expires) in [("b1", T0 + 1_000), ("b2", T0 + 2_000)] {
                    let created = store
                        .create_blob(id, alice.account, alice.device, 10, 1, expires, 4, 1 << 30)
                        .await
                        .expect("create");
                    assert_eq!(created, BlobCreated::Created);
                }
                // Completing sets the expiry anew.
                store.blob_chunk("b2", 0).await.expect("chunk");
                assert!(store
                    .complete_blob("b2", T0 + 10_000)
                    .await
                    .expect("complete"));

                assert!(store
                    .expire_blobs(T0 + 999)
                    .await
                    .expect("expire")
                    .is_empty());
                assert_eq!(
                    store.expire_blobs(T0 + 2_001).await.expect("expire"),
                    ["b1"]
                );
                assert_eq!(store.blob("b1").await.expect("blob"), None);
                assert!(store.blob("b2").await.expect("blob").is_some());
                assert!(store
                    .expire_blobs(T0 + 9_999)
                    .await
                    .expect("expire")
                    .is_empty());
                assert_eq!(
                    store.expire_blobs(T0 + 10_001).await.expect("expire"),
                    ["b2"]
                );
                assert_eq!(store.blob("b2").await.expect("blob"), None);
            }

            #[tokio::test]
            async fn create_link_needs_a_complete_blob_of_the_same_account() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                uploaded_blob(store, "alices", &alice, 10, T0 + DAY_MS).await;
                uploaded_blob(store, "bobs", &bob, 10, T0 + DAY_MS).await;
                store
                    .create_blob(
                        "partial",
                        alice.account,
                        alice.device,
                        10,
                        2,
                        T0 + DAY_MS,
                        4,
                        1 << 30,
                    )
                    .await
                    .expect("create");
                let create = |token: &str, blob: &str, expires_at: Millis| {
                    let link = link_record(token, blob, alice.account, T0, expires_at);
                    async move { store.create_link(link, 100).await.expect("create link") }
                };

                assert_eq!(
                    create("t1", "missing", T0 + 1_000).await,
                    LinkCreated::NoSuchBlob
                );
                assert_eq!(
                    create("t2", "partial", T0 + 1_000).await,
                    LinkCreated::NoSuchBlob
                );
                assert_eq!(
                    create("t3", "bobs", T0 + 1_000).await,
                    LinkCreated::NoSuchBlob
                );
                for token in ["t1", "t2", "t3"] {
                    assert_eq!(store.link(token, T0).await.expect("link"), None);
                }

                assert_eq!(
                    create("t4", "alices", T0 + 1_000).await,
                    LinkCreated::Created {
                        expires_at: T0 + 1_000
                    }
                );
                assert_eq!(
                    create("t5", "alices", T0 + 5 * DAY_MS).await,
                    LinkCreated::Created {
                        expires_at: T0 + DAY_MS
                    },
                    "never past the blob's own expiry"
                );
                assert_eq!(
                    store
                        .link("t5", T0)
                        .await
                        .expect("link")
                        .map(|l| l.expires_at),
                    Some(T0 + DAY_MS)
                );
            }

            #[tokio::test]
            async fn create_link_allows_max_per_day_per_account() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                uploaded_blob(store, "alices", &alice, 10, T0 + 10 * DAY_MS).await;
                uploaded_blob(store, "bobs", &bob, 10, T0 + 10 * DAY_MS).await;
                let create = |token: &str, blob: &str, owner: &Person, at: Millis| {
                    let link = link_record(token, blob, owner.account, at, at + DAY_MS);
                    async move { store.create_link(link, 2).await.expect("create link") }
                };
                let made = |at: Millis| LinkCreated::Created {
                    expires_at: at + DAY_MS,
                };
                assert_eq!(create("t1", "alices", &alice, T0).await, made(T0));
                assert_eq!(create("t2", "alices", &alice, T0 + 1).await, made(T0 + 1));
                assert_eq!(
                    create("t3", "alices", &alice, T0 + 2).await,
                    LinkCreated::TooMany
                );
                assert_eq!(store.link("t3", T0 + 2).await.expect("link"), None);
                assert_eq!(
                    create("t4", "bobs", &bob, T0 + 3).await,
                    made(T0 + 3),
                    "per account"
                );
                let later = T0 + DAY_MS + 2;
                assert_eq!(create("t5", "alices", &alice, later).await, made(later));
            }

            #[tokio::test]
            async fn a_link_works_until_it_expires_and_expire_links_deletes_it() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                uploaded_blob(store, "blob", &alice, 10, T0 + 10 * DAY_MS).await;
                let link = link_record("token", "blob", alice.account, T0, T0 + 1_000);
                assert_eq!(
                    store.create_link(link.clone(), 100).await.expect("create"),
                    LinkCreated::Created {
                        expires_at: T0 + 1_000
                    }
                );
                assert_eq!(
                    store.link("token", T0).await.expect("link"),
                    Some(link.clone())
                );
                assert_eq!(
                    store.link("token", T0 + 999).await.expect("link"),
                    Some(link)
                );
                assert_eq!(store.link("token", T0 + 1_001).await.expect("link"), None);
                assert_eq!(store.link("other", T0).await.expect("link"), None);

                assert_eq!(store.expire_links(T0 + 999).await.expect("expire"), 0);
                assert!(store.link("token", T0).await.expect("link").is_some());
                assert_eq!(store.expire_links(T0 + 1_001).await.expect("expire"), 1);
                assert_eq!(
                    store.link("token", T0).await.expect("link"),
                    None,
                    "deleted"
                );
            }

            // ---------------------------------------------------------------
            // SMS outbox and fallback
            // ---------------------------------------------------------------

            #[tokio::test]
            async fn a_send_with_sms_queues_a_job_that_is_due_at_once() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, ALICE_PHONE, T0).await;
                let stranger = handle(STRANGER_PHONE);
                let mut p = plan(&alice.sender(), "s1", T0);
                p.sms_from = ALICE_PHONE.into();
                p.sms.push((stranger.clone(), "hello".into(), 1, true));
                assert_eq!(
                    send(store, p.clone()).await,
                    SendOutcome::Accepted { devices: vec![] }
                );

                assert!(store.sms_due(T0 - 1, 10).await.expect("due").is_empty());
                let due = store.sms_due(T0, 10).await.expect("due");
                let [job] = &due[..] else {
                    panic!("one job: {due:?}");
                };
                assert_eq!(
                    job,
                    &SmsJob {
                        id: job.id,
                        account: alice.account,
                        client_id: "s1".into(),
                        from: ALICE_PHONE.into(),
                        to: stranger.clone(),
                        text: "hello".into(),
                        attempts: 0,
                    }
                );

                // A repeated send queues nothing new.
                assert_eq!(
                    send(store, p).await,
                    SendOutcome::Duplicate { accepted_at: T0 }
                );
                assert_eq!(store.sms_due(T0, 10).await.expect("due").len(), 1);

                // `limit` bounds the answer, oldest first.
                let mut p = plan(&alice.sender(), "s2", T0 + 1);
                p.sms.push((handle(OTHER_PHONE), "again".into(), 1, true));
                send(store, p).await;
                let first = store.sms_due(T0 + 1, 1).await.expect("due");
                assert_eq!(
                    first
                        .iter()
                        .map(|j| j.client_id.as_str())
                        .collect::<Vec<_>>(),
                    ["s1"]
                );
                assert_eq!(store.sms_due(T0 + 1, 10).await.expect("due").len(), 2);
            }

            #[tokio::test]
            async fn an_sms_to_a_number_now_on_tidings_is_joined_tidings() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, ALICE_PHONE, T0).await;
                let bob = register(store, BOB_PHONE, T0).await;
                let mut p = plan(&alice.sender(), "s1", T0);
                p.sms.push((bob.handle.clone(), "hello".into(), 1, true));
                assert_eq!(
                    send(store, p.clone()).await,
                    SendOutcome::JoinedTidings(vec![bob.handle.clone()])
                );
                assert!(store.sms_due(T0, 10).await.expect("due").is_empty());
                // A registered number gone stale may be sent SMS.
                p.sms[0].3 = false;
                assert_eq!(
                    send(store, p).await,
                    SendOutcome::Accepted { devices: vec![] }
                );
                assert_eq!(store.sms_due(T0, 10).await.expect("due").len(), 1);
            }

            #[tokio::test]
            async fn sms_retry_moves_the_due_time() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, ALICE_PHONE, T0).await;
                let mut p = plan(&alice.sender(), "s1", T0);
                p.sms
                    .push((handle(STRANGER_PHONE), "hello".into(), 1, true));
                send(store, p).await;
                let id = store.sms_due(T0, 10).await.expect("due")[0].id;

                let woken = store
                    .sms_result(id, SmsResult::Retry(T0 + 60_000), T0 + 1, TTL)
                    .await
                    .expect("result");
                assert!(woken.is_empty(), "a retry is not news: {woken:?}");
                assert!(store
                    .sms_due(T0 + 59_999, 10)
                    .await
                    .expect("due")
                    .is_empty());
                let due = store.sms_due(T0 + 60_000, 10).await.expect("due");
                assert_eq!(
                    due.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(),
                    [(id, 1)]
                );
            }

            #[tokio::test]
            async fn a_claimed_sms_is_one_workers_until_a_result_or_its_lease_ends() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                const LEASE: Millis = 300_000;
                let alice = register(store, ALICE_PHONE, T0).await;
                let (first, second) = (handle(STRANGER_PHONE), handle(OTHER_PHONE));
                for (id, to) in [("s1", &first), ("s2", &second)] {
                    let mut p = message(store, &alice, &[], id, T0).await;
                    p.sms.push((to.clone(), "hello".into(), 1, true));
                    send(store, p).await;
                }
                let claim = |now: Millis| async move {
                    store
                        .claim_sms(now, now + LEASE, 10, TTL)
                        .await
                        .expect("claim")
                };
                // Nothing is due before its time, and an idle outbox claims
                // nothing.
                assert_eq!(claim(T0 - 1).await, (vec![], vec![]));
                let (jobs, woken) = claim(T0).await;
                assert!(woken.is_empty(), "{woken:?}");
                let to: Vec<_> = jobs.iter().map(|j| j.to.clone()).collect();
                assert_eq!(to, [first.clone(), second.clone()], "both, oldest first");
                // Claimed: no other worker gets them, and they are not due.
                assert_eq!(claim(T0).await, (vec![], vec![]));
                assert!(store.sms_due(T0, 10).await.expect("due").is_empty());

                // A retry makes the first claimable again at its time.
                store
                    .sms_result(jobs[0].id, SmsResult::Retry(T0 + 10), T0 + 1, TTL)
                    .await
                    .expect("retry");
                assert_eq!(claim(T0 + 9).await, (vec![], vec![]));
                let (again, _) = claim(T0 + 10).await;
                assert_eq!(again.len(), 1);
                assert_eq!((again[0].id, again[0].attempts), (jobs[0].id, 1));
                store
                    .sms_result(again[0].id, SmsResult::Sent, T0 + 11, TTL)
                    .await
                    .expect("sent");

                // The second never got a result: its worker died. When the
                // lease ends it fails (the carrier may have it, so it is not
                // sent twice) and the sender is told.
                let (lost, woken) = claim(T0 + LEASE).await;
                assert!(lost.is_empty(), "nothing is handed out again: {lost:?}");
                assert_eq!(woken, vec![alice.device]);
                let last = bodies(store, alice.device).await.pop().expect("a notice");
                let EnvelopeBody::SmsStatus {
                    id, handle, status, ..
                } = last
                else {
                    panic!("an SMS status: {last:?}");
                };
                assert_eq!((id.as_str(), handle, status.as_str()), ("s2", second, "failed"));
                assert_eq!(claim(T0 + 2 * LEASE).await, (vec![], vec![]), "failed once");
            }

            #[tokio::test]
            async fn final_sms_results_end_the_job_and_tell_the_sender_once() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, ALICE_PHONE, T0).await;
                let alice2 = login(store, &alice, T0).await;
                let (first, second) = (handle(STRANGER_PHONE), handle(OTHER_PHONE));
                for (id, to) in [("s1", &first), ("s2", &second)] {
                    let mut p = message(store, &alice, &[], id, T0).await;
                    p.sms.push((to.clone(), "hello".into(), 1, true));
                    send(store, p).await;
                }
                let due = store.sms_due(T0, 10).await.expect("due");
                let job = |to: &Handle| due.iter().find(|j| &j.to == to).expect("a job").id;
                let (j1, j2) = (job(&first), job(&second));
                let status = |id: &str, to: &Handle, status: &str, reason: Option<&str>| {
                    EnvelopeBody::SmsStatus {
                        id: id.into(),
                        handle: to.clone(),
                        status: status.into(),
                        reason: reason.map(str::to_string),
                    }
                };
                let result = |id: i64, result: SmsResult| async move {
                    sorted(
                        store
                            .sms_result(id, result, T0 + 1, TTL)
                            .await
                            .expect("result"),
                    )
                };
                let everyone = sorted(vec![alice.device, alice2]);

                assert_eq!(result(j1, SmsResult::Sent).await, everyone);
                assert_eq!(
                    bodies(store, alice.device).await,
                    [status("s1", &first, "sent", None)]
                );
                let due: Vec<_> = store
                    .sms_due(T0 + DAY_MS, 10)
                    .await
                    .expect("due")
                    .into_iter()
                    .map(|j| j.id)
                    .collect();
                assert_eq!(due, [j2], "a sent SMS is not due again");
                assert!(
                    result(j1, SmsResult::Sent).await.is_empty(),
                    "announced once"
                );
                assert_eq!(result(j1, SmsResult::Delivered).await, everyone);
                assert!(
                    result(j1, SmsResult::Failed("late".into()))
                        .await
                        .is_empty(),
                    "delivered is final"
                );

                assert_eq!(
                    result(j2, SmsResult::Failed("no route".into())).await,
                    everyone
                );
                assert!(
                    result(j2, SmsResult::Delivered).await.is_empty(),
                    "failed is final"
                );
                assert!(store
                    .sms_due(T0 + DAY_MS, 10)
                    .await
                    .expect("due")
                    .is_empty());
                assert_eq!(
                    bodies(store, alice.device).await,
                    [
                        status("s1", &first, "sent", None),
                        status("s1", &first, "delivered", None),
                        status("s2", &second, "failed", Some("no route")),
                    ]
                );
                assert!(
                    result(12_345, SmsResult::Sent).await.is_empty(),
                    "unknown job"
                );
            }

            #[tokio::test]
            async fn the_sms_allowance_per_hour_and_per_day_gives_sms_limit() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, ALICE_PHONE, T0).await;
                let sms = |id: &str, now: Millis, per_hour: u64, per_day: u64| {
                    let mut p = plan(&alice.sender(), id, now);
                    p.sms
                        .push((handle(STRANGER_PHONE), "two segments".into(), 2, true));
                    p.sms_per_hour = per_hour;
                    p.sms_per_day = per_day;
                    p
                };
                const HOUR: Millis = 3_600_000;
                let accepted = SendOutcome::Accepted { devices: vec![] };
                let hour_limit = SendOutcome::SmsLimit { window: "hour" };
                let day_limit = SendOutcome::SmsLimit { window: "day" };

                // Segments count: 2 of 3 used, 2 more do not fit.
                assert_eq!(send(store, sms("s1", T0, 3, 100)).await, accepted);
                assert_eq!(send(store, sms("s2", T0 + 1, 3, 100)).await, hour_limit);
                assert_eq!(
                    send(store, sms("s2", T0 + HOUR - 1_000, 3, 100)).await,
                    hour_limit
                );
                assert_eq!(
                    store.sms_due(T0 + HOUR, 10).await.expect("due").len(),
                    1,
                    "nothing queued"
                );
                assert_eq!(
                    send(store, sms("s2", T0 + HOUR + 1, 3, 100)).await,
                    accepted
                );

                // 4 segments used today; the day's allowance is 5.
                let late = T0 + 23 * HOUR;
                assert_eq!(send(store, sms("s3", late, 100, 5)).await, day_limit);
                assert_eq!(send(store, sms("s3", late, 100, 6)).await, accepted);
                // A day after s1 and s2, only s3 counts.
                let next_day = T0 + DAY_MS + HOUR + 2;
                assert_eq!(send(store, sms("s4", next_day, 100, 5)).await, accepted);
                assert_eq!(store.sms_due(next_day, 10).await.expect("due").len(), 4);
            }

            #[tokio::test]
            async fn a_fallback_is_requested_once_and_carried_out_once() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, BOB_PHONE, T0).await;
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;

                let woken = store
                    .request_fallbacks(T0 - 1, T0 + 1, TTL)
                    .await
                    .expect("request");
                assert!(woken.is_empty(), "not due yet: {woken:?}");
                let woken = store
                    .request_fallbacks(T0, T0 + 300_000, TTL)
                    .await
                    .expect("request");
                assert_eq!(woken, [alice.device]);
                let fallback = EnvelopeBody::Fallback {
                    id: "m1".into(),
                    handle: bob.handle.clone(),
                };
                assert_eq!(
                    bodies(store, alice.device).await,
                    std::slice::from_ref(&fallback)
                );
                let again = store
                    .request_fallbacks(T0 + 1, T0 + 300_001, TTL)
                    .await
                    .expect("request");
                assert!(again.is_empty(), "requested once: {again:?}");
                assert_eq!(bodies(store, alice.device).await, [fallback]);

                let fall_back = || {
                    let (account, to) = (alice.account, bob.handle.clone());
                    async move {
                        store
                            .fallback_to_sms(
                                account,
                                "m1",
                                &to,
                                "hello by SMS",
                                1,
                                SMS_FROM,
                                T0 + 300_010,
                            )
                            .await
                            .expect("fallback")
                            .0
                    }
                };
                assert_eq!(fall_back().await, FallbackOutcome::Queued);
                assert!(
                    message_ids(store, bob.device).await.is_empty(),
                    "the IP copy is withdrawn"
                );
                let due = store.sms_due(T0 + 300_010, 10).await.expect("due");
                let [job] = &due[..] else {
                    panic!("one SMS: {due:?}");
                };
                assert_eq!(
                    job,
                    &SmsJob {
                        id: job.id,
                        account: alice.account,
                        client_id: "m1".into(),
                        from: SMS_FROM.into(),
                        to: bob.handle.clone(),
                        text: "hello by SMS".into(),
                        attempts: 0,
                    }
                );
                assert_eq!(fall_back().await, FallbackOutcome::AlreadyDone);
                assert_eq!(store.sms_due(T0 + 300_010, 10).await.expect("due").len(), 1);
            }

            #[tokio::test]
            async fn a_fallback_for_a_message_delivered_meanwhile_is_delivered() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, BOB_PHONE, T0).await;
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;
                let woken = store
                    .request_fallbacks(T0, T0 + 300_000, TTL)
                    .await
                    .expect("request");
                assert_eq!(woken, [alice.device]);
                let seq = seq_of(store, bob.device, "m1").await;
                store
                    .ack(bob.device, &[seq], T0 + 300_001, TTL)
                    .await
                    .expect("ack");

                let (outcome, _) = store
                    .fallback_to_sms(
                        alice.account,
                        "m1",
                        &bob.handle,
                        "hi",
                        1,
                        SMS_FROM,
                        T0 + 300_002,
                    )
                    .await
                    .expect("fallback");
                assert_eq!(outcome, FallbackOutcome::Delivered);
                assert!(store
                    .sms_due(T0 + DAY_MS, 10)
                    .await
                    .expect("due")
                    .is_empty());
            }

            #[tokio::test]
            async fn fallback_to_sms_without_a_request_is_not_requested() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, BOB_PHONE, T0).await;
                let fall_back = |id: &'static str| {
                    let (account, to) = (alice.account, bob.handle.clone());
                    async move {
                        store
                            .fallback_to_sms(account, id, &to, "hi", 1, SMS_FROM, T0 + 10)
                            .await
                            .expect("fallback")
                            .0
                    }
                };

                // The sender opted out of SMS fallback: never requested.
                let mut p = message(store, &alice, &[&bob.handle], "no-sms", T0).await;
                p.fallback = false;
                send(store, p).await;
                let woken = store
                    .request_fallbacks(T0, T0 + 1, TTL)
                    .await
                    .expect("request");
                assert!(woken.is_empty(), "{woken:?}");
                assert_eq!(fall_back("no-sms").await, FallbackOutcome::NotRequested);

                // Watched, but not (yet) requested.
                deliver(store, &alice, &[&bob.handle], "watched", T0 + 2).await;
                assert_eq!(fall_back("watched").await, FallbackOutcome::NotRequested);
                assert_eq!(fall_back("never-sent").await, FallbackOutcome::NotRequested);

                assert!(store
                    .sms_due(T0 + DAY_MS, 10)
                    .await
                    .expect("due")
                    .is_empty());
                assert_eq!(
                    message_ids(store, bob.device).await,
                    ["no-sms", "watched"],
                    "nothing withdrawn"
                );
            }

            #[tokio::test]
            async fn inbound_sms_reaches_every_device_of_the_numbers_owner() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let bob = register(store, BOB_PHONE, T0).await;
                let bob2 = login(store, &bob, T0).await;
                let outcome = store
                    .inbound_sms(STRANGER_PHONE, &bob.handle, "hi from a phone", T0, TTL, 10)
                    .await
                    .expect("inbound");
                let InboundSms::Queued(woken) = outcome else {
                    panic!("queued, not {outcome:?}");
                };
                assert_eq!(sorted(woken), sorted(vec![bob.device, bob2]));
                for device in [bob.device, bob2] {
                    match &bodies(store, device).await[..] {
                        [EnvelopeBody::Sms { from, to, text, .. }] => {
                            assert_eq!(
                                (from.as_str(), to, text.as_str()),
                                (STRANGER_PHONE, &bob.handle, "hi from a phone")
                            );
                        }
                        other => panic!("one SMS on device {device}, not {other:?}"),
                    }
                }

                let nobody = handle(OTHER_PHONE);
                assert_eq!(
                    store
                        .inbound_sms(STRANGER_PHONE, &nobody, "hi", T0, TTL, 10)
                        .await
                        .expect("inbound"),
                    InboundSms::NotOnTidings
                );
                assert_eq!(
                    store
                        .inbound_sms(STRANGER_PHONE, &bob.handle, "again", T0, TTL, 1)
                        .await
                        .expect("inbound"),
                    InboundSms::QueueFull
                );
                assert_eq!(queue(store, bob.device).await.len(), 1, "nothing queued");
                assert_eq!(queue(store, bob2).await.len(), 1, "nothing queued");
            }

            // ---------------------------------------------------------------
            // Abuse records
            // ---------------------------------------------------------------

            #[tokio::test]
            async fn a_ban_stops_every_send_and_withdraws_queued_messages_until_lifted() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                assert_eq!(
                    store.standing(alice.account).await.expect("standing"),
                    Standing::Good
                );
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;

                let answer = set_standing(store, &alice, Some("banned"), "spam", T0 + 1).await;
                assert_eq!(
                    answer,
                    serde_json::json!({"accounts": [alice.account.as_i64()], "standing": "banned"})
                );
                assert_eq!(
                    store.standing(alice.account).await.expect("standing"),
                    Standing::Banned("spam".into())
                );
                assert_eq!(
                    store.standing(bob.account).await.expect("standing"),
                    Standing::Good
                );
                assert!(message_ids(store, bob.device).await.is_empty(), "withdrawn");

                // The ban marks the range Alice registered from as recently
                // abused (`register` gives each handle its own range).
                let abused = |source: String, since: Millis| async move {
                    store
                        .recently_abused(&source, None, since)
                        .await
                        .expect("recently_abused")
                };
                let alices_range = format!("range of {}", alice.handle);
                assert!(abused(alices_range.clone(), T0).await);
                assert!(!abused(alices_range, T0 + 1).await, "not banned since then");
                assert!(!abused(format!("range of {}", bob.handle), T0).await);

                let p = message(store, &alice, &[&bob.handle], "m2", T0 + 2).await;
                assert_eq!(send(store, p).await, SendOutcome::Banned("spam".into()));
                // Before anything about the recipients: a banned account
                // learns nothing, not even who is registered.
                let nobody = handle("nobody@example.org");
                let p = message(store, &alice, &[&nobody], "m3", T0 + 2).await;
                assert_eq!(send(store, p).await, SendOutcome::Banned("spam".into()));
                assert!(queue(store, bob.device).await.is_empty());

                set_standing(store, &alice, None, "appeal granted", T0 + 3).await;
                assert_eq!(
                    store.standing(alice.account).await.expect("standing"),
                    Standing::Good
                );
                assert_eq!(
                    deliver(store, &alice, &[&bob.handle], "m4", T0 + 4).await,
                    [bob.device]
                );
            }

            #[tokio::test]
            async fn restriction_limits_sends_to_those_who_wrote_first_and_taints_the_range() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, ALICE_PHONE, T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let carol = register(store, "carol@example.org", T0).await;
                deliver(store, &bob, &[&alice.handle], "from-bob", T0).await;

                set_standing(store, &alice, Some("restricted"), "reported", T0 + 1).await;
                assert_eq!(
                    store.standing(alice.account).await.expect("standing"),
                    Standing::Restricted("reported".into())
                );
                let stranger = |who: Vec<AccountId>| {
                    let me = alice.account;
                    async move { store.any_stranger(me, &who).await.expect("any_stranger") }
                };
                assert!(!stranger(vec![bob.account]).await);
                assert!(stranger(vec![bob.account, carol.account]).await);
                assert!(
                    !stranger(vec![alice.account]).await,
                    "not a stranger to itself"
                );

                assert_eq!(
                    deliver(store, &alice, &[&bob.handle], "to-bob", T0 + 2).await,
                    [bob.device]
                );
                let p = message(store, &alice, &[&carol.handle], "to-carol", T0 + 2).await;
                assert_eq!(
                    send(store, p).await,
                    SendOutcome::Restricted("reported".into())
                );
                let mut p = plan(&alice.sender(), "sms", T0 + 2);
                p.sms.push((handle(STRANGER_PHONE), "hi".into(), 1, true));
                assert_eq!(
                    send(store, p).await,
                    SendOutcome::Restricted("reported".into()),
                    "an SMS reaches a stranger too"
                );
                assert!(queue(store, carol.device).await.is_empty());
                assert!(store.sms_due(T0 + 2, 10).await.expect("due").is_empty());

                // An account registered from the same range within the
                // cluster window starts restricted; from elsewhere, not.
                let window = policy().cluster_window_ms;
                let alices_range = format!("range of {}", alice.handle);
                for (text, source, expect_restricted) in [
                    ("dave@example.org", alices_range.as_str(), true),
                    ("erin@example.org", "another range", false),
                ] {
                    let outcome = redeem(
                        store,
                        &handle(text),
                        T0 + window / 2,
                        registration(source, 20),
                    )
                    .await;
                    let Redeemed::Device { account, .. } = outcome else {
                        panic!("registering {text}: {outcome:?}");
                    };
                    let standing = store.standing(account).await.expect("standing");
                    assert_eq!(
                        matches!(standing, Standing::Restricted(_)),
                        expect_restricted,
                        "{text}: {standing:?}"
                    );
                }
            }

            #[tokio::test]
            async fn report_tokens_come_with_first_contacts_and_identify_the_reporter() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let alice = register(store, "alice@example.org", T0).await;
                let bob = register(store, "bob@example.org", T0).await;
                let carol = register(store, "carol@example.org", T0).await;
                deliver(store, &alice, &[&bob.handle], "m1", T0).await;
                deliver(store, &bob, &[&alice.handle], "reply", T0 + 1).await;
                let token_of = |bodies: Vec<EnvelopeBody>| match &bodies[..] {
                    [EnvelopeBody::Message { report_token, .. }] => report_token.clone(),
                    other => panic!("one message, not {other:?}"),
                };
                let token = token_of(bodies(store, bob.device).await)
                    .expect("Bob never wrote to Alice: he may report her");
                assert_eq!(
                    token_of(bodies(store, alice.device).await),
                    None,
                    "Alice wrote to Bob first: no token for his reply"
                );

                let report = |token: String, reporter: &Person| {
                    let reporter = reporter.account;
                    async move {
                        store
                            .report(&token, reporter, true, None, policy(), T0 + 10, TTL)
                            .await
                            .expect("report")
                    }
                };
                assert_eq!(
                    report("0123456789abcdef".into(), &bob).await,
                    None,
                    "unknown token"
                );
                assert_eq!(
                    report(token.clone(), &carol).await,
                    None,
                    "not Carol's token"
                );
                assert_eq!(
                    report(token, &bob).await,
                    Some((ReportEffect::default(), vec![])),
                    "one report restricts nobody"
                );
                assert_eq!(
                    store.standing(alice.account).await.expect("standing"),
                    Standing::Good
                );
            }

            #[tokio::test]
            async fn junk_reports_from_enough_people_restrict_the_sender_and_make_a_campaign() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                let policy = policy();
                let spammer = register(store, "spammer@example.org", T0).await;
                let mut people = Vec::new();
                for name in ["bob", "carol", "dave"] {
                    let person = register(store, &format!("{name}@example.org"), T0).await;
                    deliver(
                        store,
                        &spammer,
                        &[&person.handle],
                        &format!("to {name}"),
                        T0 + 1,
                    )
                    .await;
                    people.push(person);
                }
                const FINGERPRINT: u64 = 0x0123_4567_89ab_cdef;
                assert!(store
                    .campaigns(policy.clone(), T0 + 10)
                    .await
                    .expect("campaigns")
                    .is_empty());

                let mut effects = Vec::new();
                for (i, person) in people.iter().enumerate() {
                    let token = match &bodies(store, person.device).await[..] {
                        [EnvelopeBody::Message {
                            report_token: Some(t),
                            ..
                        }] => t.clone(),
                        other => panic!("a message with a report token, not {other:?}"),
                    };
                    let effect = store
                        .report(
                            &token,
                            person.account,
                            true,
                            Some(FINGERPRINT),
                            policy.clone(),
                            T0 + 10 + i as u64,
                            TTL,
                        )
                        .await
                        .expect("report")
                        .expect("a known token");
                    effects.push(effect);
                }
                let restricted = ReportEffect {
                    restricted: vec![spammer.account.as_i64()],
                    banned: vec![],
                };
                assert_eq!(
                    effects,
                    [
                        (ReportEffect::default(), vec![]),
                        (ReportEffect::default(), vec![]),
                        (restricted, vec![spammer.device]),
                    ],
                    "restricted at {} reports",
                    policy.restrict_at_reports
                );
                assert!(matches!(
                    store.standing(spammer.account).await.expect("standing"),
                    Standing::Restricted(_)
                ));
                assert_eq!(
                    notices(store, spammer.device).await,
                    [("restricted".to_string(), None)]
                );
                assert_eq!(
                    store.campaigns(policy, T0 + 20).await.expect("campaigns"),
                    [FINGERPRINT]
                );
            }

            #[tokio::test]
            async fn registrations_since_counts_accounts_created_after_the_time() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                assert_eq!(store.registrations_since(0).await.expect("count"), 0);
                register(store, "alice@example.org", T0).await;
                register(store, "bob@example.org", T0 + 10).await;
                assert_eq!(store.registrations_since(T0 - 1).await.expect("count"), 2);
                assert_eq!(store.registrations_since(T0).await.expect("count"), 1);
                assert_eq!(store.registrations_since(T0 + 10).await.expect("count"), 0);
            }

            #[tokio::test]
            async fn a_fresh_store_is_healthy_and_has_no_campaigns() {
                let Some(backend) = fresh().await else { return };
                let store: &dyn Store = &*backend;
                store.health().await.expect("a fresh store is healthy");
                assert!(store
                    .campaigns(policy(), T0)
                    .await
                    .expect("campaigns")
                    .is_empty());
                assert_eq!(
                    store.standing(unknown_account()).await.expect("standing"),
                    Standing::Good
                );
                assert!(store
                    .sms_due(T0 + 365 * DAY_MS, 10)
                    .await
                    .expect("due")
                    .is_empty());
                assert!(store.expire(T0, TTL).await.expect("expire").is_empty());
            }
        }
    };
}

pub(crate) use store_conformance;
