//! Proof of work before a code is sent: when many codes were sent to the
//! handle this hour (`code_sends_per_handle_per_hour`, so that strangers
//! asking for codes for someone else's number pay for each one instead of
//! locking its owner out), when registrations spike, or when the request
//! comes from an address or number range that was recently abused.
//!
//! Hashcash-style: the server hands out a challenge bound to the handle and
//! the time, signed with its secret (so it keeps no state); the client finds
//! a nonce such that SHA-256(`challenge:nonce`) starts with `bits` zero
//! bits. Each bit doubles the expected work (18 bits: about 260,000
//! hashes, a fraction of a second on a phone; multiplied by hundreds of
//! throwaway accounts it adds up).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::Millis;
use crate::cluster::limits::SharedLimits;

/// How long a challenge can be answered.
pub const CHALLENGE_TTL_MS: u64 = 10 * 60 * 1000;
pub use tidings_proto::pow::{solve, work, MAX_BITS};

fn signature(secret: &[u8; 32], handle: &str, issued: u64, salt: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(b"pow:");
    h.update(handle.as_bytes());
    h.update(b":");
    h.update(issued.to_be_bytes());
    h.update(b":");
    h.update(salt.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// A fresh challenge for `handle`: `ISSUED.SALT.SIGNATURE`. The random salt
/// makes every challenge new, so that each one (spent once, see
/// [`SpentChallenges`]) buys one code even when two are issued in the same
/// millisecond.
pub fn challenge(secret: &[u8; 32], handle: &str, now: u64) -> String {
    let salt = hex::encode(rand::random::<[u8; 8]>());
    let sig = signature(secret, handle, now, &salt);
    format!("{now:x}.{salt}.{sig}")
}

/// Whether `nonce` solves a challenge this server issued for `handle`
/// within [`CHALLENGE_TTL_MS`].
pub fn verify(
    secret: &[u8; 32],
    handle: &str,
    challenge: &str,
    nonce: u64,
    bits: u32,
    now: u64,
) -> bool {
    let mut parts = challenge.split('.');
    let (Some(issued), Some(salt), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(issued) = u64::from_str_radix(issued, 16) else {
        return false;
    };
    if issued > now || now - issued > CHALLENGE_TTL_MS {
        return false;
    }
    let expected = signature(secret, handle, issued, salt);
    if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
        return false;
    }
    work(challenge, nonce) >= bits
}

/// Most spent challenges remembered; past it expired ones are forgotten
/// and, if that is not enough, the oldest (each entry cost its sender a
/// proof of work, so the map cannot be filled for free).
pub const MAX_SPENT: usize = 100_000;

/// Challenges already answered, so that one solved challenge buys one code,
/// not every code its handle is asked for within [`CHALLENGE_TTL_MS`].
#[derive(Default)]
pub struct SpentChallenges {
    spent: Mutex<HashMap<String, Millis>>,
    shared: Option<Arc<SharedLimits>>,
}

impl SpentChallenges {
    /// Nothing spent yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Challenges spent on any node, counted in `shared` when there is one.
    pub fn shared(shared: Option<Arc<SharedLimits>>) -> Self {
        SpentChallenges {
            spent: Mutex::default(),
            shared,
        }
    }

    /// Like [`SpentChallenges::spend`], across nodes when shared and Redis
    /// answers.
    pub async fn spend_shared(&self, challenge: &str, now: Millis) -> bool {
        if let Some(shared) = &self.shared {
            if let Some(first) = shared.spend(challenge, CHALLENGE_TTL_MS).await {
                return first;
            }
        }
        self.spend(challenge, now)
    }

    /// Marks a verified `challenge` as spent; false when it already was.
    pub fn spend(&self, challenge: &str, now: Millis) -> bool {
        let mut spent = self
            .spent
            .lock()
            .expect("spent-challenge lock is never poisoned");
        if spent.contains_key(challenge) {
            return false;
        }
        if spent.len() >= MAX_SPENT {
            spent.retain(|_, at| now.saturating_sub(*at) <= CHALLENGE_TTL_MS);
            if spent.len() >= MAX_SPENT {
                let oldest = spent
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(c, _)| c.clone())
                    .expect("the map is full, so not empty");
                spent.remove(&oldest);
            }
        }
        spent.insert(challenge.to_string(), now);
        debug_assert!(spent.len() <= MAX_SPENT);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_spent_once_and_the_memory_is_bounded() {
        let spent = SpentChallenges::new();
        assert!(spent.spend("a", 0));
        assert!(!spent.spend("a", 1), "a replay is refused");
        assert!(spent.spend("b", 1));
        for i in 0..MAX_SPENT + 5 {
            spent.spend(&i.to_string(), CHALLENGE_TTL_MS + 2);
        }
        assert!(spent.spent.lock().expect("lock").len() <= MAX_SPENT);
        assert!(
            spent.spend("a", CHALLENGE_TTL_MS + 2),
            "expired ones go first"
        );
    }

    #[test]
    fn a_solved_challenge_verifies_once_and_only_for_its_handle() {
        let secret = [7u8; 32];
        let c = challenge(&secret, "+12025550101", 1_000);
        let nonce = solve(&c, 10).expect("solvable");
        assert!(verify(&secret, "+12025550101", &c, nonce, 10, 2_000));
        assert!(!verify(&secret, "+12025550102", &c, nonce, 10, 2_000));
        assert!(!verify(
            &secret,
            "+12025550101",
            &c,
            nonce,
            10,
            1_000 + CHALLENGE_TTL_MS + 1
        ));
        assert!(!verify(&[8u8; 32], "+12025550101", &c, nonce, 10, 2_000));
        assert!(!verify(&secret, "+12025550101", "zz.00", nonce, 10, 2_000));
        assert!(!verify(
            &secret,
            "+12025550101",
            &format!("{c}.x"),
            nonce,
            10,
            2_000
        ));
        let (issued, rest) = c.split_once('.').expect("issued");
        let (_, sig) = rest.split_once('.').expect("salt");
        let other_salt = format!("{issued}.00.{sig}");
        assert!(!verify(
            &secret,
            "+12025550101",
            &other_salt,
            nonce,
            10,
            2_000
        ));
        assert_ne!(c, challenge(&secret, "+12025550101", 1_000), "salted");
        // Not enough work for more bits (overwhelmingly likely).
        let weak = (0..).find(|n| work(&c, *n) < 10).expect("some nonce fails");
        assert!(!verify(&secret, "+12025550101", &c, weak, 10, 2_000));
    }
}
