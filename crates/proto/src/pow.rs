//! The proof of work a server may ask for before it sends a code
//! (`proof_of_work_required`): find a nonce such that
//! SHA-256(`challenge:nonce`, nonce in decimal) starts with `bits` zero
//! bits. Defined here because client and server must compute it alike.

use sha2::{Digest, Sha256};

/// Most bits a server may ask for; beyond this a client refuses to try.
pub const MAX_BITS: u32 = 32;

/// Leading zero bits of SHA-256(`challenge:nonce`).
pub fn work(challenge: &str, nonce: u64) -> u32 {
    let mut h = Sha256::new();
    h.update(challenge.as_bytes());
    h.update(b":");
    h.update(nonce.to_string().as_bytes());
    let mut n = 0;
    for b in h.finalize() {
        if b == 0 {
            n += 8;
        } else {
            n += b.leading_zeros();
            break;
        }
    }
    n
}

/// Finds the smallest nonce with at least `bits` zero bits; `None` when
/// more than [`MAX_BITS`] are asked.
pub fn solve(challenge: &str, bits: u32) -> Option<u64> {
    if bits > MAX_BITS {
        return None;
    }
    (0..u64::MAX).find(|n| work(challenge, *n) >= bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solutions_have_the_work() {
        let n = solve("abc", 8).expect("solvable");
        assert!(work("abc", n) >= 8);
        assert!((0..n).all(|m| work("abc", m) < 8));
        assert_eq!(solve("abc", 33), None);
    }
}
