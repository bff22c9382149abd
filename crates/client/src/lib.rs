//! The Tidings client library: everything the `tidings` CLI does besides
//! parsing flags and printing.
//!
//! - [`api`]: the HTTP API and the delivery stream of a server;
//! - [`profile`]: a device's credentials on disk;
//! - [`local`]: the local store of conversations and messages;
//! - [`content`]: what travels inside a payload (text, receipts, groups);
//! - [`client`]: the operations a user performs (send, sync, read, ...).

pub mod api;
pub mod client;
pub mod content;
pub mod local;
pub mod profile;

pub use api::{Api, ApiError};
pub use client::{Client, ClientError, Event};
pub use profile::Profile;
