//! Background loops every node runs: expiry and SMS fallback (`sweep`), and
//! the SMS outbox (`sms`).

pub mod sms;
pub mod sweep;
