//! The web app's engine: `tidings-client`, compiled to WebAssembly, run in
//! the app's dedicated worker.
//!
//! The page never sees a key or a protocol frame. It sends the worker
//! commands as JSON ([`command::Command`]) and gets JSON answers, and the
//! engine pushes what happens (new messages, receipts, typing, the
//! connection's state) as JSON events. Everything a messenger decides,
//! from encryption to filing a stranger's message as a request, is the
//! same Rust code the CLI runs.
//!
//! The local store is the CLI's SQLite schema, kept in the browser's
//! origin-private file system by the "sahpool" VFS, which only works in a
//! dedicated worker. The worker's script takes a Web Lock before it starts
//! the engine, so two tabs never write the same profile.
//!
//! On targets other than wasm32 only the commands are built, for their
//! unit tests.

#[cfg(any(target_arch = "wasm32", test))]
mod command;
#[cfg(target_arch = "wasm32")]
mod engine;

#[cfg(target_arch = "wasm32")]
pub use engine::Engine;
