//! Typed, range-checked identifiers.
//!
//! Every id the server hands out is a positive SQLite `INTEGER` (an `i64`),
//! but ids arrive from the network as decimal text or JSON numbers that may
//! be anything up to `u64::MAX` (or garbage). An id outside `0..=i64::MAX`
//! once reached the store and panicked its threads, so ids are parsed into
//! these newtypes at the edge: a value that cannot name a stored row is
//! rejected there, with a clear error, and everything behind the edge can
//! convert to `i64` without a check that could fail.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Largest value any id may take: the largest SQLite integer.
pub const MAX_ID: u64 = i64::MAX as u64;

/// Why text or a number is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a decimal number.
    #[error("{kind} must be a decimal number")]
    NotANumber {
        /// Which kind of id.
        kind: &'static str,
    },
    /// A number too large to name anything the server stores.
    #[error("{kind} {value} is out of range (at most {MAX_ID})")]
    OutOfRange {
        /// Which kind of id.
        kind: &'static str,
        /// The value given.
        value: u64,
    },
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(try_from = "u64", into = "u64")]
        pub struct $name(u64);

        impl $name {
            /// What the id is called in error messages.
            pub const KIND: &'static str = $kind;

            /// Checks that `value` can name a stored row.
            pub const fn new(value: u64) -> Result<Self, IdError> {
                if value > MAX_ID {
                    Err(IdError::OutOfRange { kind: $kind, value })
                } else {
                    Ok($name(value))
                }
            }

            /// The id as a number.
            pub const fn get(self) -> u64 {
                self.0
            }

            /// The id as a SQLite integer; never fails, because the range
            /// was checked when the id was made.
            pub const fn as_i64(self) -> i64 {
                self.0 as i64
            }

            /// The id stored as a SQLite integer. A negative value can only
            /// come from a corrupted database.
            pub fn from_i64(value: i64) -> Result<Self, IdError> {
                u64::try_from(value)
                    .map($name)
                    .map_err(|_| IdError::NotANumber { kind: $kind })
            }
        }

        impl TryFrom<u64> for $name {
            type Error = IdError;
            fn try_from(value: u64) -> Result<Self, IdError> {
                $name::new(value)
            }
        }

        /// Every `u32` fits, so small ids (tests, constants) need no check.
        impl From<u32> for $name {
            fn from(value: u32) -> Self {
                $name(u64::from(value))
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                // Only plain ASCII digits: no sign, no spaces, no `0x`.
                if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IdError::NotANumber { kind: $kind });
                }
                let value: u64 = s.parse().map_err(|_| IdError::OutOfRange {
                    kind: $kind,
                    value: u64::MAX,
                })?;
                $name::new(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        #[cfg(feature = "sqlite")]
        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_i64()))
            }
        }

        #[cfg(feature = "sqlite")]
        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let v = i64::column_result(value)?;
                $name::from_i64(v).map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

id_type!(
    /// Account identifier, assigned by the server.
    AccountId,
    "account id"
);
id_type!(
    /// Device identifier, assigned by the server, unique across all accounts.
    DeviceId,
    "device id"
);
id_type!(
    /// Position in a device's queue, used to acknowledge an envelope; 0 for
    /// ephemeral envelopes, which need no acknowledgement.
    Seq,
    "sequence number"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_largest_sqlite_integer_is_the_largest_id() {
        assert_eq!(DeviceId::new(MAX_ID).map(DeviceId::as_i64), Ok(i64::MAX));
        assert!(matches!(
            DeviceId::new(MAX_ID + 1),
            Err(IdError::OutOfRange { .. })
        ));
        assert!("9223372036854775808".parse::<AccountId>().is_err());
        assert!("18446744073709551615".parse::<Seq>().is_err());
        assert!("99999999999999999999".parse::<Seq>().is_err());
    }

    #[test]
    fn only_plain_digits_parse() {
        for bad in ["", "-1", "+1", " 1", "1 ", "0x10", "1e3", "١٢"] {
            assert!(bad.parse::<DeviceId>().is_err(), "{bad:?}");
        }
        assert_eq!("0042".parse::<DeviceId>().map(DeviceId::get), Ok(42));
    }

    #[test]
    fn json_out_of_range_is_an_error_not_a_panic() {
        assert!(serde_json::from_str::<DeviceId>("9223372036854775808").is_err());
        assert!(serde_json::from_str::<DeviceId>("-1").is_err());
        assert!(serde_json::from_str::<DeviceId>("1.5").is_err());
        assert_eq!(
            serde_json::from_str::<DeviceId>("9223372036854775807")
                .map(DeviceId::get)
                .ok(),
            Some(MAX_ID)
        );
        assert_eq!(
            serde_json::to_string(&Seq::new(7).expect("in range")).expect("serialises"),
            "7"
        );
    }

    #[test]
    fn negative_stored_values_are_refused() {
        assert!(AccountId::from_i64(-1).is_err());
        assert_eq!(AccountId::from_i64(5).map(AccountId::get), Ok(5));
    }

    proptest! {
        #[test]
        fn text_parses_exactly_when_the_number_fits(v in any::<u64>()) {
            let parsed = v.to_string().parse::<DeviceId>();
            prop_assert_eq!(parsed.is_ok(), v <= MAX_ID);
            if let Ok(id) = parsed {
                prop_assert_eq!(id.get(), v);
                prop_assert_eq!(id.as_i64() as u64, v);
                prop_assert_eq!(id.to_string().parse::<DeviceId>(), Ok(id));
            }
        }

        #[test]
        fn json_parses_exactly_when_the_number_fits(v in any::<u64>()) {
            let parsed = serde_json::from_str::<Seq>(&v.to_string());
            prop_assert_eq!(parsed.is_ok(), v <= MAX_ID);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,40}") {
            let _ = s.parse::<AccountId>();
        }
    }
}
