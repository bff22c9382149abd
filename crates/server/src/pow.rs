//! Proof of work before a code is sent, when registrations spike or the
//! request comes from an address or number range that was recently abused.
//!
//! Hashcash-style: the server hands out a challenge bound to the handle and
//! the time, signed with its secret (so it keeps no state); the client finds
//! a nonce such that SHA-256(`challenge:nonce`) starts with `bits` zero
//! bits. Each bit doubles the expected work (18 bits: about 260,000
//! hashes, a fraction of a second on a phone; multiplied by hundreds of
//! throwaway accounts it adds up).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How long a challenge can be answered.
pub const CHALLENGE_TTL_MS: u64 = 10 * 60 * 1000;
pub use tidings_proto::pow::{solve, work, MAX_BITS};

fn signature(secret: &[u8; 32], handle: &str, issued: u64) -> String {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(b"pow:");
    h.update(handle.as_bytes());
    h.update(b":");
    h.update(issued.to_be_bytes());
    hex::encode(&h.finalize()[..16])
}

/// A fresh challenge for `handle`.
pub fn challenge(secret: &[u8; 32], handle: &str, now: u64) -> String {
    format!("{now:x}.{}", signature(secret, handle, now))
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
    let Some((issued, sig)) = challenge.split_once('.') else {
        return false;
    };
    let Ok(issued) = u64::from_str_radix(issued, 16) else {
        return false;
    };
    if issued > now || now - issued > CHALLENGE_TTL_MS {
        return false;
    }
    let expected = signature(secret, handle, issued);
    if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
        return false;
    }
    work(challenge, nonce) >= bits
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Not enough work for more bits (overwhelmingly likely).
        let weak = (0..).find(|n| work(&c, *n) < 10).expect("some nonce fails");
        assert!(!verify(&secret, "+12025550101", &c, weak, 10, 2_000));
    }
}
