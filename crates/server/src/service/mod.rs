//! Every rule of the server: what a request may do and what it changes.
//! Services take the shared [`crate::App`], call the store and the gateways,
//! and answer with domain values or an [`crate::error::ApiError`]; they
//! know nothing of HTTP beyond that error's code.

pub mod accounts;
pub mod address;
pub mod auth;
pub mod blobs;
pub mod delivery;
pub mod devices;
pub mod directory;
pub mod health;
pub mod kannel;
pub mod keys;
pub mod links;
pub mod mail;
pub mod messaging;
pub mod pow;
pub mod ratelimit;
pub mod reports;
pub mod sms;
