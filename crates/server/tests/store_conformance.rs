//! The store conformance suite (see `conformance/mod.rs`) run over every
//! storage backend: the embedded SQLite store, and PostgreSQL when
//! `TIDINGS_TEST_POSTGRES` names a server to make databases on
//! (`scripts/test` starts one and runs this suite with it).

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
    let Some(url) = postgres_database() else {
        eprintln!("skipped: TIDINGS_TEST_POSTGRES is not set (scripts/test sets it)");
        return None;
    };
    let store = SqlStore::open_postgres(&url, 64).expect("a new PostgreSQL database opens");
    Some(TestStore::from(
        Arc::new(store) as Arc<dyn tidings_server::Store>
    ))
});

/// A new, empty database on the test PostgreSQL server, as a URL.
fn postgres_database() -> Option<String> {
    let base = std::env::var("TIDINGS_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty())?;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "c_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let (admin, create) = (base.clone(), name.clone());
    // The synchronous client may not run on an async task: use a thread.
    std::thread::spawn(move || {
        let mut c = ::postgres::Client::connect(&admin, ::postgres::NoTls)
            .expect("the test PostgreSQL server (TIDINGS_TEST_POSTGRES) answers");
        c.batch_execute(&format!("CREATE DATABASE {create}"))
            .expect("a test database can be created");
    })
    .join()
    .expect("creating a test database");
    let (server, _) = base.rsplit_once('/').expect("the URL names a database");
    Some(format!("{server}/{name}"))
}
