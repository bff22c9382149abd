//! Small, stable, dependency-free hash functions.
//!
//! Everything that must give the same answer on every machine and in every
//! build (the held-out split, feature buckets of the shipped model, campaign
//! fingerprints) hashes with these functions, never with `std`'s randomly
//! seeded `DefaultHasher`.

/// FNV-1a 64-bit offset basis.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Streaming FNV-1a 64: feeds `bytes` into the running hash `state`.
///
/// Start from [`FNV_OFFSET`]; feeding several slices one after the other gives
/// the same result as feeding their concatenation.
#[inline]
pub(crate) fn fnv1a_update(mut state: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        state ^= u64::from(b);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// FNV-1a 64 of one byte string.
#[inline]
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_update(FNV_OFFSET, bytes)
}

/// The MurmurHash3 64-bit finaliser: spreads every input bit over all output
/// bits.
///
/// FNV-1a alone mixes the high bits poorly for short inputs; SimHash uses every
/// bit and the split uses the value modulo 100, so both finalise with this.
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // Reference values from the FNV specification test suite.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let s = fnv1a_update(fnv1a_update(FNV_OFFSET, b"foo"), b"bar");
        assert_eq!(s, fnv1a(b"foobar"));
    }
}
