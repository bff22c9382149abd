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

/// Nonces tried between two progress reports of [`solve_reporting`].
pub const PROGRESS_EVERY: u64 = 1 << 14;

/// [`solve`], calling `progress(tried)` every [`PROGRESS_EVERY`] nonces,
/// so that a browser can show a bar while its worker searches (about
/// `2^bits` tries are expected).
pub fn solve_reporting(challenge: &str, bits: u32, mut progress: impl FnMut(u64)) -> Option<u64> {
    if bits > MAX_BITS {
        return None;
    }
    let mut start = 0u64;
    loop {
        let end = start.saturating_add(PROGRESS_EVERY);
        if let Some(n) = (start..end).find(|n| work(challenge, *n) >= bits) {
            return Some(n);
        }
        if end == u64::MAX {
            return None;
        }
        start = end;
        progress(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reporting_finds_the_same_nonce_and_reports_on_the_way() {
        let mut reports = Vec::new();
        let n = solve_reporting("abc", 18, |tried| reports.push(tried)).expect("solvable");
        assert_eq!(Some(n), solve("abc", 18));
        assert_eq!(reports.len() as u64, n / PROGRESS_EVERY);
        assert!(reports.windows(2).all(|w| w[1] == w[0] + PROGRESS_EVERY));
        assert_eq!(solve_reporting("abc", 33, |_| {}), None);
    }

    #[test]
    fn solutions_have_the_work() {
        let n = solve("abc", 8).expect("solvable");
        assert!(work("abc", n) >= 8);
        assert!((0..n).all(|m| work("abc", m) < 8));
        assert_eq!(solve("abc", 33), None);
    }
}
