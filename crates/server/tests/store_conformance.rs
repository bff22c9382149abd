//! The store conformance suite (see `conformance/mod.rs`) run over every
//! storage backend: the embedded SQLite store, and PostgreSQL when
//! `TIDINGS_TEST_POSTGRES` names a server to make databases on
//! (`scripts/test` starts one and runs this suite with it).

mod common;
mod conformance;

use std::sync::Arc;

use conformance::{store_conformance, TestStore};
use tidings_server::store::SqlStore;

store_conformance!(sqlite, async || {
    // A new database file in its own directory per test; the directory is
    // kept (and deleted) with the store.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store =
        SqlStore::open(&dir.path().join("tidings.db"), 64).expect("a new SQLite database opens");
    Some(TestStore::new(Arc::new(store), dir))
});

store_conformance!(postgres, async || {
    // A new database per test on the server `scripts/test` started.
    let Some(url) = common::fresh_postgres() else {
        eprintln!("skipped: TIDINGS_TEST_POSTGRES is not set (scripts/test sets it)");
        return None;
    };
    let store = SqlStore::open_postgres(&url, 64).expect("a new PostgreSQL database opens");
    Some(TestStore::from(
        Arc::new(store) as Arc<dyn tidings_server::Store>
    ))
});
