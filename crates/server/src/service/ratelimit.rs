//! Rate limits, kept in memory and bounded in size: fixed windows for
//! codes and lookups, and a token bucket per account for sending (steady
//! rate with a burst, so a person catching up on a chat is not cut off
//! while a script is held to the rate).
//!
//! Rate limits protect code sending, lookups and sends. They are in memory:
//! a restart forgives everyone, which is acceptable because codes are also
//! bounded by tries and expiry in the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Millis;
use crate::cluster::limits::SharedLimits;

/// Most keys one limiter tracks; past it, expired windows are dropped and,
/// if that is not enough, the oldest window goes.
pub const MAX_KEYS: usize = 100_000;

/// A limit of `max` events per `window_ms` for each key.
pub struct RateLimiter {
    name: &'static str,
    max: u32,
    window_ms: Millis,
    windows: Mutex<HashMap<String, (Millis, u32)>>,
    shared: Option<Arc<SharedLimits>>,
}

/// A refused event: how long until the window reopens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Seconds to wait.
    pub retry_after_secs: u64,
}

impl RateLimiter {
    /// A limiter named for logs and errors.
    pub fn new(name: &'static str, max: u32, window_ms: Millis) -> Self {
        assert!(window_ms > 0, "a rate window must have a length");
        RateLimiter {
            name,
            max,
            window_ms,
            windows: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// The same limit, counted across nodes in `shared` when there is one.
    pub fn shared(mut self, shared: Option<Arc<SharedLimits>>) -> Self {
        self.shared = shared;
        self
    }

    /// Counts one event for `key`, or refuses it: across nodes when the
    /// limit is shared and Redis answers, else on this node.
    pub async fn hit(&self, key: &str, now: Millis) -> Result<(), Limited> {
        if let Some(shared) = &self.shared {
            if let Some(w) = shared
                .window(self.name, key, self.max, self.window_ms, true)
                .await
            {
                return match w.count {
                    Some(_) => Ok(()),
                    None => Err(Limited {
                        retry_after_secs: w.resets_in_ms.div_ceil(1000).max(1),
                    }),
                };
            }
        }
        self.check(key, now)
    }

    /// Like [`RateLimiter::peek`], across nodes when the limit is shared.
    pub async fn look(&self, key: &str, now: Millis) -> Result<Counted, Limited> {
        if let Some(shared) = &self.shared {
            if let Some(w) = shared
                .window(self.name, key, self.max, self.window_ms, false)
                .await
            {
                let resets_in_secs = w.resets_in_ms.div_ceil(1000).max(1);
                return match w.count {
                    Some(n) => Ok(Counted {
                        count: u32::try_from(n).unwrap_or(u32::MAX),
                        resets_in_secs,
                    }),
                    None => Err(Limited {
                        retry_after_secs: resets_in_secs,
                    }),
                };
            }
        }
        self.peek(key, now)
    }

    /// The limiter's name, e.g. `code_sends_per_handle_per_hour`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// How many events `key` has counted in its current window, without
    /// counting one; refused as [`RateLimiter::check`] would refuse the
    /// next. Lets a request that may still fail for another reason (a
    /// proof of work it has yet to solve) find out without spending a try.
    pub fn peek(&self, key: &str, now: Millis) -> Result<Counted, Limited> {
        let windows = self
            .windows
            .lock()
            .expect("rate limiter lock is never poisoned");
        let (start, count) = match windows.get(key) {
            Some(&(start, n)) if now < start + self.window_ms => (start, n),
            _ => (now, 0),
        };
        let resets_in_secs = (start + self.window_ms)
            .saturating_sub(now)
            .div_ceil(1000)
            .max(1);
        if count >= self.max {
            return Err(Limited {
                retry_after_secs: resets_in_secs,
            });
        }
        Ok(Counted {
            count,
            resets_in_secs,
        })
    }

    /// Counts one event for `key`, or refuses it.
    pub fn check(&self, key: &str, now: Millis) -> Result<(), Limited> {
        let mut windows = self
            .windows
            .lock()
            .expect("rate limiter lock is never poisoned");
        if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            let window_ms = self.window_ms;
            windows.retain(|_, (start, _)| now < *start + window_ms);
            if windows.len() >= MAX_KEYS {
                let oldest = windows
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(k, _)| k.clone())
                    .expect("the map is full, so not empty");
                windows.remove(&oldest);
            }
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now >= entry.0 + self.window_ms {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let wait = (entry.0 + self.window_ms).saturating_sub(now);
            return Err(Limited {
                retry_after_secs: wait.div_ceil(1000).max(1),
            });
        }
        entry.1 += 1;
        debug_assert!(windows.len() <= MAX_KEYS);
        Ok(())
    }
}

/// What [`RateLimiter::peek`] found: the events counted so far in the
/// key's window, and when that window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Events counted in the current window.
    pub count: u32,
    /// Seconds until the window ends (and the count starts again at zero).
    pub resets_in_secs: u64,
}

/// A token bucket per key: `capacity` tokens, refilled at `per_minute`.
pub struct TokenBucket {
    name: &'static str,
    capacity: u32,
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Millis)>>,
    shared: Option<Arc<SharedLimits>>,
}

impl TokenBucket {
    /// A bucket limiter named for logs and errors.
    pub fn new(name: &'static str, capacity: u32, per_minute: u32) -> Self {
        assert!(per_minute > 0, "a bucket must refill");
        TokenBucket {
            name,
            capacity: capacity.max(1),
            per_minute,
            buckets: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// The same limit, counted across nodes in `shared` when there is one.
    pub fn shared(mut self, shared: Option<Arc<SharedLimits>>) -> Self {
        self.shared = shared;
        self
    }

    /// Takes one token for `key`: across nodes when the limit is shared and
    /// Redis answers, else on this node.
    pub async fn take_shared(&self, key: &str, now: Millis) -> Result<(), Limited> {
        if let Some(shared) = &self.shared {
            if let Some(wait_ms) = shared
                .take(self.name, key, self.per_minute, self.capacity)
                .await
            {
                return match wait_ms {
                    0 => Ok(()),
                    ms => Err(Limited {
                        retry_after_secs: ms.div_ceil(1000).max(1),
                    }),
                };
            }
        }
        self.take(key, now)
    }

    /// The limiter's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes one token for `key`, or says how long until one is back.
    pub fn take(&self, key: &str, now: Millis) -> Result<(), Limited> {
        let mut buckets = self
            .buckets
            .lock()
            .expect("rate limiter lock is never poisoned");
        let per_ms = f64::from(self.per_minute) / 60_000.0;
        let capacity = f64::from(self.capacity);
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            // Full buckets carry no state worth keeping.
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_sub(*at) as f64 * per_ms < capacity
            });
            if buckets.len() >= MAX_KEYS {
                let oldest = buckets
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
                    .expect("the map is full, so not empty");
                buckets.remove(&oldest);
            }
        }
        let entry = buckets.entry(key.to_string()).or_insert((capacity, now));
        let refilled = (entry.0 + now.saturating_sub(entry.1) as f64 * per_ms).min(capacity);
        *entry = (refilled, now.max(entry.1));
        if refilled < 1.0 {
            let wait_ms = ((1.0 - refilled) / per_ms).ceil() as u64;
            return Err(Limited {
                retry_after_secs: wait_ms.div_ceil(1000).max(1),
            });
        }
        entry.0 -= 1.0;
        debug_assert!(buckets.len() <= MAX_KEYS);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_the_rate() {
        let b = TokenBucket::new("t", 3, 60);
        for _ in 0..3 {
            assert!(b.take("a", 0).is_ok());
        }
        assert_eq!(
            b.take("a", 0),
            Err(Limited {
                retry_after_secs: 1
            })
        );
        assert!(b.take("b", 0).is_ok(), "keys are independent");
        assert!(b.take("a", 1000).is_ok(), "one token a second");
        assert!(b.take("a", 1000).is_err());
        assert!(b.take("a", 60_000).is_ok());
        let mut n = 0;
        while b.take("a", 60_000).is_ok() {
            n += 1;
        }
        assert_eq!(n, 2, "never more than the capacity");
    }

    #[test]
    fn refuses_past_the_limit_until_the_window_ends() {
        let rl = RateLimiter::new("t", 2, 1000);
        assert!(rl.check("a", 0).is_ok());
        assert!(rl.check("a", 10).is_ok());
        assert_eq!(
            rl.check("a", 20),
            Err(Limited {
                retry_after_secs: 1
            })
        );
        assert!(rl.check("b", 20).is_ok());
        assert!(rl.check("a", 1000).is_ok());
    }

    #[test]
    fn peeking_counts_nothing() {
        let rl = RateLimiter::new("t", 2, 1000);
        let counted = |count, resets_in_secs| {
            Ok(Counted {
                count,
                resets_in_secs,
            })
        };
        assert_eq!(rl.peek("a", 0), counted(0, 1));
        assert!(rl.check("a", 0).is_ok());
        assert_eq!(rl.peek("a", 10), counted(1, 1));
        assert_eq!(rl.peek("a", 10), counted(1, 1), "still one");
        assert!(rl.check("a", 10).is_ok());
        assert_eq!(
            rl.peek("a", 500),
            Err(Limited {
                retry_after_secs: 1
            })
        );
        assert_eq!(rl.peek("a", 1000), counted(0, 1), "a new window");
        let none = RateLimiter::new("t", 0, 1000);
        assert!(none.peek("a", 0).is_err(), "a limit of zero refuses all");
    }

    #[test]
    fn stays_bounded() {
        let rl = RateLimiter::new("t", 1, 1000);
        for i in 0..MAX_KEYS + 10 {
            assert!(rl.check(&i.to_string(), 0).is_ok());
        }
        assert!(rl.windows.lock().expect("lock").len() <= MAX_KEYS);
    }
}
