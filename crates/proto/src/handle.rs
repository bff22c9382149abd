//! Handles: the phone numbers and e-mail addresses that identify accounts.
//!
//! A handle is always stored and compared in its normalised form: E.164 for
//! phone numbers (`+12025550101`), lower case for e-mail addresses. Parsing
//! is the only way to make one, so an unnormalised handle cannot exist.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest e-mail address accepted (RFC 5321 path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Longest text accepted as a phone number before parsing.
pub const MAX_PHONE_INPUT_BYTES: usize = 32;

/// A normalised phone number or e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Handle {
    /// A phone number in E.164 form, e.g. `+12025550101`.
    Phone(String),
    /// An e-mail address in lower case.
    Email(String),
}

/// Why a text is not a handle; the message tells the user what to type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Nothing was typed.
    #[error("empty handle: give a phone number like +12025550101 or an e-mail address")]
    Empty,
    /// Too long to be a phone number or an e-mail address.
    #[error("handle is too long ({len} bytes, at most {max})")]
    TooLong {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Looks like an e-mail address but is not a valid one.
    #[error("{0:?} is not a valid e-mail address")]
    BadEmail(String),
    /// Looks like a phone number but is not a valid one.
    #[error("{input:?} is not a valid phone number{hint}")]
    BadPhone {
        /// What was typed.
        input: String,
        /// Extra advice, empty or starting with ": ".
        hint: String,
    },
    /// The default region is not a two-letter ISO 3166 code.
    #[error("unknown region {0:?}: use a two-letter country code such as US or GB")]
    BadRegion(String),
}

impl Handle {
    /// Parses what a user typed, with `default_region` (ISO 3166 alpha-2,
    /// e.g. `US`) used for phone numbers written without a `+` prefix.
    pub fn parse(input: &str, default_region: &str) -> Result<Handle, HandleError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(HandleError::Empty);
        }
        if input.contains('@') {
            return parse_email(input);
        }
        if input.len() > MAX_PHONE_INPUT_BYTES {
            return Err(HandleError::TooLong {
                len: input.len(),
                max: MAX_PHONE_INPUT_BYTES,
            });
        }
        let region = phonenumber::country::Id::from_str(&default_region.to_ascii_uppercase())
            .map_err(|_| HandleError::BadRegion(default_region.to_string()))?;
        let bad = |hint: &str| HandleError::BadPhone {
            input: input.to_string(),
            hint: hint.to_string(),
        };
        let number = parse_phone(input, region)
            .ok_or_else(|| bad(": write it in international form, e.g. +12025550101"))?;
        if !phonenumber::is_valid(&number) {
            return Err(bad(
                ": no such number exists in its country's numbering plan",
            ));
        }
        Ok(Handle::Phone(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Parses a handle that is already normalised (as stored or sent on the
    /// wire); it is re-normalised, so a sloppy peer cannot create duplicates.
    pub fn parse_normalised(input: &str) -> Result<Handle, HandleError> {
        Handle::parse(input, "US")
    }

    /// The normalised text of the handle.
    pub fn as_str(&self) -> &str {
        match self {
            Handle::Phone(s) | Handle::Email(s) => s,
        }
    }

    /// True for phone numbers, which can receive SMS.
    pub fn is_phone(&self) -> bool {
        matches!(self, Handle::Phone(_))
    }
}

/// Parses a phone number as typed, with `region` for numbers written
/// without a country code, so that a number of another country is read
/// by that country's rules alone.
///
/// `phonenumber` 0.3 applies the default region's national prefix and
/// parsing rules even to a number that a `+` or an international prefix
/// (`011` from the US, `00` from most of Europe) places in another
/// country: with `US`, "+49 151 23456789" lost the `1` after the country
/// code and became +49 5123456789, another (valid) number, and
/// "+44 161 496 0000" or "+33 1 42 68 53 00" were refused. A handle on the
/// wire is read with `US` ([`Handle::parse_normalised`]), so this must not
/// depend on the region: such numbers are read again in international
/// form, without a default region.
fn parse_phone(input: &str, region: phonenumber::country::Id) -> Option<phonenumber::PhoneNumber> {
    use phonenumber::country::Source;
    let number = phonenumber::parse(Some(region), input).ok()?;
    let home = phonenumber::metadata::DATABASE.by_id(region.as_ref())?;
    if number.code().value() == home.country_code() {
        return Some(number);
    }
    let international = match number.code().source() {
        Source::Plus => input.to_string(),
        Source::Idd => {
            let digits: String = input.chars().filter(char::is_ascii_digit).collect();
            let idd = home
                .international_prefix()?
                .find(&digits)
                .filter(|found| found.start() == 0)?;
            format!("+{}", &digits[idd.end()..])
        }
        // The country code came from the region or is the region's own.
        Source::Number | Source::Default => return Some(number),
    };
    let again = phonenumber::parse(None, international).ok()?;
    (again.code().value() == number.code().value()).then_some(again)
}

fn parse_email(input: &str) -> Result<Handle, HandleError> {
    if input.len() > MAX_EMAIL_BYTES {
        return Err(HandleError::TooLong {
            len: input.len(),
            max: MAX_EMAIL_BYTES,
        });
    }
    let bad = || HandleError::BadEmail(input.to_string());
    let (local, domain) = input.rsplit_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !local_ok || !domain_ok {
        return Err(bad());
    }
    Ok(Handle::Email(input.to_ascii_lowercase()))
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Handle {
    type Error = HandleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Handle::parse_normalised(&s)
    }
}

impl From<Handle> for String {
    fn from(h: Handle) -> String {
        match h {
            Handle::Phone(s) | Handle::Email(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_normalise_to_e164() {
        let h = Handle::parse("(202) 555-0101", "US").expect("valid US number");
        assert_eq!(h, Handle::Phone("+12025550101".into()));
        let h = Handle::parse("+44 20 7946 0123", "US").expect("valid UK number");
        assert_eq!(h.as_str(), "+442079460123");
        let h = Handle::parse("020 7946 0123", "gb").expect("national UK number");
        assert_eq!(h.as_str(), "+442079460123");
    }

    #[test]
    fn invalid_phone_numbers_are_refused() {
        assert!(matches!(
            Handle::parse("+15550101001", "US"),
            Err(HandleError::BadPhone { .. })
        ));
        assert!(matches!(
            Handle::parse("12", "US"),
            Err(HandleError::BadPhone { .. })
        ));
        assert!(matches!(
            Handle::parse("+12025550101", "XX"),
            Err(HandleError::BadRegion(_))
        ));
        assert!(matches!(
            Handle::parse(&"1".repeat(40), "US"),
            Err(HandleError::TooLong { .. })
        ));
    }

    /// `phonenumber` applied the default region's national prefix to
    /// other countries' numbers: with `US`, +49 151... lost its `1`.
    #[test]
    fn international_numbers_do_not_depend_on_the_default_region() {
        let cases = [
            ("+49 151 23456789", "+4915123456789"),
            ("+33 1 42 68 53 00", "+33142685300"),
            ("+44 161 496 0000", "+441614960000"),
            ("+86 138 1234 5678", "+8613812345678"),
            ("+1 202 555 0101", "+12025550101"),
        ];
        for (typed, e164) in cases {
            for region in ["US", "GB", "DE", "FR", "CN", "AU"] {
                assert_eq!(
                    Handle::parse(typed, region),
                    Ok(Handle::Phone(e164.into())),
                    "{typed} in {region}"
                );
            }
            assert_eq!(
                Handle::parse_normalised(e164),
                Ok(Handle::Phone(e164.into()))
            );
        }
        // With the region's international prefix instead of `+`.
        for (typed, region, e164) in [
            ("011 49 151 23456789", "US", "+4915123456789"),
            ("00 33 1 42 68 53 00", "GB", "+33142685300"),
            ("00 44 161 496 0000", "DE", "+441614960000"),
            ("0011 1 202 555 0101", "AU", "+12025550101"),
        ] {
            assert_eq!(
                Handle::parse(typed, region),
                Ok(Handle::Phone(e164.into())),
                "{typed} in {region}"
            );
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        let h = Handle::parse(" Alice@Example.ORG ", "US").expect("valid address");
        assert_eq!(h, Handle::Email("alice@example.org".into()));
        for bad in ["@x.org", "a@", "a@b", "a b@c.org", "a@-b.org", "a..b@c.org"] {
            assert!(
                matches!(Handle::parse(bad, "US"), Err(HandleError::BadEmail(_))),
                "{bad}"
            );
        }
        assert_eq!(Handle::parse("", "US"), Err(HandleError::Empty));
    }

    #[test]
    fn serde_round_trip_normalises() {
        let h: Handle = serde_json::from_str("\"ALICE@example.org\"").expect("valid json");
        assert_eq!(
            serde_json::to_string(&h).expect("serialises"),
            "\"alice@example.org\""
        );
        assert!(serde_json::from_str::<Handle>("\"nope\"").is_err());
    }
}
