//! The directory: which devices stand behind a handle.
//!
//! Senders need a recipient's device list to address one payload to each
//! device. Lookups are authenticated and rate-limited per account so that
//! the directory cannot be scraped quickly.
//!
//! A send answers `not_registered` for handles that are not on Tidings, so
//! it reveals as much as a lookup. Sends therefore draw on the same budget
//! (`lookups_per_account_per_minute`) for every handle the sender has not
//! looked up recently; [`LookupMemory`] remembers which ones it has, so a
//! normal client, which looks recipients up before sending, pays once.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;
use tidings_proto::ErrorCode;

use tidings_proto::api::{DirectoryEntry, DirectoryRequest, DirectoryResponse};
use tidings_proto::{AccountId, Handle};

use crate::clock::Millis;
use crate::error::ApiError;
use crate::service::accounts::parse_handle;
use crate::service::auth::Authed;
use crate::service::ratelimit::{Limited, RateLimiter};
use crate::App;

/// Most (account, handle) pairs [`LookupMemory`] keeps in all; past it the
/// oldest are forgotten (which only costs their accounts another lookup).
pub const MAX_REMEMBERED_LOOKUPS: usize = 200_000;

/// Which handles each account looked up (or paid a lookup for) within the
/// last `ttl`: bounded per account and in total, in memory. Forgetting is
/// always safe: a forgotten handle costs one more lookup, it never lets a
/// send reveal more than the directory would.
pub struct LookupMemory {
    ttl_ms: Millis,
    per_account: usize,
    max_total: usize,
    /// Keyed per process, so that nobody can choose handles that collide.
    hasher: RandomState,
    inner: Mutex<Remembered>,
}

#[derive(Default)]
struct Remembered {
    /// (account, handle hash) → when it is forgotten.
    until: HashMap<(AccountId, u64), Millis>,
    /// The same entries in the order they were remembered.
    order: VecDeque<(AccountId, u64, Millis)>,
    /// Entries per account.
    counts: HashMap<AccountId, usize>,
}

impl Remembered {
    /// Forgets the oldest entry (whether or not it expired).
    fn pop_oldest(&mut self) {
        let Some((account, hash, until)) = self.order.pop_front() else {
            return;
        };
        // A handle remembered again after expiring has a newer entry: only
        // the matching one is removed.
        if self.until.get(&(account, hash)) == Some(&until) {
            self.until.remove(&(account, hash));
            if let Some(n) = self.counts.get_mut(&account) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(&account);
                }
            }
        }
    }

    fn forget_expired(&mut self, now: Millis) {
        while self
            .order
            .front()
            .is_some_and(|(_, _, until)| *until <= now)
        {
            self.pop_oldest();
        }
    }
}

impl LookupMemory {
    /// Remembers handles for `ttl_ms`, at most `per_account` per account
    /// and `max_total` in all.
    pub fn new(ttl_ms: Millis, per_account: usize, max_total: usize) -> Self {
        LookupMemory {
            ttl_ms,
            per_account,
            max_total: max_total.max(1),
            hasher: RandomState::new(),
            inner: Mutex::new(Remembered::default()),
        }
    }

    fn key(&self, account: AccountId, handle: &Handle) -> (AccountId, u64) {
        (account, self.hasher.hash_one(handle.as_str()))
    }

    /// Whether `account` looked `handle` up within the memory's time.
    pub fn knows(&self, account: AccountId, handle: &Handle, now: Millis) -> bool {
        let key = self.key(account, handle);
        let inner = self
            .inner
            .lock()
            .expect("lookup memory lock is never poisoned");
        inner.until.get(&key).is_some_and(|until| *until > now)
    }

    /// Notes that `account` looked `handle` up now. Known handles keep
    /// their original time; past the per-account bound nothing new is
    /// remembered (those handles just cost a lookup each time).
    pub fn remember(&self, account: AccountId, handle: &Handle, now: Millis) {
        let key = self.key(account, handle);
        let mut inner = self
            .inner
            .lock()
            .expect("lookup memory lock is never poisoned");
        inner.forget_expired(now);
        if inner.until.get(&key).is_some_and(|until| *until > now) {
            return;
        }
        if inner.counts.get(&account).copied().unwrap_or(0) >= self.per_account {
            return;
        }
        while inner.order.len() >= self.max_total {
            inner.pop_oldest();
        }
        let until = now.saturating_add(self.ttl_ms);
        if inner.until.insert(key, until).is_none() {
            *inner.counts.entry(account).or_insert(0) += 1;
        }
        inner.order.push_back((account, key.1, until));
        debug_assert!(inner.order.len() <= self.max_total);
    }

    /// Entries held now (for tests of the bounds).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .expect("lookup memory lock is never poisoned")
            .until
            .len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Charges `account` one lookup from `budget` for every handle in `handles`
/// it has not looked up recently, and remembers each one paid for. A
/// refusal leaves the handles before it paid for (and remembered).
pub async fn charge_unknown<'a>(
    budget: &RateLimiter,
    memory: &LookupMemory,
    account: AccountId,
    handles: impl IntoIterator<Item = &'a Handle>,
    now: Millis,
) -> Result<(), Limited> {
    let key = account.to_string();
    for handle in handles {
        if memory.knows(account, handle, now) {
            continue;
        }
        budget.hit(&key, now).await?;
        memory.remember(account, handle, now);
    }
    Ok(())
}

/// The error for a spent lookup budget; `sending` when a send spent it.
pub fn lookups_exhausted(l: Limited, sending: bool) -> ApiError {
    let why = if sending {
        "; a send to a handle this account has not looked up in the last lookup_memory_secs counts as a lookup"
    } else {
        ""
    };
    ApiError::Limit {
        code: ErrorCode::RateLimited,
        message: format!(
            "too many lookups (lookups_per_account_per_minute){why}; try again in {} s",
            l.retry_after_secs
        ),
        retry_after_secs: Some(l.retry_after_secs),
    }
}

/// Most handles in one lookup request.
pub const MAX_LOOKUP_HANDLES: usize = 100;

/// `POST /v1/directory`: devices of each handle that is on Tidings.
pub async fn lookup(
    app: &App,
    who: Authed,
    req: DirectoryRequest,
) -> Result<DirectoryResponse, ApiError> {
    if req.handles.len() > MAX_LOOKUP_HANDLES {
        return Err(ApiError::limit(
            ErrorCode::TooManyHandles,
            format!("at most {MAX_LOOKUP_HANDLES} handles per lookup"),
        ));
    }
    let handles = req
        .handles
        .iter()
        .map(|h| parse_handle(app, h))
        .collect::<Result<Vec<_>, _>>()?;
    let now = app.now();
    let key = who.account.to_string();
    for handle in &handles {
        app.limits
            .lookups
            .hit(&key, now)
            .await
            .map_err(|l| lookups_exhausted(l, false))?;
        app.limits.recent_lookups.remember(who.account, handle, now);
    }
    let found = app.store.lookup(&handles).await?;
    let mut out = DirectoryResponse {
        found: Vec::new(),
        not_found: Vec::new(),
    };
    for (handle, entry) in handles.into_iter().zip(found) {
        match entry {
            Some((account, devices)) => {
                let reachable = reachable(app, account, now).await?;
                // An account's handles are shown as one account only to
                // whom it allows; to others each handle stands alone.
                let shown = if account == who.account
                    || app.store.handles_linked_for(account, who.account).await?
                {
                    account
                } else {
                    standin_account(&app.secret, who.account, &handle)
                };
                out.found.push(DirectoryEntry {
                    handle,
                    account: shown,
                    devices,
                    reachable,
                })
            }
            None => out.not_found.push(handle),
        }
    }
    Ok(out)
}

/// The account id a requester is shown for a handle whose account does not
/// let it see which handles belong together: stable for the pair, the same
/// for nobody else, and above every real id (real ids count up from 1;
/// these have bit 62 set), so it never names a real account.
pub fn standin_account(secret: &[u8; 32], requester: AccountId, handle: &Handle) -> AccountId {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::new()
        .chain_update(secret)
        .chain_update(b"tidings link stand-in\0")
        .chain_update(requester.get().to_be_bytes())
        .chain_update(handle.as_str().as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let id = (u64::from_be_bytes(first) & ((1 << 62) - 1)) | (1 << 62);
    AccountId::try_from(id).expect("below 2^63 by construction")
}

/// True when a device of the account is connected now or was seen within
/// `stale_after_secs`.
pub async fn reachable(app: &App, account: AccountId, now: u64) -> Result<bool, ApiError> {
    let cutoff = now.saturating_sub(app.config.sms.stale_after_secs * 1000);
    Ok(app
        .store
        .devices(account)
        .await?
        .iter()
        .any(|d| d.last_seen >= cutoff || app.hub.is_connected(d.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u32) -> AccountId {
        AccountId::from(n)
    }

    fn h(s: &str) -> Handle {
        Handle::parse(s, "US").expect("handle")
    }

    #[test]
    fn stand_in_ids_are_stable_per_pair_and_never_real() {
        let secret = [7u8; 32];
        let x = h("carol@example.org");
        let y = h("+442079460123");
        let id = standin_account(&secret, a(1), &x);
        assert_eq!(id, standin_account(&secret, a(1), &x));
        assert_ne!(id, standin_account(&secret, a(2), &x), "per requester");
        assert_ne!(id, standin_account(&secret, a(1), &y), "per handle");
        assert!(id.get() >= 1 << 62);
        assert_ne!(id, standin_account(&[8u8; 32], a(1), &x), "per server");
    }

    #[test]
    fn remembers_for_its_time_per_account() {
        let m = LookupMemory::new(1000, 10, 100);
        let x = h("a@example.org");
        assert!(!m.knows(a(1), &x, 0));
        m.remember(a(1), &x, 0);
        assert!(m.knows(a(1), &x, 999));
        assert!(
            !m.knows(a(2), &x, 0),
            "accounts do not share what they looked up"
        );
        assert!(!m.knows(a(1), &x, 1000), "forgotten after the time");
        m.remember(a(1), &x, 1000);
        assert!(m.knows(a(1), &x, 1999));
        assert_eq!(m.len(), 1, "the expired entry went");
    }

    #[test]
    fn stays_bounded_per_account_and_in_total() {
        let m = LookupMemory::new(1_000_000, 3, 5);
        for i in 0..10 {
            m.remember(a(1), &h(&format!("u{i}@example.org")), i);
        }
        assert_eq!(m.len(), 3, "at most 3 for one account");
        assert!(!m.knows(a(1), &h("u9@example.org"), 10));
        for account in 2..10 {
            m.remember(a(account), &h("x@example.org"), 20);
        }
        assert_eq!(m.len(), 5, "at most 5 in all");
        assert!(m.knows(a(9), &h("x@example.org"), 21), "the newest stay");
        assert!(!m.knows(a(1), &h("u0@example.org"), 21), "the oldest went");
    }

    #[tokio::test]
    async fn sends_to_unknown_handles_draw_on_the_lookup_budget() {
        let budget = RateLimiter::new("lookups_per_account_per_minute", 5, 60_000);
        let m = LookupMemory::new(3_600_000, 100, 1000);
        let looked_up: Vec<Handle> = (0..3).map(|i| h(&format!("k{i}@example.org"))).collect();
        charge_unknown(&budget, &m, a(7), &looked_up, 0)
            .await
            .expect("within the budget");
        // Sending to them again is free, however often.
        for _ in 0..100 {
            charge_unknown(&budget, &m, a(7), &looked_up, 1)
                .await
                .expect("remembered");
        }
        // Two more strangers fit; the third does not, in this minute.
        let fresh: Vec<Handle> = (0..3).map(|i| h(&format!("n{i}@example.org"))).collect();
        let refused = charge_unknown(&budget, &m, a(7), &fresh, 2)
            .await
            .expect_err("over budget");
        assert!(refused.retry_after_secs >= 1);
        assert!(
            m.knows(a(7), &fresh[1], 2),
            "what was paid for is remembered"
        );
        assert!(!m.knows(a(7), &fresh[2], 2));
        charge_unknown(&budget, &m, a(7), &fresh, 60_000)
            .await
            .expect("the next minute");
    }
}
