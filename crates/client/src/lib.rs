//! The Tidings client library: everything the `tidings` CLI does besides
//! parsing flags and printing.
//!
//! - [`api`]: the HTTP API and the delivery stream of a server;
//! - [`profile`]: a device's credentials on disk;
//! - [`local`]: the local store of conversations and messages;
//! - [`tidings_core`]: encryption and the payload format (shared with the
//!   browser client);
//! - [`client`]: the operations a user performs (send, sync, read, ...);
//! - [`rt`]: sleeping and deadlines on tokio or in a browser.
//!
//! The crate builds for `wasm32-unknown-unknown` too, for the web app's
//! worker: only the WebSocket ([`api`]) and [`rt`] differ by platform.

pub mod api;
pub mod attachments;
pub mod client;
pub mod e2e;
pub mod files;
pub mod local;
pub mod media;
pub mod profile;
pub mod rt;
pub mod trust;

pub use api::{Api, ApiError};
pub use client::groups::GroupEdit;
pub use client::{Client, ClientError, Event};
pub use profile::Profile;
pub use tidings_core::content;
pub use tidings_core::group;
