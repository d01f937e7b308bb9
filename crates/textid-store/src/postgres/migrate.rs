//! Migrations: the numbered files of `migrations/postgres`, forward only, recorded in
//! `schema_migrations`. All pending files are applied in ONE transaction (PostgreSQL's DDL
//! is transactional) that first takes the database-wide advisory lock
//! [`locks::MIGRATIONS`](super::locks::MIGRATIONS): nodes starting at once queue on it, and
//! each then sees what the one before it recorded, so every file runs exactly once and a
//! failed file leaves the schema as it was.

use std::collections::HashSet;

use super::locks::MIGRATIONS as LOCK;
use super::retry::{Replay, Tx};
use super::PostgresStore;
use crate::StoreResult;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_oauth.sql")),
    (3, include_str!("../../migrations/postgres/0003_graph.sql")),
    (
        4,
        include_str!("../../migrations/postgres/0004_revoked_families.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_cache_versions.sql"),
    ),
    (6, include_str!("../../migrations/postgres/0006_abuse.sql")),
    // 0007 is unused; a gap is fine (applied in order).
    (
        8,
        include_str!("../../migrations/postgres/0008_session_kinds.sql"),
    ),
    (
        9,
        include_str!("../../migrations/postgres/0009_client_lifecycle.sql"),
    ),
    (
        10,
        include_str!("../../migrations/postgres/0010_purge_indexes.sql"),
    ),
    (
        11,
        include_str!("../../migrations/postgres/0011_client_counter_age.sql"),
    ),
    // PostgreSQL only (SQLite has no 0012).
    (
        12,
        include_str!("../../migrations/postgres/0012_hot_tenant_keys.sql"),
    ),
    (
        13,
        include_str!("../../migrations/postgres/0013_sign_in_origins.sql"),
    ),
    (
        14,
        include_str!("../../migrations/postgres/0014_session_bound_tokens.sql"),
    ),
    (
        15,
        include_str!("../../migrations/postgres/0015_delivery_receipts.sql"),
    ),
    (
        18,
        include_str!("../../migrations/postgres/0018_code_channel.sql"),
    ),
    (20, include_str!("../../migrations/postgres/0020_scim.sql")),
    (
        22,
        include_str!("../../migrations/postgres/0022_refuse_shared_numbers.sql"),
    ),
    (
        24,
        include_str!("../../migrations/postgres/0024_user_profile.sql"),
    ),
    (
        25,
        include_str!("../../migrations/postgres/0025_passwords.sql"),
    ),
    (
        27,
        include_str!("../../migrations/postgres/0027_skipped_number_copies.sql"),
    ),
    (
        29,
        include_str!("../../migrations/postgres/0029_group_profile.sql"),
    ),
    (
        30,
        include_str!("../../migrations/postgres/0030_deleted_items.sql"),
    ),
    (
        31,
        include_str!("../../migrations/postgres/0031_display_name_indexes.sql"),
    ),
    (
        32,
        include_str!("../../migrations/postgres/0032_import_stamps.sql"),
    ),
];

async fn apply(tx: &Tx<'_>) -> StoreResult<()> {
    // Not prepared (cached): the statements run once, around schema changes.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: HashSet<i64> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
        tracing::info!(version, "postgres: migration applied");
    }
    Ok(())
}

/// Applies what is pending.
pub(super) async fn run(store: &PostgresStore) -> StoreResult<()> {
    // Safe to run again after an unknown COMMIT: it re-reads what was recorded.
    store
        .write(Replay::Safe, &(), |tx, ()| Box::pin(apply(tx)))
        .await
}
