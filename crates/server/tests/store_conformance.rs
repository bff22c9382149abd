//! The store conformance suite (see `conformance/mod.rs`) run over every
//! storage backend. Today that is the embedded SQLite store; another backend
//! joins with one more `store_conformance!` invocation and its own
//! constructor.

mod conformance;

use std::sync::Arc;

use conformance::{store_conformance, TestStore};
use tidings_server::store::SqliteStore;

store_conformance!(sqlite, async || {
    // A new database file in its own directory per test; the directory is
    // kept (and deleted) with the store.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store =
        SqliteStore::open(&dir.path().join("tidings.db"), 64).expect("a new SQLite database opens");
    TestStore::new(Arc::new(store), dir)
});
