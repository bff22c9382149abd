//! Handle parsing (phone numbers and e-mail addresses), as every request
//! and every peer's content carries handles. Checks, besides "no panic":
//! a parsed handle is normalised (E.164 or lower case, within the limits),
//! parsing its text again gives it back whatever the default region
//! (`parse(display(h)) == h`), and serde agrees with `parse_normalised`.
//!
//! Input: the first byte picks the default region (or, past the list, the
//! next two bytes are used as a region code, to reach `BadRegion`); the
//! rest is the typed text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_proto::handle::{MAX_EMAIL_BYTES, MAX_PHONE_INPUT_BYTES};
use tidings_proto::{Handle, HandleError};

const REGIONS: [&str; 8] = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "us"];

fn check(h: &Handle, input: &str) {
    match h {
        Handle::Phone(s) => {
            assert!(s.starts_with('+'), "{s:?} from {input:?}");
            assert!(
                s.len() >= 2 && s.len() <= MAX_PHONE_INPUT_BYTES,
                "{s:?} from {input:?}"
            );
            assert!(s[1..].bytes().all(|b| b.is_ascii_digit()), "{s:?}");
            assert!(input.trim().len() <= MAX_PHONE_INPUT_BYTES);
        }
        Handle::Email(s) => {
            assert!(s.len() <= MAX_EMAIL_BYTES);
            assert_eq!(s, &s.to_ascii_lowercase());
            assert!(s.contains('@'));
        }
    }
    // The normalised text parses back to the same handle, whatever region
    // the reader assumes.
    for region in REGIONS {
        assert_eq!(
            Handle::parse(h.as_str(), region).as_ref(),
            Ok(h),
            "{h:?} from {input:?} in {region}"
        );
    }
    assert_eq!(Handle::parse_normalised(&h.to_string()).as_ref(), Ok(h));
    let json = serde_json::to_string(h).expect("a handle serialises");
    let back: Handle = serde_json::from_str(&json).expect("its JSON parses back");
    assert_eq!(&back, h);
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (region, rest) = match REGIONS.get(usize::from(pick)) {
        Some(region) => ((*region).to_string(), rest),
        None if rest.len() >= 2 => (String::from_utf8_lossy(&rest[..2]).into_owned(), &rest[2..]),
        None => return,
    };
    let Ok(input) = std::str::from_utf8(rest) else {
        return;
    };
    match Handle::parse(input, &region) {
        Ok(h) => check(&h, input),
        Err(e) => {
            // Every error has a message for the user.
            assert!(!e.to_string().is_empty());
            if let HandleError::TooLong { len, max } = e {
                assert!(len > max);
            }
        }
    }
    // The wire form goes through serde's `try_from`.
    if let Ok(json) = serde_json::to_string(input) {
        if let Ok(h) = serde_json::from_str::<Handle>(&json) {
            check(&h, input);
        }
    }
});
