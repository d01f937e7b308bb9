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

#[test]
fn a_database_from_before_schema_migrations_gets_the_newer_files_once() {
    // Before `schema_migrations`, `user_version` was the highest file applied (files were
    // contiguous). Such a database keeps what it has and gets every later file, once.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("textid.db");
    drop(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    let db = rusqlite::Connection::open(&path).unwrap();
    // What a database of that era looked like: without what 0010 and later files added.
    db.execute_batch(
        "DROP TABLE schema_migrations; DROP INDEX auth_requests_expires;
         DROP INDEX client_counters_updated; ALTER TABLE client_counters DROP COLUMN updated_at;
         ALTER TABLE tenants DROP COLUMN sign_in_origins;
         ALTER TABLE tenants DROP COLUMN refuse_shared_phone_numbers;
         DROP INDEX issued_access_tokens_session;
         ALTER TABLE issued_access_tokens DROP COLUMN session_id;
         DROP INDEX outbox_provider_message; ALTER TABLE outbox DROP COLUMN provider;
         ALTER TABLE outbox DROP COLUMN provider_message_id;
         ALTER TABLE outbox DROP COLUMN receipt_status; ALTER TABLE outbox DROP COLUMN receipt_reason;
         ALTER TABLE outbox DROP COLUMN receipt_at;
         DROP INDEX users_given_name; DROP INDEX users_surname; DROP INDEX users_mail;
         DROP INDEX users_employee_id; DROP INDEX users_department;
         ALTER TABLE users DROP COLUMN profile;
         DROP INDEX groups_mail_nickname; ALTER TABLE groups DROP COLUMN profile;
         DROP TABLE user_managers;
         DROP TABLE skipped_number_copies; DROP TABLE scim_users; DROP TABLE scim_groups;
         ALTER TABLE users DROP COLUMN force_change_password;
         ALTER TABLE tenants DROP COLUMN require_mfa;
         ALTER TABLE sms_sign_in_flows DROP COLUMN purpose;
         DROP TRIGGER users_stamp_insert; DROP TRIGGER users_stamp_update;
         DROP TRIGGER groups_stamp_insert; DROP TRIGGER groups_stamp_update;
         DROP TRIGGER group_members_stamp_insert; DROP TRIGGER group_members_stamp_delete;
         DROP TRIGGER deleted_users_stamp; DROP TRIGGER deleted_groups_stamp;
         DROP TRIGGER deleted_users_tombstone; DROP TRIGGER deleted_groups_tombstone;
         DROP TABLE directory_versions; DROP TABLE directory_tombstones; DROP TABLE group_member_changes;
         DROP INDEX users_change; DROP INDEX groups_change;
         DROP INDEX users_display_name; DROP INDEX groups_display_name;
         ALTER TABLE users DROP COLUMN change_seq; ALTER TABLE groups DROP COLUMN change_seq;
         DROP TABLE deleted_phone_methods; DROP TABLE deleted_user_memberships;
         DROP TABLE deleted_scim_users; DROP TABLE deleted_users;
         DROP TABLE deleted_group_members; DROP TABLE deleted_scim_groups; DROP TABLE deleted_groups;
         ALTER TABLE sms_sign_in_flows DROP COLUMN channel; PRAGMA user_version = 9;",
    )
    .unwrap();
    drop(db);
    drop(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    drop(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    let db = rusqlite::Connection::open(&path).unwrap();
    let versions: Vec<i64> = db
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut files: Vec<i64> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter_map(|name| name.split('_').next()?.parse().ok())
            .collect();
    files.sort_unstable();
    assert_eq!(versions, files);
    let index: bool = db
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'auth_requests_expires')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(index, "0010 was applied again on the old-format database");
    let column: bool = db
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('client_counters') WHERE name = 'updated_at')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(column, "0011 was applied on the old-format database");
    let top: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(top, *files.last().unwrap());
}
