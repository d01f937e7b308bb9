//! Runs the conformance suite on a fresh SQLite file.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use textid_store::prelude::*;
use textid_store::sqlite::{SqliteOptions, SqliteStore};

/// A store on a fresh file of its own (each case gets one; the directory lives as long
/// as the process, in the system's temporary directory).
async fn fresh() -> Arc<dyn Store> {
    let dir = tempfile::tempdir().unwrap().keep();
    Arc::new(SqliteStore::open(dir.join("textid.db"), SqliteOptions::default()).unwrap())
}

textid_store::conformance_tests!(fresh().await);

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
