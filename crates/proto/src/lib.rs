//! Wire types shared by the Tidings server and its clients.
//!
//! Everything that crosses the network is defined here once, as plain serde
//! types, so that the server, the CLI and (later) the WebAssembly client agree
//! on one shape. Handles (phone numbers and e-mail addresses) are normalised
//! here too, so that both sides turn what a user typed into the same key.

pub mod api;
pub mod error;
pub mod handle;
pub mod id;
pub mod paths;
pub mod pow;
pub mod stream;

pub use error::ErrorCode;
pub use handle::{Handle, HandleError};
pub use id::{AccountId, DeviceId, IdError, Seq};

/// Current version of the HTTP API, the first segment of every path.
pub const API_VERSION: &str = "v1";

/// Length of a verification code, in decimal digits.
pub const CODE_DIGITS: usize = 6;

/// Longest client-chosen message id accepted, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;

/// Longest display name (account or device) accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
