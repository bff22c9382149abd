//! Property tests of handle parsing: it never panics, whatever is typed or
//! sent; what it returns is normalised, and normalising again changes
//! nothing (`parse(display(h)) == h` under every default region); e-mail
//! addresses are compared in lower case; phone numbers round-trip through
//! E.164 from their international, national and punctuated forms.
//! `fuzz/fuzz_targets/handle.rs` checks the same on fuzzer-made input.

use proptest::prelude::*;
use tidings_proto::handle::{MAX_EMAIL_BYTES, MAX_PHONE_INPUT_BYTES};
use tidings_proto::{Handle, HandleError};

/// Default regions a client may be set to.
const REGIONS: [&str; 6] = ["US", "GB", "DE", "FR", "JP", "in"];

/// Checks that `h` is in normal form and that parsing its text gives it
/// back, whatever the reader's default region and on the wire alike.
fn assert_normalised(h: &Handle) -> Result<(), TestCaseError> {
    match h {
        Handle::Phone(s) => {
            // E.164 allows 15 digits, but numbering plans (and so
            // `phonenumber`) accept a few longer ones, e.g. in Germany.
            prop_assert!(
                s.starts_with('+') && (2..=MAX_PHONE_INPUT_BYTES).contains(&s.len()),
                "{s:?}"
            );
            prop_assert!(s[1..].bytes().all(|b| b.is_ascii_digit()), "{s:?}");
        }
        Handle::Email(s) => {
            prop_assert!(s.len() <= MAX_EMAIL_BYTES, "{s:?}");
            prop_assert_eq!(s, &s.to_ascii_lowercase());
        }
    }
    for region in REGIONS {
        prop_assert_eq!(
            Handle::parse(h.as_str(), region),
            Ok(h.clone()),
            "{}",
            region
        );
    }
    prop_assert_eq!(Handle::parse_normalised(&h.to_string()), Ok(h.clone()));
    let json = serde_json::to_string(h).expect("a handle serialises");
    prop_assert_eq!(
        &serde_json::from_str::<Handle>(&json).expect("parses back"),
        h
    );
    Ok(())
}

/// Parses and checks whatever comes out; errors carry a message.
fn parse_and_check(input: &str, region: &str) -> Result<Option<Handle>, TestCaseError> {
    match Handle::parse(input, region) {
        Ok(h) => {
            assert_normalised(&h)?;
            Ok(Some(h))
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            if let HandleError::TooLong { len, max } = e {
                prop_assert!(len > max);
            }
            Ok(None)
        }
    }
}

/// A phone number known to be valid, as (region, E.164, national form):
/// fixed ranges of real numbering plans with random subscriber digits.
fn phone_number() -> impl Strategy<Value = (&'static str, String, String)> {
    let four = || proptest::collection::vec(0u8..10, 4);
    let digits = |d: Vec<u8>| d.iter().map(|d| char::from(b'0' + d)).collect::<String>();
    prop_oneof![
        four().prop_map(move |d| {
            let d = digits(d);
            ("US", format!("+1202555{d}"), format!("(202) 555-{d}"))
        }),
        four().prop_map(move |d| {
            let d = digits(d);
            ("GB", format!("+44207946{d}"), format!("020 7946 {d}"))
        }),
        four().prop_map(move |d| {
            let d = digits(d);
            (
                "FR",
                format!("+3314268{d}"),
                format!("01 42 68 {}", &d[..2]) + " " + &d[2..],
            )
        }),
    ]
}

/// Characters people put between digits.
fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(" "), Just("-"), Just("."), Just("  ")]
}

/// An e-mail address that is valid, in mixed case.
fn email() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-zA-Z0-9_-]{1,8}){0,2}",
        "([a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?\\.){1,3}[a-zA-Z]{2,6}",
    )
        .prop_map(|(local, domain)| format!("{local}@{domain}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_any_text(input in any::<String>(), region in "\\PC{0,3}") {
        parse_and_check(&input, &region)?;
        parse_and_check(&input, "US")?;
        // The wire form goes through serde's `try_from`.
        let json = serde_json::to_string(&input).expect("a string serialises");
        if let Ok(h) = serde_json::from_str::<Handle>(&json) {
            assert_normalised(&h)?;
        }
    }

    #[test]
    fn parse_never_panics_on_phone_like_or_address_like_text(
        input in prop_oneof!["[+]?[0-9 ()./-]{0,40}", "[a-zA-Z0-9.@ +-]{0,30}@[a-zA-Z0-9.-]{0,20}"],
        region in prop::sample::select(&REGIONS[..]),
    ) {
        if let Some(h) = parse_and_check(&input, region)? {
            if h.is_phone() {
                prop_assert!(input.trim().len() <= MAX_PHONE_INPUT_BYTES);
            }
        }
    }

    #[test]
    fn normalisation_is_idempotent(
        input in prop_oneof![
            phone_number().prop_map(|(_, e164, _)| e164),
            phone_number().prop_map(|(_, _, national)| national),
            email(),
        ],
        region in prop::sample::select(&REGIONS[..]),
    ) {
        if let Some(once) = parse_and_check(&input, region)? {
            let twice = Handle::parse(once.as_str(), region).expect("a handle parses");
            prop_assert_eq!(&twice, &once);
            let thrice = Handle::parse(twice.as_str(), region).expect("a handle parses");
            prop_assert_eq!(thrice, once);
        }
    }

    #[test]
    fn emails_are_lower_cased(address in email(), pad in "[ \t]{0,2}") {
        let expected = Handle::Email(address.to_ascii_lowercase());
        prop_assert_eq!(Handle::parse(&address, "US"), Ok(expected.clone()));
        prop_assert_eq!(Handle::parse(&address.to_ascii_uppercase(), "GB"), Ok(expected.clone()));
        prop_assert_eq!(Handle::parse(&format!("{pad}{address}{pad}"), "DE"), Ok(expected.clone()));
        prop_assert!(!expected.is_phone());
        assert_normalised(&expected)?;
    }

    #[test]
    fn phone_numbers_round_trip_through_e164(
        (region, e164, national) in phone_number(),
        first_sep in prop_oneof![Just(" "), Just("-"), Just(".")],
        seps in proptest::collection::vec(separator(), 16),
        reader in prop::sample::select(&REGIONS[..]),
    ) {
        let expected = Handle::Phone(e164.clone());
        // E.164 itself, under any default region.
        prop_assert_eq!(Handle::parse(&e164, reader), Ok(expected.clone()));
        // The national form, under its own region.
        prop_assert_eq!(Handle::parse(&national, region), Ok(expected.clone()));
        // International form with separators between the digits. The
        // country code (1 digit for +1, 2 for the others here) stands
        // apart, as people write it: `phonenumber` reads the whole first
        // group after the `+` as the country code and refuses
        // "+4420-7946-0000" (safely: no other number comes out).
        let country_digits = if e164.starts_with("+1") { 1 } else { 2 };
        let mut punctuated = String::from("+");
        for (i, digit) in e164[1..].chars().enumerate() {
            if i == country_digits {
                punctuated.push_str(first_sep);
            } else if i > country_digits {
                punctuated.push_str(seps[i % seps.len()]);
            }
            punctuated.push(digit);
        }
        if punctuated.len() <= MAX_PHONE_INPUT_BYTES {
            prop_assert_eq!(Handle::parse(&punctuated, reader), Ok(expected.clone()));
        }
        prop_assert_eq!(expected.to_string(), e164);
        assert_normalised(&expected)?;
    }
}
