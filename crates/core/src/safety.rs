//! Safety numbers: a short string two people compare to know that nobody
//! sits between them.
//!
//! Each side's half is a digest of its handle and the Ed25519 identity keys
//! of all of its devices; the two halves are ordered by handle, so both
//! people see the same 60 digits. Adding or removing a device changes the
//! number, which is what resets a verification.

use sha2::{Digest, Sha512};

/// Digits per group as printed.
pub const GROUP_DIGITS: usize = 5;
/// Groups per side.
pub const GROUPS_PER_SIDE: usize = 6;
/// Hash iterations, to make searching for a colliding key set expensive.
pub const ITERATIONS: usize = 5200;

fn half(handle: &str, keys: &[String]) -> String {
    let mut keys: Vec<&String> = keys.iter().collect();
    keys.sort();
    keys.dedup();
    let mut input = Vec::new();
    input.extend_from_slice(b"tidings-safety-number-v1\0");
    input.extend_from_slice(handle.as_bytes());
    for k in keys {
        input.push(0);
        input.extend_from_slice(k.as_bytes());
    }
    let mut digest = Sha512::digest(&input).to_vec();
    for _ in 1..ITERATIONS {
        let mut h = Sha512::new();
        h.update(&digest);
        h.update(&input);
        digest = h.finalize().to_vec();
    }
    (0..GROUPS_PER_SIDE)
        .map(|i| {
            let chunk = &digest[i * 5..i * 5 + 5];
            let n = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The safety number of two accounts, each given as its handle and the
/// Ed25519 keys of its devices; symmetric in its arguments.
pub fn safety_number(a: (&str, &[String]), b: (&str, &[String])) -> String {
    let (first, second) = if a.0 <= b.0 { (a, b) } else { (b, a) };
    format!("{} {}", half(first.0, first.1), half(second.0, second.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_sensitive_to_devices() {
        let alice = vec!["ka1".to_string(), "ka2".to_string()];
        let bob = vec!["kb1".to_string()];
        let n1 = safety_number(("alice@x.org", &alice), ("bob@x.org", &bob));
        let n2 = safety_number(("bob@x.org", &bob), ("alice@x.org", &alice));
        assert_eq!(n1, n2);
        assert_eq!(n1.split(' ').count(), 2 * GROUPS_PER_SIDE);
        assert!(n1
            .split(' ')
            .all(|g| g.len() == GROUP_DIGITS && g.bytes().all(|b| b.is_ascii_digit())));
        let reordered = vec!["ka2".to_string(), "ka1".to_string()];
        assert_eq!(
            n1,
            safety_number(("alice@x.org", &reordered), ("bob@x.org", &bob))
        );
        let more = vec!["kb1".to_string(), "kb2".to_string()];
        assert_ne!(
            n1,
            safety_number(("alice@x.org", &alice), ("bob@x.org", &more))
        );
    }
}
