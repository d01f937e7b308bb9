//! Runs the conformance suite on a fresh SQLite file.

use std::sync::Arc;

use textid_store::sqlite::{SqliteOptions, SqliteStore};
use textid_store::{conformance, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("textid.db"), SqliteOptions::default()).unwrap(),
    );
    let mut failures = Vec::new();
    for (name, case) in conformance::all() {
        let task = tokio::spawn(case(store.clone()));
        match task.await {
            Ok(()) => eprintln!("ok   {name}"),
            Err(e) => {
                eprintln!("FAIL {name}: {e}");
                failures.push(name);
            }
        }
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}

#[test]
fn reopening_keeps_data_and_does_not_rerun_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("textid.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let now = textid_core::clock::Clock::now(&textid_core::clock::ManualClock::at_epoch_2026());
    let first = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let t = rt.block_on(first.ensure_tenant("default", now)).unwrap();
    drop(first);
    let second = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(
        rt.block_on(second.tenant_by_name("default")).unwrap(),
        Some(t)
    );
}
