//! The Tidings client core: end-to-end encryption and the content format.
//!
//! Nothing in here does IO: no files, no network, no clock. State goes in
//! and out as encrypted pickles that the caller stores where its platform
//! allows (SQLite for the CLI, IndexedDB for the browser), so the same code
//! compiles natively and for `wasm32-unknown-unknown`.

pub mod attachment;
pub mod content;
pub mod crypto;
pub mod group;
pub mod safety;
