//! `Reassembler` under arbitrary segments, as anyone with a phone can send
//! them: any sender, reference, total and position, odd lengths, unpaired
//! surrogates, duplicates, time going forward in leaps. Small limits (picked
//! by the first byte) exercise eviction.
//!
//! Besides "no panic" (and the reassembler's own debug-checked
//! bookkeeping): the limits hold after every push, a message completes only
//! with every position of it, and what it yields is no longer than the
//! parts pushed.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tidings_sms::encoding::*;

const SENDERS: [&str; 3] = ["+12025550101", "+12025550102", "TIDINGS"];

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let limits = if u.arbitrary::<bool>()? {
        ReassemblerLimits {
            max_pending_messages: u.int_in_range(0..=4)?,
            max_pending_parts: u.int_in_range(0..=8)?,
            max_age_ms: u.int_in_range(0..=1000)?,
        }
    } else {
        ReassemblerLimits::default()
    };
    let mut r = Reassembler::with_limits(limits);
    let mut now: u64 = 0;
    // Positions pushed per message since it last completed (a superset of
    // what the reassembler holds, which may evict).
    let mut seen: BTreeMap<(&str, u16, u8), BTreeSet<u8>> = BTreeMap::new();
    while !u.is_empty() {
        now = now.saturating_add(u.int_in_range(0..=600)?);
        if u.ratio(1, 16)? {
            now = now.saturating_add(MAX_PENDING_AGE_MS);
        }
        let sender = *u.choose(&SENDERS)?;
        let info = ConcatInfo {
            reference: u.int_in_range(0..=2)?,
            total: u.int_in_range(0..=5)?,
            seq: u.int_in_range(0..=6)?,
        };
        let len = u.int_in_range(0..=2 * MAX_PART_UNITS + 2)?;
        let bytes = u.bytes(len.min(u.len()))?;
        let result = if u.arbitrary::<bool>()? {
            r.push_ucs2(sender, info, bytes, now)
        } else {
            let text = String::from_utf8_lossy(bytes);
            r.push_text(sender, info, &text, now)
        };
        let key = (sender, info.reference, info.total);
        if result.is_ok() {
            seen.entry(key).or_default().insert(info.seq);
        }
        match result {
            Ok(Some(text)) => {
                let most = usize::from(info.total) * MAX_PART_UNITS;
                assert!(text.encode_utf16().count() <= most, "{info:?}");
                let got = seen.remove(&key).unwrap_or_default();
                assert!(
                    (1..=info.total).all(|s| got.contains(&s)),
                    "{info:?} {got:?}"
                );
            }
            Ok(None) => {}
            Err(ReassemblyError::InvalidSequence { seq, total }) => {
                assert!(total == 0 || seq == 0 || seq > total);
            }
            Err(ReassemblyError::PartTooLong { units, limit }) => assert!(units > limit),
            Err(ReassemblyError::Decode(_)) => assert!(bytes.len() % 2 == 1),
        }
        assert!(r.pending_messages() <= limits.max_pending_messages);
        assert!(r.pending_parts() <= limits.max_pending_parts);
        if u.ratio(1, 32)? {
            r.expire(now);
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
